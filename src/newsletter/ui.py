"""Terminal output: diagnostics and summaries, coloured on a terminal and plain in pipes."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from newsletter.errors import Diagnostic

if TYPE_CHECKING:  # rich loads on first output: `build` forks its workers before that
    from rich.console import Console

_STYLE = {"error": "bold red", "warning": "yellow"}


@lru_cache(maxsize=1)
def err() -> Console:
    """Return the console for diagnostics and progress (standard error)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@lru_cache(maxsize=1)
def out() -> Console:
    """Return the console for a command's results (standard output)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def escape(text: str) -> str:
    """Return text with rich markup characters escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def show_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    """Print diagnostics as file:line:col: severity: field: message, sorted by place."""
    ordered = sorted(diagnostics, key=lambda d: (d.path, d.line, d.column))
    for d in ordered:
        where = f"{d.field}: " if d.field else ""
        err().print(
            f"{escape(d.path)}:{d.line}:{d.column}: [{_STYLE[d.severity]}]{d.severity}[/]: "
            f"{escape(where + d.message)}"
        )


def show_error(message: str) -> None:
    """Print one error line."""
    err().print(f"[bold red]error[/]: {escape(message)}")


def show_note(message: str) -> None:
    """Print a status line."""
    err().print(escape(message))


def plural(count: int, word: str, many: str | None = None) -> str:
    """Return '1 error' or '2 errors' ('1 retry', '2 retries' with many='retries')."""
    return f"{count} {word if count == 1 else many or word + 's'}"
