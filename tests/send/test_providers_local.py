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


# -- the job: the message, the provider, the ledger and the list put together -------------
NOWHERE = {"provider": "postmark", "api_base": "http://127.0.0.1:9"}  # never called


def test_the_list_id_is_the_series_name_made_plain(sender):
    from newsletter.send.job import list_id

    assert list_id(sender.series()) == "test-digest"
    assert list_id(sender.series().model_copy(update={"name": " !! "})) == "newsletter"


def test_the_command_line_overrides_the_configured_provider_and_rate(sender):
    from newsletter.send.job import make_provider

    series = sender.series(provider="postmark", rate=5)
    provider = make_provider(sender.workspace, series, sample_message(), name="outbox", rate=2.5)
    assert provider.name == "outbox" and provider.rate == 2.5
    assert provider.folder == sender.root / "outbox" / "vol-1-1"
    kept = make_provider(sender.workspace, series, sample_message())
    assert kept.name == "postmark" and kept.rate == 5


def test_a_dry_run_needs_no_credentials(sender, monkeypatch):
    from newsletter.send.job import make_provider

    monkeypatch.delenv("POSTMARK_SERVER_TOKEN")
    series = sender.series(**NOWHERE)
    assert make_provider(sender.workspace, series, sample_message(), dry_run=True).name
    with pytest.raises(SendError, match="set the environment variable POSTMARK_SERVER_TOKEN"):
        make_provider(sender.workspace, series, sample_message())


def test_each_recipient_gets_the_fallbacks_and_a_link_of_their_own(sender):
    from newsletter.model import Series
    from newsletter.send.job import make_provider, personalizer
    from newsletter.send.subscribers import Row

    settings = sender.series().model_dump(by_alias=True, exclude_none=True)
    series = Series.model_validate({**settings, "merge_fields": {"first_name": "reader"}})
    provider = make_provider(sender.workspace, series, sample_message())
    values = personalizer(series, sample_message(), provider)
    ann = values(Row(2, "ann@example.org", {"first_name": ""}), "ann@example.org").values
    bob = values(Row(3, "bob@example.org", {"first_name": "Bob"}), "bob@example.org").values
    assert ann["first_name"] == "reader" and bob["first_name"] == "Bob"
    assert ann["unsubscribe_url"].startswith("https://digest.example.org/")
    assert ann["unsubscribe_url"] != bob["unsubscribe_url"]
    assert "ann%40example.org" in ann["unsubscribe_url"]


def test_strict_refuses_a_list_with_problems_and_records_nothing(sender):
    job = sender.job(3, extra="nope,,,\nuser1@example.org,,,\n", strict=True)
    try:
        with pytest.raises(SendError) as caught:
            job.plan()
    finally:
        job.close()
    assert caught.value.message == (
        "--strict: the list has 1 invalid and 1 duplicate rows; nothing was sent"
    )
    found = [(d.path, d.line, d.column, d.message, d.is_error) for d in caught.value.diagnostics]
    assert found[1][1:] == (6, 1, "'user1@example.org' skipped: duplicate of line 3", True)
    assert found[1][0].endswith("list.csv")
    assert found[0][1] == 5 and found[0][3].startswith("'nope' skipped: invalid address")
    ledger = sender.ledger()
    try:
        assert sum(ledger.counts().values()) == 0
    finally:
        ledger.store.close()


def test_list_problems_are_warnings_without_strict(sender):
    job = sender.job(2, extra="nope,,,\n")
    try:
        plan = job.plan()
        (warning,) = job.diagnostics(plan)
    finally:
        job.close()
    assert (warning.line, warning.column, warning.is_error) == (4, 1, False)
    assert warning.path.endswith("list.csv")


@pytest.mark.parametrize(
    ("delivery", "flags", "states"),
    [
        (NOWHERE, {}, ("pending",)),
        (NOWHERE, {"retry_failed": True}, ("pending", "failed")),
        (NOWHERE, {"resend_unknown": True}, ("pending", "unknown")),
        ({"provider": "outbox"}, {}, ("pending", "unknown")),  # it drops repeated batches
    ],
)
def test_which_states_a_run_sends_to(sender, delivery, flags, states):
    job = sender.job(4, delivery=delivery, **flags)
    try:
        job.plan()
        job.ledger.mark_failed([("user0@example.org", "406: inactive")])
        job.ledger.mark(["user1@example.org"], "unknown", "lost")
        assert job.states() == states
        assert job.to_send() == 2 + len(states) - 1
        sent_to = [r.key for b in job.batches() for r in b.recipients]
    finally:
        job.close()
    expected = {"pending": ["user2", "user3"], "failed": ["user0"], "unknown": ["user1"]}
    wanted = sorted(f"{k}@example.org" for s in states for k in expected[s])
    assert sorted(sent_to) == wanted


