"""Render editors' Markdown as HTML for email and print: images published, headings nested.

Raw HTML is off in the parser, so Markdown text stays data. The token stream is
adjusted rather than the shared parser's renderer, which other stages also use.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from markupsafe import Markup

from newsletter import markup
from newsletter.render.captions import title_caption

ImageUrl = Callable[[str], str]


def _shift_headings(tokens, shift: int) -> None:
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            level = min(6, int(token.tag[1:]) + shift)
            token.tag = f"h{level}"


def _images(tokens, image_url: ImageUrl, width: int | None) -> None:
    """Point images at their published address and show their title as a caption."""
    from markdown_it.token import Token

    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        children = []
        for child in block.children:
            children.append(child)
            if child.type != "image":
                continue
            child.attrSet("src", image_url(str(child.attrs["src"])))
            if width:
                child.attrSet("width", str(width))
            child.attrSet("class", "figure")
            caption = title_caption(str(child.attrs.pop("title", "") or ""))
            if caption:
                caption_token = Token("html_inline", "", 0)
                caption_token.content = (
                    f'<span class="caption">{html.escape(caption, quote=False)}</span>'
                )
                children.append(caption_token)
        block.children = children


def to_html(
    text: str,
    *,
    inline: bool = False,
    image_url: ImageUrl = str,
    image_width: int | None = None,
    heading_shift: int = 0,
) -> Markup:
    """Return Markdown text as safe HTML (inline: no surrounding paragraph)."""
    md = markup.markdown()
    tokens = md.parseInline(text) if inline else md.parse(text)
    _shift_headings(tokens, heading_shift)
    _images(tokens, image_url, image_width)
    return Markup(md.renderer.render(tokens, md.options, {}).strip())
