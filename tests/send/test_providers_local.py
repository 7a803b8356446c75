"""Postmark, Mailgun, SES and the outbox against servers that check the documented shape."""

from __future__ import annotations

import email
import email.policy
import html
import json

import pytest
from sendkit import sample_message

from newsletter.errors import SendError


def test_postmark_batches_of_500_each_recipient_once(sender, postmark):
    delivery = {"provider": "postmark", "api_base": postmark.url, "message_stream": "news"}
    _plan, report, counts = sender.send(1201, delivery=delivery)
    assert postmark.errors == []
    assert postmark.requests == 3  # 500 + 500 + 201
    assert len(postmark.received) == 1201 and set(postmark.received.values()) == {1}
    assert report.sent == counts["sent"] == 1201 and counts["pending"] == 0


def test_postmark_per_message_errors_fail_only_those(sender, postmark):
    extra = "inactive@example.org,In,Active,\n"
    _, report, counts = sender.send(
        3, delivery={"provider": "postmark", "api_base": postmark.url}, extra=extra
    )
    assert counts["sent"] == 3 and counts["failed"] == 1
    (reason,) = report.reasons
    assert reason.startswith("406: You tried to send to a recipient that has been marked")


@pytest.mark.parametrize(
    ("provider", "variable", "status"),
    [
        ("postmark", "POSTMARK_SERVER_TOKEN", 401),
        ("mailgun", "MAILGUN_API_KEY", 401),
        ("resend", "RESEND_API_KEY", 403),
        ("ses", "AWS_SECRET_ACCESS_KEY", 403),
    ],
)
def test_wrong_credentials_stop_the_run_and_leave_everyone_pending(
    sender, request, monkeypatch, provider, variable, status
):
    server = request.getfixturevalue(f"{provider}_server")
    server.reset()
    monkeypatch.setenv(variable, "wrong")
    delivery = {"provider": provider, "api_base": server.url}
    if provider == "mailgun":
        delivery["domain"] = server.domain
    job = sender.job(700, delivery=delivery)
    job.plan()
    report = job.run()
    counts = job.ledger.counts()
    job.close()
    # The provider answers as documented (401/403): the run stops at the first answer,
    # nothing is marked sent or failed, and everyone is left to the next run.
    assert server.received == {} and server.errors == []
    assert counts["pending"] == 700
    assert counts["sent"] == counts["failed"] == counts["unknown"] == 0
    assert report.sent == report.failed == 0
    assert report.error and str(status) in report.error and variable in report.error


def test_missing_credentials_name_the_variable(sender, monkeypatch):
    monkeypatch.delenv("POSTMARK_SERVER_TOKEN")
    with pytest.raises(SendError, match="POSTMARK_SERVER_TOKEN"):
        sender.job(1, delivery={"provider": "postmark"})


def test_mailgun_sends_once_with_recipient_variables(sender, mailgun_server):
    mailgun_server.reset()
    mailgun_server.bodies.clear()
    extra = 'odd@example.org,"<b>Tom & Jerry</b>",,\n'
    delivery = {"provider": "mailgun", "api_base": mailgun_server.url, "domain": "mg.example.org"}
    _, _report, counts = sender.send(1500, delivery=delivery, extra=extra)
    assert mailgun_server.errors == []
    assert mailgun_server.requests == 2 and counts["sent"] == 1501
    assert set(mailgun_server.received.values()) == {1}
    (body,) = [b for b in mailgun_server.bodies if "odd@example.org>" in str(b["to"])]
    assert "%recipient.name__html%" in body["html"] and "%recipient.name%" in body["text"]
    assert body["subject"] == "Test Digest Vol 1.1 for %recipient.first_name__line%"
    variables = json.loads(body["recipient-variables"])["odd@example.org"]
    assert variables["name__html"] == html.escape("<b>Tom & Jerry</b>")
    assert variables["name"] == "<b>Tom & Jerry</b>"
    assert variables["unsubscribe_url"].startswith("https://digest.example.org/unsubscribe/?")
    assert body["h:List-Unsubscribe"] == "<%recipient.unsubscribe_url__line%>"


def test_mailgun_eu_region_and_missing_domain(sender):
    from newsletter.send.job import make_provider

    series = sender.series(provider="mailgun", region="eu", domain="mg.example.org")
    assert make_provider(sender.workspace, series, sample_message()).base == (
        "https://api.eu.mailgun.net"
    )
    job = sender.job(1, delivery={"provider": "mailgun", "api_base": "http://127.0.0.1:9"})
    job.plan()
    report = job.run()
    job.close()
    assert "delivery.domain" in report.error


def test_ses_signed_raw_messages(sender, ses_server):
    ses_server.reset()
    ses_server.messages.clear()
    delivery = {"provider": "ses", "api_base": ses_server.url, "region": ses_server.region}
    _, _report, counts = sender.send(12, delivery=delivery)
    assert ses_server.errors == []  # every SigV4 signature verified
    assert counts["sent"] == 12 and ses_server.requests == 12
    message = ses_server.messages[0]
    assert message["List-Unsubscribe"].startswith("<https://digest.example.org/unsubscribe/?")
    assert message["Subject"].startswith("Test Digest Vol 1.1 for First")
    assert message.get_body(("plain",)).get_content().startswith("Dear First")


def test_ses_bad_signature_is_rejected(sender, ses_server, monkeypatch):
    ses_server.reset()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    delivery = {"provider": "ses", "api_base": ses_server.url, "region": ses_server.region}
    _, report, counts = sender.send(1, delivery=delivery)
    assert counts["sent"] == 0 and counts["pending"] == 1 and ses_server.received == {}
    assert "signature" in report.error and "403" in report.error


