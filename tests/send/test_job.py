"""One send job end to end, in process: where its ledger lives, its pace, its rounds, its report.

The job is the same on either store (tests/send/test_stores.py checks the stores), so these
run on SQLite only.
"""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest
from sendkit import Sender, postmark_delivery, sample_message, sample_workspace, write_list

from newsletter.errors import SendError, display_path
from newsletter.model import Series
from newsletter.send.engine import Options
from newsletter.send.job import SendJob, make_provider, search_provider
from newsletter.send.ledger import Ledger
from newsletter.send.reconcile import look_up_issue
from newsletter.state import open_url


@pytest.fixture
def sender(tmp_path, monkeypatch) -> Sender:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'state' / 'send.db'}")
    return Sender(tmp_path / "ws", monkeypatch)


def test_a_job_keeps_its_ledger_in_the_state_its_series_names(sender, tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL")
    url = f"sqlite:///{tmp_path / 'shared' / 'state.db'}"
    series = Series.model_validate(
        {**sender.series().model_dump(by_alias=True), "state": {"database_url": url}}
    )
    message = sample_message()
    provider = make_provider(sender.workspace, series, message)
    path = write_list(tmp_path / "list.csv", 3)
    job = SendJob(sender.workspace, series, message, provider, path)
    try:
        job.plan()
        job.run()
    finally:
        job.close()
    store = open_url(url)
    assert Ledger(store, "vol-1-1").counts()["sent"] == 3
    store.close()
    assert not (sender.workspace.state_dir / "send.db").exists()


def test_the_report_times_the_whole_run(sender):
    job = sender.job(5)
    job.plan()
    started = time.monotonic()
    report = job.run()
    took = time.monotonic() - started
    job.close()
    assert report.sent == 5 and 0 < report.elapsed <= took


def test_the_job_paces_its_calls_at_the_rate_it_is_given(sender, postmark):
    # The provider's configured rate is far higher; the job's options (--rate) win.
    delivery = postmark_delivery(postmark, rate=1000)
    _, report, counts = sender.send(40, delivery=delivery, options=Options(rate=2.0))
    assert counts["sent"] == 40 and report.requests == 4
    assert report.elapsed >= 1.4  # four calls at 2 a second: 1.5 s from the first to the last


def test_a_reconciling_search_is_paced_and_noted(sender, postmark, monkeypatch):
    postmark.faults[:] = ["500", "500"]  # two batches unknown: the search is asked twice
    searched: list[float] = []
    real = postmark.search

    def search(*args):
        searched.append(time.monotonic())
        return real(*args)

    monkeypatch.setattr(postmark, "search", search)
    notes: list[str] = []
    delivery = postmark_delivery(postmark, reconcile_settle=1.5)
    _, _, counts = sender.send(30, delivery=delivery, options=Options(rate=4.0), note=notes.append)
    assert counts["sent"] == 30 and len(postmark.received) == 30
    gaps = [b - a for a, b in itertools.pairwise(searched)]
    assert len(searched) >= 2 and min(gaps) >= 0.2, gaps  # the send's pace: 4 a second
    assert any("postmark's search to settle" in note for note in notes), notes


def test_ctrl_c_leaves_unknown_batches_for_later_and_sends_nothing_more(sender, postmark):
    postmark.faults[:] = ["500"]  # the first batch's answer is ambiguous
    job = sender.job(50, delivery=postmark_delivery(postmark))
    job.plan()
    asked = postmark.searches  # whether postmark has the issue already (a lost ledger)

    def progress(count, report):  # a real Ctrl-C after the first batch
        if not report.stopped:
            os.kill(os.getpid(), signal.SIGINT)

    report = job.run(progress)
    counts = job.ledger.counts()
    job.close()
    assert report.stopped and counts["unknown"] == 10 and counts["pending"] == 40
    assert postmark.searches == asked and postmark.received == {} and postmark.requests == 1


def test_a_failing_search_is_asked_once_per_run(sender, postmark, monkeypatch):
    postmark.faults[:] = ["500"]
    monkeypatch.setattr(postmark, "search", lambda *args: (400, {"Message": "search is down"}))
    options = Options(rate=None, max_attempts=4, backoff_base=0.01, backoff_cap=0.02)
    job = sender.job(20, delivery=postmark_delivery(postmark), options=options)
    job.plan()
    asked = postmark.searches
    job.run()
    counts = job.ledger.counts()
    job.close()
    assert counts["unknown"] == 10 and counts["sent"] == 10
    # Left for `status --reconcile`, not asked round after round.
    assert postmark.searches == asked + 1


def test_the_search_provider_is_the_configured_one_or_the_one_named(sender, postmark):
    delivery = postmark_delivery(postmark)
    sender.send(3, delivery=delivery)
    series = sender.series(**{**delivery, "provider": "outbox"})
    outbox = search_provider(sender.workspace, series)
    assert outbox.name == "outbox"
    # The outbox keeps no record to search: a lost ledger cannot be rebuilt from it.
    lookup = look_up_issue(outbox, "vol-1-1")
    assert not lookup.complete and lookup.problem.startswith("outbox ")
    outbox.close()
    named = search_provider(sender.workspace, series, "postmark")  # status --provider postmark
    found = look_up_issue(named, "vol-1-1").found
    named.close()
    assert sorted(f.address for f in found) == [f"user{i}@example.org" for i in range(3)]


def test_a_lost_ledger_is_refused_then_rebuilt_from_the_providers_records(
    sender, postmark, tmp_path, monkeypatch
):
    delivery = postmark_delivery(postmark)
    sender.send(3, delivery=delivery)
    lost = tmp_path / "fresh" / "send.db"  # deleted, or a fresh clone: an empty ledger
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{lost}")
    job = sender.job(5, delivery=delivery)
    with pytest.raises(SendError) as refused:
        job.plan()
    job.close()
    assert str(refused.value) == (
        "postmark already has 3 messages of vol-1-1, but the ledger "
        f"({display_path(sender.workspace.state_dir)}) has no record of sending it (deleted, "
        "or a fresh clone?); nothing was sent. Run again with --reconcile to rebuild the "
        "ledger from postmark's records and send only to the rest"
    )
    assert sum(postmark.received.values()) == 3
    job = sender.job(5, delivery=delivery, rebuild=True)
    try:
        job.plan()
        report = job.run()
    finally:
        job.close()
    assert job.rebuilt == 3 and report.sent == 2
    assert len(postmark.received) == 5 and max(postmark.received.values()) == 1


def cli(*args: str):
    from click.testing import CliRunner

    from newsletter.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_an_outbox_send_claims_no_sync_and_no_check(sender, tmp_path):
    ws = sample_workspace(tmp_path / "sample")
    args = ("-w", str(ws), "send", "vol-2-10", "--list", str(write_list(ws / "list.csv", 3)))
    dry = cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "to send now: 3" in dry.output and "newly suppressed" not in dry.output
    sent = cli(*args, "--yes")
    assert sent.exit_code == 0, sent.output
    # The outbox rewrites its own files (nothing goes twice): there is nothing to check.
    assert "to send now: 3" in sent.output and "not checked" not in sent.output
    assert "rebuilt" not in sent.output and "recovered" not in sent.output


def test_an_unknown_the_provider_cannot_be_asked_about_is_reported_once(
    sender, ses_server, tmp_path
):
    ses_server.reset()
    ses_server.faults[:] = [None, "lost"]  # SES took it, the answer was lost
    ws = sample_workspace(
        tmp_path / "sample", provider="ses", api_base=ses_server.url, region=ses_server.region
    )
    listed = write_list(ws / "list.csv", 3)
    done = cli(
        "-w", str(ws), "send", "vol-2-10", "--list", str(listed), "--yes", "--no-sync", "--no-probe"
    )
    assert done.exit_code == 1, done.output
    notes = [line.strip() for line in done.output.splitlines() if "unknown" in line]
    assert notes[-1].startswith("unknown: 1 (the provider may or may not have them)"), notes
    assert not any("reconcile" in line for line in done.output.splitlines()), done.output


def test_two_issues_are_sent_at_once_but_one_issue_once(sender):
    first = sender.job(3)
    second = sender.job(3, message=sample_message("vol-1-2"))
    again = sender.job(3)
    try:
        first.plan()
        first.run()  # committed, and still holding vol-1-1's lock until closed
        second.plan()  # another issue: its own lock
        second.run()
        with pytest.raises(SendError, match="another 'newsletter send' is running"):
            again.plan()
    finally:
        for job in (first, second, again):
            job.close()
