"""The send engine: batches out, results into the ledger; retries, rate limit, clean stops.

The main thread owns the ledger: it commits each batch as in flight, hands it to a worker
and records the worker's result, so the ledger is never written from two threads. Workers
call the provider, honouring a shared client-side rate limit and backing off
exponentially, with jitter, on transient errors (Retry-After and rate-limit headers win).
A batch whose fate is unclear (no answer after the provider may have accepted it) becomes
`unknown` rather than being sent twice, unless the provider drops repeated batches.
Ctrl-C (or SIGTERM) stops taking new batches and lets the in-flight ones finish; a second
Ctrl-C abandons them (they are reported as unknown).
"""

from __future__ import annotations

import queue
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from newsletter.errors import SendError
from newsletter.send.ledger import Entry
from newsletter.send.providers.base import Batch, Fatal, Provider, Rejected, Retryable
from newsletter.send.subscribers import Recipient, Row


@dataclass
class Options:
    """How hard to try."""

    rate: float | None = None  # calls per second; None: unlimited
    max_attempts: int = 6
    backoff_base: float = 0.5  # seconds; doubles each attempt
    backoff_cap: float = 30.0


@dataclass
class Report:
    """What a run did."""

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    batches: int = 0
    stopped: bool = False  # by Ctrl-C / SIGTERM
    error: str | None = None  # why the run stopped early
    elapsed: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)  # failure reasons, counted


