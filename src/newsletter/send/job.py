"""One `newsletter send`: the message, the provider, the ledger and the list, put together.

`SendJob.plan()` opens the state store, takes the issue's send lock, turns batches a
crash left in flight into `unknown`, and records the list in the ledger (invalid rows and
duplicates reported by line, suppressed addresses marked); `SendJob.run()` then sends
what is still to send. The CLI only asks for confirmation between the two and prints.
"""

from __future__ import annotations

import dataclasses
import re
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
        options: Options | None = None,
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
        self.synced = None  # the provider's suppressions synced before planning (cli)

    def plan(self) -> ledger_db.Plan:
        """Lock the issue, recover from a crash, record the list; report its problems."""
        self.store = open_store(self.workspace, self.series)
        self.lock = ledger_db.SendLock(self.store, self.message.slug).require()
        self.ledger = ledger_db.Ledger(self.store, self.message.slug)
        self.recovered = self.ledger.recover()
        plan = self.ledger.plan(read_rows(self.list_path), self.check_address, keep=False)
        if self.strict and (plan.invalid or plan.duplicates):
            self.ledger.rollback()
            raise SendError(
                f"--strict: the list has {plan.invalid} invalid and {plan.duplicates} "
                "duplicate rows; nothing was sent",
                self.diagnostics(plan, Severity.ERROR),
            )
        if not self.dry_run:
            self.ledger.commit()
        return plan

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
        """Send (or with dry_run, build) every remaining batch."""
        assert self.ledger is not None, "plan() first"
        engine = Engine(self.provider, self.ledger, self.options, progress)
        try:
            if self.dry_run:
                return engine.dry_run(self.batches())
            return engine.run(self.batches())
        finally:
            if self.dry_run:
                self.ledger.rollback()

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
