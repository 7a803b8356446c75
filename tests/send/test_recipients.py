"""One recipient never stops a send; names never become headers; internationalised addresses.

Through the outbox (files parsed back) and a real SMTP server (aiosmtpd), as a reader's
mail client would parse what arrives.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy

import pytest
from aiosmtpd.controller import Controller
from sendkit import free_port, sample_message
from test_smtp import Mailbox

from newsletter.render.message import token
from tests.helpers.mail import HEADERS_WE_SET, INJECTED_CRLF, INJECTED_GROUP, parse

INJECTED = [INJECTED_CRLF, INJECTED_GROUP]
EAI = "山田@example.org"
IDN = "jo@bücher.example"


def utf8(text: str) -> str:
    """Return header text the stdlib's bytes parser read as ASCII, as a UTF-8 client reads it."""
    return text.encode("ascii", "surrogateescape").decode("utf-8")


def rows(*lines: str) -> str:
    return "".join(f"{line}\n" for line in lines)


def injected_rows() -> str:
    return rows(*(f'eve{i}@example.org,"{name}",,' for i, name in enumerate(INJECTED)))


def assert_name_stayed_literal(message: email.message.EmailMessage, name: str) -> None:
    assert [k for k, _ in message.items()] == HEADERS_WE_SET  # no Bcc:, no X-Injected:
    (to,) = message["To"].addresses  # one mailbox, never a group
    assert to.display_name == name and to.addr_spec.startswith("eve")
    assert message["Subject"] == f"Test Digest Vol 1.1 for {name}"
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content().startswith(f"Dear {name},")


@pytest.fixture
def smtp_server(request):
    """An aiosmtpd server; parametrised with whether it announces SMTPUTF8."""
    handler, port = Mailbox(), free_port()
    utf8 = getattr(request, "param", True)
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=utf8)
    controller.start()
    yield handler, port
    controller.stop()


def plan_and_run(job):
    """Plan and run a send job; return the list's problems and the report."""
    try:
        problems = job.diagnostics(job.plan())
        return problems, job.run()
    finally:
        job.close()


def smtp(port: int) -> dict:
    return {
        "provider": "smtp",
        "concurrency": 1,
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none"},
    }


def test_encoded_word_names_stay_literal_in_outbox_files(sender):
    _, report, counts = sender.send(2, extra=injected_rows())
    assert counts["sent"] == 4 and report.failed == 0
    folder = sender.root / "outbox" / "vol-1-1"
    for i, name in enumerate(INJECTED):
        raw = (folder / f"eve{i}@example.org.eml").read_bytes()
        assert b"\r\nBcc:" not in raw
        assert_name_stayed_literal(parse(raw), name)


def test_encoded_word_names_stay_literal_over_smtp(sender, smtp_server, monkeypatch):
    handler, port = smtp_server
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    _, _, counts = sender.send(1, delivery=smtp(port), extra=injected_rows())
    assert counts["sent"] == 3
    received = {rcpt[0]: message for rcpt, message in handler.messages}
    assert set(received) == {"user0@example.org", "eve0@example.org", "eve1@example.org"}
    for i, name in enumerate(INJECTED):
        assert_name_stayed_literal(received[f"eve{i}@example.org"], name)


def test_internationalised_addresses_through_the_outbox(sender):
    _, report, counts = sender.send(2, extra=rows(f"{EAI},Taro,Yamada,", f"{IDN},Jo,,"))
    assert counts["sent"] == 4 and report.failed == 0
    folder = sender.root / "outbox" / "vol-1-1"
    message = parse((folder / f"{EAI}.eml").read_bytes())
    assert utf8(message["To"].addresses[0].addr_spec) == EAI
    assert message["To"].addresses[0].display_name == "Taro Yamada"
    idn = parse((folder / f"{IDN}.eml").read_bytes())
    assert idn["To"].addresses[0].addr_spec == "jo@xn--bcher-kva.example"


def test_internationalised_addresses_over_smtp_with_smtputf8(sender, smtp_server, monkeypatch):
    handler, port = smtp_server
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    extra = rows(f"{EAI},Taro,Yamada,", f"{IDN},Jo,,")
    _, report, counts = sender.send(2, delivery=smtp(port), extra=extra)
    assert counts["sent"] == 4 and report.failed == 0, report
    received = {rcpt[0]: message for rcpt, message in handler.messages}
    assert set(received) == {
        "user0@example.org",
        "user1@example.org",
        EAI,
        "jo@xn--bcher-kva.example",
    }
    assert utf8(received[EAI]["To"].addresses[0].addr_spec) == EAI
    assert received[EAI]["Subject"] == "Test Digest Vol 1.1 for Taro"


@pytest.mark.parametrize("smtp_server", [False], indirect=True)
def test_a_server_without_smtputf8_skips_them_at_their_line(sender, smtp_server, monkeypatch):
    handler, port = smtp_server
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    job = sender.job(2, delivery=smtp(port), extra=rows(f"{EAI},Taro,Yamada,", f"{IDN},Jo,,"))
    problems, report = plan_and_run(job)
    assert [(d.line, "not deliverable through smtp" in d.message) for d in problems] == [(4, True)]
    assert EAI in problems[0].message
    assert report.sent == 3 and report.failed == 0
    assert sorted(rcpt[0] for rcpt, _ in handler.messages) == [
        "jo@xn--bcher-kva.example",
        "user0@example.org",
        "user1@example.org",
    ]


