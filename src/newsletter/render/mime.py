"""The sample MIME message written as email.eml: the real message, filled for an example reader.

The send step fills the same tokens per subscriber; here they get values that are
plainly examples (example.com is reserved for documentation, RFC 2606).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from newsletter.render.message import PersonalMessage, RenderedMessage, personalize, to_mime

if TYPE_CHECKING:
    from email.message import EmailMessage

SAMPLE_RECIPIENT = {
    "email": "reader@example.com",
    "name": "Example Reader",
    "first_name": "Example",
    "last_name": "Reader",
}


def sample_values(
    message: RenderedMessage,
    base_url: str | None,
    fallbacks: Mapping[str, str | None] | None = None,
    *,
    unsubscribe_url: str | None = None,
) -> dict[str, str]:
    """Return example values for every token the message uses.

    The example reader has an address and a name; every other field shows its fallback
    (merge_fields in newsletter.yaml), as a reader without that value would see it. The
    unsubscribe link points where the real ones will (delivery.unsubscribe_url).
    """
    from newsletter.send.unsubscribe import endpoint

    values = {name: f"example-{name.replace('_', '-')}" for name in message.fields()}
    values.update({k: v for k, v in (fallbacks or {}).items() if v})
    values.update(SAMPLE_RECIPIENT)
    base = (base_url or "https://newsletter.example.com/").rstrip("/") + "/"
    values["unsubscribe_url"] = f"{endpoint(base, unsubscribe_url)}?token=example-token"
    return values


def sample(
    message: RenderedMessage,
    base_url: str | None,
    fallbacks: Mapping[str, str | None] | None = None,
    *,
    unsubscribe_url: str | None = None,
) -> PersonalMessage:
    """Return the message as the example reader receives it."""
    values = sample_values(message, base_url, fallbacks, unsubscribe_url=unsubscribe_url)
    return personalize(message, values)


def sample_mime(
    message: RenderedMessage,
    base_url: str | None,
    *,
    date: float | None = None,
    fallbacks: Mapping[str, str | None] | None = None,
) -> EmailMessage:
    """Return the multipart/alternative message for the example reader."""
    return to_mime(message, sample(message, base_url, fallbacks), date=date)
