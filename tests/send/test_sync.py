"""`suppress sync` against each provider: documented answers, paging, retries, increments."""

from __future__ import annotations

import json

import httpx
import pytest
from sendkit import start_prism
from sync_fakes import BASE, DAY, MailgunSync, PostmarkSync, ResendSync, SesSync

from newsletter.send import suppression
from newsletter.send.job import make_provider
from newsletter.send.sync import sync
from newsletter.state import open_store

ENTRIES = [
    ("bounced@example.org", "bounce", BASE),
    ("complained@example.org", "complaint", BASE + DAY),
    ("left@example.org", "unsubscribe", BASE + 2 * DAY),
]


def run_sync(sender, since=None, client=None, **delivery):
    series = sender.series(**delivery)
    kwargs = {"client": client} if client is not None else {}
    provider = make_provider(sender.workspace, series, None, **kwargs)
    store = open_store(sender.workspace)
    try:
        report = sync(store, provider, since)
        entries = {e.address: e for e in suppression.entries(store)}
    finally:
        store.close()
        provider.close()
    return report, entries


@pytest.fixture
def fake(request):
    server = request.param(list(ENTRIES))
    yield server
    server.close()


def test_postmark_dump_is_read_and_the_next_sync_asks_from_the_last_day(sender):
    server = PostmarkSync(list(ENTRIES))
    try:
        delivery = {"provider": "postmark", "api_base": server.url, "message_stream": "broadcast"}
        report, entries = run_sync(sender, **delivery)
        assert server.errors == []
        assert report.new == {"bounce": 1, "complaint": 1, "unsubscribe": 1}
        assert entries["left@example.org"].reason == "unsubscribe"  # Origin Recipient
        assert {e.source for e in entries.values()} == {"postmark"}
        assert entries["bounced@example.org"].added == BASE  # the provider's time
        assert "fromdate" not in server.requests[0]
        again, _ = run_sync(sender, **delivery)
        assert again.new == {} and again.read == 0  # nothing since the last sync
        assert "fromdate=" in server.requests[-1]  # incremental
    finally:
        server.close()


def test_mailgun_follows_paging_retries_a_429_and_keeps_only_newer(sender):
    many = [(f"b{i:04d}@example.org", "bounce", BASE + i) for i in range(2500)]
    server = MailgunSync([*many, *ENTRIES[1:]])
    server.throttle_first = True
    try:
        delivery = {"provider": "mailgun", "api_base": server.url, "domain": "mg.example.org"}
        report, entries = run_sync(sender, **delivery)
        assert server.errors == []
        assert report.new == {"bounce": 2500, "complaint": 1, "unsubscribe": 1}
        bounce_pages = [r for r in server.requests if "/bounces" in r]
        assert len(bounce_pages) == 1 + 4  # the 429, then 1000 + 1000 + 500 + an empty page
        assert entries["b0001@example.org"].added == BASE + 1
        report, _ = run_sync(sender, since=BASE + 2000, **delivery)
        assert report.read == 500 + 2  # only what is newer is taken
    finally:
        server.close()


def test_ses_pages_by_next_token_and_signs_every_read(sender):
    many = [(f"s{i:04d}@example.org", "bounce", BASE + i) for i in range(1500)]
    server = SesSync([*many, ("c@example.org", "complaint", BASE)])
    try:
        report, entries = run_sync(sender, provider="ses", api_base=server.url, region="eu-west-1")
        assert server.errors == []
        assert report.new == {"bounce": 1500, "complaint": 1}
        assert len(server.requests) == 2 and "NextToken=1000" in server.requests[1]
        assert entries["s0007@example.org"].source == "ses"
        run_sync(sender, provider="ses", api_base=server.url, region="eu-west-1")
        assert "StartDate=" in server.requests[-1]
    finally:
        server.close()


def test_resend_takes_unsubscribed_contacts_page_by_page(sender):
    contacts = [
        (f"r{i:03d}@example.org", "unsubscribe" if i % 3 == 0 else "-", 0) for i in range(250)
    ]
    server = ResendSync(contacts)
    try:
        report, entries = run_sync(sender, provider="resend", api_base=server.url)
        assert server.errors == []
        assert report.new == {"unsubscribe": 84} and report.read == 84
        assert len(server.requests) == 3 and "after=id-0099" in server.requests[1]
        assert "r001@example.org" not in entries and "r003@example.org" in entries
    finally:
        server.close()


def test_wrong_credentials_fail_the_sync_and_record_nothing(sender, monkeypatch):
    from newsletter.errors import SendError

    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", "wrong")
    server = PostmarkSync(list(ENTRIES))
    try:
        with pytest.raises(SendError, match="postmark"):
            run_sync(sender, provider="postmark", api_base=server.url)
        store = open_store(sender.workspace)
        assert list(suppression.entries(store)) == [] and store.sync_cursor("postmark") is None
        store.close()
    finally:
        server.close()


@pytest.fixture(scope="module")
def suppressions_prism():
    process, url = start_prism("sendgrid_suppressions_v3.yaml")
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_sendgrid_sync_is_valid_for_the_official_document(sender, suppressions_prism):
    exchanges = []

    def keep(response: httpx.Response) -> None:
        response.read()
        violations = response.headers.get("sl-violations")
        if violations is None and "problem+json" in response.headers.get("content-type", ""):
            violations = json.dumps(response.json().get("validation")) or None
        exchanges.append((response.request.url.path, response.status_code, violations))

    client = httpx.Client(event_hooks={"response": [keep]}, timeout=30)
    delivery = {"provider": "sendgrid", "api_base": suppressions_prism, "asm_group_id": 42}
    report, entries = run_sync(sender, since=1_700_000_000, client=client, **delivery)
    client.close()
    violations = [e for e in exchanges if e[1] >= 300 or e[2] is not None]
    assert violations == []  # 0 violations
    paths = [path for path, _, _ in exchanges]
    assert paths == [
        "/v3/suppression/bounces",
        "/v3/suppression/spam_reports",
        "/v3/suppression/unsubscribes",
        "/v3/suppression/invalid_emails",
        "/v3/asm/groups/42/suppressions",
    ]
    # Prism answers the documented examples.
    assert entries["user1@example.com"].reason == "complaint"  # spam_reports come first
    assert entries["example@example.com"].reason == "bounce"
    assert {e.source for e in entries.values()} == {"sendgrid"}
    assert report.read == 2 + 2 + 2 + 2 + 2
