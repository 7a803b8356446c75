"""Provider-hosted unsubscribe (`delivery.unsubscribe: provider`): the provider's link, not ours.

Instead of our signed link (answered by `newsletter serve`), every %%unsubscribe_url%% in
the message becomes the provider's own placeholder, which the provider fills with its
unsubscribe link per recipient, and our List-Unsubscribe headers are left out: the
provider adds its own, one-click included. Each provider file says what its placeholder
is (`hosted_unsubscribe`), what it needs in newsletter.yaml (`check_hosted`), and what
goes in its payload; a provider that cannot do it for our messages says why
(`hosted_refusal`).
"""

from __future__ import annotations

import dataclasses

from newsletter.errors import SendError
from newsletter.merge import base, retoken, token
from newsletter.model import Delivery
from newsletter.render.message import RenderedMessage
from newsletter.send.providers.base import Provider

OUR_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


def hosted_message(
    message: RenderedMessage, cls: type[Provider], settings: Delivery
) -> RenderedMessage:
    """Return the message with the provider's unsubscribe placeholder and none of our headers."""
    placeholder = cls.hosted_unsubscribe
    if placeholder is None:
        raise SendError(f"delivery.unsubscribe: provider: {cls.hosted_refusal}")
    cls.check_hosted(settings)

    def swap(text: str) -> str:
        return retoken(
            text, lambda key: placeholder if base(key) == "unsubscribe_url" else token(key)
        )

    return dataclasses.replace(
        message,
        subject=swap(message.subject),
        html=swap(message.html),
        text=swap(message.text),
        headers={k: swap(v) for k, v in message.headers.items() if k not in OUR_HEADERS},
    )