class RateLimiter:
    """Start calls at most `rate` per second across threads, evenly; pause all on a 429.

    Each call starts at least 1/rate after the one before, counted from when that call
    really started (the clock starts at the first call). Reserving slots on a timetable
    instead let calls whose thread was late go out together to catch up, and a provider
    counting per second (or a token bucket with a burst of 2) answered the bunch with 429s
    and a pause of a second or more; here a late call's slot is lost instead, which costs
    far less. No burst is ever sent, so the provider never sees more than `rate` a second.
    """

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self.next = 0.0  # no call starts before this (monotonic seconds)
        self.lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until this call may start."""
        while True:
            with self.lock:
                now = time.monotonic()
                wait = self.next - now
                if wait <= 0:
                    self.next = now + self.interval
                    return
            time.sleep(wait)  # then check again: another thread may have taken the slot

    def pause(self, seconds: float) -> None:
        """Hold every call back for seconds (the provider asked us to)."""
        with self.lock:
            self.next = max(self.next, time.monotonic() + seconds)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Return the wait before retry number `attempt`: exponential with 'equal jitter'."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def make_batches(
    entries: Iterable[Entry],
    rows: Iterable[Row],
    size: int,
    values: Callable[[Row, str], Recipient],
    regroup: dict[str, int] | None = None,
    resend_partial: bool = False,
) -> Iterator[Batch]:
    """Join ledger entries with list rows (both in line order) into batches.

    regroup: unknown batches to resend as they were (same id, same recipients), so a
    provider that honours idempotency keys recognises them; {batch id: size}.
    """
    regroup = regroup or {}
    rows = iter(rows)
    row = next(rows, None)
    current: list[Recipient] = []
    groups: dict[str, list[Recipient]] = {}
    for entry in entries:
        while row is not None and row.line < entry.line:
            row = next(rows, None)
        if row is None or row.line != entry.line:
            raise SendError(f"the subscriber list changed while sending (line {entry.line})")
        recipient = values(row, entry.address)
        if entry.state == "unknown" and entry.batch in regroup:
            group = groups.setdefault(entry.batch, [])
            group.append(recipient)
            if len(group) == regroup[entry.batch]:
                yield Batch(entry.batch, groups.pop(entry.batch))
            continue
        current.append(recipient)
        if len(current) >= size:
            yield Batch(uuid.uuid4().hex, current)
            current = []
    if current:
        yield Batch(uuid.uuid4().hex, current)
    if resend_partial:  # recipients of an old batch missing from the list: a new batch
        for group in groups.values():
            yield Batch(uuid.uuid4().hex, group)


class Engine:
    """Send batches through a provider, recording every result in the ledger."""

    def __init__(
        self,
        provider: Provider,
        ledger,
        options: Options | None = None,
        progress: Callable[[int, Report], None] | None = None,
    ):
        self.provider = provider
        self.ledger = ledger
        self.options = options or Options(rate=provider.rate)
        self.progress = progress or (lambda n, report: None)
        self.limiter = RateLimiter(self.options.rate)
        self.report = Report()
        self.stopping = threading.Event()
        self.counter = threading.Lock()

    def dry_run(self, batches: Iterable[Batch]) -> Report:
        """Build every payload and send nothing."""
        started = time.monotonic()
        for batch in batches:
            self.report.bytes += self.provider.size(self.provider.prepare(batch))
            self.report.requests += 1
            self.report.batches += 1
            self.progress(len(batch.recipients), self.report)
        self.report.elapsed = time.monotonic() - started
        return self.report

    def run(self, batches: Iterable[Batch]) -> Report:
        """Send every batch; return the report (stops early on Ctrl-C or a fatal error)."""
        started = time.monotonic()
        self.provider.open()
        jobs: queue.Queue = queue.Queue()
        results: queue.Queue = queue.Queue()
        workers = [
            threading.Thread(target=self._worker, args=(jobs, results), daemon=True)
            for _ in range(self.provider.concurrency)
        ]
        for worker in workers:
            worker.start()
        inflight: dict[str, Batch] = {}  # marked in flight, results not yet recorded
        busy = 0  # batches a worker has and has not answered for
        answered: list[tuple] = []  # results in hand, recorded once the next batch is out
        restore = self._trap_signals()
        try:
            for batch in batches:  # the next batch is built while every worker is busy
                while busy >= len(workers):
                    result = results.get()
                    busy -= 1
                    if result[1] == "done":  # nothing in it stops the run: record it later
                        answered.append(result)
                    else:
                        self._record(inflight, *result)
                if self.stopping.is_set():
                    break
                self.ledger.mark_inflight(
                    [r.key for r in batch.recipients], batch.id, self.provider.name
                )
                inflight[batch.id] = batch
                jobs.put(batch)
                busy += 1
                # The free worker has its next batch: now the ledger can take the answers.
                while answered:
                    self._record(inflight, *answered.pop())
            while answered:
                self._record(inflight, *answered.pop())
            while inflight:
                self._record(inflight, *results.get())
        except KeyboardInterrupt:  # the second Ctrl-C: abandon what is in flight
            while answered:  # these did come back: record what the provider said
                self._record(inflight, *answered.pop())
            for batch in inflight.values():
                keys = [r.key for r in batch.recipients]
                self.ledger.mark(keys, "unknown", "abandoned in flight by a second Ctrl-C")
                self.report.unknown += len(keys)
            self.report.stopped = True
            raise
        finally:
            restore()
            for _ in workers:
                jobs.put(None)
            self.report.elapsed = time.monotonic() - started
        return self.report

    # -- main thread ------------------------------------------------------------------
    def _record(self, inflight: dict[str, Batch], batch_id: str, kind: str, detail: Any) -> None:
        batch = inflight.pop(batch_id)
        keys = [r.key for r in batch.recipients]
        report = self.report
        report.batches += 1
        if kind == "done":
            sent = [(o.key, o.message_id) for o in detail.outcomes if o.ok]
            failed = [(o.key, o.reason or "refused") for o in detail.outcomes if not o.ok]
            answered = {o.key for o in detail.outcomes}
            missing = [k for k in keys if k not in answered]
            self.ledger.mark_sent(sent)
            if failed:
                self.ledger.mark_failed(failed)
            for _, reason in failed:
                report.reasons[reason] = report.reasons.get(reason, 0) + 1
            if missing:
                self.ledger.mark(missing, "unknown", "the provider's answer did not mention it")
            report.sent += len(sent)
            report.failed += len(failed)
            report.unknown += len(missing)
        elif kind == "failed":
            self.ledger.mark(keys, "failed", detail)
            report.failed += len(keys)
            report.reasons[detail] = report.reasons.get(detail, 0) + len(keys)
        elif kind == "unknown":
            self.ledger.mark(keys, "unknown", detail)
            report.unknown += len(keys)
        else:  # "unsent": nothing went out, and no later batch can go either
            self.ledger.mark(keys, "pending", None)
            self._stop(detail)
        if kind in ("unknown",) and detail.startswith("internal error"):
            self._stop(detail)
        self.progress(len(keys), report)

    def _stop(self, why: str) -> None:
        if self.report.error is None:
            self.report.error = why
        self.stopping.set()

    def _trap_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def first(signum, frame):
            if self.stopping.is_set() and self.report.stopped:
                raise KeyboardInterrupt
            self.report.stopped = True
            self.stopping.set()
            from newsletter import ui

            ui.show_note("stopping: finishing the batches in flight (Ctrl-C again to abandon them)")

        previous = {s: signal.signal(s, first) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in previous.items()] and None

    # -- worker threads -----------------------------------------------------------------
    def _worker(self, jobs: queue.Queue, results: queue.Queue) -> None:
        while (batch := jobs.get()) is not None:
            kind, detail = self._deliver(batch)
            results.put((batch.id, kind, detail))

    def _deliver(self, batch: Batch) -> tuple[str, Any]:
        provider, options = self.provider, self.options
        try:
            payload = provider.prepare(batch)
        except SendError as exc:
            return "unsent", exc.message
        except Exception as exc:  # a bug while building: nothing was sent
            return "unsent", f"internal error building the batch: {exc!r}"
        attempt = 0
        while True:
            self.limiter.acquire()
            with self.counter:
                self.report.requests += 1
                self.report.bytes += provider.size(payload)
            try:
                reply = provider.deliver(batch, payload)
                if reply.pause:  # the provider's rate limit is used up: hold every call
                    self.limiter.pause(reply.pause)
                return "done", reply
            except Retryable as exc:
                if exc.retry_after:
                    self.limiter.pause(exc.retry_after)
                if exc.ambiguous and not provider.idempotent:
                    return "unknown", f"{exc.message} (not retried: the provider may have it)"
                attempt += 1
                if attempt >= options.max_attempts:
                    kind = "unknown" if exc.ambiguous else "failed"
                    return kind, f"gave up after {attempt} attempts: {exc.message}"
                with self.counter:
                    self.report.retries += 1
                if not exc.retry_after:
                    time.sleep(backoff(attempt, options.backoff_base, options.backoff_cap))
            except Rejected as exc:
                return "failed", exc.message
            except Fatal as exc:
                return "unsent", exc.message
            except SendError as exc:  # e.g. a credential missing when signing: not sent
                return "unsent", exc.message
            except Exception as exc:  # a bug after the call may have gone out
                return "unknown", f"internal error: {exc!r}"
