"""Checks beyond the schema: files that must exist, merge fields, editorial warnings.

They read the file's plain data, not the validated model, so that they run (and
report) even when the schema found problems: one run shows every problem of a file.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from newsletter import markup, merge
from newsletter.errors import Diagnostic, OutsideWorkspaceError, Severity, WorkspaceError
from newsletter.model import Limits, Series
from newsletter.source import Source, YamlPath, format_path
from newsletter.workspace import REMOTE

if TYPE_CHECKING:
    from newsletter.workspace import Workspace

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
PLACEHOLDER = re.compile(r"\bTODO\b")
TODO_CODE = "todo"  # the warning `send` turns into an error
# Bidi controls reorder what a reader sees (a subject can read differently from what it
# says); zero-width characters hide inside words. Both pass unseen in an editor.
INVISIBLE = re.compile(
    "[\u061c\u200b\u200c\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
    "|(?<![\U0001f000-\U0001faff\u2600-\u27bf\ufe0f])\u200d"  # a ZWJ joining emoji is fine
)


@dataclass(frozen=True)
class Rules:
    """What the checks compare against: the series' limits and its known merge fields."""

    limits: Limits = field(default_factory=Limits)
    fields: dict[str, str | None] = field(default_factory=dict)  # name -> fallback

    @classmethod
    def of(cls, series: Series | None, source: Source | None = None) -> Rules:
        """Return the rules of a series (or, when it did not validate, of its raw data)."""
        known: dict[str, str | None] = dict.fromkeys(merge.BUILTINS)
        if series is not None:
            return cls(series.limits, {**known, **series.merge_fields})
        declared = source.data.get("merge_fields") if source and _is_map(source.data) else None
        if _is_map(declared):
            known.update({str(k): _fallback(v) for k, v in declared.items()})
        return cls(Limits(), known)


def _fallback(value: Any) -> str | None:
    if _is_map(value):
        value = value.get("fallback")
    return value if isinstance(value, str) else None


def _is_map(value: Any) -> bool:
    return isinstance(value, dict)


def warn(source: Source, path: YamlPath, message: str, code: str = "") -> None:
    """Record a warning located at path."""
    line, column = source.position(path)
    source.diagnostics.append(
        Diagnostic(source.path, line, column, message, format_path(path), Severity.WARNING, code)
    )


def _refusal(workspace: Workspace, src: str) -> tuple[str, bool]:
    """Return why an image cannot be shown ('' if it can), and if it never can (not missing).

    Workspace files go through the workspace's one resolver, which render, the PDF, the
    preview and build use too: a path or symlink leading out of it is refused.
    """
    try:
        if src.lower().startswith(REMOTE):
            markup.check_url(src)
        else:
            workspace.contained(src)
    except (ValueError, OutsideWorkspaceError) as exc:
        return str(exc), True
    except WorkspaceError as exc:
        return exc.message, False
    return "", False


def _check_source(source: Source, workspace: Workspace, path: YamlPath, src: str) -> None:
    why, _never = _refusal(workspace, src)
    if why:
        source.error(path, why)


def _check_image(source: Source, workspace: Workspace, path: YamlPath, image: Any) -> None:
    if not _is_map(image):
        return
    src = image.get("src")
    if isinstance(src, str) and not source.already_reported((*path, "src")):
        _check_source(source, workspace, (*path, "src"), src.strip())
    if not image.get("credit"):
        warn(source, path, "image has no credit")


def _check_markdown_images(
    source: Source, workspace: Workspace, path: YamlPath, text: Any, *, inline: bool = False
) -> None:
    """Check the images of Markdown text (an article body, an item summary) like model images."""
    if not isinstance(text, str):
        return
    for src, alt, _caption in markup.images(text, inline=inline):
        why, never = _refusal(workspace, src)
        if why:
            source.error_at(path, src, why)
        if not never and not alt.strip():
            source.diagnostics.append(
                source.diagnostic_at(
                    path, src, f"image '{src}' has no alt text", severity=Severity.WARNING
                )
            )


def check_issue(source: Source, workspace: Workspace, rules: Rules) -> None:
    """Check an issue's images, merge fields, placeholders and editorial limits."""
    data = source.data
    if not _is_map(data):
        return
    _check_image(source, workspace, ("image",), data.get("image"))
    items = data.get("items")
    for index, item in enumerate(items if isinstance(items, list) else []):
        if _is_map(item):
            summary_at: YamlPath = ("items", index, "summary")
            _check_markdown_images(source, workspace, summary_at, item.get("summary"), inline=True)
    articles = data.get("articles")
    for index, article in enumerate(articles if isinstance(articles, list) else []):
        if _is_map(article):
            where: YamlPath = ("articles", index)
            _check_image(source, workspace, (*where, "image"), article.get("image"))
            _check_markdown_images(source, workspace, (*where, "body"), article.get("body"))
    _editorial(source, data, rules.limits)
    _invisible(source, data)
    check_text(source, rules)


