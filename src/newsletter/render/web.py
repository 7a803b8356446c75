"""The web version of an issue: the email's design in a page shell, for the archive."""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import escape

from newsletter.render.email import render_email_html
from newsletter.render.message import fill
from newsletter.render.urls import Urls

if TYPE_CHECKING:
    from newsletter.loader import LoadedIssue
    from newsletter.model import Series
    from newsletter.workspace import Workspace

# The page lives at site/<slug>/index.html: images, other issues and the feed are one up.
SITE_RELATIVE = Urls("../")


def render_web_page(workspace: Workspace, series: Series, loaded: LoadedIssue) -> str:
    """Return the issue's web page: archive navigation instead of unsubscribe, relative links."""
    html = render_email_html(workspace, series, loaded, SITE_RELATIVE, web=True)
    # The web has no one reader: merge fields read as their fallbacks, or as nothing.
    html = fill(html, series.merge_fields, lambda value: str(escape(value)))
    head = [
        '<link rel="alternate" type="application/atom+xml" href="../feed.xml" '
        f'title="{escape(series.name)}">'
    ]
    if loaded.issue.preheader:
        head.append(f'<meta name="description" content="{escape(loaded.issue.preheader)}">')
    canonical = Urls(series.base_url).web(loaded.slug)
    if canonical:
        head.append(f'<link rel="canonical" href="{escape(canonical)}">')
    return html.replace("</head>", "\n".join(head) + "\n</head>", 1)