def test_a_provider_without_support_reports_the_row_and_delivers_the_rest(sender, postmark):
    delivery = {"provider": "postmark", "api_base": postmark.url}
    job = sender.job(3, delivery=delivery, extra=rows(f"{EAI},Taro,Yamada,", f"{IDN},Jo,,"))
    problems, report = plan_and_run(job)
    assert len(problems) == 1 and problems[0].line == 5
    assert f"'{EAI}' skipped: not deliverable through postmark" in problems[0].message
    assert report.sent == 4 and report.failed == 0 and not postmark.errors
    assert set(postmark.received) == {
        "user0@example.org",
        "user1@example.org",
        "user2@example.org",
        "jo@xn--bcher-kva.example",
    }


def test_a_value_that_would_break_a_header_fails_that_recipient_alone(sender):
    help_url = {"List-Help": f"<https://example.org/help/{token('company')}>"}
    message = dataclasses.replace(sample_message(), headers=help_url)
    path = sender.root / "companies.csv"
    path.write_text(
        rows(
            "email,name,company",
            "a@example.org,A,acme",
            "b@example.org,B,x> y",
            "c@example.org,C,co",
        )
    )
    _, report, counts = sender.send(message=message, list_path=path)
    assert counts["sent"] == 2 and counts["failed"] == 1 and report.error is None
    (reason,) = report.reasons
    assert "List-Help" in reason and "not a <URL>" in reason
    files = sorted(p.name for p in (sender.root / "outbox" / "vol-1-1").iterdir())
    assert files == ["a@example.org.eml", "c@example.org.eml"]
    sent = parse((sender.root / "outbox" / "vol-1-1" / "a@example.org.eml").read_bytes())
    assert sent["List-Help"] == "<https://example.org/help/acme>"


def test_a_rendering_error_fails_that_recipient_alone(sender, smtp_server, monkeypatch):
    from newsletter.render.mime import CompiledMime

    handler, port = smtp_server
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    build = CompiledMime.build

    def faulty(self, values, **kwargs):  # a bug that shows for one recipient only
        if values["email"] == "user1@example.org":
            raise ValueError("a per-recipient rendering bug")
        return build(self, values, **kwargs)

    monkeypatch.setattr(CompiledMime, "build", faulty)
    _, report, counts = sender.send(3, delivery=smtp(port))
    assert counts["sent"] == 2 and counts["failed"] == 1 and report.error is None
    assert "a per-recipient rendering bug" in next(iter(report.reasons))
    assert sorted(rcpt[0] for rcpt, _ in handler.messages) == [
        "user0@example.org",
        "user2@example.org",
    ]


class Greylisting(Mailbox):
    """A server that answers one address with a temporary refusal, every time."""

    def __init__(self):
        super().__init__()
        self.tries = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("later@"):
            self.tries += 1
            return "451 4.7.1 Greylisted, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


def test_a_temporary_refusal_inside_a_batch_fails_only_that_recipient(sender, monkeypatch):
    handler, port = Greylisting(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.delenv("SMTP_USERNAME", raising=False)
    try:
        extra = rows("later@example.org,Later,,", "refused@example.org,R,,")
        _, report, counts = sender.send(3, delivery=smtp(port), extra=extra)
    finally:
        controller.stop()
    assert counts["sent"] == 3 and counts["failed"] == 2 and counts["unknown"] == 0
    assert handler.tries == 3  # tried again twice on the same connection, then given up
    assert any("451 4.7.1 Greylisted" in reason for reason in report.reasons)
    assert sorted(rcpt[0] for rcpt, _ in handler.messages) == [
        f"user{i}@example.org" for i in range(3)
    ]
    assert len(handler.sessions) == 1


def test_ses_skips_internationalised_addresses_and_takes_idn_in_ascii(sender, ses_server):
    ses_server.reset()
    ses_server.messages.clear()
    delivery = {"provider": "ses", "api_base": ses_server.url, "region": ses_server.region}
    job = sender.job(2, delivery=delivery, extra=rows(f"{EAI},Taro,Yamada,", f"{IDN},Jo,,"))
    problems, report = plan_and_run(job)
    assert [(p.line, "not deliverable through ses" in p.message) for p in problems] == [(4, True)]
    assert report.sent == 3 and report.failed == 0 and ses_server.errors == []
    assert set(ses_server.received) == {
        "user0@example.org",
        "user1@example.org",
        "jo@xn--bcher-kva.example",
    }
    to = {m["To"].addresses[0].addr_spec for m in ses_server.messages}
    assert "jo@xn--bcher-kva.example" in to


def test_mailgun_gets_names_on_one_line(sender, mailgun_server):
    mailgun_server.reset()
    mailgun_server.bodies.clear()
    name = "Eve\r\nBcc: victim@evil.example\x00"
    extra = rows(f'eve@example.org,"{name}",,')
    delivery = {"provider": "mailgun", "api_base": mailgun_server.url, "domain": "mg.example.org"}
    _, _, counts = sender.send(1, delivery=delivery, extra=extra)
    assert counts["sent"] == 2 and mailgun_server.errors == []
    (body,) = mailgun_server.bodies
    assert "Eve Bcc: victim@evil.example" in str(body["to"])
    assert not any(c in str(body["to"]) for c in "\r\n\x00")
