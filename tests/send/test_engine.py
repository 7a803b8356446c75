"""The engine's client-side rate limit: even spacing, no bursts, pauses for everyone."""

from __future__ import annotations

import re
import threading
import time

import pytest

from newsletter.send.engine import RateLimiter


def test_calls_are_spaced_evenly_across_threads_from_the_first_call():
    limiter = RateLimiter(200.0)  # one call every 5 ms
    starts: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert starts[-1] - starts[0] >= 39 * 0.005 * 0.99  # 40 calls: never a burst


def test_the_clock_starts_at_the_first_call(monkeypatch):
    limiter = RateLimiter(0.001)  # one call every 1000 s: a wait would be seen
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail(f"the first call waited {s} s"))
    limiter.acquire()


def test_pause_holds_back_every_later_call():
    limiter = RateLimiter(None)  # unlimited, yet a provider's Retry-After still counts
    limiter.acquire()
    limiter.pause(0.2)
    began = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - began >= 0.19


# -- the engine with a provider scripted in-process, and a real ledger ---------------------
import random  # noqa: E402

from newsletter.errors import SendError  # noqa: E402
from newsletter.send.engine import Engine, Options, Report, backoff, make_batches  # noqa: E402
from newsletter.send.ledger import Entry, Ledger  # noqa: E402
from newsletter.send.providers.base import (  # noqa: E402
    Batch,
    Fatal,
    Outcome,
    Rejected,
    Reply,
    Retryable,
)
from newsletter.send.subscribers import Row, check_address, recipient  # noqa: E402
from newsletter.state import open_url  # noqa: E402


class Scripted:
    """A provider whose answers are scripted call by call; it records what it was given."""

    name = "scripted"
    idempotent = False
    rate = None

    def __init__(self, *answers, concurrency: int = 1):
        self.answers = list(answers)  # per call: "ok", an exception, or a callable
        self.concurrency = concurrency
        self.calls: list[list[str]] = []
        self.ids: list[str] = []
        self.payloads: list[bytes] = []
        self.opened = False

    def open(self) -> None:
        self.opened = True

    def prepare(self, batch: Batch) -> bytes:
        return b"x" * 10 * len(batch.recipients)

    def size(self, payload: bytes) -> int:
        return len(payload)

    def deliver(self, batch: Batch, payload: bytes) -> Reply:
        self.calls.append([r.key for r in batch.recipients])
        self.ids.append(batch.id)
        self.payloads.append(payload)
        answer = self.answers.pop(0) if self.answers else "ok"
        if callable(answer) and not isinstance(answer, type):
            answer = answer(batch)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, Reply):
            return answer
        return Reply([Outcome(r.key, True, f"id-{r.key}") for r in batch.recipients])


@pytest.fixture
def ledger(tmp_path):
    store = open_url(f"sqlite:///{tmp_path / 'send.db'}")
    yield Ledger(store, "vol-1-1")
    store.close()


def people(ledger, count: int, size: int = 2) -> list[Batch]:
    rows = [Row(line, f"u{line}@example.org", {}) for line in range(2, 2 + count)]
    ledger.plan(rows, check_address)
    return list(make_batches(ledger.entries(["pending"]), rows, size, recipient))


def run(ledger, provider, count=4, size=2, **options) -> Report:
    options = Options(rate=None, backoff_base=0.001, backoff_cap=0.002, **options)
    return Engine(provider, ledger, options).run(people(ledger, count, size))


