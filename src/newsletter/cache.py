"""Remember what loading each file gave, by fingerprint, so unchanged files skip validation.

Parsing and validating 500 issues takes about a second; a build or `check` with nothing
changed should not pay it. Each file's result (the model and its positions and warnings)
is kept under a fingerprint of everything loading it depends on: the file's bytes, the
series settings, the name it is reported under and the code of this tool. The images a
file names are checked again on every use, because they live outside the fingerprint.

The cache lives in the user's cache folder, never in the workspace: it holds pickles,
and a pickle planted in a cloned repository must never be loaded.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

from newsletter import __version__

# `newsletter --help` uses this module too, so it imports nothing it can spare (typing: 3 ms).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from newsletter.source import Source
    from newsletter.workspace import Workspace

    Loaded = tuple[Any, Source]
FORMAT = b"newsletter-load-cache 2\n"


def cache_root() -> str | None:
    """Return the user's cache folder for newsletter, or None when caching is off."""
    chosen = os.environ.get("NEWSLETTER_CACHE_DIR")
    if chosen is not None:
        return chosen if chosen not in ("", "off", "0") else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "newsletter")


def write_cache_file(path: str | os.PathLike, *chunks: bytes, mode: int = 0o777) -> None:
    """Write a cache file whole or not at all; a failure only costs the next run speed.

    Readers see the old file or the new, never half (a per-process temporary, renamed).
    mode: of the folders made on the way.
    """
    temporary = f"{os.fspath(path)}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(os.fspath(path)), mode=mode, exist_ok=True)
        with open(temporary, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temporary, path)
    except OSError:  # a read-only or full cache folder
        import contextlib  # only here: `newsletter --help` uses this module too

        with contextlib.suppress(OSError):
            os.unlink(temporary)


@lru_cache(maxsize=1)
def code_version() -> bytes:
    """Describe this tool's code for fingerprints: its version and every module's size and time."""
    parts = [__version__, sys.version]
    package = os.path.dirname(os.path.abspath(__file__))
    for folder, dirs, files in os.walk(package):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                info = os.stat(os.path.join(folder, name))
                parts.append(f"{folder}/{name}:{info.st_size}:{info.st_mtime_ns}")
    return "\n".join(parts).encode()


