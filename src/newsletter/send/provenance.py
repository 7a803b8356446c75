"""Provenance: the git commit a send came from, and whether what it sent was committed.

What a send mails is the issue file, newsletter.yaml and the workspace's templates. A
team reviews those in git, so `send` refuses when any of them differs from HEAD (unless
--allow-dirty) and records the commit in the state for `newsletter status ISSUE`.
A workspace outside git is recorded as such and never refused: there is nothing to
compare with, and a single editor on a laptop is a fine way to work.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import SendError

if TYPE_CHECKING:
    from newsletter.state import Store
    from newsletter.workspace import Workspace


@dataclass(frozen=True)
class Provenance:
    """Where a send's files came from."""

    in_git: bool
    commit: str  # HEAD, or "" in a repository without commits (or outside git)
    dirty: tuple[str, ...]  # the sent files that differ from HEAD, workspace-relative

    def describe(self) -> str:
        """Return e.g. 'commit 1a2b3c4 (clean)', or 'not in git'."""
        if not self.in_git:
            return "not in git"
        head = f"commit {self.commit}" if self.commit else "no commit yet"
        changed = f"uncommitted: {', '.join(self.dirty)}" if self.dirty else "clean"
        return f"{head} ({changed})"


@dataclass(frozen=True)
class SendRecord:
    """One send of an issue as the state remembers it."""

    started: float
    provenance: Provenance
    allowed_dirty: bool
    provider: str

    @property
    def when(self) -> str:
        """Return the start time as ISO 8601, UTC."""
        return dt.datetime.fromtimestamp(self.started, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def describe(self) -> str:
        """Return one line: time, commit, changes, provider."""
        forced = " --allow-dirty" if self.allowed_dirty else ""
        return f"{self.when}  {self.provenance.describe()}{forced}  via {self.provider}"

    def as_json(self) -> dict:
        """Return the record for `status --format json`."""
        where = self.provenance
        return {
            "started": self.when,
            "commit": where.commit if where.in_git else None,
            "dirty": list(where.dirty),
            "allow_dirty": self.allowed_dirty,
            "provider": self.provider,
        }


def _git(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(workspace), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def sent_files(workspace: Workspace, issue_path: Path) -> list[str]:
    """Return what a send of the issue mails, as paths relative to the workspace."""
    root = workspace.root.resolve()
    paths = [issue_path, workspace.config_path, workspace.templates_dir]
    return [
        str(p.resolve().relative_to(root)) if p.resolve().is_relative_to(root) else str(p)
        for p in paths
    ]


def inspect(workspace: Workspace, issue_path: Path) -> Provenance:
    """Return the workspace's HEAD and which of the issue's sent files differ from it."""
    root = workspace.root.resolve()
    if shutil.which("git") is None or _git(root, "rev-parse", "--git-dir").returncode != 0:
        return Provenance(in_git=False, commit="", dirty=())
    files = sent_files(workspace, issue_path)
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    commit = head.stdout.strip() if head.returncode == 0 else ""
    changed: set[str] = set()
    if commit:  # staged or not, against HEAD
        diff = _git(root, "diff", "--name-only", "--relative", "HEAD", "--", *files)
        changed.update(diff.stdout.splitlines())
    # Untracked (but not ignored) files were never committed either.
    others = _git(root, "ls-files", "--others", "--exclude-standard", "--", *files)
    changed.update(others.stdout.splitlines())
    if not commit:  # nothing is committed yet: every tracked file differs from no HEAD
        changed.update(_git(root, "ls-files", "--", *files).stdout.splitlines())
    return Provenance(in_git=True, commit=commit, dirty=tuple(sorted(changed)))


def refuse_dirty(provenance: Provenance, allow_dirty: bool) -> None:
    """Refuse to send files that differ from the commit, unless allowed."""
    if provenance.in_git and (provenance.dirty or not provenance.commit) and not allow_dirty:
        what = ", ".join(provenance.dirty) or "the workspace"
        head = f"HEAD is {provenance.commit[:12]}" if provenance.commit else "no commit yet"
        raise SendError(
            f"{what}: uncommitted changes ({head}); what is sent should be what was "
            "reviewed: commit them, or send anyway with --allow-dirty (recorded with the send)"
        )


def record(store: Store, slug: str, provenance: Provenance, allowed: bool, provider: str) -> None:
    """Remember (committed) that a send of the issue starts now, from where."""
    store.record_send(
        slug,
        (
            dt.datetime.now(dt.UTC).timestamp(),
            provenance.commit if provenance.in_git else None,
            "\n".join(provenance.dirty),
            allowed,
            provider,
        ),
    )


def history(store: Store, slug: str) -> list[SendRecord]:
    """Return the issue's sends, oldest first."""
    records = []
    for started, commit, dirty, allowed, provider in store.sends(slug):
        where = Provenance(commit is not None, commit or "", tuple(dirty.splitlines()))
        records.append(SendRecord(started, where, bool(allowed), provider))
    return records
