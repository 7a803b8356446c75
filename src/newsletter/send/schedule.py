"""Scheduled sends: which issues say `send_at`, and which of them are due now.

An issue is due when its `send_at` has passed, it is not a draft, and its send is not
complete. Complete means the state holds the issue's recipients and none of them is still
pending, in flight or unknown: a finished send stays finished when rows are later added to
the list, so `send --due` run every few minutes mails an issue once, then never again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import Diagnostic, display_path
from newsletter.model import parse_send_at
from newsletter.source import read_yaml

if TYPE_CHECKING:
    from newsletter.state import Store
    from newsletter.workspace import Workspace

# What keeps a send from being complete.
UNFINISHED = ("pending", "inflight", "unknown")


def now() -> dt.datetime:
    """Return the current time, UTC (the scheduler's clock; tests replace it)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Scheduled:
    """One issue file that says when to send it."""

    slug: str
    path: Path
    send_at: dt.datetime
    draft: bool

    def is_past(self, moment: dt.datetime) -> bool:
        """Return True if the send time has come at moment."""
        return self.send_at <= moment


def scheduled(workspace: Workspace) -> tuple[list[Scheduled], list[Diagnostic]]:
    """Return the issues with a send_at, oldest first, and the problems of unreadable ones.

    Only `send_at` and `draft` are read here (the full check runs when an issue is sent);
    a send_at that is no time is a problem unless the issue is a draft.
    """
    found: list[Scheduled] = []
    problems: list[Diagnostic] = []
    for path in workspace.issue_paths():
        source = read_yaml(path, display_path(path))
        data = source.data if isinstance(source.data, dict) else {}
        if "send_at" not in data:
            continue
        draft = data.get("draft") is True
        try:
            moment = parse_send_at(data["send_at"])
        except ValueError as exc:
            if not draft:  # a draft's problems are for `newsletter check`
                line, column = source.position(("send_at",))
                problems.append(Diagnostic(source.path, line, column, str(exc), "send_at"))
            continue
        found.append(Scheduled(path.stem, path, moment, draft))
    found.sort(key=lambda item: (item.send_at, item.slug))
    return found, problems


def progress(store: Store, slug: str) -> str:
    """Return how far the issue's send got: 'not sent', 'incomplete' or 'complete'."""
    counts = store.counts(slug)
    if not counts:
        return "not sent"
    return "incomplete" if any(counts.get(state) for state in UNFINISHED) else "complete"


def describe(item: Scheduled, store: Store, moment: dt.datetime) -> str:
    """Return the issue's schedule state: draft, scheduled, due, sending or sent."""
    if item.draft:
        return "draft"
    if not item.is_past(moment):
        return "scheduled"
    done = progress(store, item.slug)
    return {"not sent": "due", "incomplete": "due (incomplete)", "complete": "sent"}[done]


def due(items: list[Scheduled], store: Store, moment: dt.datetime) -> list[Scheduled]:
    """Return the items due at moment, in date order."""
    return [
        item
        for item in items
        if not item.draft and item.is_past(moment) and progress(store, item.slug) != "complete"
    ]
