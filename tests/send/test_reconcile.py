"""Reconciling `unknown` with the providers' searches: ambiguous 5xx, lagging indexes, paging.

The local Postmark and Mailgun servers answer GET /messages/outbound and GET /v3/{domain}/
events as documented (paging included) from an index that can lag behind the sends.
"""

from __future__ import annotations

import json
import os

import httpx
import pytest
from sendkit import cli_env, newsletter, sample_message

from newsletter.send.providers.base import SearchBudget, Unsearchable


def delivery_of(server, name: str, **more) -> dict:
    delivery = {
        "provider": name,
        "api_base": server.url,
        "batch_size": 20,
        "concurrency": 2,
        "reconcile_settle": 0.3,
        **more,
    }
    if name == "mailgun":
        delivery["domain"] = server.domain
    return delivery


@pytest.fixture(params=["postmark", "mailgun"])
def searchable(request):
    """A reset Postmark or Mailgun server, with its provider name."""
    server = request.getfixturevalue(f"{request.param}_server")
    server.reset()
    yield server, request.param
    server.reset()


def test_a_502_after_the_batch_was_taken_is_reconciled_not_resent(sender, searchable):
    server, name = searchable
    server.chaos = [("502-after", 0.25)]  # recorded, then a gateway answers 502
    _, report, counts = sender.send(1000, delivery=delivery_of(server, name))
    assert report.unknown > 0, "no 502 was drawn: the test proves nothing"
    assert max(server.received.values()) == 1, "a recipient was mailed twice"
    assert len(server.received) == 1000 and counts["sent"] == 1000
    assert counts["unknown"] == 0 and counts["pending"] == 0
    assert not server.errors


def test_absent_is_concluded_only_after_the_settle_delay(sender, searchable):
    """The index shows messages 1 s late: a shorter settle delay would mail people twice."""
    server, name = searchable
    server.index_lag = 1.0
    server.faults[:] = ["502-after", "500"]  # one batch taken (unseen for 1 s), one not
    delivery = delivery_of(server, name, concurrency=1, reconcile_settle=2.0)
    _, report, counts = sender.send(60, delivery=delivery)
    assert report.unknown == 40
    assert max(server.received.values()) == 1 and len(server.received) == 60
    assert counts["sent"] == 60 and counts["unknown"] == 0
    assert server.requests == 4  # the batch refused with 500 was sent once more, alone


def test_too_short_a_settle_delay_mails_twice(sender, postmark):
    """The same lagging index with no settle delay: the guard above is what prevents this."""
    postmark.index_lag = 1.0
    postmark.faults[:] = ["502-after"]
    delivery = delivery_of(postmark, "postmark", concurrency=1, reconcile_settle=0)
    sender.send(20, delivery=delivery)
    assert max(postmark.received.values()) == 2


def test_search_pages_through_every_result(sender, searchable):
    server, name = searchable
    sender.send(700, delivery=delivery_of(server, name, batch_size=500))
    job = sender.job(1, delivery=delivery_of(server, name))
    searches = server.searches
    found = list(job.provider.search(SearchBudget.lasting(30), issue="vol-1-1"))
    job.close()
    assert sorted(f.address for f in found) == sorted(f"user{i}@example.org" for i in range(700))
    pages = server.searches - searches
    # Postmark: 500 + 200 by offset; Mailgun: 300 + 300 + 100, then the empty last page.
    assert pages == (2 if name == "postmark" else 4)
    assert len({f.batch for f in found}) == 2  # each message names its batch
    assert not server.errors


def crash(sender, issue: str, batches: dict[str, list[str]]) -> None:
    """Leave recipients in flight under the given batch ids, as a killed send does."""
    ledger = sender.ledger(issue)
    for batch, keys in batches.items():
        ledger.mark_inflight(keys, batch, "postmark")
    ledger.store.close()


def test_status_reconcile_settles_unknown_batches(sender, postmark):
    delivery = delivery_of(postmark, "postmark", batch_size=10, concurrency=1)
    sender.send(30, delivery=delivery)
    ledger = sender.ledger()
    rows = ledger.store.rows_in_state("vol-1-1", "sent")
    ledger.store.close()
    (taken,) = {batch for key, batch, *_ in rows if key == "user0@example.org"}
    keys = [key for key, batch, *_ in rows if batch == taken]  # user0-9, not user20
    # One batch the provider has (its answer lost in the crash), one it never got.
    crash(sender, "vol-1-1", {taken: keys, "never-sent": ["user20@example.org"]})
    (sender.root / "issues").mkdir(exist_ok=True)
    (sender.root / "issues" / "vol-1-1.yaml").write_text("volume: 1\n", encoding="utf-8")
    config = {"name": "T", "publisher": "P", "from": {"name": "T", "email": "t@example.org"}}
    config |= {"address": "A", "delivery": {**delivery, "reconcile_settle": 0}}
    (sender.root / "newsletter.yaml").write_text(json.dumps(config), encoding="utf-8")
    args = ["-w", str(sender.root), "status", "vol-1-1", "--format", "json"]
    env = cli_env(NEWSLETTER_DATABASE_URL=os.environ["NEWSLETTER_DATABASE_URL"])
    before = json.loads(newsletter(*args, env=env).stdout)
    assert before["counts"]["unknown"] == 11
    assert before["unknown_batches"] == {
        "total": 2,
        "reconcilable": 2,
        "cannot_reconcile": 0,
        "why": {},
    }
    done = newsletter(*args, "--reconcile", env=env)
    after = json.loads(done.stdout)
    assert after["reconcile"] == {
        "batches": 2,
        "found": 10,
        "absent": 1,
        "waiting": 0,
        "cannot": {},
    }
    assert after["counts"]["unknown"] == 0 and after["counts"]["pending"] == 1
    assert after["reconciled"] == 10 and done.returncode == 0, done.stderr
    assert max(postmark.received.values()) == 1  # asking sends nothing


