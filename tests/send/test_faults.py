"""A misbehaving provider: 429 with Retry-After, 500s, dropped connections, slow answers.

Whatever happens, the server must never receive a recipient twice, and every recipient it
did not receive must be reported (failed, unknown or still pending), never lost.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from newsletter.send.engine import Options


def postmark_delivery(server, **more):
    return {
        "provider": "postmark",
        "api_base": server.url,
        "batch_size": 10,
        "concurrency": 1,
        **more,
    }


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


def test_500s_are_retried_with_backoff(sender, postmark):
    postmark.faults[:] = ["500", "500"]
    _, report, counts = sender.send(30, delivery=postmark_delivery(postmark))
    assert report.retries == 2 and counts["sent"] == 30 and postmark.requests == 5
    assert_exactly_once(postmark, counts, 30)


def test_giving_up_fails_the_batch_with_the_reason(sender, postmark):
    postmark.faults[:] = ["500"] * 3
    options = Options(rate=None, max_attempts=3, backoff_base=0.01, backoff_cap=0.02)
    _, report, counts = sender.send(15, delivery=postmark_delivery(postmark), options=options)
    assert counts["failed"] == 10 and counts["sent"] == 5
    assert next(iter(report.reasons)).startswith("gave up after 3 attempts: postmark (HTTP 500)")
    assert_exactly_once(postmark, counts, 15)


def test_dropped_connection_is_unknown_then_resent_on_request(sender, postmark):
    postmark.faults[:] = ["drop"]  # closed without an answer: was it taken? we cannot know
    _, report, counts = sender.send(30, delivery=postmark_delivery(postmark))
    assert counts["unknown"] == 10 and counts["sent"] == 20 and report.unknown == 10
    assert_exactly_once(postmark, counts, 30)
    _, _, counts = sender.send(30, delivery=postmark_delivery(postmark))  # plain rerun
    assert counts["unknown"] == 10 and postmark.requests == 3  # nothing resent silently
    _, _, counts = sender.send(30, delivery=postmark_delivery(postmark), resend_unknown=True)
    assert counts["sent"] == 30 and counts["unknown"] == 0
    assert_exactly_once(postmark, counts, 30)


def test_lost_answer_is_unknown_not_duplicated(sender, postmark):
    postmark.faults[:] = [None, "lost"]  # the 2nd batch is taken but its answer never comes
    _, _, counts = sender.send(30, delivery=postmark_delivery(postmark))
    assert counts["unknown"] == 10 and len(postmark.received) == 30
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


def test_too_slow_is_unknown(sender, postmark):
    postmark.faults[:] = [("slow", 1.5)]
    _, _report, counts = sender.send(20, delivery=postmark_delivery(postmark, timeout=0.5))
    assert counts["unknown"] == 10 and counts["sent"] == 10
    assert "no answer within 0.5 s" in sender_reason(sender, "unknown")


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


@pytest.mark.parametrize("fault", ["429", "500"])
def test_faults_never_reach_the_ledger_as_sent(sender, postmark, fault):
    postmark.faults[:] = [fault] * 6
    options = Options(rate=None, max_attempts=6, backoff_base=0.01, backoff_cap=0.02)
    _, _, counts = sender.send(10, delivery=postmark_delivery(postmark), options=options)
    assert postmark.requests == 6, postmark.requests
    assert counts["sent"] == 0 and counts["failed"] == 10 and postmark.received == {}
