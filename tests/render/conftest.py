"""Rendered sample issues shared by the render tests (rendered once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from newsletter.workspace import Workspace
from tests.helpers.server import serve_directory
from tests.helpers.workspace import copy_sample
from tests.render.workspaces import sample_copy

SAMPLE_ISSUES = ("vol-2-10", "vol-3-8")


@dataclass(frozen=True)
class Rendered:
    """The sample workspace rendered into build/<slug>/ (html, text, eml)."""

    root: Path
    base_url: str | None

    def path(self, slug: str, name: str) -> Path:
        return self.root / "build" / slug / name

    def url(self, slug: str, name: str = "email.html") -> str:
        """Return the address of a rendered file on the local server (served renders only)."""
        assert self.base_url, "this render is not served"
        return f"{self.base_url}build/{slug}/{name}"


def render_sample(root: Path) -> None:
    """Render every sample issue in the workspace at root into root/build."""
    from newsletter.loader import load_workspace
    from newsletter.render.output import default_formats, render_issue
    from newsletter.workspace import Workspace

    workspace = Workspace(root)
    series, issues, diagnostics = load_workspace(workspace)
    assert series is not None and not [d for d in diagnostics if d.is_error], diagnostics
    assert sorted(i.slug for i in issues) == sorted(SAMPLE_ISSUES)
    for loaded in issues:
        render_issue(workspace, series, loaded, workspace.build_dir, default_formats())


@pytest.fixture(scope="session")
def sample_render(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Return the sample workspace as it is (base_url https://digest.example.org/), rendered."""
    root = copy_sample(tmp_path_factory.mktemp("sample"))
    render_sample(root)
    return Rendered(root, None)


@pytest.fixture(scope="session")
def served_render(tmp_path_factory: pytest.TempPathFactory):
    """Return the sample workspace published on 127.0.0.1 (base_url there), rendered.

    The workspace folder is served as the archive would be, so the email's
    absolute image URLs load in Chromium and the layout is judged with its images.
    """
    root = tmp_path_factory.mktemp("served")
    with serve_directory(root) as base_url:
        copy_sample(root, base_url=base_url)
        render_sample(root)
        yield Rendered(root, base_url)


@pytest.fixture
def sample_workspace(tmp_path) -> Workspace:
    """Return a copy of the repository's sample workspace (series, two issues, images)."""
    return sample_copy(tmp_path / "ws")
