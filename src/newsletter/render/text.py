"""The plain-text part, written from the model (not scraped from the HTML), 72 columns wide.

Links become numbered references, [1], listed under "Links" after the content,
so that the text reads like a letter and every address is still there.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from newsletter import markup
from newsletter.render.captions import caption_line, title_caption
from newsletter.render.email import long_date
from newsletter.render.message import token
from newsletter.render.urls import Urls

if TYPE_CHECKING:
    from markdown_it.token import Token

    from newsletter.loader import LoadedIssue
    from newsletter.model import Image, Series

WIDTH = 72
RULE = "-" * WIDTH
HEAVY_RULE = "=" * WIDTH
_GLUE = "\x00"  # keeps "text [1]" together while wrapping; becomes a space afterwards


class References:
    """Numbered link references, one number per distinct address."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def mark(self, url: str) -> str:
        """Return the marker for url, e.g. '[3]'."""
        if url not in self.urls:
            self.urls.append(url)
        return f"[{self.urls.index(url) + 1}]"

    def listing(self) -> list[str]:
        """Return the reference list, one line per address."""
        width = len(str(len(self.urls))) + 2
        return [f"{f'[{n}]':<{width}} {url}" for n, url in enumerate(self.urls, 1)]


def wrap(text: str, indent: str = "", first: str | None = None) -> str:
    """Wrap text to 72 columns; first replaces indent on the first line (list markers)."""
    lines = textwrap.wrap(
        " ".join(text.split()),
        width=WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n".join(lines).replace(_GLUE, " ")


def inline_text(tokens: list[Token] | None, refs: References) -> str:
    """Return inline Markdown tokens as text with link references."""
    out: list[str] = []
    href = ""
    start = 0
    for tok in tokens or []:
        if tok.type in ("text", "code_inline"):
            out.append(tok.content)
        elif tok.type == "softbreak":
            out.append(" ")
        elif tok.type == "hardbreak":
            out.append("\n")
        elif tok.type == "link_open":
            href, start = str(tok.attrs["href"]), len(out)
        elif tok.type == "link_close":
            label = "".join(out[start:]).strip()
            if label not in (href, href.removeprefix("mailto:")):
                out.append(_GLUE + refs.mark(href))
        elif tok.type == "image":
            alt = "".join(c.content for c in tok.children or [])
            caption = title_caption(str(tok.attrs.get("title") or ""))
            out.append(f"[Image: {alt}]" + (f"\n{caption}" if caption else ""))
    return "".join(out)


def inline(text: str, refs: References) -> str:
    """Return inline Markdown as text with link references."""
    return inline_text(markup.markdown().parseInline(text)[0].children, refs)


def blocks(text: str, refs: References) -> list[str]:
    """Return block Markdown as wrapped paragraphs, headings, lists and quotes."""
    out: list[str] = []
    prefixes: list[str] = []  # one per open list item or quote: indentation of its lines
    markers: list[str] = []  # pending list markers for the next paragraph
    counters: list[int | None] = []
    heading = False
    tight = False  # paragraph of a tight list item: no blank line before it
    joined = False  # the last block may take the next tight item on the following line
    for tok in markup.markdown().parse(text):
        kind = tok.type
        if kind == "paragraph_open":
            tight = tok.hidden
        elif kind == "heading_open":
            heading = True
        elif kind == "bullet_list_open":
            counters.append(None)
        elif kind == "ordered_list_open":
            counters.append(int(tok.attrs.get("start", 1) or 1))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            counters.pop()
        elif kind == "list_item_open":
            number = counters[-1]
            marker = "- " if number is None else f"{number}. "
            if number is not None:
                counters[-1] = number + 1
            markers.append(marker)
            prefixes.append(" " * len(marker))
        elif kind == "list_item_close":
            prefixes.pop()
            if markers:
                markers.pop()
        elif kind == "blockquote_open":
            prefixes.append("> ")
        elif kind == "blockquote_close":
            prefixes.pop()
        elif kind in ("code_block", "fence"):
            pad = "".join(prefixes) + "    "
            out.append("\n".join(pad + line for line in tok.content.rstrip("\n").split("\n")))
        elif kind == "hr":
            out.append(RULE)
        elif kind == "inline":
            content = inline_text(tok.children, refs)
            if heading:
                title = " ".join(content.split()).replace(_GLUE, " ")
                out.append(f"{title}\n{'-' * min(WIDTH, len(title))}")
                heading = False
                continue
            indent = "".join(prefixes)
            first = indent
            if markers and markers[-1]:
                first = indent[: -len(markers[-1])] + markers[-1]
                markers[-1] = ""  # only the item's first paragraph carries the marker
            lines = [
                wrap(part, indent, first if i == 0 else None)
                for i, part in enumerate(content.split("\n"))
            ]
            if tight and joined:
                out[-1] += "\n" + "\n".join(lines)
            else:
                out.append("\n".join(lines))
            joined = tight
            continue
        if kind not in ("paragraph_open", "paragraph_close", "list_item_open", "list_item_close"):
            joined = False
    return out


def _numbered(number: int, text: str, count: int) -> str:
    marker = f"{number}.".ljust(len(f"{count}.") + 1)
    return wrap(text, " " * len(marker), marker)


def _image(image: Image | None) -> list[str]:
    """Describe an image by its alt text, caption and credit (text readers see no images)."""
    if image is None:
        return []
    lines = [f"[Image: {image.alt}]", caption_line(image.caption, image.credit)]
    return ["\n".join(wrap(line) for line in lines if line)]


def _masthead(series: Series, loaded: LoadedIssue, urls: Urls) -> list[str]:
    issue = loaded.issue
    top = [series.name.upper()]
    if series.tagline:
        top.append(wrap(series.tagline))
    top.append(f"{issue.label} · {long_date(issue.date)}")
    out = ["\n".join(top)]
    web = urls.web(loaded.slug)
    if web:
        out.append(f"Read it on the web:\n{web}")
    return out


def _contents(loaded: LoadedIssue) -> list[str]:
    """List every headline (numbered, as below) and every article title."""
    items, articles = loaded.issue.items, loaded.issue.articles
    if not items and not articles:
        return []
    count = len(items)
    lines = [_numbered(n, item.headline, count) for n, item in enumerate(items, 1)]
    lines += [wrap(article.title, "  ", "- ") for article in articles]
    return ["IN THIS ISSUE\n\n" + "\n".join(lines)]


def _digest(loaded: LoadedIssue, refs: References) -> list[str]:
    items = loaded.issue.items
    count = len(items)
    out: list[str] = []
    for n, item in enumerate(items, 1):
        out.append(RULE)
        out.append(_numbered(n, item.headline.upper(), count))
        out.append(wrap(inline(item.summary, refs)))
        if item.links:
            sources = ", ".join(f"{link.title}{_GLUE}{refs.mark(link.url)}" for link in item.links)
            out.append(wrap(f"Sources: {sources}"))
    return out


def _articles(loaded: LoadedIssue, refs: References) -> list[str]:
    out: list[str] = []
    for article in loaded.issue.articles:
        out.append(HEAVY_RULE)
        head = []
        if article.category:
            head.append(article.category.upper())
        head.append(wrap(article.title))
        head.append("=" * min(WIDTH, len(article.title)))
        out.append("\n".join(head))
        if article.dek:
            out.append(wrap(article.dek))
        byline = " · ".join(
            part
            for part in (
                f"By {article.author}" if article.author else "",
                long_date(article.date) if article.date else "",
            )
            if part
        )
        if byline:
            out.append(byline)
        out.extend(_image(article.image))
        out.extend(blocks(article.body, refs))
    return out


def _footer(series: Series, loaded: LoadedIssue, urls: Urls, refs: References) -> list[str]:
    out = []
    if series.footer:
        out.append(wrap(inline(series.footer, refs)))
    lines = []
    if series.contact:
        lines.append(f"Questions or tips: {series.contact}")
    if urls.web(loaded.slug):
        lines.append(f"Web version: {urls.web(loaded.slug)}")
        lines.append(f"PDF: {urls.pdf(loaded.slug)}")
    lines.extend(f"{link.title}: {link.url}" for link in series.links)
    if lines:
        out.append("\n".join(lines))
    out.append(wrap(f"© {loaded.issue.date.year} {series.publisher}") + "\n" + wrap(series.address))
    out.append(
        wrap(f"You receive {series.name} because you subscribed to it.")
        + f"\nUnsubscribe: {token('unsubscribe_url')}"
    )
    return out


def render_text(series: Series, loaded: LoadedIssue, urls: Urls | None = None) -> str:
    """Return the plain-text part of the issue's email, per-recipient tokens left in."""
    urls = urls or Urls(series.base_url)
    refs = References()
    parts = _masthead(series, loaded, urls)
    parts += _image(loaded.issue.image)
    parts += _contents(loaded)
    parts += _digest(loaded, refs)
    parts += _articles(loaded, refs)
    footer = _footer(series, loaded, urls, refs)
    if refs.urls:
        parts += [HEAVY_RULE, "LINKS\n\n" + "\n".join(refs.listing())]
    parts += [HEAVY_RULE, *footer]
    return "\n\n".join(part.rstrip() for part in parts if part.strip()) + "\n"
