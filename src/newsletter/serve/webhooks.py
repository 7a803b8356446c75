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
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def _json(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except ValueError:
        raise Refused("not JSON") from None
    if not isinstance(data, dict):
        raise Refused("not a JSON object")
    return data


def mailgun(secret: str, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Verify and read a Mailgun webhook (JSON, signature inside the body)."""
    data = _json(body)
    signature = data.get("signature") or {}
    stamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    expected = hmac.new(secret.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    if not same(expected, str(signature.get("signature", ""))):
        raise Refused("signature")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAILGUN_TOKENS.window:
        raise Refused("timestamp")
    if not MAILGUN_TOKENS.take(token):
        raise Refused("replayed")
    event = data.get("event-data") or {}
    kind, address = event.get("event"), event.get("recipient")
    when = float(event.get("timestamp") or time.time())
    reason = {"complained": "complaint", "unsubscribed": "unsubscribe"}.get(kind)
    if kind == "failed" and event.get("severity") == "permanent":
        reason = "bounce"
    return [(address, reason, when)] if reason and isinstance(address, str) else []


def resend(secret: str, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Verify (Svix) and read a Resend webhook."""
    ident, stamp = headers.get("svix-id", ""), headers.get("svix-timestamp", "")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"))
    except binascii.Error:
        raise Refused("secret") from None
    signed = f"{ident}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.partition(",")[2] for s in headers.get("svix-signature", "").split()]
    if not any([same(expected, candidate) for candidate in offered]):  # each one compared
        raise Refused("signature")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        raise Refused("timestamp")
    data = _json(body)
    event, kind = data.get("data") or {}, data.get("type")
    when = _iso(data.get("created_at"))
    if kind == "email.bounced" and (event.get("bounce") or {}).get("type") == "Permanent":
        return [(a, "bounce", when) for a in event.get("to") or [] if isinstance(a, str)]
    if kind == "email.complained":
        return [(a, "complaint", when) for a in event.get("to") or [] if isinstance(a, str)]
    if kind == "contact.updated" and event.get("unsubscribed") is True:
        return [(event.get("email"), "unsubscribe", when)] if event.get("email") else []
    return []


def postmark(secret: str, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Check a Postmark webhook's Basic credentials and read it."""
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    try:
        password = base64.b64decode(encoded).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        password = ""
    if not (same(password, secret) and scheme.lower() == "basic"):
        raise Refused("credentials")
    data = _json(body)
    kind = data.get("RecordType")
    if kind == "Bounce" and data.get("Type") == "HardBounce":
        return [(data.get("Email"), "bounce", _iso(data.get("BouncedAt")))]
    if kind == "SpamComplaint":
        return [(data.get("Email"), "complaint", _iso(data.get("BouncedAt")))]
    if kind == "SubscriptionChange" and data.get("SuppressSending") is True:
        reason = {"HardBounce": "bounce", "SpamComplaint": "complaint"}.get(
            data.get("SuppressionReason"), "unsubscribe"
        )
        return [(data.get("Recipient"), reason, _iso(data.get("ChangedAt")))]
    return []


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