def test_outbox_writes_one_eml_per_recipient(sender):
    _, _report, counts = sender.send(5, delivery={"provider": "outbox"})
    files = sorted((sender.root / "outbox" / "vol-1-1").glob("*.eml"))
    assert [f.name for f in files][:2] == ["user0@example.org.eml", "user1@example.org.eml"]
    assert len(files) == 5 and counts["sent"] == 5
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert str(parsed["To"]) == "First0 Last0 <user0@example.org>"
    assert "%%" not in parsed.as_string()


def test_dry_run_builds_everything_and_changes_nothing(sender, postmark):
    job = sender.job(700, delivery={"provider": "postmark", "api_base": postmark.url}, dry_run=True)
    job.plan()
    report = job.run()
    job.close()
    assert report.requests == 2 and report.bytes > 700 * 200
    assert postmark.requests == 0
    ledger = sender.ledger()
    assert ledger.counts()["pending"] == 0
    ledger.store.close()


@pytest.mark.parametrize("name", ["postmark", "resend"])
def test_compiled_json_equals_personalize(sender, name):
    """The fast JSON path produces exactly what personalize() gives, escaping included."""
    from newsletter.render.message import personalize
    from newsletter.send.job import make_provider
    from newsletter.send.providers.base import Batch
    from newsletter.send.subscribers import Recipient

    message = sample_message()
    provider = make_provider(sender.workspace, sender.series(provider=name), message)
    odd = 'A "quoted" <b>name</b> & \\ back\nslash \u2028 日本'
    people = [
        {
            "email": "a@example.org",
            "name": odd,
            "first_name": odd,
            "unsubscribe_url": "https://x.example.org/u?a=1&b=2",
        },
        {"email": "b@example.org", "name": "", "first_name": "Bé", "unsubscribe_url": "u"},
    ]
    batch = Batch("b", [Recipient(v["email"], i, v) for i, v in enumerate(people, 2)])
    call = provider.prepare(batch)
    streamed = list(call.body)  # what goes on the wire, one chunk per message
    assert len(streamed) == 3 and b"".join(streamed) == call.content
    assert len(call.body) == len(call.content) == provider.size(call)
    assert list(call.body) == streamed  # a retry sends the same bytes again
    items = json.loads(call.content)
    assert len(items) == 2
    for item, values in zip(items, people, strict=True):
        personal = personalize(message, values)
        keys = ("Subject", "HtmlBody", "TextBody")
        if name == "resend":
            keys = ("subject", "html", "text")
        assert [item[k] for k in keys] == [personal.subject, personal.html, personal.text]
        headers = item["Headers"] if name == "postmark" else item["headers"]
        if name == "postmark":
            headers = {h["Name"]: h["Value"] for h in headers}
        assert headers == personal.headers
        to = item["To"] if name == "postmark" else item["to"][0]
        assert email.utils.parseaddr(to) == (personal.to_name, values["email"])


def test_a_recipient_the_answer_leaves_out_is_unknown_and_never_resent(sender, postmark):
    # The provider took every message, but its parsed answer does not mention the first
    # recipient of each batch: we cannot tell it was sent, so it must not be resent (a
    # second copy); the provider's search then says it has it, so it is sent after all.
    delivery = {"provider": "postmark", "api_base": postmark.url}
    job = sender.job(3, delivery=delivery)
    real = job.provider.parse
    job.provider.parse = lambda batch, response: real(batch, response)[1:]
    try:
        job.plan()
        report = job.run()
        counts = job.ledger.counts()
    finally:
        job.close()
    assert counts["sent"] == 3 and counts["unknown"] == 0 and report.unknown == 1
    assert counts["pending"] == 0
    sender.send(3, delivery=delivery)  # a plain resume
    assert postmark.received["user0@example.org"] == 1
    assert set(postmark.received.values()) == {1}


def test_outbox_file_names_never_collide():
    from newsletter.send.providers.outbox import file_name

    names = {file_name(a) for a in ("a&b@example.org", "a_b@example.org", "a/b@example.org")}
    assert len(names) == 3
    assert file_name("a_b@example.org") == "a_b@example.org.eml"
    assert all("/" not in n and not n.startswith(".") for n in names)


def test_credentials_in_api_base_are_never_shown(sender):
    from newsletter.send.providers.base import ProviderError

    error = ProviderError("postmark", "cannot connect to http://user:hunter2@127.0.0.1:9: refused")
    assert "hunter2" not in str(error) and "hunter2" not in error.reason
    assert "http://***@127.0.0.1:9" in str(error)


CRASH_IN_DELIVER = """
import os, sys
sys.path[:0] = [sys.argv[2]]
import pytest
from sendkit import Sender

sender = Sender(__import__("pathlib").Path(sys.argv[1]), pytest.MonkeyPatch())
job = sender.job(25, delivery={"provider": "postmark", "api_base": sys.argv[3],
                               "batch_size": 10, "concurrency": 1})
job.plan()
job.provider.deliver = lambda batch, payload: os._exit(9)  # the process dies mid-call
job.run()
"""


def test_a_crash_inside_the_call_leaves_its_batch_in_flight_never_pending(
    sender, postmark, tmp_path
):
    import subprocess
    import sys
    from pathlib import Path

    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", CRASH_IN_DELIVER, str(sender.root), here, postmark.url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 9, done.stderr
    ledger = sender.ledger()  # the state the crashed process used (each store in turn)
    store = ledger.store
    try:
        counts = ledger.counts()
        # The first batch was marked in flight before the call; the rest never started.
        assert counts["inflight"] == 10 and counts["pending"] == 15 and counts["sent"] == 0
        assert ledger.recover() == 10
        assert ledger.counts()["unknown"] == 10
    finally:
        store.close()
    assert postmark.received == {}
