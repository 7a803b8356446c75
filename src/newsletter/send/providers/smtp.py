"""SMTP: stdlib smtplib, STARTTLS or implicit TLS, one connection reused per worker.

Login comes from SMTP_USERNAME / SMTP_PASSWORD when set (a local relay may need none).
A batch is up to 20 messages sent one after the other over the worker's connection, which
stays open across batches, each with its own outcome. One ledger commit a batch instead of
one a message: the in-flight mark is written to disk (fsync, milliseconds) before every
batch, and at one message a batch it capped a send at about 150 a second. What a crash
leaves `unknown` is at most a batch per worker; `batch_size: 1` makes it one message.

Until a batch's first message is out, errors are the engine's, as for any call: a 4xx
reply or a failed connection is retried, bad credentials stop the run. After that, each
message fares alone: a 5xx reply fails its recipient with the server's words; a 4xx reply
is tried again twice on the same connection, then fails its recipient (--retry-failed);
a connection dropped while a message was out leaves that one `unknown` (it may have been
accepted); one that cannot be opened again fails the rest of the batch as not sent.
Messages go out as the bytes the compiled message built (never through `send_message`,
whose generator re-folds the headers), by the quicker transaction of smtpwire.py:
pipelined where the server allows, the message in one write. An internationalised address goes
with SMTPUTF8 (RFC 6531) when the server announces it.
"""

from __future__ import annotations

import contextlib
import functools
import smtplib
import ssl
import threading
import time

from newsletter.render.headers import address, needs_smtputf8
from newsletter.send.providers import smtpwire
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
    hosted_refusal = "a mail server hosts no unsubscribe link: use unsubscribe: self"
    max_batch = 20
    default_rate = 10.0
    default_concurrency = 2
    credentials = ("SMTP_USERNAME", "SMTP_PASSWORD")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.local = threading.local()  # one connection per worker thread
        self.connections: list[smtplib.SMTP] = []
        self._eai: bool | None = None  # whether the server announces SMTPUTF8

    @functools.cached_property
    def sender(self) -> str:
        """Return the envelope sender (the From address, its domain in ASCII)."""
        return address(self.message.from_email)

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
            return message_id, mime.build(recipient.values, message_id=message_id, smtp=True)

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
            server = smtpwire.SslConnection(settings.host, port, timeout=timeout, context=context)
        else:
            server = smtpwire.Connection(settings.host, port, timeout=timeout)
            if settings.security == "starttls":
                server.starttls(context=context)
        user = self.env.get("SMTP_USERNAME")
        if user:
            server.login(user, self.env.get("SMTP_PASSWORD", ""))
        self.connections.append(server)
        return server

    def deliver(self, batch: Batch, payload: Built) -> Reply:
        outcomes = list(payload.failed)
        for index, (recipient, (message_id, data)) in enumerate(payload.messages):
            try:  # the first message is retried by the engine, with the batch
                outcome = self._send(recipient, message_id, data, tries=1 if index == 0 else 3)
            except Retryable as exc:
                if index == 0 and not exc.ambiguous:
                    raise  # nothing of this batch is out: the engine retries it whole
                self._drop()
                if not exc.ambiguous:
                    outcome = Outcome(recipient.key, False, reason=f"not sent: {exc.message}")
                else:
                    outcome = None  # may have been accepted: left out, it becomes unknown
            except (Rejected, Fatal) as exc:
                if index == 0:
                    raise
                outcome = Outcome(recipient.key, False, reason=exc.message)
            if outcome is not None:
                outcomes.append(outcome)
        return Reply(outcomes)

    def _send(self, recipient, message_id: str, data: bytes, tries: int = 3) -> Outcome:
        """Send one message; return its outcome or raise what the engine should do."""
        sender, to = self.sender, address(recipient.email)
        options: list[str] = []
        if needs_smtputf8(to) or needs_smtputf8(sender):
            if not _announces_smtputf8(self._server()):
                reason = "the SMTP server does not announce SMTPUTF8 (internationalised address)"
                return Outcome(recipient.key, False, reason=reason)
            options.append("SMTPUTF8")
        for attempt in range(1, tries + 1):
            try:
                self._server().transact(sender, to, data, options)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients.get(to, (550, b"refused"))
                words = f"{code} {text.decode(errors='replace')}"
            except smtplib.SMTPResponseException as exc:
                code, words = exc.smtp_code, _words(exc)
            except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as e:
                # Dropped after DATA may have been accepted: ambiguous.
                self._drop()
                raise Retryable(self.name, f"connection lost: {e}", ambiguous=True) from None
            else:
                return Outcome(recipient.key, True, message_id)
            if code == 421:  # the server closed the session, at any step: retry on a new one
                self._drop()
            if code >= 500:
                return Outcome(recipient.key, False, reason=words)
            if attempt == tries:
                raise Retryable(self.name, words, code)
            time.sleep(attempt)
        raise AssertionError("unreachable")

    def _server(self) -> smtplib.SMTP:
        """Return this worker's connection, opening it when there is none."""
        server = getattr(self.local, "server", None)
        if server is None:
            server = self.local.server = self._connect()
        return server

    def _connect(self) -> smtplib.SMTP:
        try:
            return self.connect()
        except smtplib.SMTPAuthenticationError as exc:
            raise Fatal(self.name, _words(exc), exc.smtp_code) from None
        except ssl.SSLCertVerificationError as exc:
            raise Fatal(self.name, f"the server's TLS certificate: {exc.verify_message}") from None
        except (smtplib.SMTPException, OSError) as exc:  # nothing was sent yet
            raise Retryable(self.name, f"cannot connect: {exc}") from None

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
