"""Per-recipient unsubscribe links: the address plus an HMAC-SHA256 token over it.

The secret comes only from the environment (NEWSLETTER_UNSUBSCRIBE_SECRET), so whoever
handles the link (`newsletter serve`, see newsletter.serve) can verify it with the same
secret and no database; links cannot be forged for other addresses. Links point at
`delivery.unsubscribe_url`, by default `<base_url>unsubscribe/`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from urllib.parse import quote_plus, urlencode, urljoin

from newsletter.errors import SendError

SECRET_ENV = "NEWSLETTER_UNSUBSCRIBE_SECRET"
# The address `newsletter send` probes the unsubscribe URL with (see send/preflight.py).
PROBE_ADDRESS = "unsubscribe-probe@newsletter.invalid"
PATH = "unsubscribe/"
_PLAIN = re.compile(r"[A-Za-z0-9_.~@-]+")  # quote_plus() leaves all but @ as they are


def sign(secret: str, list_id: str, email: str) -> str:
    """Return the token for an address on a list (base64url, 128 bits)."""
    message = f"{list_id}\n{email.lower()}".encode()
    digest = hmac.digest(secret.encode(), message, hashlib.sha256)[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def same(a: str | bytes, b: str | bytes) -> bool:
    """Return a == b, in time that does not depend on where they differ."""
    a = a.encode() if isinstance(a, str) else a
    b = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a, b)


def verify(secret: str, list_id: str, email: str, token: str) -> bool:
    """Return True if token was signed for this address and list (in constant time)."""
    return same(sign(secret, list_id, email), token)


def endpoint(base_url: str | None, unsubscribe_url: str | None = None) -> str | None:
    """Return where unsubscribe links point: unsubscribe_url, else <base_url>unsubscribe/."""
    if unsubscribe_url:
        return unsubscribe_url
    return urljoin(base_url, PATH) if base_url else None


class Unsubscribe:
    """Build unsubscribe URLs at delivery.unsubscribe_url (default <base_url>unsubscribe/)."""

    def __init__(self, base_url: str | None, list_id: str, secret: str, url: str | None = None):
        self.base = endpoint(base_url, url)
        self.list_id = list_id
        self._secret = secret
        # What urlencode() gives for list= and the keys, built once: a send makes one URL
        # per recipient, and urlencode was most of that cost.
        self._start = f"{self.base}?{urlencode({'list': list_id})}&email="

    def __repr__(self) -> str:  # never show the secret, even in a debugger or traceback
        return f"Unsubscribe(base={self.base!r}, list_id={self.list_id!r})"

    def url(self, email: str) -> str:
        """Return the signed unsubscribe URL of one address."""
        if self.base is None:
            raise SendError(
                "the message has %%unsubscribe_url%% but newsletter.yaml has neither "
                "delivery.unsubscribe_url nor base_url: set delivery.unsubscribe_url to where "
                "'newsletter serve' is published"
            )
        token = sign(self._secret, self.list_id, email)  # base64url: nothing to quote
        quoted = email.replace("@", "%40") if _PLAIN.fullmatch(email) else quote_plus(email)
        return f"{self._start}{quoted}&token={token}"


def from_environment(
    base_url: str | None, list_id: str, *, ephemeral_ok: bool, url: str | None = None
) -> Unsubscribe:
    """Return the URL builder with the secret from the environment.

    ephemeral_ok: the local outbox may use a throwaway secret (its links are for looking at).
    """
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        if not ephemeral_ok:
            raise SendError(
                f"set {SECRET_ENV} to a long random secret: it signs each recipient's "
                "unsubscribe link (e.g. export "
                f'{SECRET_ENV}="$(python -c "import secrets; print(secrets.token_urlsafe(32))")")'
            )
        secret = secrets.token_urlsafe(32)
    return Unsubscribe(base_url, list_id, secret, url)
