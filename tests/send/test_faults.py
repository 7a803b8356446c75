"""A misbehaving provider: 429 with Retry-After, 500s, dropped connections, slow answers.

Whatever happens, the server must never receive a recipient twice, and every recipient it
did not receive must be reported (failed, unknown or still pending), never lost. A 5xx or
a lost answer is ambiguous: the batch is not resent blindly but reconciled with the
provider's search (settling after delivery.reconcile_settle seconds, short here).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from sendkit import postmark_delivery

from newsletter.send.engine import Options


def assert_exactly_once(server, counts, total):
    """Assert no duplicates, and that whatever the server did not get is accounted for."""
    assert max(server.received.values(), default=1) == 1, "a recipient was mailed twice"
    # Everything sent was received; everything received is sent or reported unknown.
    assert counts["sent"] <= len(server.received) <= counts["sent"] + counts["unknown"]
    assert sum(counts[s] for s in ("sent", "failed", "unknown", "pending")) == total


def test_429_honours_retry_after(sender, postmark):
    postmark.faults[:] = ["429"]
    started = time.monotonic()
    _, report, counts = sender.send(30, delivery=postmark_delivery(postmark))
    assert time.monotonic() - started >= 0.95  # Retry-After: 1
    assert report.retries == 1 and counts["sent"] == 30
    assert_exactly_once(postmark, counts, 30)


def test_500s_are_reconciled_then_resent_once(sender, postmark):
    postmark.faults[:] = ["500", "500"]  # the server took nothing: the search says so
    _, report, counts = sender.send(30, delivery=postmark_delivery(postmark))
    assert report.retries == 0 and counts["sent"] == 30 and counts["unknown"] == 0
    assert postmark.requests == 5 and postmark.searches >= 2
    assert_exactly_once(postmark, counts, 30)


def test_giving_up_fails_the_batch_with_the_reason(sender, postmark):
    postmark.faults[:] = ["500"] * 20
    options = Options(rate=None, max_attempts=3, backoff_base=0.01, backoff_cap=0.02)
    _, _, counts = sender.send(15, delivery=postmark_delivery(postmark), options=options)
    assert counts["failed"] == 15 and counts["sent"] == 0 and counts["unknown"] == 0
    assert postmark.requests == 6  # two batches, three attempts each
    assert sender_reason(sender, "failed").startswith(
        "gave up after 3 attempts: postmark (HTTP 500)"
    )
    assert_exactly_once(postmark, counts, 15)


def test_dropped_connection_is_reconciled_within_the_run(sender, postmark):
    postmark.faults[:] = ["drop"]  # closed without an answer: was it taken? we ask
    _, report, counts = sender.send(30, delivery=postmark_delivery(postmark))
    assert counts["unknown"] == 0 and counts["sent"] == 30 and report.unknown == 10
    assert postmark.requests == 4  # the dropped batch was not taken: sent once more
    assert_exactly_once(postmark, counts, 30)


def test_unknown_is_resent_on_request_where_the_provider_cannot_be_asked(sender, ses_server):
    ses_server.reset()
    ses_server.faults[:] = [None, "lost"]  # SES took it, the answer was lost
    delivery = {"provider": "ses", "api_base": ses_server.url, "region": ses_server.region}
    _, _, counts = sender.send(3, delivery=delivery)
    assert counts["unknown"] == 1 and counts["sent"] == 2 and len(ses_server.received) == 3
    _, _, counts = sender.send(3, delivery=delivery)  # plain rerun: nothing resent silently
    assert counts["unknown"] == 1 and ses_server.requests == 3
    _, _, counts = sender.send(3, delivery=delivery, resend_unknown=True)
    assert counts["sent"] == 3 and counts["unknown"] == 0
    assert max(ses_server.received.values()) == 2  # the user asked for it, knowingly


def test_lost_answer_is_reconciled_not_duplicated(sender, postmark):
    postmark.faults[:] = [None, "lost"]  # the 2nd batch is taken but its answer never comes
    _, _, counts = sender.send(30, delivery=postmark_delivery(postmark))
    assert counts["unknown"] == 0 and counts["sent"] == 30 and len(postmark.received) == 30
    assert postmark.requests == 3
    assert_exactly_once(postmark, counts, 30)


def test_idempotent_provider_retries_a_lost_answer_safely(sender, resend_server):
    resend_server.reset()
    resend_server.faults[:] = [None, "lost", "drop"]
    delivery = {
        "provider": "resend",
        "api_base": resend_server.url,
        "batch_size": 10,
        "concurrency": 1,
    }
    _, report, counts = sender.send(30, delivery=delivery)
    assert counts["sent"] == 30 and report.retries == 2
    assert len(resend_server.received) == 30 and set(resend_server.received.values()) == {1}


def test_slow_answers_within_the_timeout_are_fine(sender, postmark):
    postmark.faults[:] = [("slow", 0.6)]
    _, _, counts = sender.send(20, delivery=postmark_delivery(postmark, timeout=5))
    assert counts["sent"] == 20
    assert_exactly_once(postmark, counts, 20)


def test_too_slow_is_unknown_then_found_once_the_search_settles(sender, postmark):
    postmark.faults[:] = [("slow", 1.5)]  # it takes the batch 1.5 s after our timeout
    delivery = postmark_delivery(postmark, timeout=0.5, reconcile_settle=2.5)
    _, report, counts = sender.send(20, delivery=delivery)
    assert report.unknown == 10 and counts["unknown"] == 0 and counts["sent"] == 20
    assert postmark.requests == 2  # found by the search, not sent again
    ledger = sender.ledger()
    assert ("reconciled: postmark has it", 10) in ledger.reasons("sent")
    ledger.store.close()
    assert_exactly_once(postmark, counts, 20)


def sender_reason(sender, state):
    ledger = sender.ledger()
    try:
        return ledger.reasons(state)[0][0]
    finally:
        ledger.store.close()


def test_client_side_rate_limit(sender, postmark):
    started = time.monotonic()
    options = Options(rate=10.0)
    _, report, counts = sender.send(60, delivery=postmark_delivery(postmark), options=options)
    assert report.requests == 6 and time.monotonic() - started >= 0.45  # 6 calls at 10/s
    assert counts["sent"] == 60


def test_ctrl_c_finishes_in_flight_batches_and_stops(sender, postmark):
    job = sender.job(100, delivery=postmark_delivery(postmark, concurrency=2))
    job.plan()
    interrupted = []
    found = signal.getsignal(signal.SIGINT)  # ignored when run in the background

    def progress(count, report):
        if not interrupted:
            interrupted.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, after the first batch

    report = job.run(progress)
    counts = job.ledger.counts()
    job.close()
    assert report.stopped and counts["pending"] > 0
    assert counts["sent"] == len(postmark.received) >= 10
    assert counts["sent"] + counts["pending"] == 100  # nothing left in flight or unknown
    assert signal.getsignal(signal.SIGINT) is found  # the handler it found, given back


@pytest.mark.parametrize("fault", ["429", "500", "drop"])
def test_faults_never_reach_the_ledger_as_sent(sender, postmark, fault):
    postmark.faults[:] = [fault] * 6
    options = Options(rate=None, max_attempts=6, backoff_base=0.01, backoff_cap=0.02)
    _, _, counts = sender.send(10, delivery=postmark_delivery(postmark), options=options)
    assert postmark.requests == 6, postmark.requests
    assert counts["sent"] == 0 and counts["failed"] == 10 and postmark.received == {}
