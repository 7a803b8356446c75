"""Provider webhooks: bounces, complaints and unsubscribes as they happen, each one verified.

An endpoint answers only when its secret is set in the environment (404 otherwise), and
takes an event only when the provider's signature over it verifies, compared in constant
time; anything else gets 401 and nothing is recorded. Accepted events go into the
suppression list (source = the provider, time = the event's) before the 200 that tells
the provider not to send it again.

- Mailgun: `signature.signature` = HMAC-SHA256 of timestamp + token with the webhook
  signing key (MAILGUN_WEBHOOK_SIGNING_KEY). The signature does not cover the body, so,
  as Mailgun advises, a token is taken once (remembered for the 15 minutes a timestamp
  is accepted) and older timestamps are refused: a seen event cannot be replayed altered.
  `failed` with severity `permanent` -> bounce, `complained`, `unsubscribed`.
- Resend (Svix): `svix-signature` = base64 HMAC-SHA256 of `id.timestamp.body` with the
  `whsec_` secret (RESEND_WEBHOOK_SECRET); 5 minutes of tolerance. `email.bounced`
  (Permanent), `email.complained`, `contact.updated` with `unsubscribed`.
- Postmark signs nothing: it sends the HTTP Basic credentials of the webhook's URL, so the
  password is the secret (POSTMARK_WEBHOOK_SECRET; any user name). `Bounce` (HardBounce),
  `SpamComplaint`, `SubscriptionChange` with `SuppressSending`.
SendGrid (ECDSA) and SES (SNS certificates fetched from AWS) are left to `suppress sync`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Mapping

from newsletter.send.unsubscribe import same

Event = tuple[str, str, float]  # (address, reason, epoch seconds)


class Refused(Exception):
    """The request is not a verified event of this provider."""


class Tokens:
    """Mailgun tokens taken in the last `window` seconds: each is accepted once."""

    def __init__(self, window: float = 900.0):
        self.window, self.seen, self.lock = window, {}, threading.Lock()

    def take(self, token: str) -> bool:
        """Return True the first time a token is offered within the window."""
        now = time.monotonic()
        with self.lock:
            self.seen = {t: at for t, at in self.seen.items() if now - at < self.window}
            if token in self.seen:
                return False
            self.seen[token] = now
            return True


MAILGUN_TOKENS = Tokens()


def _iso(value: str | None) -> float:
    if not value:
        return time.time()
    try:  # Python 3.11 reads the "Z" of UTC itself
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return time.time()


def _json(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except ValueError:
        raise Refused("the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused("the body is not a JSON object")
    return data


def _fresh(stamp: str, tolerance: float) -> None:
    """Refuse a timestamp (epoch seconds) more than tolerance seconds from now."""
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > tolerance:
        raise Refused(f"the timestamp is not within {tolerance:.0f} s of now")


def mailgun(secret: str, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Verify and read a Mailgun webhook (JSON, signature inside the body)."""
    data = _json(body)
    try:
        signature = data["signature"]
        stamp, token, offered = (str(signature[k]) for k in ("timestamp", "token", "signature"))
    except (KeyError, TypeError):
        raise Refused("no signature") from None
    expected = hmac.new(secret.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    if not same(expected, offered):
        raise Refused("the signature does not verify")
    _fresh(stamp, MAILGUN_TOKENS.window)
    if not MAILGUN_TOKENS.take(token):
        raise Refused("the token was taken before (a replay)")
    event = data.get("event-data") or {}
    kind, address = event.get("event"), event.get("recipient")
    when = float(event.get("timestamp") or time.time())
    reason = {"complained": "complaint", "unsubscribed": "unsubscribe"}.get(kind)
    if kind == "failed" and event.get("severity") == "permanent":
        reason = "bounce"
    return [(address, reason, when)] if reason and isinstance(address, str) else []


SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")


def resend(secret: str, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Verify (Svix) and read a Resend webhook."""
    try:
        ident, stamp, signatures = (headers[name] for name in SVIX_HEADERS)
    except KeyError:
        raise Refused("no Svix signature headers") from None
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"))
    except binascii.Error:
        raise Refused("the secret is not base64 (whsec_...)") from None
    signed = f"{ident}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.partition(",")[2] for s in signatures.split()]  # "v1,<base64> v1,<base64>"
    if not any([same(expected, candidate) for candidate in offered]):  # each one compared
        raise Refused("the signature does not verify")
    _fresh(stamp, 300)
    data = _json(body)
    event, kind = data.get("data") or {}, data.get("type")
    when = _iso(data.get("created_at"))
    if kind == "email.bounced" and (event.get("bounce") or {}).get("type") == "Permanent":
        return [(a, "bounce", when) for a in event.get("to") or [] if isinstance(a, str)]
    if kind == "email.complained":
        return [(a, "complaint", when) for a in event.get("to") or [] if isinstance(a, str)]
    address = event.get("email")
    if kind == "contact.updated" and event.get("unsubscribed") is True:
        return [(address, "unsubscribe", when)] if isinstance(address, str) else []
    return []


def postmark(secret: str, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Check a Postmark webhook's Basic credentials and read it."""
    if "authorization" not in headers:
        raise Refused("no credentials")
    scheme, _, encoded = headers["authorization"].partition(" ")
    try:
        password = base64.b64decode(encoded).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        raise Refused("the credentials are not Basic user:password") from None
    if not (same(password, secret) and scheme.lower() == "basic"):
        raise Refused("wrong credentials")
    data = _json(body)
    kind, address = data.get("RecordType"), data.get("Email")
    reason, when = None, _iso(data.get("BouncedAt"))
    if kind == "Bounce" and data.get("Type") == "HardBounce":
        reason = "bounce"
    if kind == "SpamComplaint":
        reason = "complaint"
    if kind == "SubscriptionChange" and data.get("SuppressSending") is True:
        reason = {"HardBounce": "bounce", "SpamComplaint": "complaint"}.get(
            data.get("SuppressionReason"), "unsubscribe"
        )
        address, when = data.get("Recipient"), _iso(data.get("ChangedAt"))
    return [(address, reason, when)] if reason and isinstance(address, str) else []


# provider -> (environment variable holding its secret, verify-and-read)
PROVIDERS: dict[str, tuple[str, Callable[[str, Mapping[str, str], bytes], list[Event]]]] = {
    "mailgun": ("MAILGUN_WEBHOOK_SIGNING_KEY", mailgun),
    "resend": ("RESEND_WEBHOOK_SECRET", resend),
    "postmark": ("POSTMARK_WEBHOOK_SECRET", postmark),
}


def configured(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return {provider: secret} of the webhooks whose secret is set."""
    env = os.environ if env is None else env
    return {name: env[var] for name, (var, _) in PROVIDERS.items() if env.get(var)}
