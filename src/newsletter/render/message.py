"""The message of an issue: rendered once, then personalised per recipient by substitution.

MJML is compiled once per issue. Per-recipient values (name, unsubscribe URL and
any merge field of the subscriber list) stand in the rendered parts as tokens,
%%first_name%%, which `personalize` replaces, escaping for each part: HTML
escaping in the HTML, nothing in the text, no line breaks in headers. Editors may
use the same tokens in their content as merge tags.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.loader import LoadedIssue
    from newsletter.model import Series
    from newsletter.workspace import Workspace

from newsletter.merge import BUILTINS as RECIPIENT_FIELDS
from newsletter.merge import TOKEN, fill, names, token

__all__ = ["RECIPIENT_FIELDS", "TOKEN", "fill", "token"]
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


@dataclass(frozen=True)
class RenderedMessage:
    """An issue's email, rendered once, with per-recipient tokens left in."""

    slug: str
    subject: str
    from_name: str
    from_email: str
    html: str
    text: str
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # List-Id, List-Unsubscribe, ...

    def fields(self) -> set[str]:
        """Return the names of the tokens used anywhere in the message."""
        parts = [self.subject, self.html, self.text, *self.headers.values()]
        return {name for part in parts for name in names(part)}


@dataclass(frozen=True)
class PersonalMessage:
    """One recipient's message, every token filled in."""

    to_email: str
    to_name: str
    subject: str
    html: str
    text: str
    headers: dict[str, str]


def _one_line(text: str) -> str:
    from newsletter.render.headers import clean

    return clean(text)


def personalize(message: RenderedMessage, values: Mapping[str, str]) -> PersonalMessage:
    """Fill one recipient's values (must include 'email') into every part of the message."""
    return PersonalMessage(
        to_email=values["email"],
        to_name=_one_line(values.get("name", "") or ""),
        subject=fill(message.subject, values, _one_line),
        html=fill(message.html, values, lambda v: html.escape(v, quote=True)),
        text=fill(message.text, values),
        headers={k: fill(v, values, _one_line) for k, v in message.headers.items()},
    )


def list_headers(series: Series) -> dict[str, str]:
    """Return List-Id and the one-click List-Unsubscribe headers (RFC 2919, 2369, 8058).

    The https unsubscribe address is the per-recipient token, filled in at sending.
    """
    domain = series.sender.email.rpartition("@")[2]
    label = re.sub(r"[^a-z0-9]+", "-", series.name.lower()).strip("-") or "newsletter"
    mailbox = series.reply_to or series.contact or series.sender.email
    name = _one_line(series.name)
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return {
        "List-Id": f"{name} <{label}.{domain}>",
        "List-Unsubscribe": f"<mailto:{mailbox}?subject=unsubscribe>, <{token('unsubscribe_url')}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def render_message(workspace: Workspace, series: Series, loaded: LoadedIssue) -> RenderedMessage:
    """Render an issue's email once (HTML and text), per-recipient tokens left in.

    Raises RenderError when the HTML is over Gmail's clipping size.
    """
    from newsletter.errors import RenderError
    from newsletter.render.email import render_email_html
    from newsletter.render.size import size_diagnostics
    from newsletter.render.text import render_text

    html_part = render_email_html(workspace, series, loaded)
    errors = [d for d in size_diagnostics(html_part, loaded) if d.is_error]
    if errors:
        raise RenderError(f"{loaded.slug}: the email is too large to send", errors)
    return RenderedMessage(
        slug=loaded.slug,
        subject=loaded.issue.subject or loaded.issue.title or series.name,
        from_name=series.sender.name,
        from_email=series.sender.email,
        html=html_part,
        text=render_text(series, loaded),
        reply_to=series.reply_to,
        headers=list_headers(series),
    )
