"""What an issue's pages are made from, and a fingerprint of it for incremental builds."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import __version__, markup
from newsletter.errors import WorkspaceError
from newsletter.workspace import REMOTE

if TYPE_CHECKING:  # kept out of the import so build workers start before pydantic loads
    from newsletter.loader import LoadedIssue
    from newsletter.model import Series
    from newsletter.workspace import Workspace


def image_sources(series: Series, loaded: LoadedIssue) -> list[str]:
    """Return every workspace image path the issue shows (hero, summaries, articles, logo)."""
    issue = loaded.issue
    found = [issue.image.src] if issue.image else []
    for item in issue.items:
        found += [src for src, _alt, _title in markup.images(item.summary, inline=True)]
    for article in issue.articles:
        if article.image:
            found.append(article.image.src)
        found += [src for src, _alt, _title in markup.images(article.body)]
    if series.brand.logo:
        found.append(series.brand.logo)
    local = [src for src in found if not src.lower().startswith(REMOTE)]
    return list(dict.fromkeys(local))


def template_files(workspace: Workspace) -> list[tuple[str, bytes]]:
    """Return (name, bytes) of every template the renderers may read, workspace first."""
    files: list[tuple[str, bytes]] = []
    if workspace.templates_dir.is_dir():
        for path in sorted(workspace.templates_dir.rglob("*")):
            if path.is_file():
                files.append(
                    (f"workspace:{path.relative_to(workspace.templates_dir)}", path.read_bytes())
                )
    package = resources.files("newsletter") / "templates"
    for entry in sorted(package.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            files.append((f"package:{entry.name}", entry.read_bytes()))
    return files


def shared_fingerprint(workspace: Workspace) -> str:
    """Hash what every issue depends on: tool version, series settings and templates."""
    digest = hashlib.sha256(__version__.encode())
    digest.update(workspace.config_path.read_bytes())
    for name, data in template_files(workspace):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def issue_fingerprint(
    workspace: Workspace, series: Series, loaded: LoadedIssue, shared: str
) -> str:
    """Hash everything one issue's pages are made from."""
    digest = hashlib.sha256(shared.encode())
    digest.update(loaded.path.read_bytes())
    for src in image_sources(series, loaded):
        digest.update(src.encode() + b"\0")
        try:
            path = workspace.contained(src)
        except WorkspaceError:
            continue  # refused when the images are copied
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def copy_if_changed(source: Path, target: Path) -> bool:
    """Copy a file unless an identical one is there already; return True if copied."""
    if (
        target.is_file()
        and target.stat().st_size == source.stat().st_size
        and target.read_bytes() == source.read_bytes()
    ):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return True
