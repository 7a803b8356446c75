"""The full content of an issue as plain HTML, for the Atom feed."""

from __future__ import annotations

from markupsafe import escape

from newsletter.loader import LoadedIssue
from newsletter.model import Series
from newsletter.render.email import email_context
from newsletter.render.message import fill
from newsletter.render.templates import render_template
from newsletter.render.urls import Urls
from newsletter.workspace import Workspace


def content_html(workspace: Workspace, series: Series, loaded: LoadedIssue) -> str:
    """Return the issue's content as semantic HTML with absolute links (the email's context)."""
    context = email_context(series, loaded, Urls(series.base_url), web=True)
    html = render_template(workspace, "feed-entry.html.j2", context)
    # No one reader: fallbacks or nothing, escaped as HTML.
    return fill(html, series.merge_fields, lambda value: str(escape(value))).strip()
