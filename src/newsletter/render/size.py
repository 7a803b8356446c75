"""Gmail's clipping size: a warning as the email HTML nears it, an error past it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsletter.errors import Diagnostic, Severity

if TYPE_CHECKING:
    from newsletter.loader import LoadedIssue

SIZE_WARNING = 90 * 1024
SIZE_LIMIT = 102 * 1024  # Gmail clips a message whose HTML is larger ("[Message clipped]")


def size_diagnostics(html: str, loaded: LoadedIssue) -> list[Diagnostic]:
    """Warn when the HTML nears Gmail's clipping size; an error once it is over it."""
    size = len(html.encode("utf-8"))
    if size <= SIZE_WARNING:
        return []
    over = size > SIZE_LIMIT
    limit = SIZE_LIMIT if over else SIZE_WARNING
    message = (
        f"email HTML is {size / 1024:.1f} KB, over {limit // 1024} KB: "
        + ("Gmail clips it" if over else f"Gmail clips it above {SIZE_LIMIT // 1024} KB")
        + "; shorten the issue or split it"
    )
    return [
        Diagnostic(
            loaded.source.path, 1, 1, message, "", Severity.ERROR if over else Severity.WARNING
        )
    ]