def test_backoff_doubles_from_the_base_up_to_the_cap_with_equal_jitter(monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert [backoff(n, 0.5, 30.0) for n in (1, 2, 3, 8, 9)] == [0.5, 1.0, 2.0, 30.0, 30.0]
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    assert [backoff(n, 0.5, 30.0) for n in (1, 3, 9)] == [0.25, 1.0, 15.0]


def test_the_default_effort():
    options = Options()
    assert (options.rate, options.max_attempts) == (None, 6)
    assert (options.backoff_base, options.backoff_cap) == (0.5, 30.0)


def test_a_clean_run_reports_what_it_did(ledger):
    provider = Scripted()
    seen = []
    engine = Engine(provider, ledger, Options(rate=None), lambda n, r: seen.append(n))
    report = engine.run(people(ledger, 5))
    assert provider.opened and len(provider.calls) == 3
    assert provider.payloads == [b"x" * 20, b"x" * 20, b"x" * 10]  # what prepare() built
    assert (report.sent, report.failed, report.unknown) == (5, 0, 0)
    assert (report.requests, report.batches, report.bytes, report.retries) == (3, 3, 50, 0)
    assert sorted(seen) == [1, 2, 2] and report.error is None and not report.stopped
    assert 0 <= report.elapsed < 60
    assert ledger.counts()["sent"] == 5
    assert list(ledger.addresses("sent")) == [f"u{n}@example.org" for n in range(2, 7)]


def test_a_dry_run_builds_every_batch_and_sends_nothing(ledger):
    provider = Scripted()
    seen = []
    engine = Engine(provider, ledger, Options(rate=None), lambda n, r: seen.append((n, r.bytes)))
    report = engine.dry_run(people(ledger, 5))
    assert provider.calls == [] and ledger.counts()["pending"] == 5
    assert (report.requests, report.batches, report.bytes, report.sent) == (3, 3, 50, 0)
    assert seen == [(2, 20), (2, 40), (1, 50)] and 0 <= report.elapsed < 60


def test_refused_recipients_fail_with_their_reasons_counted(ledger):
    def partly(batch):
        first, second = batch.recipients
        return Reply([Outcome(first.key, True, "id"), Outcome(second.key, False, None, None)])

    report = run(ledger, Scripted(partly, partly))
    assert (report.sent, report.failed) == (2, 2) and report.reasons == {"refused": 2}
    assert ledger.reasons() == [("refused", 2)]


def test_a_rejected_batch_fails_whole_and_the_run_goes_on(ledger):
    rejected = Rejected("scripted", "bad request", status=422)
    report = run(ledger, Scripted(rejected, rejected, "ok"), count=6)
    assert (report.sent, report.failed) == (2, 4) and report.error is None
    assert report.reasons == {str(rejected.message): 4}
    assert ledger.reasons() == [(rejected.message, 4)]
    assert ledger.counts()["failed"] == 4 and ledger.counts()["sent"] == 2


def test_bad_credentials_stop_the_run_with_the_rest_pending(ledger):
    fatal = Fatal("scripted", "401: bad server token", status=401)
    provider = Scripted(fatal)
    report = run(ledger, provider, count=6)
    assert report.error == fatal.message and len(provider.calls) == 1
    counts = ledger.counts()
    assert counts["pending"] == 6 and counts["sent"] == 0 and counts["failed"] == 0
    assert report.failed == 0 and report.unknown == 0


def test_a_credential_missing_while_signing_stops_the_run(ledger):
    provider = Scripted(SendError("scripted: set the environment variable KEY"))
    report = run(ledger, provider, count=4)
    assert report.error == "scripted: set the environment variable KEY"
    assert ledger.counts()["pending"] == 4 and len(provider.calls) == 1


def test_a_batch_that_cannot_be_built_stops_the_run_and_nothing_goes_out(ledger):
    class Broken(Scripted):
        def prepare(self, batch):
            raise ValueError("boom")

    provider = Broken()
    report = run(ledger, provider, count=4)
    assert provider.calls == [] and ledger.counts()["pending"] == 4
    assert report.error == "internal error building the batch: ValueError('boom')"

    class Refused(Scripted):
        def prepare(self, batch):
            raise SendError("too big")

    report = run(ledger, Refused(), count=4)
    assert report.error == "too big" and ledger.counts()["pending"] == 4


def test_a_bug_after_the_call_is_unknown_and_stops_the_run(ledger):
    provider = Scripted(KeyError("id"))
    report = run(ledger, provider, count=6)
    assert report.error == "internal error: KeyError('id')" and len(provider.calls) == 1
    counts = ledger.counts()
    assert counts["unknown"] == 2 and counts["pending"] == 4 and report.unknown == 2
    assert ledger.reasons("unknown") == [("internal error: KeyError('id')", 2)]


def test_the_first_reason_to_stop_is_the_one_reported(ledger):
    first = Fatal("scripted", "first", status=401)
    second = Fatal("scripted", "second", status=401)
    report = run(ledger, Scripted(first, second, concurrency=2), count=8)
    assert report.error in (first.message, second.message)
    assert report.error == first.message or report.error == second.message
    engine = Engine(Scripted(), ledger, Options(rate=None))
    engine._stop("one")
    engine._stop("two")
    assert engine.report.error == "one" and engine.stopping.is_set()


def test_a_transient_error_is_retried_and_counted(ledger):
    busy = Retryable("scripted", "HTTP 503", status=503)
    provider = Scripted(busy, busy, "ok")
    report = run(ledger, provider, count=2)
    assert report.retries == 2 and report.requests == 3 and report.sent == 2
    assert report.bytes == 60


def test_giving_up_on_an_ambiguous_error_is_unknown_not_failed(ledger):
    lost = Retryable("scripted", "no answer", ambiguous=True)
    provider = Scripted(lost, lost, lost)
    provider.idempotent = True  # so it is retried at all
    report = run(ledger, provider, count=2, max_attempts=3)
    assert len(provider.calls) == 3 and report.unknown == 2 and report.retries == 2
    assert ledger.reasons("unknown") == [(f"gave up after 3 attempts: {lost.message}", 2)]


def test_an_ambiguous_error_is_never_retried_without_idempotency(ledger):
    lost = Retryable("scripted", "connection dropped", ambiguous=True)
    provider = Scripted(lost, lost)
    report = run(ledger, provider, count=4)
    assert len(provider.calls) == 2 and report.unknown == 4 and report.retries == 0
    reason = f"{lost.message} (not retried: the provider may have it)"
    assert ledger.reasons("unknown") == [(reason, 4)] and report.error is None


def test_retry_after_pauses_and_replaces_the_backoff(ledger, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", lambda s: slept.append(s))
    throttled = Retryable("scripted", "HTTP 429", status=429, retry_after=0.05)
    engine = Engine(Scripted(throttled, "ok"), ledger, Options(rate=None))
    paused = []
    real = engine.limiter.pause
    engine.limiter.pause = lambda s: (paused.append(s), real(s))
    report = engine.run(people(ledger, 2))
    assert report.sent == 2 and paused == [0.05]
    assert all(s <= 0.05 for s in slept)  # waited for the limiter, never a backoff too


def test_a_reply_asking_for_a_pause_holds_every_later_call(ledger):
    engine = Engine(Scripted(Reply([], pause=0.3)), ledger, Options(rate=None))
    paused = []
    real = engine.limiter.pause
    engine.limiter.pause = lambda s: (paused.append(s), real(s))
    engine.run(people(ledger, 4))
    assert paused == [0.3]


def test_without_a_pause_the_limiter_is_left_alone(ledger):
    engine = Engine(Scripted(), ledger, Options(rate=None))
    engine.limiter.pause = lambda s: pytest.fail("paused without being asked")
    assert engine.run(people(ledger, 4)).sent == 4


def test_the_provider_rate_is_the_default(ledger):
    provider = Scripted()
    provider.rate = 7.0
    assert Engine(provider, ledger).options.rate == 7.0
    assert Engine(provider, ledger).limiter.interval == pytest.approx(1 / 7)


def test_batches_regroup_unknown_recipients_as_they_were_sent():
    rows = [Row(line, f"u{line}@example.org", {}) for line in range(2, 8)]
    states = ["unknown", "pending", "unknown", "pending", "pending", "pending"]
    entries = [
        Entry(r.line, r.address, r.address, s, "old" if s == "unknown" else None)
        for r, s in zip(rows, states, strict=True)
    ]
    batches = list(make_batches(entries, rows, 2, recipient, regroup={"old": 2}))
    assert [[r.line for r in b.recipients] for b in batches] == [[2, 4], [3, 5], [6, 7]]
    assert batches[0].id == "old" and len({b.id for b in batches}) == 3
    # An old batch with a recipient no longer listed is resent only on request, as new.
    batches = list(make_batches(entries[:3], rows, 5, recipient, regroup={"old": 3}))
    assert [[r.line for r in b.recipients] for b in batches] == [[3]]
    batches = list(
        make_batches(entries[:3], rows, 5, recipient, regroup={"old": 3}, resend_partial=True)
    )
    assert [[r.line for r in b.recipients] for b in batches] == [[3], [2, 4]]
    assert batches[1].id != "old"


def test_batches_refuse_a_list_that_changed_under_them():
    rows = [Row(2, "a@example.org", {}), Row(4, "b@example.org", {})]
    entries = [Entry(3, "a@example.org", "a@example.org", "pending", None)]
    with pytest.raises(SendError, match=r"the subscriber list changed while sending \(line 3\)"):
        list(make_batches(entries, rows, 2, recipient))
    with pytest.raises(SendError, match=r"\(line 9\)"):
        list(make_batches([Entry(9, "z@example.org", "z@example.org", "pending", None)],
                          rows, 2, recipient))  # fmt: skip


def test_a_second_ctrl_c_abandons_the_batches_in_flight_as_unknown(ledger):
    import threading

    release = threading.Event()

    def held(batch):
        release.wait(10)  # still at the provider when the second Ctrl-C comes

    provider = Scripted("ok", held, held, concurrency=2)

    def progress(count, report):
        raise KeyboardInterrupt  # the second Ctrl-C, as the first answer is recorded

    engine = Engine(provider, ledger, Options(rate=None), progress)
    before = set(threading.enumerate())
    try:
        with pytest.raises(KeyboardInterrupt):
            engine.run(people(ledger, 6))
        # The calls still out must not keep the process alive after the user gave up.
        busy = [t for t in threading.enumerate() if t not in before]
        assert busy and all(t.daemon for t in busy)
    finally:
        release.set()
    counts = ledger.counts()
    assert counts["sent"] == 2 and counts["unknown"] == 4 and counts["pending"] == 0
    assert engine.report.stopped and engine.report.unknown == 4
    assert ledger.reasons("unknown") == [("abandoned in flight by a second Ctrl-C", 4)]
    # Each abandoned batch is known by its id and provider (to resend it as it was).
    abandoned = ledger.unknown_batches()
    assert sorted(abandoned.values()) == [2, 2] and provider.ids[0] not in abandoned
    names = ledger.store.db.execute("SELECT DISTINCT provider FROM recipients").fetchall()
    assert names == [("scripted",)]


def test_a_recipient_the_answer_leaves_out_is_unknown(ledger):
    def forgetful(batch):  # the provider took the batch; its answer names only the first
        first = batch.recipients[0]
        return Reply([Outcome(first.key, True, "id-1")])

    report = run(ledger, Scripted(forgetful, forgetful), count=4)
    assert (report.sent, report.unknown, report.failed) == (2, 2, 0)
    assert ledger.reasons("unknown") == [("the provider's answer did not mention it", 2)]
    assert ledger.counts()["pending"] == 0


def test_a_batch_is_marked_in_flight_only_when_a_worker_is_free(ledger):
    answered = []

    def slow(batch):
        time.sleep(0.2)  # the next batch must wait for this one, not be marked meanwhile

    class Counting(Scripted):
        def deliver(self, batch, payload):
            reply = super().deliver(batch, payload)
            answered.append(batch.id)
            return reply

    marked = []
    real = ledger.mark_inflight
    ledger.mark_inflight = lambda keys, batch, name: (
        marked.append(len(answered)),
        real(keys, batch, name),
    )
    run(ledger, Counting("ok", slow, "ok", "ok"), count=8)
    assert marked == [0, 1, 2, 3]  # one worker: each batch waits for the one before


def test_no_more_batches_are_in_flight_than_workers(ledger):
    answered = []

    class Slow(Scripted):
        def deliver(self, batch, payload):
            time.sleep(0.1)
            reply = super().deliver(batch, payload)
            answered.append(batch.id)
            return reply

    marked = []
    real = ledger.mark_inflight
    ledger.mark_inflight = lambda keys, batch, name: (
        marked.append(len(answered)),
        real(keys, batch, name),
    )
    run(ledger, Slow(concurrency=2), count=8)
    assert marked[:2] == [0, 0] and all(m >= n - 1 for n, m in enumerate(marked))


def test_giving_up_on_a_plain_error_fails_the_batch(ledger):
    busy = Retryable("scripted", "HTTP 503", status=503)
    report = run(ledger, Scripted(busy, busy), count=2, max_attempts=2)
    assert report.failed == 2 and report.unknown == 0 and report.error is None
    assert ledger.reasons() == [(f"gave up after 2 attempts: {busy.message}", 2)]


def test_progress_sees_the_report_as_it_grows(ledger):
    seen = []
    engine = Engine(Scripted(), ledger, Options(rate=None), lambda n, r: seen.append(r.sent))
    engine.run(people(ledger, 4))
    assert seen == [2, 4]


def test_ctrl_c_finishes_the_batches_out_and_gives_the_handler_back(ledger, capsys):
    import os
    import signal

    found = signal.getsignal(signal.SIGINT)
    slow = lambda batch: time.sleep(0.05)  # noqa: E731
    provider = Scripted(*[slow] * 10, concurrency=2)
    asked = []

    def progress(count, report):
        if not asked:
            asked.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, after the first answer

    report = Engine(provider, ledger, Options(rate=None), progress).run(people(ledger, 20))
    counts = ledger.counts()
    assert report.stopped and counts["pending"] > 0 and counts["unknown"] == 0
    assert counts["sent"] == sum(len(c) for c in provider.calls) >= 2
    assert counts["sent"] + counts["pending"] == 20
    assert signal.getsignal(signal.SIGINT) is found
    err = capsys.readouterr().err
    note = "stopping: finishing the batches in flight (Ctrl-C again to abandon them)"
    assert note in [line.strip() for line in err.splitlines()]


def test_the_first_call_never_waits_even_on_a_clock_that_starts_at_zero(monkeypatch):
    # time.monotonic()'s starting point is undefined: it may be 0.0 on a fresh machine.
    monkeypatch.setattr(time, "monotonic", lambda: 0.0)
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail(f"the first call waited {s} s"))
    RateLimiter(0.5).acquire()


def test_batches_from_an_empty_list_are_none_or_a_clear_refusal():
    assert list(make_batches([], [], 2, recipient)) == []
    pending = [Entry(2, "a@example.org", "a@example.org", "pending", None)]
    with pytest.raises(SendError, match=r"the subscriber list changed while sending \(line 2\)"):
        list(make_batches(pending, [], 2, recipient))


def test_every_batch_has_its_own_id_the_last_partial_one_too():
    rows = [Row(line, f"u{line}@example.org", {}) for line in range(2, 7)]
    entries = [Entry(r.line, r.address, r.address, "pending", None) for r in rows]
    batches = list(make_batches(entries, rows, 2, recipient))
    assert [len(b.recipients) for b in batches] == [2, 2, 1]
    ids = [b.id for b in batches]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_unknown_recipients_not_regrouped_go_out_in_new_batches():
    # e.g. --resend-unknown through a provider that does not drop repeated batches
    rows = [Row(line, f"u{line}@example.org", {}) for line in range(2, 6)]
    states = ["unknown", "pending", "unknown", "pending"]
    entries = [
        Entry(r.line, r.address, r.address, s, "old" if s == "unknown" else None)
        for r, s in zip(rows, states, strict=True)
    ]
    batches = list(make_batches(entries, rows, 3, recipient))
    assert [[r.line for r in b.recipients] for b in batches] == [[2, 3, 4], [5]]
    assert "old" not in {b.id for b in batches}


def test_a_partly_listed_old_batch_resent_on_request_gets_a_new_id():
    rows = [Row(line, f"u{line}@example.org", {}) for line in range(2, 5)]
    entries = [Entry(r.line, r.address, r.address, "unknown", "old") for r in rows]
    [batch] = list(
        make_batches(entries, rows, 5, recipient, regroup={"old": 4}, resend_partial=True)
    )
    assert [r.line for r in batch.recipients] == [2, 3, 4]
    assert re.fullmatch(r"[0-9a-f]{32}", batch.id)


def test_a_second_ctrl_c_keeps_what_the_provider_already_answered(ledger):
    """Ctrl-C while the next batch is being marked: the answer in hand is recorded, as sent."""
    calls = []
    real = ledger.mark_inflight

    def mark_inflight(keys, batch, name):
        calls.append(batch)
        if len(calls) == 2:  # the first batch's answer is in hand, not yet recorded
            raise KeyboardInterrupt
        real(keys, batch, name)

    ledger.mark_inflight = mark_inflight
    provider = Scripted()
    engine = Engine(provider, ledger, Options(rate=None))
    with pytest.raises(KeyboardInterrupt):
        engine.run(people(ledger, 6))
    counts = ledger.counts()
    assert (counts["sent"], counts["pending"], counts["unknown"]) == (2, 4, 0)
    assert engine.report.sent == 2 and engine.report.unknown == 0 and engine.report.stopped
    assert len(provider.calls) == 1


def test_a_ctrl_c_after_an_error_stopped_the_run_still_lets_the_batch_out_finish(ledger):
    """The run stopping on its own is not a first Ctrl-C: the user's first one is."""
    import os
    import signal

    release = threading.Event()

    def held(batch):
        release.wait(10)  # at the provider while the run stops and the user presses Ctrl-C

    fatal = Fatal("scripted", "401: bad server token", status=401)
    provider = Scripted(fatal, held, concurrency=2)

    def progress(count, report):
        if report.error and not report.stopped:
            os.kill(os.getpid(), signal.SIGINT)
            release.set()

    engine = Engine(provider, ledger, Options(rate=None), progress)
    try:
        report = engine.run(people(ledger, 6))
    except KeyboardInterrupt:  # not as an interrupt: pytest would stop with exit code 2
        pytest.fail("the user's first Ctrl-C was taken for a second one")
    finally:
        release.set()
    assert report.stopped and report.error == fatal.message
    counts = ledger.counts()
    assert (counts["sent"], counts["pending"], counts["unknown"]) == (2, 4, 0)