class LoadCache:
    """Loaded files of one workspace, keyed by path, each stored with its fingerprint."""

    def __init__(self, workspace: Workspace, folder: Path | None):
        import hashlib

        self.workspace = workspace
        self.folder = folder
        try:
            config = workspace.config_path.read_bytes()
        except OSError:
            config = b""
        self.shared = hashlib.sha256(code_version() + config).digest()
        self._present: dict[str, bool] = {}

    @classmethod
    def open(cls, workspace: Workspace) -> LoadCache:
        """Return the cache of workspace (inactive when caching is off)."""
        import hashlib

        root = cache_root()
        if root is None:
            return cls(workspace, None)
        where = hashlib.sha256(str(workspace.root.resolve()).encode()).hexdigest()[:20]
        return cls(workspace, workspace.root.__class__(root, "load", where))

    def load(
        self, path: Path, compute: Callable[[], Loaded], files: Callable[[Any], list[str]]
    ) -> Loaded:
        """Return compute()'s result for path, from the cache while the file is unchanged.

        files(result) names the workspace files the result relies on; they must still exist.
        """
        found = self._entry(path) if self.folder is not None else None
        if found is None:
            return compute()
        entry, key = found
        hit = self._read(entry, key)
        if hit is not None:
            return hit
        result, source = compute()
        if result is not None and source.ok:
            self._write(entry, key, _summary(files(result), result, source), (result, source))
        return result, source

    def _entry(self, path: Path) -> tuple[Path, bytes] | None:
        """Return the cache file of path and the key its content must start with."""
        import hashlib

        try:
            raw = path.read_bytes()
        except OSError:
            return None
        # Messages name the file relative to the current folder (display_path): the
        # path as given and that folder decide it, without resolving either (500 issues).
        digest = hashlib.sha256(self.shared)
        digest.update(f"{path}\0{os.getcwd()}\0".encode() + raw)
        key = FORMAT + digest.hexdigest().encode() + b"\n"
        where = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:24]
        return self.folder / where, key

    def summary(self, path: Path) -> dict | None:
        """Return what loading path reported (diagnostics, volume and number), if cached.

        Read without unpickling the model: `newsletter check` of unchanged files then
        needs neither pydantic nor the models.
        """
        import json

        found = self._entry(path) if self.folder is not None else None
        if found is None:
            return None
        try:
            with found[0].open("rb") as handle:
                if handle.read(len(found[1])) != found[1]:
                    return None
                summary = json.loads(handle.readline())
        except (OSError, ValueError):
            return None
        return summary if all(self._exists(name) for name in summary["files"]) else None

    def records(self, path: Path) -> Loaded | None:
        """Return path's cached result with records in place of the models (see records.py)."""
        from newsletter.records import load_records

        found = self._entry(path) if self.folder is not None else None
        return self._read(*found, load_records) if found is not None else None

    def _read(self, entry: Path, key: bytes, load: Callable | None = None) -> Loaded | None:
        import json
        import pickle

        try:
            with entry.open("rb") as handle:
                if handle.read(len(key)) != key:
                    return None
                summary = json.loads(handle.readline())
                loaded = (load or pickle.load)(handle)
        except Exception:  # missing, stale, damaged or not plain data: load the file instead
            return None
        if not all(self._exists(name) for name in summary["files"]):
            return None  # an image went away: loading again reports it
        return loaded

    def _exists(self, name: str) -> bool:
        """Return True if the workspace file may still be read, asking once per run."""
        from newsletter.errors import WorkspaceError

        if name not in self._present:
            try:  # the same gate as loading: a symlink out of the workspace fails it
                self.workspace.contained(name)
                self._present[name] = True
            except WorkspaceError:
                self._present[name] = False
        return self._present[name]

    def _write(self, entry: Path, key: bytes, summary: dict, value: object) -> None:
        import json
        import pickle

        head = key + json.dumps(summary).encode() + b"\n"
        write_cache_file(entry, head, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _summary(files: list[str], result: Any, source: Source) -> dict:
    """Return what `check` needs of a loaded file, as JSON-ready data."""
    issue = getattr(result, "issue", None)
    return {
        "files": files,
        "diagnostics": [_diagnostic_data(d) for d in source.diagnostics],
        "number": [issue.volume, issue.number] if issue is not None else None,
    }


def _diagnostic_data(diagnostic) -> list:
    d = diagnostic
    return [d.path, d.line, d.column, d.message, d.field, str(d.severity), d.code]


def cached_load(workspace: Workspace, paths: list[Path] | None = None) -> tuple | None:
    """Return what load_workspace would, with records for models, if every file is cached.

    For `newsletter render`, which then needs no pydantic (records.py). None, and the
    caller loads as usual, when any file changed, the settings or an issue has an error,
    or two issues share a volume and number.
    """
    from newsletter.errors import display_path

    cache = LoadCache.open(workspace)
    found = cached_check(workspace, paths, cache)
    if found is None:
        return None
    series = cache.records(workspace.config_path)
    issues = [cache.records(path) for path in (workspace.issue_paths() if paths is None else paths)]
    if series is None or series[0] is None or any(i is None or i[0] is None for i in issues):
        return None
    first = display_path(workspace.config_path)
    found.sort(key=lambda d: (d.path != first, d.path, d.line, d.column))
    return series[0], [issue for issue, _ in issues], found


def cached_check(
    workspace: Workspace, paths: list[Path] | None = None, cache: LoadCache | None = None
) -> list | None:
    """Return every diagnostic of the workspace if all its files are cached, else None.

    The answer `load_workspace` would give for every file, without loading a model;
    None when any file changed or two issues share a volume and number (those clashes
    are worked out by the loader).
    """
    from newsletter.errors import Diagnostic, Severity

    cache = cache or LoadCache.open(workspace)
    every = workspace.issue_paths()
    if paths is not None:
        chosen = {p.resolve() for p in paths}
        # A file outside issues/, or one named twice: the loader compares it with the others.
        if len(chosen) != len(paths) or not chosen <= {p.resolve() for p in every}:
            return None
    summaries = [cache.summary(p) for p in (workspace.config_path, *every)]
    if any(s is None for s in summaries):
        return None
    numbers = [tuple(s["number"]) for s in summaries[1:]]
    if len(set(numbers)) != len(numbers):
        return None
    if paths is not None:  # the settings and the given files: what load_workspace reports
        summaries = [summaries[0], *(cache.summary(p) for p in paths)]
        if any(s is None for s in summaries):
            return None
    found = []
    for summary in summaries:
        for path, line, column, message, field, severity, code in summary["diagnostics"]:
            found.append(Diagnostic(path, line, column, message, field, Severity(severity), code))
    return found
