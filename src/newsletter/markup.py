"""Markdown as editors write it: parse once, render, and find every link."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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
    if permissive:
        md.validateLink = lambda url: True
    return md


def check_url(url: str) -> str:
    """Return url if it is an absolute http(s) or mailto link, else raise ValueError."""
    value = url.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() not in LINK_SCHEMES:
        raise ValueError(f"link '{url}' must start with http://, https:// or mailto:")
    if parts.scheme.lower() in ("http", "https") and not parts.netloc:
        raise ValueError(f"link '{url}' has no host")
    if parts.scheme.lower() == "mailto" and "@" not in parts.path:
        raise ValueError(f"link '{url}' has no address after mailto:")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"link '{url}' contains spaces")
    return value


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
