"""The HTML pages of the preview itself: the list of issues and the toolbar page of one.

The page template lives beside this module, not in the theme (templates/): it is the
tool's own interface, so `newsletter init` does not copy it into workspaces and a
workspace's templates cannot break it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from newsletter.errors import display_path

if TYPE_CHECKING:
    import jinja2

    from newsletter.preview.session import IssueState
    from newsletter.workspace import Workspace

TEMPLATE = "page.html.j2"
WIDTHS = {"desktop": 800, "mobile": 375}  # px: a desktop reading pane, an iPhone's screen


@dataclass(frozen=True)
class Listed:
    """One issue in the list: where it is and whether it loads."""

    slug: str
    label: str
    date: str
    title: str
    errors: int
    warnings: int


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("newsletter", "preview"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def list_issues(workspace: Workspace) -> list[Listed]:
    """Return every issue of the workspace with its label and its count of problems."""
    from newsletter.loader import load_workspace

    _series, loaded, diagnostics = load_workspace(workspace)
    by_path = {item.path.resolve(): item for item in loaded}
    listed = []
    for path in workspace.issue_paths():
        shown = display_path(path)
        mine = [d for d in diagnostics if d.path == shown]
        item = by_path.get(path.resolve())
        issue = item.issue if item else None
        listed.append(
            Listed(
                slug=path.stem,
                label=issue.label if issue else "",
                date=issue.date.isoformat() if issue else "",
                title=(issue.title or "") if issue else "",
                errors=sum(d.is_error for d in mine),
                warnings=sum(not d.is_error for d in mine),
            )
        )
    return listed


def _page(**context) -> str:
    return _environment().get_template(TEMPLATE).render(widths=WIDTHS, **context)


def index_page(workspace: Workspace) -> str:
    """Return the page listing the workspace's issues, each linking to its preview."""
    return _page(
        mode="index", title=f"Preview: {workspace.root.name}", issues=list_issues(workspace)
    )


def issue_page(state: IssueState) -> str:
    """Return the toolbar page previewing one issue."""
    return _page(
        mode="issue", title=f"Preview: {state.slug}", slug=state.slug, state=state.summary()
    )
