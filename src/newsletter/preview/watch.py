"""Notice saves in a workspace: file-system events (inotify) through watchfiles.

Polling cost up to 50 ms before a save was even seen, plus 20 ms to let it settle: half
of the preview's save-to-screen time. Events arrive within a millisecond. Only the few
places that matter are watched recursively (issues/, templates/, images/); the root is
watched alone, for newsletter.yaml and for those folders appearing later, because it may
hold a .git, node_modules or build/ with tens of thousands of folders. An event only says
"look now": what changed is still decided by comparing file metadata, so hidden files,
editors' swap files and atomic saves (write a temporary file, rename it over) count
exactly as they did when polling. Where events are unavailable (no inotify watches
left, a file system without them), the watcher falls back to polling every 50 ms.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from newsletter.workspace import Workspace

INTERVAL = 0.05  # seconds between two looks at the files, when polling
STEP_MS = 5  # events this close together are one save (watchfiles' grouping window)
FOLDERS = ("issues", "templates", "images")  # watched recursively when they exist
SETTLE = 0.02  # wait this long for a save in several writes to finish
SETTLE_MAX = 0.5  # but never longer than this, for a file that keeps changing
MAX_FILES = 5000  # a templates/ or images/ folder larger than this is a mistake

Signature = tuple[int, int, int]  # modification time (ns), size, inode
Snapshot = dict[Path, Signature]


def watched_files(workspace: Workspace) -> list[Path]:
    """Return the files whose change re-renders: settings, issues, templates and images."""
    found = [workspace.config_path]
    if workspace.issues_dir.is_dir():
        found += workspace.issue_paths()
    for folder in (workspace.templates_dir, workspace.root / "images"):
        found += _walk(folder, MAX_FILES)
    return found


def _walk(folder: Path, limit: int) -> list[Path]:
    found: list[Path] = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top, name) for name in files if not name.startswith(".")]
        if len(found) >= limit:
            break
    return found[:limit]


def snapshot(workspace: Workspace) -> Snapshot:
    """Return the signature of every watched file."""
    result: Snapshot = {}
    for path in watched_files(workspace):
        try:
            info = path.stat()
        except OSError:  # deleted between listing and stat: it is simply gone
            continue
        result[path] = (info.st_mtime_ns, info.st_size, info.st_ino)
    return result


def changes(before: Snapshot, after: Snapshot) -> set[Path]:
    """Return the files added, removed or modified between two snapshots."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


class _Either:
    """Set when either event is: watchfiles stops on one object."""

    def __init__(self, first: threading.Event, second: threading.Event):
        self.first, self.second = first, second

    def is_set(self) -> bool:
        return self.first.is_set() or self.second.is_set()


class Watcher:
    """Call on_change with the changed files after each save, from background threads."""

    def __init__(
        self,
        workspace: Workspace,
        on_change: Callable[[set[Path]], None],
        interval: float = INTERVAL,
        *,
        events: bool = True,
    ):
        self.workspace = workspace
        self.on_change = on_change
        self.interval = interval
        self.events = events
        self.mode = "polling"  # "events" while file-system events are followed
        self.ready = threading.Event()  # set once every watch is in place
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._regroup = threading.Event()  # a watched folder appeared or went away
        self._threads: list[threading.Thread] = []
        self._watched: list[Path] = []
        self._seen = snapshot(workspace)

    def start(self) -> Watcher:
        """Start watching from background threads."""
        self._spawn(self._run, "preview-watch")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._regroup.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        if self.events and self._follow_root():
            return
        self.mode = "polling"
        self.ready.set()
        while not self._stop.wait(self.interval):
            changed = self.poll()
            if changed:
                self.on_change(changed)

    def _follow_root(self) -> bool:
        """Follow the root's events until stopped; return False if events are unavailable."""
        try:
            import watchfiles
        except ImportError:
            return False
        try:
            # The root alone: newsletter.yaml, and issues/, templates/ or images/ coming
            # or going (the folder watch then starts again on the new set).
            started = False
            for changes_seen in watchfiles.watch(
                self.workspace.root, recursive=False, **self._options(self._stop)
            ):
                if not started:
                    started = True
                    self.mode = "events"
                    self._spawn(lambda: self._follow_folders(watchfiles), "preview-watch-folders")
                elif changes_seen:
                    if self._folders() != self._watched:
                        self._regroup.set()
                    self._look()
        except (OSError, RuntimeError):  # no inotify, or out of watches: poll instead
            self.mode = "polling"
            return self._stop.is_set()
        return True

    def _folders(self) -> list[Path]:
        return [p for p in (self.workspace.root / name for name in FOLDERS) if p.is_dir()]

    def _follow_folders(self, watchfiles) -> None:
        while not self._stop.is_set():
            self._watched = self._folders()
            self._regroup.clear()
            if not self._watched:  # nothing to watch yet: wait for a folder to appear
                self._in_place()
                self._regroup.wait()
            else:
                stop = _Either(self._stop, self._regroup)
                try:
                    for changes_seen in watchfiles.watch(*self._watched, **self._options(stop)):
                        if not self.ready.is_set():
                            self._in_place()
                        elif changes_seen:
                            self._look()
                except (OSError, RuntimeError):  # a folder went away while starting: again
                    self._stop.wait(self.interval)
            self._look()

    def _in_place(self) -> None:
        """Mark every watch as in place, and catch what changed while they were set up."""
        self.ready.set()
        self._look()

    @staticmethod
    def _options(stop) -> dict:
        return {
            "watch_filter": None,  # every event: _look decides what counts
            "step": STEP_MS,
            "stop_event": stop,
            # Wake every 100 ms without events: the first wake-up says the watch is in place.
            "rust_timeout": 100,
            "yield_on_timeout": True,
            "raise_interrupt": False,
        }

    def _look(self) -> None:
        """Compare the files with what was seen last and report any change."""
        with self._lock:
            current = snapshot(self.workspace)
            changed = changes(self._seen, current)
            self._seen = current
            if changed:
                self.on_change(changed)

    def poll(self) -> set[Path]:
        """Return what changed since the last poll, once the files have stopped changing."""
        current = snapshot(self.workspace)
        changed = changes(self._seen, current)
        deadline = time.monotonic() + SETTLE_MAX
        while changed and time.monotonic() < deadline:
            time.sleep(SETTLE)
            later = snapshot(self.workspace)
            more = changes(current, later)
            current = later
            if not more:
                break
            changed |= more
        self._seen = current
        return changed