def test_unknown_where_the_provider_cannot_be_asked_is_reported_with_why(sender, ses_server):
    ses_server.reset()
    ses_server.faults[:] = ["lost"]
    delivery = {"provider": "ses", "api_base": ses_server.url, "region": ses_server.region}
    job = sender.job(2, delivery=delivery)
    job.plan()
    job.run()
    job.close()
    assert job.lookup is not None and "ses offers no search" in job.lookup.problem
    assert job.reconciliation.left == {}  # nothing unknown before the run
    ledger = sender.ledger()
    assert ledger.counts()["unknown"] == 1
    from newsletter.cli.send import _unknown_batches

    assert _unknown_batches(ledger) == {
        "total": 1,
        "reconcilable": 0,
        "cannot_reconcile": 1,
        "why": {"ses offers no search of the messages it accepted": 1},
    }
    job = sender.job(2, delivery=delivery)  # the next run says why it leaves them
    job.plan()
    job.run()
    job.close()
    assert job.reconciliation.left == {"ses offers no search of the messages it accepted": 1}


def test_sendgrid_search_is_valid_for_the_email_activity_document(sender, prism_activity):
    from test_prism import Recorder

    recorder = Recorder()
    series = sender.series(provider="sendgrid", api_base=prism_activity)
    from newsletter.send.providers.sendgrid import SendGridProvider

    provider = SendGridProvider(sample_message(), series.delivery, client=recorder.client)
    found = list(provider.search(SearchBudget.lasting(30), issue="vol-1-1", batch="b1"))
    ((status, violations, url),) = recorder.reads
    assert status == 200 and violations is None, violations
    query = httpx.URL(url).params
    assert query["query"] == (
        "unique_args['newsletter_issue']=\"vol-1-1\" AND unique_args['newsletter_batch']=\"b1\""
    )
    assert query["limit"] == "1000"
    # Prism answers with the document's example: its recipients, read as the API gives them.
    assert [f.address for f in found] == ["to@test.com", "nah@test.com", "reject@test.com"]
    assert found[0].message_id == "abc123"


def test_sendgrid_without_email_activity_leaves_unknown_and_says_why(sender):
    """403 as SendGrid answers an account without the add-on: unknown stays, with the reason."""

    def forbidden(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v3/messages"
        return httpx.Response(
            403, json={"errors": [{"field": None, "message": "access forbidden"}]}
        )

    from newsletter.send.providers.sendgrid import SendGridProvider
    from newsletter.send.reconcile import reconcile

    series = sender.series(provider="sendgrid", api_base="https://api.sendgrid.test")
    client = httpx.Client(transport=httpx.MockTransport(forbidden))
    provider = SendGridProvider(sample_message(), series.delivery, client=client)
    with pytest.raises(Unsearchable, match="access forbidden"):
        list(provider.search(SearchBudget.lasting(5), issue="vol-1-1"))
    ledger = sender.ledger()
    ledger.store.begin()
    ledger.store.upsert("vol-1-1", [("a@example.org", "a@example.org", 2, "unknown", None)], 0)
    ledger.store.commit()
    ledger.store.update("vol-1-1", ("batch", "provider"), [("b1", "sendgrid", "a@example.org")])
    result = reconcile(ledger, provider)
    assert result.left == {
        "sendgrid (HTTP 403): access forbidden (this account cannot search sent messages)": 1
    }
    assert ledger.counts()["unknown"] == 1
    assert ledger.reasons("unknown")[0][0].startswith("cannot reconcile: sendgrid (HTTP 403)")


def test_the_ledger_reconciles_on_every_store(state_url):
    """Recover, group the unknown, settle and rebuild: the same on SQLite and PostgreSQL."""
    import time

    from newsletter.send.ledger import Ledger
    from newsletter.state import open_url

    store = open_url(state_url)
    try:
        ledger = Ledger(store, "vol-9")
        store.begin()
        rows = [
            (f"u{i}@example.org", f"u{i}@example.org", i + 2, "pending", None) for i in range(3)
        ]
        store.upsert("vol-9", rows, 0.0)
        store.commit()
        ledger.mark_inflight(["u0@example.org", "u1@example.org"], "b1", "postmark")
        before = time.time()
        assert ledger.recover() == 2  # a crash: in flight -> unknown, timed now
        (group,) = ledger.unknown_groups().values()
        assert group.keys == ["u0@example.org", "u1@example.org"] and group.at >= before
        assert group.provider == "postmark"
        ledger.settle([("u0@example.org", "id-0")], ["u1@example.org"], "postmark")
        assert ledger.counts()["sent"] == 1 and ledger.counts()["pending"] == 2
        assert ledger.reconciled() == 1 and ledger.unknown_groups() == {}
        lost = Ledger(store, "vol-10")
        assert not lost.has_records()
        assert lost.rebuild([("A@example.org", "id-1", "b9"), ("a@example.org", "id-1", "b9")], "x")
        assert lost.has_records() and lost.counts()["sent"] == 1 and lost.reconciled() == 1
    finally:
        store.close()
