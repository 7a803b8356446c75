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
- SendGrid (Signed Event Webhook): `X-Twilio-Email-Event-Webhook-Signature` = base64 DER
  ECDSA P-256 / SHA-256 signature of timestamp + body, verified with the public key
  SendGrid shows (SENDGRID_WEBHOOK_PUBLIC_KEY, base64 DER or PEM); 5 minutes of tolerance,
  and each signed timestamp + body is taken once. The body is an array of events:
  `bounce` of type `bounce` (not `blocked`), `dropped` for a bounced, invalid, reported or
  unsubscribed address, `spamreport`, `unsubscribe`, and `group_unsubscribe` (of the
  series' `delivery.asm_group_id` when one is set).
- SES through SNS (serve/sns.py): the SNS message's RSA signature, with the certificate
  of an SNS host; only the topic of SES_WEBHOOK_TOPIC_ARN, whose subscription is
  confirmed. `Bounce` (Permanent), `Complaint`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
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


MAILGUN_TOLERANCE = 900  # Mailgun's 15 minutes, either way
# A timestamp is taken up to 15 minutes ahead of our clock, so an event is valid for
# up to 30 minutes from when we first see it: its token is remembered as long.
MAILGUN_TOKENS = Tokens(window=2 * MAILGUN_TOLERANCE)


def _iso(value: str | None) -> float:
    if not value:
        return time.time()
    try:  # Python 3.11 reads the "Z" of UTC itself
        return dt.datetime.fromisoformat(value).timestamp()
    except ValueError:
        return time.time()


def _json(body: bytes, kind: type = dict):
    """Return a body's JSON, refusing anything but a kind (an object, or an array)."""
    try:
        data = json.loads(body)
    except ValueError:
        raise Refused("the body is not JSON") from None
    if not isinstance(data, kind):
        raise Refused(f"the body is not a JSON {'object' if kind is dict else 'array'}")
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
    _fresh(stamp, MAILGUN_TOLERANCE)
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


SENDGRID_HEADERS = (
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
)
SENDGRID_TOLERANCE = 300
# Remembered for twice the tolerance: a timestamp up to 5 minutes ahead of our clock stays
# acceptable for 10 minutes after it is first seen.
SENDGRID_SEEN = Tokens(window=2 * SENDGRID_TOLERANCE)
# `dropped` events: SendGrid did not send because the address is on one of its lists.
SENDGRID_DROPPED = {
    "bounced address": "bounce",
    "invalid": "invalid",
    "spam reporting address": "complaint",
    "unsubscribed address": "unsubscribe",
}
SENDGRID_EVENTS = {"spamreport": "complaint", "unsubscribe": "unsubscribe"}


@functools.lru_cache(maxsize=4)
def _ecdsa_key(text: str):
    """Return the P-256 public key of SendGrid's base64 DER (or PEM) text, or None."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        load_der_public_key,
        load_pem_public_key,
    )

    try:
        if "-----BEGIN" in text:
            key = load_pem_public_key(text.strip().encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, TypeError, binascii.Error):
        return None
    curve = getattr(key, "curve", None)
    return key if isinstance(key, ec.EllipticCurvePublicKey) and curve.name == "secp256r1" else None


def _ecdsa_verifies(key, signature: str, signed: bytes) -> bool:
    """Return whether a base64 DER ECDSA (SHA-256) signature of signed verifies."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key.verify(base64.b64decode(signature, validate=True), signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def sendgrid(
    public_key: str, headers: Mapping[str, str], body: bytes, group: int | None = None
) -> list[Event]:
    """Verify (ECDSA) and read a SendGrid event webhook; group: the series' asm group."""
    try:
        signature, stamp = (headers[name] for name in SENDGRID_HEADERS)
    except KeyError:
        raise Refused("no signature headers") from None
    key = _ecdsa_key(public_key)
    if key is None:
        raise Refused("the public key is not an ECDSA P-256 key (base64 DER or PEM)")
    signed = stamp.encode() + body
    if not _ecdsa_verifies(key, signature, signed):
        raise Refused("the signature does not verify")
    _fresh(stamp, SENDGRID_TOLERANCE)
    # ECDSA signatures can be altered and stay valid: what is taken once is what was signed.
    if not SENDGRID_SEEN.take(hashlib.sha256(signed).hexdigest()):
        raise Refused("this timestamp and body were taken before (a replay)")
    events = _json(body, list)
    return [found for event in events if (found := _sendgrid_event(event, group))]


def _sendgrid_event(event: object, group: int | None) -> Event | None:
    """Return the suppression one SendGrid event asks for, or None."""
    if not isinstance(event, dict) or not isinstance(event.get("email"), str):
        return None
    kind, reason = event.get("event"), None
    if kind == "bounce" and event.get("type") == "bounce":  # "blocked" is the receiver's
        reason = "bounce"
    elif kind == "dropped" and isinstance(event.get("reason"), str):
        reason = SENDGRID_DROPPED.get(event["reason"].lower())
    elif kind == "group_unsubscribe" and group in (None, event.get("asm_group_id")):
        reason = "unsubscribe"  # another group's unsubscribe is about other mail
    elif isinstance(kind, str):
        reason = SENDGRID_EVENTS.get(kind)
    when = event.get("timestamp")
    if isinstance(when, bool) or not isinstance(when, int | float):
        when = time.time()
    return (event["email"], reason, float(when)) if reason else None


def ses(topic: str, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Verify (SNS) and read an SES notification (serve/sns.py)."""
    from newsletter.serve import sns  # lazy: it brings X.509 and an HTTP client

    return sns.ses(topic, headers, body)


Reader = Callable[[str, Mapping[str, str], bytes], list[Event]]

# provider -> (environment variable holding its secret, verify-and-read)
PROVIDERS: dict[str, tuple[str, Reader]] = {
    "mailgun": ("MAILGUN_WEBHOOK_SIGNING_KEY", mailgun),
    "resend": ("RESEND_WEBHOOK_SECRET", resend),
    "postmark": ("POSTMARK_WEBHOOK_SECRET", postmark),
    "sendgrid": ("SENDGRID_WEBHOOK_PUBLIC_KEY", sendgrid),
    "ses": ("SES_WEBHOOK_TOPIC_ARN", ses),
}


def reader(name: str, delivery) -> Reader:
    """Return a provider's verify-and-read with the series' delivery settings it needs."""
    read = PROVIDERS[name][1]
    if name == "sendgrid":
        return functools.partial(read, group=delivery.asm_group_id)
    return read


def configured(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return {provider: secret} of the webhooks whose secret is set."""
    env = os.environ if env is None else env
    return {name: env[var] for name, (var, _) in PROVIDERS.items() if env.get(var)}
