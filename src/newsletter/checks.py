"""Checks beyond the schema: files that must exist, clashes between issues, editorial warnings."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from newsletter import markup
from newsletter.errors import Diagnostic, Severity, display_path
from newsletter.model import Image, Issue, Series, _source
from newsletter.source import Source, YamlPath, format_path, read_yaml

if TYPE_CHECKING:
    from pathlib import Path

    from newsletter.loader import LoadedIssue
    from newsletter.workspace import Workspace

HEADLINE_MAX_CHARS = 120
SUMMARY_MAX_WORDS = 120
PREHEADER_MAX_CHARS = 150  # clients show 40-140 characters; longer text is never seen
SUBJECT_MAX_CHARS = 90
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
PLACEHOLDER = re.compile(r"\bTODO\b")


def warn(source: Source, path: YamlPath, message: str) -> None:
    """Record a warning located at path."""
    line, column = source.position(path)
    source.diagnostics.append(
        Diagnostic(source.path, line, column, message, format_path(path), Severity.WARNING)
    )


def _check_source(source: Source, workspace: Workspace, path: YamlPath, src: str) -> None:
    if src.startswith(("http://", "https://")):
        return
    if not workspace.resolve(src).is_file():
        source.error(path, f"image file '{src}' not found in the workspace")


def _check_image(source: Source, workspace: Workspace, path: YamlPath, image: Image | None) -> None:
    if image is None:
        return
    _check_source(source, workspace, (*path, "src"), image.src)
    if not image.credit:
        warn(source, path, "image has no credit")


def check_files(issue: Issue, source: Source, workspace: Workspace) -> None:
    """Check referenced images, Markdown images in article bodies, and editorial limits."""
    _check_image(source, workspace, ("image",), issue.image)
    for index, article in enumerate(issue.articles):
        where: YamlPath = ("articles", index)
        _check_image(source, workspace, (*where, "image"), article.image)
        for src, alt, _caption in markup.images(article.body):
            try:
                _source(src)
            except ValueError as exc:
                source.error((*where, "body"), str(exc))
                continue
            _check_source(source, workspace, (*where, "body"), src)
            if not alt.strip():
                warn(source, (*where, "body"), f"image '{src}' has no alt text")
    _editorial(issue, source)


def _editorial(issue: Issue, source: Source) -> None:
    """Warn about what an editor would want to fix before sending (errors under --strict)."""
    slug = source.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if not SLUG_PATTERN.match(slug):
        warn(source, (), f"file name '{slug}' becomes a web address; use lowercase, digits and '-'")
    if not issue.preheader:
        warn(source, (), "no preheader: inboxes will show the first text of the email instead")
    elif len(issue.preheader) > PREHEADER_MAX_CHARS:
        warn(
            source,
            ("preheader",),
            f"preheader is {len(issue.preheader)} characters; "
            f"inboxes show at most about {PREHEADER_MAX_CHARS}",
        )
    if issue.subject and len(issue.subject) > SUBJECT_MAX_CHARS:
        warn(
            source,
            ("subject",),
            f"subject is {len(issue.subject)} characters; inboxes cut it near {SUBJECT_MAX_CHARS}",
        )
    for index, item in enumerate(issue.items):
        if len(item.headline) > HEADLINE_MAX_CHARS:
            warn(
                source,
                ("items", index, "headline"),
                f"headline is {len(item.headline)} characters (more than {HEADLINE_MAX_CHARS})",
            )
        words = len(markup.plain(item.summary).split())
        if words > SUMMARY_MAX_WORDS:
            warn(
                source,
                ("items", index, "summary"),
                f"summary is {words} words (more than {SUMMARY_MAX_WORDS})",
            )
    _placeholders(source, source.data, ())


def _placeholders(source: Source, value: object, path: YamlPath) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _placeholders(source, child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _placeholders(source, child, (*path, index))
    elif isinstance(value, str) and PLACEHOLDER.search(value):
        warn(source, path, "placeholder 'TODO' left in the text")


def check_series(series: Series, source: Source, workspace: Workspace) -> None:
    """Check newsletter.yaml beyond its schema."""
    if series.brand.logo:
        _check_source(source, workspace, ("brand", "logo"), series.brand.logo)
    if not series.base_url:
        warn(
            source,
            (),
            "no base_url: email cannot show workspace images or link to the web "
            "version; set it to where the archive is published",
        )


def duplicate_numbers(loaded: list[LoadedIssue], workspace: Workspace) -> list[Diagnostic]:
    """Report issues that share a volume and number with another issue of the workspace."""
    seen: dict[tuple[int, int], str] = {}
    given = {item.path for item in loaded}  # usually the very paths listed: no resolving
    loaded_paths: set[Path] | None = None
    for path in workspace.issue_paths():
        if path in given:
            continue
        if loaded_paths is None:
            loaded_paths = {path.resolve() for path in given}
        if path.resolve() in loaded_paths:
            continue
        data = read_yaml(path, display_path(path)).data
        if (
            isinstance(data, dict)
            and isinstance(data.get("volume"), int)
            and isinstance(data.get("number"), int)
        ):
            seen.setdefault((data["volume"], data["number"]), display_path(path))
    found = []
    for item in sorted(loaded, key=lambda i: str(i.path)):
        key = (item.issue.volume, item.issue.number)
        if key in seen:
            line, column = item.source.position(("number",))
            found.append(
                Diagnostic(
                    item.source.path,
                    line,
                    column,
                    f"Vol {key[0]}.{key[1]} is also used by {seen[key]}",
                    "number",
                )
            )
        else:
            seen[key] = item.source.path
    return found
