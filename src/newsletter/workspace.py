"""Find the workspace (the folder holding newsletter.yaml) and name its paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from newsletter.errors import OutsideWorkspaceError, WorkspaceError

CONFIG_NAME = "newsletter.yaml"
REMOTE = ("http://", "https://")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def path_problem(value: str) -> str | None:
    """Return why value cannot name a workspace file (as written), or None if it can.

    The lexical half of containment, shared by the models (which see no file system)
    and `Workspace.contained`: no other scheme than http(s), no absolute path, no '..',
    no hidden file or folder (.env, .git, the tool's own .newsletter state).
    """
    if _SCHEME.match(value):
        return f"'{value}' must be an http(s) URL or a path in the workspace"
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        return f"'{value}' must be a path inside the workspace, e.g. images/hero.jpg"
    if any(part.startswith(".") for part in path.parts):
        return f"'{value}' is a hidden file or folder; hidden files are never published"
    return None


@dataclass(frozen=True)
class Workspace:
    """A newsletter workspace: series settings, issues, templates and outputs."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def issues_dir(self) -> Path:
        return self.root / "issues"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    @property
    def state_dir(self) -> Path:
        """Return the folder for tool state (ledger, suppression list, caches)."""
        return self.root / ".newsletter"

    def issue_paths(self) -> list[Path]:
        """Return every issue file, sorted by name."""
        if not self.issues_dir.is_dir():
            return []
        found = [*self.issues_dir.glob("*.yaml"), *self.issues_dir.glob("*.yml")]
        return sorted(p for p in found if p.is_file())

    def issue_path(self, slug_or_path: str) -> Path:
        """Return the file of an issue given by slug (vol-2-10) or by path."""
        candidate = Path(slug_or_path)
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            return candidate
        for suffix in (".yaml", ".yml"):
            path = self.issues_dir / f"{slug_or_path}{suffix}"
            if path.is_file():
                return path
        known = ", ".join(p.stem for p in self.issue_paths()) or "none"
        raise WorkspaceError(f"no issue '{slug_or_path}' in {self.issues_dir} (known: {known})")

    def resolve(self, relative: str) -> Path:
        """Return a workspace-relative path as an absolute path."""
        return self.root / relative

    def contains(self, path: Path) -> bool:
        """Return True if path, symlinks followed, is a visible file or folder of the workspace."""
        root = self.root.resolve()
        real = path.resolve()
        if not real.is_relative_to(root):
            return False
        return not any(part.startswith(".") for part in real.relative_to(root).parts)

    def contained(self, relative: str) -> Path:
        """Return the workspace file at relative, refusing any path that leads out of it.

        The one gate for every file the tool reads to publish (images copied by `build`,
        shown by the preview, printed into the PDF) and that `check` reports on: a path
        with '..', an absolute path, another scheme, a hidden file, or a symlink whose
        target lies outside the workspace raise OutsideWorkspaceError; a missing file
        raises WorkspaceError.
        """
        problem = path_problem(relative)
        if problem:
            raise OutsideWorkspaceError(problem)
        path = self.root / PurePosixPath(relative.replace("\\", "/"))
        if not self.contains(path):
            raise OutsideWorkspaceError(
                f"'{relative}' is a symlink leading out of the workspace (or to a hidden "
                "file); copy the file into the workspace instead"
            )
        if not path.is_file():
            raise WorkspaceError(f"image file '{relative}' not found in the workspace")
        return path


def find_workspace(explicit: Path | None = None, start: Path | None = None) -> Workspace:
    """Return the workspace named explicitly, or the nearest one above start (like git)."""
    if explicit is not None:
        root = explicit.resolve()
        if not (root / CONFIG_NAME).is_file():
            raise WorkspaceError(f"{explicit} is not a workspace: it has no {CONFIG_NAME}")
        return Workspace(root)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return Workspace(folder)
    raise WorkspaceError(
        f"no {CONFIG_NAME} here or in any parent folder; run inside a workspace, "
        "pass --workspace DIR, or create one with 'newsletter init DIR'"
    )
