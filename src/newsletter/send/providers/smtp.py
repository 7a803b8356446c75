"""SMTP: stdlib smtplib, STARTTLS or implicit TLS, one connection reused per worker.

Login comes from SMTP_USERNAME / SMTP_PASSWORD when set (a local relay may need none).
Batches are single messages so the ledger knows each recipient's fate exactly; the
connection stays open across batches. A 4xx reply is transient (retried), a 5xx reply
fails the recipient with the server's words. Messages go out as the bytes the compiled
message built (`sendmail`, never `send_message`, whose generator re-folds the headers).
An internationalised address goes with SMTPUTF8 (RFC 6531) when the server announces it.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading

from newsletter.render.headers import address, needs_smtputf8
from newsletter.send.providers.base import (
    Batch,
    Built,
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
    max_batch = 1
    default_rate = 10.0
    default_concurrency = 2
    credentials = ("SMTP_USERNAME", "SMTP_PASSWORD")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.local = threading.local()  # one connection per worker thread
        self.connections: list[smtplib.SMTP] = []
        self._eai: bool | None = None  # whether the server announces SMTPUTF8

    def check_credentials(self) -> None:
        if bool(self.env.get("SMTP_USERNAME")) != bool(self.env.get("SMTP_PASSWORD")):
            self.secret("SMTP_PASSWORD" if self.env.get("SMTP_USERNAME") else "SMTP_USERNAME")

    def accepts_eai(self) -> bool:
        """Ask the server once whether it announces SMTPUTF8 (not on a dry run)."""
        if not self.need_credentials:
            return True
        if self._eai is None:
            server = self._connect()
            self._eai = _announces_smtputf8(server)
            self.connections.remove(server)
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
        return self._eai

    def prepare(self, batch: Batch) -> Built:
        mime = self.mime

        def build(recipient) -> tuple[str, bytes]:
            message_id = mime.message_id()
            return message_id, mime.build(recipient.values, message_id=message_id)

        return self.build_each(batch, build)

    def size(self, payload: Built) -> int:
        return sum(len(data) for _, (_, data) in payload.messages)

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

    def deliver(self, batch: Batch, payload: Built) -> Reply:
        if payload.failed:
            return Reply(payload.failed)
        ((recipient, (message_id, data)),) = payload.messages
        server = getattr(self.local, "server", None)
        if server is None:
            server = self.local.server = self._connect()
        sender, to = address(self.message.from_email), address(recipient.email)
        options: list[str] = []
        if needs_smtputf8(to) or needs_smtputf8(sender):
            if not _announces_smtputf8(server):
                reason = "the SMTP server does not announce SMTPUTF8 (internationalised address)"
                return Reply([Outcome(recipient.key, False, reason=reason)])
            options.append("SMTPUTF8")
        try:
            refused = server.sendmail(sender, [to], data, options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(to, (550, b"refused"))
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
            code, text = refused[to]
            return self._refused(recipient.key, code, text)
        return Reply([Outcome(recipient.key, True, message_id)])

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


def _announces_smtputf8(server: smtplib.SMTP) -> bool:
    server.ehlo_or_helo_if_needed()  # the extensions are known only after EHLO
    return server.has_extn("smtputf8")


def _words(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {text}".strip()
