"""Find the workspace (the folder holding newsletter.yaml) and name its paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import WorkspaceError

CONFIG_NAME = "newsletter.yaml"


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