def test_unknown_batches_are_regrouped_only_where_repeats_are_dropped(sender):
    for delivery, regrouped in ((NOWHERE, False), ({"provider": "outbox"}, True)):
        job = sender.job(4, delivery=delivery, resend_unknown=True)
        try:
            job.plan()
            job.ledger.mark_inflight(["user0@example.org", "user2@example.org"], "b1", "x")
            job.ledger.recover()
            ids = {b.id for b in job.batches()}
        finally:
            job.close()
        assert ("b1" in ids) is regrouped


def test_closing_a_job_releases_its_lock(sender):
    first = sender.job(2)
    first.plan()
    first.close()
    second = sender.job(2)
    try:
        second.plan()  # would fail if the first still held the lock
    finally:
        second.close()


def test_a_test_send_marks_the_subject_and_records_nothing(sender):
    from newsletter.send.job import make_provider, send_test

    series = sender.series()
    provider = make_provider(sender.workspace, series, sample_message())
    report = send_test(series, sample_message(), provider, ["a@example.org", "b@example.org"])
    assert report.sent == 2
    files = sorted((sender.root / "outbox" / "vol-1-1").glob("*.eml"))
    assert [f.name for f in files] == ["a@example.org.eml", "b@example.org.eml"]
    mail = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert mail["Subject"].startswith("[TEST] Test Digest Vol 1.1 for")
    with pytest.raises(SendError, match="--test address 'nope' is not valid"):
        send_test(series, sample_message(), provider, ["nope"])
    ledger = sender.ledger()
    try:
        assert sum(ledger.counts().values()) == 0
    finally:
        ledger.store.close()


def test_a_test_send_is_paced_and_reported_batch_by_batch(sender):
    import time

    from newsletter.send.job import make_provider, send_test

    series = sender.series(provider="outbox", batch_size=1, rate=20)
    provider = make_provider(sender.workspace, series, sample_message())
    seen = []
    addresses = ["a@example.org", "b@example.org", "c@example.org"]
    started = time.monotonic()
    report = send_test(series, sample_message(), provider, addresses, lambda n, r: seen.append(n))
    assert time.monotonic() - started >= 0.09  # 3 calls at 20 a second
    assert report.sent == 3 and report.batches == 3 and seen == [1, 1, 1]


def test_running_before_planning_is_refused(sender):
    job = sender.job(1)
    try:
        with pytest.raises(AssertionError, match=r"^plan\(\) first$"):
            job.run()
    finally:
        job.close()


def test_an_old_batch_partly_gone_from_the_list_is_resent_as_it_stands(sender):
    outbox = {"provider": "outbox"}  # drops repeated batches: unknown ones are regrouped
    job = sender.job(4, delivery=outbox)
    try:
        job.plan()
        job.ledger.mark_inflight(["user0@example.org", "user3@example.org"], "b1", "outbox")
        job.ledger.recover()
    finally:
        job.close()
    for flags in ({}, {"resend_unknown": True}):
        job = sender.job(3, delivery=outbox, **flags)  # user3 has left the list
        try:
            job.plan()
            batches = {b.id: [r.key for r in b.recipients] for b in job.batches()}
        finally:
            job.close()
        assert batches.pop("b1") == ["user0@example.org"]
        assert list(batches.values()) == [["user1@example.org", "user2@example.org"]]


def test_a_job_takes_the_provider_rate_and_closes_unplanned(sender):
    from newsletter.send.job import SendJob, make_provider

    series = sender.series(provider="outbox", rate=4)
    provider = make_provider(sender.workspace, series, sample_message())
    path = sender.root / "list.csv"
    path.write_text("email\na@example.org\n", encoding="utf-8")
    job = SendJob(sender.workspace, series, sample_message(), provider, path)
    assert job.options.rate == 4
    job.close()  # never planned: nothing to roll back or release


def test_a_job_refused_the_lock_still_closes(sender):
    first = sender.job(2)
    first.plan()
    second = sender.job(2)
    try:
        with pytest.raises(SendError, match="another 'newsletter send' is running"):
            second.plan()
        second.close()  # holds no lock: nothing to release, no error
    finally:
        first.close()
