"""Notice saves in a workspace by polling file metadata.

Why polling and not watchfiles (inotify): the files that matter are few and known
(newsletter.yaml, issues/, templates/, images/), while the workspace root may hold a
.git, node_modules or build/ with tens of thousands of folders that a recursive
inotify watch would register one by one (watchfiles' `recursive` flag is one switch
for all paths). templates/ and images/ may not exist yet when the preview starts.
Stat-polling those few paths every 50 ms costs well under a millisecond a round,
sees editors' atomic saves (write a temporary file, rename it over) like any other,
works on network and container file systems, and needs no dependency. The browser
itself never polls: the server pushes an event once the new render is ready.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from newsletter.workspace import Workspace

INTERVAL = 0.05  # seconds between two looks at the files
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


class Watcher:
    """Call on_change with the changed files after each save, from a background thread."""

    def __init__(
        self,
        workspace: Workspace,
        on_change: Callable[[set[Path]], None],
        interval: float = INTERVAL,
    ):
        self.workspace = workspace
        self.on_change = on_change
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="preview-watch", daemon=True)
        self._seen = snapshot(workspace)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            changed = self.poll()
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
