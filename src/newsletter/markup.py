"""Markdown as editors write it: parse once, render, and find every link."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from newsletter import merge

if TYPE_CHECKING:
    from collections.abc import Iterable

    from markdown_it import MarkdownIt
    from markdown_it.token import Token

LINK_SCHEMES = ("http", "https", "mailto")


@lru_cache(maxsize=2)
def markdown(*, permissive: bool = False) -> MarkdownIt:
    """Return the shared CommonMark parser; raw HTML is off so content stays data.

    The permissive parser keeps links markdown-it would silently drop (javascript:,
    data:, ...) so that checks can name them instead of letting them vanish.
    """
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    normalize = md.normalizeLink
    md.normalizeLink = lambda url: merge.in_url(url, normalize)
    if permissive:
        md.validateLink = lambda url: True
    return md


class FieldError(ValueError):
    """A problem that belongs to one field of a model (reported at that field's key)."""

    def __init__(self, message: str, field: str | None):
        super().__init__(message)
        self.field = field


class TextError(ValueError):
    """A problem with one piece of a longer text, which the loader locates exactly."""

    def __init__(self, message: str, needle: str):
        super().__init__(message)
        self.needle = needle


def check_url(url: str) -> str:
    """Return url if it is an absolute http(s) or mailto link, else raise ValueError.

    Merge fields may stand in a link: in its query or path, or as the whole address
    when the field is itself a link we make (%%unsubscribe_url%%).
    """
    value = url.strip()
    url = merge.as_written(url)  # messages show the address as written
    whole = merge.whole_url_field(value)
    if whole is not None:
        if whole in merge.URL_FIELDS:
            return value
        raise TextError(
            f"link '{url}': only %%unsubscribe_url%% can stand for a whole link; put "
            f"%%{whole}%% inside one, e.g. https://example.org/?ref=%%{whole}%%",
            url,
        )
    # A filled-in value is URL-encoded for its spot: check the address around it.
    _check_address(merge.fill(value, {}, lambda _: "x"), url)
    return value


def _check_address(value: str, url: str) -> None:
    parts = urlsplit(value)
    if parts.scheme.lower() not in LINK_SCHEMES:
        raise TextError(f"link '{url}' must start with http://, https:// or mailto:", url)
    if parts.scheme.lower() in ("http", "https") and not parts.netloc:
        raise TextError(f"link '{url}' has no host", url)
    if parts.scheme.lower() == "mailto" and "@" not in parts.path:
        raise TextError(f"link '{url}' has no address after mailto:", url)
    if any(ch.isspace() for ch in value):
        raise TextError(f"link '{url}' contains spaces", url)


def _walk(tokens: Iterable[Token]):
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


@lru_cache(maxsize=4096)
def _inline_tokens(text: str) -> tuple[Token, ...]:
    """Parse inline Markdown once: validation, word counts and headings all read the tokens."""
    return tuple(markdown(permissive=True).parseInline(text))


def links(text: str, *, inline: bool = False) -> list[str]:
    """Return every link target in Markdown text, in order."""
    tokens = _inline_tokens(text) if inline else markdown(permissive=True).parse(text)
    return [str(t.attrs["href"]) for t in _walk(tokens) if t.type == "link_open"]


def images(text: str, *, inline: bool = False) -> list[tuple[str, str, str]]:
    """Return (src, alt, title) of every image in Markdown text."""
    found = []
    tokens = _inline_tokens(text) if inline else markdown(permissive=True).parse(text)
    for token in _walk(tokens):
        if token.type == "image":
            alt = "".join(c.content for c in token.children or [])
            found.append(
                (str(token.attrs.get("src", "")), alt, str(token.attrs.get("title") or ""))
            )
    return found


def check_links(text: str, *, inline: bool = False) -> str:
    """Return text if every Markdown link in it is http(s) or mailto, else raise ValueError."""
    for href in links(text, inline=inline):
        check_url(href)
    return text


def plain(text: str) -> str:
    """Return inline Markdown as plain text (link text kept, markup dropped)."""
    out = []
    for token in _walk(_inline_tokens(text)):
        if token.type in ("text", "code_inline"):
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append(" ")
    return "".join(out)
