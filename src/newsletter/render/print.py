"""Render an issue as print HTML: paged CSS, numbered link references, figures with credits.

A printed page cannot be clicked, so every link in the content becomes a numbered
reference ([1]) listed under the entry that cites it. The same HTML feeds the PDF
(render/pdf.py) and can be opened in a browser; workspace images are addressed
relative to `asset_base` (the workspace root by default, as the PDF renderer sees it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from newsletter import markup
from newsletter.render.captions import SEPARATOR, credit_text, split_credit
from newsletter.render.email import long_date
from newsletter.render.templates import environment, render_template
from newsletter.render.urls import Urls

if TYPE_CHECKING:
    from pathlib import Path

    from markdown_it.token import Token

    from newsletter.errors import Diagnostic
    from newsletter.loader import LoadedIssue
    from newsletter.model import Image, Link, Series
    from newsletter.workspace import Workspace

TEMPLATE = "print.html.j2"
PAGE_SIZES = {"letter": "letter", "a4": "A4"}


@dataclass
class Reference:
    """A link printed as a numbered reference."""

    number: int
    text: str
    url: str

    @property
    def shown(self) -> str:
        """Return the address as a reader would type it."""
        return self.url.removeprefix("mailto:")


@dataclass
class References:
    """Numbers links across the whole document; each entry lists the ones it cites."""

    count: int = 0

    def cite(self, cited: list[Reference], text: str, url: str) -> Reference:
        """Return the reference for url in this entry, numbering it on first use."""
        for ref in cited:
            if ref.url == url:
                return ref
        self.count += 1
        ref = Reference(self.count, text, url)
        cited.append(ref)
        return ref


@dataclass
class Figure:
    """An image as printed: source, alternative text, caption and credit."""

    src: str
    alt: str
    caption: str = ""
    credit: str = ""

    @property
    def credit_text(self) -> str:
        """Return the credit as printed everywhere ('Image: Owner')."""
        return credit_text(self.credit)


@dataclass
class Block:
    """A run of body HTML, or one figure standing on its own."""

    html: Markup = field(default_factory=Markup)
    figure: Figure | None = None


@dataclass
class Entry:
    """A digest item or an article as the template prints it."""

    anchor: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class _Renderer:
    """Render Markdown tokens to print HTML, citing links as references."""

    def __init__(self, refs: References, cited: list[Reference], asset_base: str):
        from markdown_it.renderer import RendererHTML

        self.html = RendererHTML()
        self.html.rules["link_close"] = self._link_close
        self.html.rules["heading_open"] = self._heading
        self.html.rules["heading_close"] = self._heading
        self.html.rules["image"] = self._image
        self.refs, self.cited, self.asset_base = refs, cited, asset_base

    def _link_close(self, tokens: list[Token], idx: int, options, env) -> str:
        start = next(j for j in range(idx - 1, -1, -1) if tokens[j].type == "link_open")
        opening = tokens[start]
        text = "".join(t.content for t in tokens[start + 1 : idx] if t.type == "text")
        url = str(opening.attrs["href"])
        if text.strip() == url.removeprefix("mailto:"):
            return "</a>"  # the address is printed already: nothing to look up
        ref = self.refs.cite(self.cited, text, url)
        return f'</a><sup class="ref">[{ref.number}]</sup>'

    def _heading(self, tokens: list[Token], idx: int, options, env) -> str:
        # Body headings sit one level below the article title (h2): ## becomes h3.
        token = tokens[idx]
        level = min(int(token.tag[1]) + 1, 6)
        if token.nesting == 1:
            return f'<h{level} class="section">'
        return f"</h{level}>\n"

    def _image(self, tokens: list[Token], idx: int, options, env) -> str:
        token = tokens[idx]
        alt = "".join(c.content for c in token.children or [])
        src = asset(str(token.attrs.get("src", "")), self.asset_base)
        return f'<img class="inline" src="{escape(src)}" alt="{escape(alt)}">'

    def inline(self, text: str) -> Markup:
        """Render inline Markdown (a summary, the footer)."""
        md = markup.markdown()
        return Markup(self.html.render(md.parseInline(text), md.options, {}))

    def blocks(self, text: str) -> tuple[list[Block], list[str]]:
        """Render body Markdown to blocks, lifting lone images into figures; return headings."""
        md = markup.markdown()
        tokens = md.parse(text)
        blocks: list[Block] = []
        pending: list[Token] = []
        headings: list[str] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token.type == "heading_open":
                headings.append(markup.plain(tokens[i + 1].content))
            figure = self._lone_image(tokens, i)
            if figure is not None:
                if pending:
                    blocks.append(Block(Markup(self.html.render(pending, md.options, {}))))
                    pending = []
                blocks.append(Block(figure=figure))
                i += 3
                continue
            pending.append(token)
            i += 1
        if pending:
            blocks.append(Block(Markup(self.html.render(pending, md.options, {}))))
        return blocks, headings

    def _lone_image(self, tokens: list[Token], i: int) -> Figure | None:
        if tokens[i].type != "paragraph_open" or i + 2 >= len(tokens):
            return None
        children = [c for c in tokens[i + 1].children or [] if c.type != "softbreak"]
        if len(children) != 1 or children[0].type != "image":
            return None
        image = children[0]
        alt = "".join(c.content for c in image.children or [])
        caption, credit = split_credit(str(image.attrs.get("title") or ""))
        return Figure(asset(str(image.attrs["src"]), self.asset_base), alt, caption, credit)


def asset(src: str, base: str) -> str:
    """Return the address of an image: http(s) as is, workspace paths under base."""
    return Urls(base or None).asset(src)


def figure(image: Image | None, base: str) -> Figure | None:
    """Return the printed form of a model image."""
    if image is None:
        return None
    return Figure(asset(image.src, base), image.alt, image.caption or "", image.credit or "")


def css_string(value: str) -> Markup:
    """Return value as a quoted CSS string, safe inside <style> (no '</style>' breakout)."""
    out = []
    for ch in str(value):
        if ch in '"\\<>&' or ord(ch) < 0x20:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')


def _link_refs(refs: References, cited: list[Reference], links: list[Link]) -> None:
    for link in links:
        refs.cite(cited, link.title, link.url)


def print_context(series: Series, loaded: LoadedIssue, asset_base: str = "") -> dict[str, Any]:
    """Return what print.html.j2 prints: masthead, entries with references, colophon."""
    issue = loaded.issue
    refs = References()
    items: list[Entry] = []
    for index, item in enumerate(issue.items, 1):
        entry = Entry(f"item-{index}", item.headline)
        render = _Renderer(refs, entry.references, asset_base)
        entry.blocks = [Block(Markup("<p>") + render.inline(item.summary) + Markup("</p>"))]
        _link_refs(refs, entry.references, item.links)
        items.append(entry)
    articles: list[Entry] = []
    for index, article in enumerate(issue.articles, 1):
        entry = Entry(f"article-{index}", article.title)
        render = _Renderer(refs, entry.references, asset_base)
        entry.blocks, entry.headings = render.blocks(article.body)
        entry.extra = {
            "category": article.category,
            "dek": article.dek,
            "author": article.author,
            "date": long_date(article.date) if article.date else None,
            "image": figure(article.image, asset_base),
        }
        articles.append(entry)
    colophon: list[Reference] = []
    footer = _Renderer(refs, colophon, asset_base).inline(series.footer) if series.footer else None
    _link_refs(refs, colophon, series.links)
    return {
        "series": series,
        "issue": issue,
        "slug": loaded.slug,
        "label": issue.label,
        "date": long_date(issue.date),
        "page_size": PAGE_SIZES[series.paper],
        "hero": figure(issue.image, asset_base),
        "items": items,
        "articles": articles,
        "footer": footer,
        "colophon": colophon,
        "keywords": keywords(series, loaded),
        "logo": asset(series.brand.logo, asset_base) if series.brand.logo else None,
        "caption_separator": SEPARATOR,
    }


def keywords(series: Series, loaded: LoadedIssue) -> list[str]:
    """Return the document keywords: series, label and article categories."""
    found = [series.name, loaded.issue.label]
    found += [a.category for a in loaded.issue.articles if a.category]
    return list(dict.fromkeys(found))


def render_print(
    workspace: Workspace, series: Series, loaded: LoadedIssue, *, asset_base: str = ""
) -> str:
    """Render the print HTML of one issue (workspace images relative to asset_base)."""
    environment(workspace).filters["css_string"] = css_string
    return render_template(workspace, TEMPLATE, print_context(series, loaded, asset_base))


def write_print(
    workspace: Workspace, series: Series, loaded: LoadedIssue, out_dir: Path
) -> tuple[Path, list[Diagnostic]]:
    """Write out_dir/<slug>/print.html, its images addressed back into the workspace."""
    folder = out_dir / loaded.slug
    folder.mkdir(parents=True, exist_ok=True)
    base = os.path.relpath(workspace.root.resolve(), folder.resolve()).replace(os.sep, "/")
    path = folder / "print.html"
    path.write_text(render_print(workspace, series, loaded, asset_base=base), encoding="utf-8")
    return path, []
