"""SMTP: stdlib smtplib, STARTTLS or implicit TLS, one connection reused per worker.

Login comes from SMTP_USERNAME / SMTP_PASSWORD when set (a local relay may need none).
Batches are single messages so the ledger knows each recipient's fate exactly; the
connection stays open across batches. A 4xx reply is transient (retried), a 5xx reply
fails the recipient with the server's words.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading

from newsletter.render.message import to_mime
from newsletter.send.providers.base import (
    Batch,
    Fatal,
    Outcome,
    Provider,
    Rejected,
    Reply,
    Retryable,
)

PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class SmtpProvider(Provider):
    name = "smtp"
    hosted_refusal = "a mail server hosts no unsubscribe link: use unsubscribe: self"
    max_batch = 1
    default_rate = 10.0
    default_concurrency = 2
    credentials = ("SMTP_USERNAME", "SMTP_PASSWORD")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.local = threading.local()  # one connection per worker thread
        self.connections: list[smtplib.SMTP] = []

    def check_credentials(self) -> None:
        if bool(self.env.get("SMTP_USERNAME")) != bool(self.env.get("SMTP_PASSWORD")):
            self.secret("SMTP_PASSWORD" if self.env.get("SMTP_USERNAME") else "SMTP_USERNAME")

    def prepare(self, batch: Batch):
        (recipient,) = batch.recipients
        return to_mime(self.message, self.personal(recipient))

    def size(self, payload) -> int:
        return len(payload.as_bytes())

    def connect(self) -> smtplib.SMTP:
        """Open, secure and log in a connection to the configured server."""
        settings = self.settings.smtp
        port = settings.port or PORTS[settings.security]
        timeout = self.settings.timeout
        context = ssl.create_default_context()
        if settings.security == "ssl":
            server = smtplib.SMTP_SSL(settings.host, port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(settings.host, port, timeout=timeout)
            if settings.security == "starttls":
                server.starttls(context=context)
        user = self.env.get("SMTP_USERNAME")
        if user:
            server.login(user, self.env.get("SMTP_PASSWORD", ""))
        self.connections.append(server)
        return server

    def deliver(self, batch: Batch, payload) -> Reply:
        (recipient,) = batch.recipients
        server = getattr(self.local, "server", None)
        if server is None:
            server = self.local.server = self._connect()
        try:
            refused = server.send_message(payload, self.message.from_email, [recipient.email])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient.email, (550, b"refused"))
            return self._refused(recipient.key, code, text)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise Rejected(self.name, _words(exc), exc.smtp_code) from None
            self._drop()
            raise Retryable(self.name, _words(exc), exc.smtp_code) from None
        except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as e:
            # Dropped after DATA may have been accepted: the engine treats it as ambiguous.
            self._drop()
            raise Retryable(self.name, f"connection lost: {e}", ambiguous=True) from None
        if refused:
            code, text = refused[recipient.email]
            return self._refused(recipient.key, code, text)
        return Reply([Outcome(recipient.key, True, payload["Message-ID"])])

    def _connect(self) -> smtplib.SMTP:
        try:
            return self.connect()
        except smtplib.SMTPAuthenticationError as exc:
            raise Fatal(self.name, _words(exc), exc.smtp_code) from None
        except ssl.SSLCertVerificationError as exc:
            raise Fatal(self.name, f"the server's TLS certificate: {exc.verify_message}") from None
        except (smtplib.SMTPException, OSError) as exc:  # nothing was sent yet
            raise Retryable(self.name, f"cannot connect: {exc}") from None

    def _refused(self, key: str, code: int, text: bytes) -> Reply:
        if code < 500:
            raise Retryable(self.name, f"{code} {text.decode(errors='replace')}", code)
        return Reply([Outcome(key, False, reason=f"{code} {text.decode(errors='replace')}")])

    def _drop(self) -> None:
        server = getattr(self.local, "server", None)
        self.local.server = None
        if server is not None:
            with contextlib.suppress(OSError):
                server.close()

    def close(self) -> None:
        for server in self.connections:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
        self.connections.clear()


def _words(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {text}".strip()
