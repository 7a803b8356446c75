"""One `newsletter send`: the message, the provider, the ledger and the list, put together.

`SendJob.plan()` opens the state store, takes the issue's send lock, turns batches a crash
left in flight into `unknown`, checks with the provider that an issue the ledger has no
record of was not sent already (a lost ledger), and records the list in the ledger
(invalid rows and duplicates reported by line, suppressed addresses marked) without
committing it: a send declined at the confirmation leaves no trace. `SendJob.run()`
commits the plan, reconciles what earlier runs left `unknown`, sends what is still to
send, and reconciles (and sends) again until nobody is `unknown` where the provider can be
asked. The CLI asks for confirmation between the two and prints.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path

from newsletter.errors import Diagnostic, SendError, Severity, display_path
from newsletter.model import Series
from newsletter.render.message import RenderedMessage
from newsletter.send import ledger as ledger_db
from newsletter.send import providers, unsubscribe
from newsletter.send.engine import Engine, Options, Report, make_batches
from newsletter.send.providers.base import Batch, Provider
from newsletter.send.readiness import with_fallbacks
from newsletter.send.reconcile import Lookup, Reconciliation, look_up_issue, reconcile
from newsletter.send.subscribers import Recipient, Row, check_address, read_rows, recipient
from newsletter.state import Store, open_store
from newsletter.workspace import Workspace

NO_DIAGNOSTICS_BEYOND = 50


def list_id(series: Series) -> str:
    """Return the identity of the series' list that unsubscribe tokens are bound to."""
    return re.sub(r"[^a-z0-9]+", "-", series.name.lower()).strip("-") or "newsletter"


def make_provider(
    workspace: Workspace,
    series: Series,
    message: RenderedMessage | None,
    name: str | None = None,
    rate: float | None = None,
    dry_run: bool = False,
    **options,
) -> Provider:
    """Return the provider named (or configured), settings overridden from the command line.

    message: None for a provider that only reads (suppress sync).
    """
    settings = series.delivery
    updates = {"provider": name or settings.provider}
    if rate is not None:
        updates["rate"] = rate
    settings = settings.model_copy(update=updates)
    cls = providers.get(settings.provider)
    if settings.unsubscribe == "provider" and message is not None:
        from newsletter.send.hosted import hosted_message

        message = hosted_message(message, cls, settings)
    if settings.provider == "outbox" and message is not None:
        options.setdefault("folder", workspace.root / "outbox" / message.slug)
    provider = cls(message, settings, need_credentials=not dry_run, **options)
    provider.check_credentials()
    return provider


def search_provider(workspace: Workspace, series: Series, name: str | None = None) -> Provider:
    """Return the provider to ask which messages it accepted (no message is needed)."""
    settings = series.delivery.model_copy(update={"provider": name or series.delivery.provider})
    options = {"folder": workspace.root / "outbox"} if settings.provider == "outbox" else {}
    provider = providers.get(settings.provider)(None, settings, **options)  # type: ignore[arg-type]
    provider.check_credentials()
    return provider


def personalizer(
    series: Series, message: RenderedMessage, provider: Provider
) -> Callable[[Row, str], Recipient]:
    """Return the function that gives a list row its merge fields and unsubscribe URL.

    An empty or missing field gets its fallback from newsletter.yaml (merge_fields).
    """
    fallbacks = {k: v for k, v in series.merge_fields.items() if v}
    links = None
    if "unsubscribe_url" in message.fields():
        links = unsubscribe.from_environment(
            series.base_url,
            list_id(series),
            ephemeral_ok=provider.name == "outbox",
            url=series.delivery.unsubscribe_url,
        )
        links.url("check@example.org")  # fail now, not mid-run, when base_url is missing
    if links is None and not fallbacks:
        return recipient

    def values(row: Row, email: str) -> Recipient:
        person = recipient(row, email)
        with_fallbacks(person.values, fallbacks)
        if links is not None:
            person.values["unsubscribe_url"] = links.url(email)
        return person

    return values


