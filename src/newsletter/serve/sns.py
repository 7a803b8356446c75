"""Amazon SES events delivered by SNS: the message's RSA signature verified, then read.

SNS signs each message with the key of a certificate it publishes at SigningCertURL, so
that URL is trusted only over https and only on an SNS host (`sns.<region>.amazonaws.com`,
the pattern of AWS's own message validator), fetched with the system's CA store (the
certificate's chain of trust is the TLS connection's) and cached by URL. Anyone can make a
topic of their own that SNS signs just as well, so only the topic named by
SES_WEBHOOK_TOPIC_ARN is taken ("reject any message with an unexpected TopicArn").

- SubscriptionConfirmation of that topic: confirmed by a GET of its SubscribeURL.
- Notification: an SES `Bounce` of bounceType `Permanent` (bounce) or a `Complaint`
  (complaint; not one whose feedback type is `not-spam`), as SES notifications
  (`notificationType`) or configuration-set events (`eventType`).
- UnsubscribeConfirmation: answered 200, nothing done.
The string to sign: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from newsletter.serve.webhooks import Event, Refused, _iso, _json

# aws/aws-php-sns-message-validator's default host pattern (China's regions end in .cn)
SNS_HOST = re.compile(r"^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$")
CERTIFICATE_BYTES = 64 * 1024  # a PEM certificate is 2 KB
FAILED_SECONDS = 300.0  # how long a certificate URL that failed is refused without a fetch
FAILED_URLS = 1024
SIGNED = {  # the fields each type signs, in this (byte) order
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"
    ),
}  # fmt: skip
SIGNED["UnsubscribeConfirmation"] = SIGNED["SubscriptionConfirmation"]
OPTIONAL = {"Subject"}  # signed only when the message has one


def https_get(url: str, limit: int = CERTIFICATE_BYTES) -> bytes:
    """GET a URL (https, the system's CA store, no redirects); raise OSError on failure."""
    import httpx

    try:
        with httpx.stream("GET", url, timeout=10.0, follow_redirects=False) as response:
            if response.status_code != 200:
                raise OSError(f"HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise OSError("too large")
            return body
    except httpx.HTTPError as exc:
        raise OSError(str(exc)) from None


def sns_url(url: object) -> str:
    """Return an https URL on an SNS host, or refuse it."""
    if not isinstance(url, str):
        raise Refused("no SNS URL")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a number
        port = -1
    if parts.scheme != "https" or not SNS_HOST.match(parts.hostname or "") or port is not None:
        raise Refused("the URL is not https on an SNS host (sns.<region>.amazonaws.com)")
    return url


class Aws:
    """What SNS messages lead to: fetching signing certificates (cached) and confirming."""

    def __init__(self, get: Callable[[str], bytes] = https_get, size: int = 32):
        """get: fetch a URL's body (injectable: the tests serve their own certificate)."""
        self.get, self.size = get, size
        self.certificates: dict[str, object] = {}  # by URL
        # URLs whose fetch failed, and when: the topic ARN is no secret, so anyone may post
        # messages naming made-up certificates on SNS hosts, each a fetch of up to 10 s.
        self.failed: dict[str, float] = {}
        self.lock = threading.Lock()

    def public_key(self, url: object):
        """Return the RSA public key of the SNS certificate at url, fetched once."""
        url = sns_url(url)
        with self.lock:
            certificate = self.certificates.get(url)
        if certificate is None:
            certificate = self._load_once(url)
            with self.lock:
                if len(self.certificates) >= self.size:  # they change rarely: forget the oldest
                    self.certificates.pop(next(iter(self.certificates)))
                self.certificates[url] = certificate
        # Checked at each use: a cached certificate expires too.
        valid = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        if not valid[0].timestamp() <= time.time() <= valid[1].timestamp():
            raise Refused("the signing certificate is not valid now")
        return certificate.public_key()

    def _load_once(self, url: str):
        """Fetch a certificate, refusing at once a URL that failed in the last few minutes."""
        now = time.monotonic()
        with self.lock:
            self.failed = {u: at for u, at in self.failed.items() if now - at < FAILED_SECONDS}
            if url in self.failed:
                raise Refused("the signing certificate could not be fetched (recently)")
        try:
            return self._load(url)
        except Refused:
            with self.lock:
                if len(self.failed) < FAILED_URLS:  # beyond that, each costs its fetch
                    self.failed[url] = time.monotonic()
            raise

    def _load(self, url: str):
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import rsa

        try:
            certificate = x509.load_pem_x509_certificate(self.get(url))
        except OSError:
            raise Refused("the signing certificate could not be fetched") from None
        except ValueError:
            raise Refused("the signing certificate is not a PEM certificate") from None
        if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
            raise Refused("the signing certificate's key is not RSA")
        return certificate

    def confirm(self, url: object) -> None:
        """Confirm a subscription by a GET of its SubscribeURL."""
        try:
            self.get(sns_url(url))
        except OSError:
            raise Refused("the subscription could not be confirmed (SubscribeURL)") from None


AWS = Aws()


def string_to_sign(message: Mapping[str, object]) -> bytes:
    """Return what SNS signed: each signed field's name and value, a line each."""
    kind = message.get("Type")
    if kind not in SIGNED:
        raise Refused("not an SNS message type we take")
    lines = []
    for name in SIGNED[kind]:
        value = message.get(name)
        if value is None and name in OPTIONAL:
            continue
        if not isinstance(value, str):
            raise Refused("the message lacks its signed fields")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def verify(message: Mapping[str, object], aws: Aws) -> None:
    """Refuse a message whose SNS signature does not verify."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signed = string_to_sign(message)
    algorithm = {"1": hashes.SHA1, "2": hashes.SHA256}.get(message.get("SignatureVersion"))
    if algorithm is None:
        raise Refused("the SignatureVersion is not 1 or 2")
    try:
        signature = base64.b64decode(str(message.get("Signature")), validate=True)
    except binascii.Error:
        raise Refused("the signature does not verify") from None
    key = aws.public_key(message.get("SigningCertURL"))
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise Refused("the signature does not verify") from None


def ses(topic: str, headers: Mapping[str, str], body: bytes) -> list[Event]:
    """Verify (SNS) and read an SES bounce or complaint; confirm our topic's subscription."""
    message = _json(body)
    if message.get("TopicArn") != topic:
        raise Refused("the message is not from SES_WEBHOOK_TOPIC_ARN's topic")
    aws = AWS  # one object for the whole request, even if a test swaps it meanwhile
    verify(message, aws)
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        aws.confirm(message.get("SubscribeURL"))
    if kind != "Notification":
        return []
    try:
        notification = json.loads(message["Message"])
    except ValueError:
        return []  # signed by SNS, from our topic, but not SES's: nothing to record
    return ses_events(notification) if isinstance(notification, dict) else []


def ses_events(notification: dict) -> list[Event]:
    """Return the suppressions of an SES notification or event: permanent bounces, complaints."""
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind == "Bounce":
        detail, listed, reason = notification.get("bounce"), "bouncedRecipients", "bounce"
        if not isinstance(detail, dict) or detail.get("bounceType") != "Permanent":
            return []
    elif kind == "Complaint":
        detail, listed, reason = notification.get("complaint"), "complainedRecipients", "complaint"
        if not isinstance(detail, dict) or detail.get("complaintFeedbackType") == "not-spam":
            return []
    else:
        return []
    stamp = detail.get("timestamp")
    when = _iso(stamp if isinstance(stamp, str) else None)
    recipients = detail.get(listed)
    return [
        (r["emailAddress"], reason, when)
        for r in (recipients if isinstance(recipients, list) else [])
        if isinstance(r, dict) and isinstance(r.get("emailAddress"), str)
    ]
