"""Whether an issue may go out: no draft, no TODO, every merge field filled for everyone.

`send` asks before it touches the ledger or mails anyone; a test send (--test) may
go out unfinished, since its point is to look at a draft.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import merge
from newsletter.checks import TODO_CODE
from newsletter.errors import Diagnostic, SendError, display_path

if TYPE_CHECKING:
    from newsletter.loader import LoadedIssue
    from newsletter.model import Series
    from newsletter.render.message import RenderedMessage

# Columns a list may give for a built-in field; name and first_name fill each other.
_GIVEN_BY = {
    "name": ("name", "first_name", "last_name"),
    "first_name": ("first_name", "name"),
    "last_name": ("last_name",),
}


def blockers(
    loaded: LoadedIssue, diagnostics: list[Diagnostic], *, strict: bool = False
) -> list[Diagnostic]:
    """Return what stops the issue from going to a list: a draft, TODOs, (strict) warnings."""
    found = []
    if loaded.issue.draft:
        line, column = loaded.source.position(("draft",), key=True)
        found.append(
            Diagnostic(
                loaded.source.path,
                line,
                column,
                "the issue is a draft; remove 'draft: true' when it is ready "
                "(--test sends a draft to test addresses)",
                "draft",
            )
        )
    warnings = [d for d in diagnostics if not d.is_error]
    found += [d.as_error() for d in warnings if d.code == TODO_CODE or strict]
    return found


def refuse_unready(loaded: LoadedIssue, diagnostics: list[Diagnostic], *, strict: bool) -> None:
    """Raise SendError listing every blocker, if there is one."""
    found = blockers(loaded, diagnostics, strict=strict)
    if found:
        why = "warnings (--strict)" if strict else "a draft or TODOs"
        raise SendError(f"{loaded.slug} is not ready to send ({why}); nothing was sent", found)


def list_columns(path: Path) -> set[str] | None:
    """Return the merge-field names of a subscriber list's columns (None: unreadable)."""
    from newsletter.send.subscribers import _delimiter, field_name

    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return None  # reading the list reports it, with its reason
    header = next(csv.reader([first], delimiter=_delimiter(first)), [])
    return {field_name(h) for h in header} - {""}


def unfilled(
    message: RenderedMessage, fallbacks: Mapping[str, str | None], columns: set[str]
) -> list[str]:
    """Return the fields the message uses that neither the list nor a fallback fills."""
    missing = []
    for name in sorted(message.fields()):
        if name in ("email", "unsubscribe_url") or fallbacks.get(name):
            continue
        if not columns.intersection(_GIVEN_BY.get(name, (name,))):
            missing.append(name)
    return missing


def refuse_unfilled(message: RenderedMessage, series: Series, list_path: Path) -> None:
    """Raise SendError when a merge field the issue uses has neither a column nor a fallback."""
    columns = list_columns(list_path)
    if columns is None:
        return
    missing = unfilled(message, series.merge_fields, columns)
    if missing:
        names = ", ".join(merge.token(n) for n in missing)
        raise SendError(
            f"the issue uses {names}, but {display_path(list_path)} has no such column "
            "and newsletter.yaml gives no fallback (merge_fields: name: fallback); "
            "nothing was sent"
        )


def with_fallbacks(values: dict[str, str], fallbacks: Mapping[str, str | None]) -> None:
    """Fill every empty or missing field that has a fallback: never an empty gap."""
    for name, fallback in fallbacks.items():
        if fallback and not str(values.get(name) or "").strip():
            values[name] = fallback
