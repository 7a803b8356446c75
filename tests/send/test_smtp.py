"""SMTP delivery against a real aiosmtpd server: plain, STARTTLS with login, refusals,
pipelined transactions; the message built dot-stuffed."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from hypothesis import given
from hypothesis import strategies as st
from sendkit import free_port, sample_message

from newsletter.render.message import token
from newsletter.render.mime import CompiledMime
from tests.helpers.certs import self_signed


class Mailbox:
    """An aiosmtpd handler that keeps every message and refuses one address."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.sessions: set[int] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        self.sessions.add(id(session))
        return "250 Message accepted for delivery"


def self_signed_files(tmp_path):
    """Write a key and a certificate for 127.0.0.1 that a TLS client may trust."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(self_signed(key, "127.0.0.1", days=2, san_ip="127.0.0.1"))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def check_login(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"editor"
        and (auth_data.password == b"smtp-test-password")
    )
    return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535 itself


@pytest.fixture
def smtp_plain():
    handler, port = Mailbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def test_plain_smtp_one_message_each_connection_reused(sender, smtp_plain, monkeypatch):
    handler, port = smtp_plain
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    delivery = {
        "provider": "smtp",
        "concurrency": 1,
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none"},
    }
    _, report, counts = sender.send(6, delivery=delivery, extra="refused@example.org,R,,\n")
    assert counts["sent"] == 6 and counts["failed"] == 1
    assert "550 5.1.1 No such user here" in next(iter(report.reasons))
    assert sorted(rcpt[0] for rcpt, _ in handler.messages) == sorted(
        f"user{i}@example.org" for i in range(6)
    )
    assert len(handler.sessions) == 1  # one connection for all messages
    _, message = handler.messages[0]
    assert message["List-Unsubscribe"].startswith("<https://digest.example.org/unsubscribe/")
    assert message["Subject"] == "Test Digest Vol 1.1 for First0"


def test_starttls_with_login_from_the_environment(sender, tmp_path, monkeypatch):
    cert, key = self_signed_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler, port = Mailbox(), free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=check_login,
        auth_require_tls=True,
    )
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust our self-signed server
        monkeypatch.setenv("SMTP_USERNAME", "editor")
        monkeypatch.setenv("SMTP_PASSWORD", "smtp-test-password")
        delivery = {
            "provider": "smtp",
            "smtp": {"host": "127.0.0.1", "port": port, "security": "starttls"},
        }
        _, report, counts = sender.send(3, delivery=delivery)
        assert counts["sent"] == 3 and len(handler.messages) == 3
        monkeypatch.setenv("SMTP_PASSWORD", "wrong")
        job = sender.job(1, delivery=delivery, list_path=tmp_path / "other.csv")
        (tmp_path / "other.csv").write_text("email\nnew@example.org\n")
        job.plan()
        report = job.run()
        pending = job.ledger.counts()["pending"]
        job.close()
        assert "535" in report.error and pending == 1  # nothing sent, nothing lost
        assert "smtp-test-password" not in report.error and "wrong" not in report.error
    finally:
        controller.stop()


class PipeliningMailbox(Mailbox):
    """The mailbox, announcing PIPELINING (RFC 2920) as Postfix and Exim do."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.fixture
def writes(monkeypatch):
    """Count the client's writes to the server (each is a wait for a reply or more)."""
    import smtplib

    counted = []
    original = smtplib.SMTP.send

    def send(self, data):
        counted.append(data if isinstance(data, bytes) else data.encode())
        return original(self, data)

    monkeypatch.setattr(smtplib.SMTP, "send", send)
    return counted