class SendJob:
    """Send one issue to one list through one provider."""

    def __init__(
        self,
        workspace: Workspace,
        series: Series,
        message: RenderedMessage,
        provider: Provider,
        list_path: Path,
        *,
        strict: bool = False,
        resend_unknown: bool = False,
        retry_failed: bool = False,
        dry_run: bool = False,
        rebuild: bool = False,
        options: Options | None = None,
        note: Callable[[str], None] | None = None,
    ):
        self.workspace, self.series, self.message = workspace, series, message
        self.provider = provider
        self.list_path = list_path
        self.strict, self.dry_run = strict, dry_run
        self.resend_unknown, self.retry_failed = resend_unknown, retry_failed
        self.options = options or Options(rate=provider.rate)
        # The provider's message: with unsubscribe: provider it has the provider's link.
        self.values = personalizer(series, provider.message, provider)
        self.store: Store | None = None
        self.lock: ledger_db.SendLock | None = None
        self.ledger: ledger_db.Ledger | None = None
        self.recovered = 0
        self.rebuild = rebuild  # --reconcile: rebuild a lost ledger from the provider's records
        self.rebuilt = 0
        self.lookup: Lookup | None = None  # what the provider has of an issue new to the ledger
        self.reconciliation = Reconciliation()
        self.note = note or (lambda text: None)
        self.synced = None  # the provider's suppressions synced before planning (cli)

    def plan(self) -> ledger_db.Plan:
        """Lock the issue, recover from a crash, record the list; report its problems.

        The plan stays uncommitted until run(): close() without run() leaves no trace.
        """
        self.store = open_store(self.workspace, self.series)
        self.lock = ledger_db.SendLock(self.store, self.message.slug).require()
        self.ledger = ledger_db.Ledger(self.store, self.message.slug)
        self.recovered = self.ledger.recover()
        if not self.dry_run and not self.ledger.has_records():
            self.look_up()
        plan = self.ledger.plan(read_rows(self.list_path), self.check_address, keep=False)
        if self.strict and (plan.invalid or plan.duplicates):
            self.ledger.rollback()
            raise SendError(
                f"--strict: the list has {plan.invalid} invalid and {plan.duplicates} "
                "duplicate rows; nothing was sent",
                self.diagnostics(plan, Severity.ERROR),
            )
        return plan

    def look_up(self) -> None:
        """Ask the provider whether it already has this issue the ledger knows nothing of."""
        assert self.ledger is not None
        if self.provider.name == "outbox":  # it rewrites its own files: nothing goes twice
            return
        self.lookup = lookup = look_up_issue(self.provider, self.message.slug)
        if not lookup.found:
            return
        count = len({f.address for f in lookup.found})
        many = f"{count}" if lookup.complete else f"at least {count}"
        name, slug = self.provider.name, self.message.slug
        if not self.rebuild:
            raise SendError(
                f"{name} already has {many} messages of {slug}, but the ledger "
                f"({display_path(self.workspace.state_dir)}) has no record of sending it "
                "(deleted, or a fresh clone?); nothing was sent. Run again with --reconcile "
                f"to rebuild the ledger from {name}'s records and send only to the rest"
            )
        if not lookup.complete:
            raise SendError(
                f"{name} has {many} messages of {slug}, but its search stopped "
                f"({lookup.problem}): the ledger cannot be rebuilt; nothing was sent"
            )
        self.rebuilt = self.ledger.rebuild(
            ((f.address, f.message_id, f.batch) for f in lookup.found), name
        )

    def check_address(self, address: str) -> tuple[str | None, str]:
        """Return (normalised address, '') or (None, why it is skipped), this provider's way."""
        email, why = check_address(address)
        refusal = self.provider.refuses(email) if email is not None else None
        return (None, refusal) if refusal else (email, why)

    def diagnostics(self, plan: ledger_db.Plan, severity=Severity.WARNING) -> list[Diagnostic]:
        """Return the list's problems as file:line diagnostics."""
        shown = display_path(self.list_path)
        return [
            Diagnostic(shown, line, 1, f"'{address}' skipped: {why}", severity=severity)
            for line, address, why in plan.problems
        ]

    def states(self) -> tuple[str, ...]:
        """Return the ledger states this run sends to."""
        states = ["pending"]
        if self.retry_failed:
            states.append("failed")
        if self.resend_unknown or self.provider.idempotent:
            states.append("unknown")
        return tuple(states)

    def to_send(self) -> int:
        """Return how many recipients this run will try."""
        assert self.ledger is not None
        counts = self.ledger.counts()
        return sum(counts[s] for s in self.states())

    def batches(self):
        """Yield this run's batches: unknown ones regrouped as before where that is safe."""
        assert self.ledger is not None
        regroup = self.ledger.unknown_batches() if self.provider.idempotent else {}
        if self.resend_unknown and not self.provider.idempotent:
            regroup = {}
        return make_batches(
            self.ledger.entries(self.states()),
            read_rows(self.list_path),
            self.provider.batch_size,
            self.values,
            regroup=regroup,
            resend_partial=self.resend_unknown,
        )

    def run(self, progress: Callable[[int, Report], None] | None = None) -> Report:
        """Send (or with dry_run, build) every remaining batch, reconciling unknown ones."""
        assert self.ledger is not None, "plan() first"
        engine = Engine(self.provider, self.ledger, self.options, progress)
        if self.dry_run:
            try:
                return engine.dry_run(self.batches())
            finally:
                self.ledger.rollback()
        self.ledger.commit()  # confirmed: the plan is now the ledger's
        started = time.monotonic()
        try:
            self.reconcile(engine)  # what earlier runs left unknown
            report = engine.run(self.batches())
            self.finish(engine, report)
        finally:
            engine.report.elapsed = time.monotonic() - started
        return report

    def reconcile(self, engine: Engine, give_up: str | None = None) -> Reconciliation:
        """Ask the provider about unknown batches; count the answers into the job's."""
        assert self.ledger is not None
        result = reconcile(
            self.ledger, self.provider, limiter=engine.limiter, give_up=give_up, note=self.note
        )
        self.reconciliation.add(result)
        return result

    def finish(self, engine: Engine, report: Report) -> None:
        """Reconcile the batches that became unknown, send what the provider lacks, repeat."""
        assert self.ledger is not None
        if not self.provider.searchable or self.provider.idempotent:
            return
        rounds = 1
        while not (report.stopped or report.error) and self.ledger.counts()["unknown"]:
            last = rounds >= self.options.max_attempts
            result = self.reconcile(engine, f"gave up after {rounds} attempts" if last else None)
            if last or not result.absent:
                return
            engine.run(self.batches())
            rounds += 1

    def close(self) -> None:
        """Release the provider, the lock and the state store."""
        self.provider.close()
        if self.store is not None:
            self.store.rollback()
            if self.lock is not None:
                self.lock.release()
            self.store.close()


class Scratch:
    """A ledger for test sends (--test): they are not part of the issue's send."""

    def mark_inflight(self, keys, batch, provider) -> None:
        pass

    def mark_sent(self, results) -> None:
        pass

    def mark_failed(self, results) -> None:
        pass

    def mark(self, keys, state, reason=None) -> None:
        pass


def send_test(
    series: Series,
    message: RenderedMessage,
    provider: Provider,
    addresses: list[str],
    progress: Callable[[int, Report], None] | None = None,
) -> Report:
    """Send the issue, subject marked [TEST], to the given addresses only (no ledger)."""
    message = provider.message  # with unsubscribe: provider, the provider's link is in it
    message = dataclasses.replace(message, subject=f"[TEST] {message.subject}")
    provider.message = message
    values = personalizer(series, message, provider)
    people = []
    for number, address in enumerate(addresses, 1):
        email, why = check_address(address)
        if email is None:
            raise SendError(f"--test address '{address}' is not valid: {why}")
        people.append(values(Row(number, email, {}), email))
    size = provider.batch_size
    batches = [Batch(f"test-{i}", people[i : i + size]) for i in range(0, len(people), size)]
    return Engine(provider, Scratch(), Options(rate=provider.rate), progress).run(batches)
