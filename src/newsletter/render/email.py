"""The HTML email: Jinja2 template -> MJML -> mjml-python -> HTML -> premailer.

mjml-python (MRML, a Rust port of MJML) compiles MJML in about a millisecond but
does not inline `<mj-style inline="inline">` the way the Node CLI does (with
juice). So those blocks are taken out of the MJML before compiling and inlined
afterwards by premailer (see inline.py), which is told to leave MJML's own <style>
blocks (media queries, Outlook fixes) untouched, to keep !important and never to
fetch anything.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from newsletter.errors import RenderError
from newsletter.render import colors
from newsletter.render.captions import caption_line
from newsletter.render.inline import inline_css
from newsletter.render.message import token
from newsletter.render.prose import to_html
from newsletter.render.templates import render_template
from newsletter.render.urls import Urls

if TYPE_CHECKING:
    from newsletter.loader import LoadedIssue
    from newsletter.model import Image, Series
    from newsletter.workspace import Workspace

TEMPLATE = "email.mjml.j2"
CONTENT_WIDTH = 552  # 600 px body less 24 px padding each side

MONTHS = (
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)

_INLINE_STYLE = re.compile(r"<mj-style\b[^>]*\binline=\"inline\"[^>]*>(.*?)</mj-style>", re.S)


def long_date(day: dt.date) -> str:
    """Return a date as 'June 1, 2023' whatever the machine's locale."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def _image(image: Image | None, urls: Urls) -> dict[str, Any] | None:
    if image is None:
        return None
    return {
        "src": urls.asset(image.src),
        "alt": image.alt,
        "credit": image.credit,
        "caption": image.caption,
        "caption_line": caption_line(image.caption, image.credit),
    }


def email_context(
    series: Series, loaded: LoadedIssue, urls: Urls | None = None, *, web: bool = False
) -> dict[str, Any]:
    """Return what the email template sees: plain values and pre-rendered safe HTML."""
    urls = urls or Urls(series.base_url)
    issue = loaded.issue

    def body(text: str):
        return to_html(text, image_url=urls.asset, image_width=CONTENT_WIDTH, heading_shift=1)

    return {
        "series": series,
        "issue": issue,
        "slug": loaded.slug,
        "label": issue.label,
        "title": issue.title,
        "subject": issue.subject,
        "preheader": issue.preheader,
        "date": long_date(issue.date),
        "year": issue.date.year,
        "lang": series.language,
        "colors": colors.palette(series.brand.color),
        "logo": urls.asset(series.brand.logo) if series.brand.logo else None,
        "hero": _image(issue.image, urls),
        "items": [
            {
                "headline": item.headline,
                "summary": to_html(
                    item.summary, inline=True, image_url=urls.asset, image_width=CONTENT_WIDTH
                ),
                "links": item.links,
            }
            for item in issue.items
        ],
        "articles": [
            {
                "title": article.title,
                "dek": article.dek,
                "category": article.category,
                "author": article.author,
                "date": long_date(article.date) if article.date else None,
                "image": _image(article.image, urls),
                "body": body(article.body),
            }
            for article in issue.articles
        ],
        "footer": to_html(series.footer, inline=True) if series.footer else None,
        "web_url": urls.web(loaded.slug),
        "pdf_url": urls.pdf(loaded.slug),
        "unsubscribe_url": token("unsubscribe_url"),
        "content_width": CONTENT_WIDTH,
        "web": web,
        "archive_url": urls.base or "./",
    }


def render_mjml(
    workspace: Workspace,
    series: Series,
    loaded: LoadedIssue,
    urls: Urls | None = None,
    *,
    web: bool = False,
) -> str:
    """Render the issue as MJML from the email template (web: the archive's page variant)."""
    context = email_context(series, loaded, urls, web=web)
    return render_template(workspace, TEMPLATE, context)


def split_inline_styles(mjml: str) -> tuple[str, str]:
    """Return the MJML without its inline="inline" style blocks, and their CSS."""
    css = "\n".join(match.strip() for match in _INLINE_STYLE.findall(mjml))
    return _INLINE_STYLE.sub("", mjml), css


def compile_mjml(mjml: str) -> str:
    """Compile MJML to HTML with mjml-python."""
    from mjml import mjml2html

    try:
        return mjml2html(mjml, disable_comments=True)
    except Exception as exc:  # mjml-python raises bare exceptions carrying MRML's message
        raise RenderError(f"MJML could not be compiled: {exc}") from None


def render_email_html(
    workspace: Workspace,
    series: Series,
    loaded: LoadedIssue,
    urls: Urls | None = None,
    *,
    web: bool = False,
) -> str:
    """Return the issue's email HTML, per-recipient tokens left in."""
    mjml, css = split_inline_styles(render_mjml(workspace, series, loaded, urls, web=web))
    return inline_css(compile_mjml(mjml), css)
