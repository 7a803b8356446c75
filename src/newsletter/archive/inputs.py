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


class ImageDigests:
    """The digest of each image file, read once per build however many issues show it."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._known: dict[str, bytes] = {}

    def of(self, src: str) -> bytes:
        """Return the SHA-256 of the workspace file src (empty when missing or refused)."""
        if src not in self._known:
            try:
                path = self.workspace.contained(src)
            except WorkspaceError:  # refused when the images are copied
                self._known[src] = b""
            else:
                self._known[src] = hashlib.sha256(path.read_bytes()).digest()
        return self._known[src]


def issue_fingerprint(
    workspace: Workspace,
    series: Series,
    loaded: LoadedIssue,
    shared: str,
    images: ImageDigests | None = None,
) -> str:
    """Hash everything one issue's pages are made from."""
    sources = image_sources(series, loaded)
    return _fingerprint(workspace, loaded.path, sources, shared, images or ImageDigests(workspace))


def _fingerprint(
    workspace: Workspace, path: Path, sources: list[str], shared: str, images: ImageDigests
) -> str:
    digest = hashlib.sha256(shared.encode())
    digest.update(path.read_bytes())
    for src in sources:
        digest.update(src.encode() + b"\0" + images.of(src))
    return digest.hexdigest()


class InputRecord:
    """What the last complete build was made from, to tell a no-op rebuild without loading.

    The fingerprints cover each issue's bytes, the images it shows, the settings, the
    templates and the tool's version; the record adds which images each issue shows (the
    one thing only the model knows) and the warnings the build reported. If every
    fingerprint computed from the record matches, nothing can have changed: the build
    is done without parsing, validating or even importing the models.
    """

    NAME = ".build-inputs.json"

    @staticmethod
    def write(
        out: Path, shared: str, sources: dict[str, list[str]], warnings: list, settings: str
    ) -> None:
        """Record a complete build: its shared fingerprint, image lists and warnings.

        settings is how newsletter.yaml is named in messages: its warnings are shown on
        every build, those of issues only counted when the issues are unchanged.
        """
        import json
        import os

        record = {
            "shared": shared,
            "cwd": os.getcwd(),  # messages name files relative to it
            "sources": sources,
            "settings_warnings": [
                [d.path, d.line, d.column, d.message, d.field]
                for d in warnings
                if d.path == settings
            ],
            "issue_warnings": sum(d.path != settings for d in warnings),
        }
        (out / InputRecord.NAME).write_text(json.dumps(record), encoding="utf-8")

    @staticmethod
    def unchanged(
        workspace: Workspace, out: Path, paths: list[Path], manifest: dict[str, str]
    ) -> tuple[list, int] | None:
        """Return the settings' warnings and the issues' count if no input changed, else None."""
        import json
        import os

        from newsletter.errors import Diagnostic, Severity

        try:
            record = json.loads((out / InputRecord.NAME).read_text(encoding="utf-8"))
            sources: dict[str, list[str]] = record["sources"]
            notes = [
                Diagnostic(*note, severity=Severity.WARNING) for note in record["settings_warnings"]
            ]
            counted = int(record["issue_warnings"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if record.get("cwd") != os.getcwd():
            return None
        slugs = {path.stem: path for path in paths}
        if len(slugs) != len(paths) or set(slugs) != set(manifest) or set(sources) != set(slugs):
            return None
        shared = shared_fingerprint(workspace)
        if record.get("shared") != shared:
            return None
        images = ImageDigests(workspace)
        for slug, path in slugs.items():
            if _fingerprint(workspace, path, sources[slug], shared, images) != manifest[slug]:
                return None
        return notes, counted


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