def _editorial(source: Source, data: dict, limits: Limits) -> None:
    """Warn about what an editor would want to fix before sending (errors under --strict)."""
    slug = source.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if not SLUG_PATTERN.match(slug):
        warn(source, (), f"file name '{slug}' becomes a web address; use lowercase, digits and '-'")
    preheader, subject = data.get("preheader"), data.get("subject")
    if not preheader:
        warn(source, (), "no preheader: inboxes will show the first text of the email instead")
    elif isinstance(preheader, str) and len(preheader) > limits.preheader_chars:
        warn(
            source,
            ("preheader",),
            f"preheader is {len(preheader)} characters; inboxes show at most about "
            f"{limits.preheader_chars} (limits.preheader_chars in newsletter.yaml)",
        )
    if isinstance(subject, str) and len(subject) > limits.subject_chars:
        warn(
            source,
            ("subject",),
            f"subject is {len(subject)} characters; inboxes cut it near {limits.subject_chars} "
            "(limits.subject_chars)",
        )
    items = data.get("items")
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not _is_map(item):
            continue
        headline, summary = item.get("headline"), item.get("summary")
        if isinstance(headline, str) and len(headline) > limits.headline_chars:
            warn(
                source,
                ("items", index, "headline"),
                f"headline is {len(headline)} characters "
                f"(more than {limits.headline_chars}: limits.headline_chars)",
            )
        words = len(markup.plain(summary).split()) if isinstance(summary, str) else 0
        if words > limits.summary_words:
            warn(
                source,
                ("items", index, "summary"),
                f"summary is {words} words "
                f"(more than {limits.summary_words}: limits.summary_words in newsletter.yaml)",
            )


def _invisible(source: Source, data: dict) -> None:
    """Warn about bidi controls and zero-width characters in what inboxes and lists show."""
    lines: list[tuple[YamlPath, Any]] = [
        ((name,), data.get(name)) for name in ("subject", "title", "preheader")
    ]
    for kind, field_name in (("items", "headline"), ("articles", "title")):
        entries = data.get(kind)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if _is_map(entry):
                lines.append(((kind, index, field_name), entry.get(field_name)))
    for path, text in lines:
        found = INVISIBLE.search(text) if isinstance(text, str) else None
        if found:
            char = found.group()[-1]
            message = (
                f"invisible character U+{ord(char):04X} ({unicodedata.name(char, 'control')}): "
                "it can hide or reorder text; remove it"
            )
            source.diagnostics.append(
                source.diagnostic_at(path, char, message, severity=Severity.WARNING)
            )


def check_text(source: Source, rules: Rules) -> None:
    """Check every text value: merge fields must be known; a TODO left is a warning."""
    known = list(rules.fields)
    for path, text in _strings(source.data, ()):
        seen: dict[str, int] = {}
        for name, start, end in merge.tokens(text):
            written = text[start:end]
            nth = seen.get(written, 0)
            seen[written] = nth + 1
            if name not in rules.fields:
                source.error_at(
                    path,
                    written,
                    f"unknown merge field '{written}'{merge.suggestion(name, known)} "
                    "(declare your own under merge_fields: in newsletter.yaml)",
                    nth,
                )
        for nth, _match in enumerate(PLACEHOLDER.finditer(text)):
            diagnostic = source.diagnostic_at(
                path, "TODO", "placeholder 'TODO' left in the text", nth, Severity.WARNING
            )
            source.diagnostics.append(diagnostic.with_code(TODO_CODE))


def _strings(value: Any, path: YamlPath):
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _strings(child, (*path, index))
    elif isinstance(value, str):
        yield path, value


def check_series(source: Source, workspace: Workspace, series: Series | None) -> None:
    """Check newsletter.yaml beyond its schema."""
    data = source.data
    if not _is_map(data):
        return
    brand = data.get("brand")
    logo = brand.get("logo") if _is_map(brand) else None
    if isinstance(logo, str) and not source.already_reported(("brand", "logo")):
        _check_source(source, workspace, ("brand", "logo"), logo)
    if not data.get("base_url"):
        warn(
            source,
            (),
            "no base_url: email cannot show workspace images or link to the web "
            "version; set it to where the archive is published",
        )
    check_text(source, Rules.of(series, source))
