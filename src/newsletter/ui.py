"""Terminal output: diagnostics and summaries, coloured on a terminal and plain in pipes."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from newsletter.errors import Diagnostic, mask_credentials

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


# C0 controls but tab and newline, DEL, C1 controls, and the bidi controls that reorder
# what a terminal shows: a value echoed must never clear the screen or hide text.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Return text safe for a terminal: control characters shown as escapes, URL logins masked."""
    shown = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
    return mask_credentials(shown)


def escape(text: str) -> str:
    """Return text printable (see printable) and with rich markup characters escaped."""
    from rich.markup import escape as rich_escape

    return rich_escape(printable(text))


def echo(text: str) -> None:
    """Print a result line on standard output, made printable (see printable)."""
    import click

    click.echo(printable(text))


def _plain() -> bool:
    """Return True when standard error takes plain text, so rich need not load (25 ms)."""
    # The variables that make rich colour a pipe anyway (see rich.console.Console).
    if any(os.environ.get(name) for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")):
        return False
    try:
        return not sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream: rich decides
        return False


def stderr_is_terminal() -> bool:
    """Return True when standard error is a terminal rich would draw on (bars, colours)."""
    return not _plain() and err().is_terminal


def show_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    """Print diagnostics as file:line:col: severity: field: message, sorted by place."""
    ordered = sorted(diagnostics, key=lambda d: (d.path, d.line, d.column))
    if ordered and _plain():
        lines = (
            f"{printable(d.place)}: {d.severity}: {printable(_where(d) + d.message)}\n"
            for d in ordered
        )
        sys.stderr.write("".join(lines))
        return
    for d in ordered:
        where = _where(d)
        err().print(
            f"{escape(d.place)}: [{_STYLE[d.severity]}]{d.severity}[/]: {escape(where + d.message)}"
        )


def _where(d: Diagnostic) -> str:
    return f"{d.field}: " if d.field else ""


def show_error(message: str) -> None:
    """Print one error line."""
    if _plain():
        sys.stderr.write(f"error: {printable(message)}\n")
        return
    err().print(f"[bold red]error[/]: {escape(message)}")


def show_note(message: str) -> None:
    """Print a status line."""
    if _plain():
        sys.stderr.write(f"{printable(message)}\n")
        return
    err().print(escape(message))


def plural(count: int, word: str, many: str | None = None) -> str:
    """Return '1 error' or '2 errors' ('1 retry', '2 retries' with many='retries')."""
    return f"{count} {word if count == 1 else many or word + 's'}"
