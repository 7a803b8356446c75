"""The preview's state: the last good render of each open issue, and who to tell about news.

An issue is rendered when a page first asks for it and again after every save that
concerns it. A failed render keeps the last good parts and records the problems, so
the page shows an overlay over what the editor saw a moment ago instead of a blank.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.errors import Diagnostic, NewsletterError, display_path
from newsletter.preview.parts import Parts, Renderer, render_parts
from newsletter.render.size import SIZE_LIMIT, SIZE_WARNING
from newsletter.workspace import Workspace

Event = dict[str, Any]


@dataclass
class IssueState:
    """What the preview knows about one issue."""

    slug: str
    generation: int = 0  # goes up with every render, good or bad
    good: Parts | None = None  # the last render that succeeded
    good_generation: int = 0
    problems: list[Diagnostic] = field(default_factory=list)  # of the latest render
    render_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> Event:
        """Return what the page needs to show this state, as JSON-ready data."""
        parts = self.good
        return {
            "slug": self.slug,
            "generation": self.generation,
            "good_generation": self.good_generation,
            "ok": self.ok,
            "render_ms": round(self.render_ms, 1),
            "problems": [diagnostic_data(d) for d in self.problems],
            "warnings": [diagnostic_data(d) for d in parts.warnings] if parts else [],
            "strip": strip_data(parts) if parts else None,
        }


def diagnostic_data(diagnostic: Diagnostic) -> Event:
    """Return a diagnostic as JSON-ready data, with its one-line form."""
    return {
        "path": diagnostic.path,
        "line": diagnostic.line,
        "column": diagnostic.column,
        "field": diagnostic.field,
        "message": diagnostic.message,
        "severity": str(diagnostic.severity),
        "text": str(diagnostic)
        if diagnostic.path
        else f"{diagnostic.severity}: {diagnostic.message}",
    }


def strip_data(parts: Parts) -> Event:
    """Return the strip above the email: subject, preheader, from and the size budget."""
    return {
        "subject": parts.subject,
        "preheader": parts.preheader,
        "from": parts.sender,
        "size_kb": round(parts.html_bytes / 1024, 1),
        "limit_kb": SIZE_LIMIT // 1024,
        "size_share": round(parts.html_bytes / SIZE_LIMIT, 3),
        "warning_share": round(SIZE_WARNING / SIZE_LIMIT, 3),
        "dark_styles": parts.dark_styles,
    }


def problems_of(exc: BaseException) -> list[Diagnostic]:
    """Return the diagnostics that explain a failed render, one line at least."""
    if isinstance(exc, NewsletterError):
        found = [d for d in exc.diagnostics if d.is_error]
        if found:
            return found
        return [Diagnostic("", 0, 0, exc.message or type(exc).__name__)]
    if os.environ.get("NEWSLETTER_DEBUG"):
        traceback.print_exception(exc)
    return [Diagnostic("", 0, 0, f"internal error ({type(exc).__name__}: {exc}); please report")]


class PreviewSession:
    """Render issues on demand and after saves; broadcast each new state to subscribers."""

    def __init__(
        self,
        workspace: Workspace,
        renderer: Renderer = render_parts,
        on_render: Callable[[IssueState], None] | None = None,
    ):
        self.workspace = workspace
        self.renderer = renderer
        self.on_render = on_render
        self._states: dict[str, IssueState] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._subscribers: set[queue.SimpleQueue] = set()
        self._counter = 0

    def state(self, slug: str) -> IssueState:
        """Return the issue's state, rendering it the first time it is asked for."""
        with self._lock:
            known = self._states.get(slug)
            lock = self._locks.setdefault(slug, threading.Lock())
        if known is not None:
            return known
        with lock:
            known = self._states.get(slug)
            return known if known is not None else self.render(slug)

    def open_slugs(self) -> list[str]:
        """Return the issues a page has asked for."""
        with self._lock:
            return list(self._states)

    def render(self, slug: str) -> IssueState:
        """Render the issue now, keep the result and tell every subscriber."""
        started = time.perf_counter()
        try:
            parts, problems = self.renderer(self.workspace, slug), []
        except Exception as exc:  # any failure must reach the page, not kill the watcher
            parts, problems = None, problems_of(exc)
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self._counter += 1
            old = self._states.get(slug) or IssueState(slug)
            state = IssueState(
                slug,
                generation=self._counter,
                good=parts or old.good,
                good_generation=self._counter if parts else old.good_generation,
                problems=problems,
                render_ms=elapsed,
            )
            self._states[slug] = state
        if self.on_render:
            self.on_render(state)
        self.publish({"type": "update", **state.summary()})
        return state

    def files_changed(self, changed: set[Path]) -> None:
        """Re-render the open issues a save concerns; tell index pages about issue files."""
        issues_dir = self.workspace.issues_dir.resolve()
        issue_files = {p for p in changed if p.resolve().parent == issues_dir}
        shared = changed - issue_files  # settings, templates, images: every issue uses them
        for slug in self.open_slugs():
            if shared or any(p.stem == slug for p in issue_files):
                self.render(slug)
        if issue_files:
            self.publish({"type": "index", "files": sorted(display_path(p) for p in issue_files)})

    def subscribe(self) -> queue.SimpleQueue:
        """Return a queue that receives every event from now on (None: the session closed)."""
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        with self._lock:
            self._subscribers.add(inbox)
        return inbox

    def unsubscribe(self, inbox: queue.SimpleQueue) -> None:
        with self._lock:
            self._subscribers.discard(inbox)

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for inbox in subscribers:
            inbox.put(event)

    def generations(self) -> dict[str, int]:
        """Return the latest generation of each open issue."""
        with self._lock:
            return {slug: state.generation for slug, state in self._states.items()}

    def close(self) -> None:
        """Release every subscriber (their event streams end)."""
        with self._lock:
            subscribers, self._subscribers = list(self._subscribers), set()
        for inbox in subscribers:
            inbox.put(None)