def dotted_message():
    """Return the sample message with lines that start with dots in both bodies."""
    message = sample_message()
    text = ".starts with a dot\n..two dots\n.\n" + message.text
    html = message.html.replace("<p>Paragraph 0", "\n.mj-outlook { width:100% }\n<p>Paragraph 0")
    return dataclasses.replace(message, text=text, html=html)


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelined"])
def test_messages_arrive_whole_pipelined_or_not(sender, monkeypatch, writes, pipelining):
    handler, port = (PipeliningMailbox if pipelining else Mailbox)(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.delenv("SMTP_USERNAME", raising=False)
        delivery = {
            "provider": "smtp",
            "concurrency": 1,
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none"},
        }
        extra = "refused@example.org,R,,\nafter@example.org,A,,\n"
        _, report, counts = sender.send(3, message=dotted_message(), delivery=delivery, extra=extra)
    finally:
        controller.stop()
    assert counts["sent"] == 4 and counts["failed"] == 1
    assert list(report.reasons) == ["550 5.1.1 No such user here"]
    received = sorted(rcpt[0] for rcpt, _ in handler.messages)
    assert received == ["after@example.org", *(f"user{i}@example.org" for i in range(3))]
    assert len(handler.sessions) == 1  # the refusal left the connection usable
    for _, message in handler.messages:
        text, html = (message.get_body((kind,)).get_content() for kind in ("plain", "html"))
        assert text.startswith(".starts with a dot\r\n..two dots\r\n.\r\nDear ")
        assert "\r\n.mj-outlook { width:100% }\r\n" in html
    envelopes = [w for w in writes if w.lower().startswith(b"mail from:")]
    bodies = [w for w in writes if w.endswith(b"\r\n.\r\n")]
    assert len(bodies) == 4 and all(w.count(b"\r\n") > 20 for w in bodies)  # one write each
    if pipelining:  # MAIL, RCPT and DATA in one write: two round trips a message
        assert len(envelopes) == 5
        assert all(w.lower().count(b"\r\nrcpt to:") == 1 for w in envelopes)
        assert all(w.lower().endswith(b"\r\ndata\r\n") for w in envelopes)
    else:  # one command a write, nothing asked after the refused RCPT
        assert len(envelopes) == 5 and all(w.count(b"\r\n") == 1 for w in envelopes)
        assert sum(w.lower() == b"data\r\n" for w in writes) == 4


DOTTED = st.text(st.sampled_from(".\n\r é=\tx"), max_size=30)


@given(name=DOTTED, first=DOTTED)
def test_the_message_for_smtp_is_the_message_dot_stuffed(name, first):
    message = dataclasses.replace(
        dotted_message(),
        text=f".{token('name')}\n{token('first_name')}.\n{'.' * 80}\n" + dotted_message().text,
    )
    compiled = CompiledMime(message)
    values = {"email": "a@example.org", "name": name, "first_name": first}
    plain = compiled.build(values, message_id="<1@example.org>", date=0)
    data = compiled.build(values, message_id="<1@example.org>", date=0, smtp=True)
    # RFC 5321 4.5.2, as smtplib writes it, then the end-of-data line.
    assert data == re.sub(rb"(?m)^\.", b"..", plain) + b".\r\n"


class ClosingMailbox(Mailbox):
    """Answer 421 to each listed address's first RCPT and close the session, as servers do."""

    def __init__(self, busy: set[str]):
        super().__init__()
        self.busy = set(busy)
        self.closed = 0
        self.connections: list[object] = []  # kept alive, so no two share an id

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if session not in self.connections:
            self.connections.append(session)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.busy:
            self.busy.discard(address)
            self.closed += 1
            # Close after the reply is written: transport.close() flushes it first.
            server.loop.call_soon(server.transport.close)
            return "421 4.7.0 Too many connections, closing"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.mark.parametrize("busy", ["user0@example.org", "user3@example.org"])
def test_a_421_reply_reconnects_and_the_reader_is_sent_not_unknown(sender, monkeypatch, busy):
    handler, port = ClosingMailbox({busy}), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the retry's back-off
    delivery = {
        "provider": "smtp",
        "concurrency": 1,
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none"},
    }
    try:
        _, _report, counts = sender.send(6, delivery=delivery)
    finally:
        controller.stop()
    assert handler.closed == 1
    assert counts["sent"] == 6 and counts.get("unknown", 0) == 0 and counts["failed"] == 0
    received = sorted(rcpt[0] for rcpt, _ in handler.messages)
    assert received == sorted(f"user{i}@example.org" for i in range(6))  # each exactly once
    assert len(handler.connections) == 2  # a new session after the closed one
