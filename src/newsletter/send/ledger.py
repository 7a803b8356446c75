"""The send ledger: each recipient's state per issue, kept in the state store (newsletter.state).

States: pending -> inflight -> sent | failed; inflight rows left behind by a crash become
unknown (the provider may or may not have them); suppressed and invalid rows are never
mailed. A batch is committed as inflight, durably, before it goes out and its results are
committed as soon as the provider answers, so a `kill -9` loses at most the batches in
flight, and those are reported. One send per issue runs at a time (SendLock). The ledger
holds addresses, states, provider message ids and reasons: no message bodies, no secrets.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from newsletter.errors import SendError
from newsletter.state import Store
from newsletter.state.base import chunks

STATES = ("pending", "sent", "failed", "unknown", "suppressed", "invalid")
RECOVERED = "in flight when a send stopped; the provider may or may not have it"


@dataclass(frozen=True, slots=True)
class Entry:
    """One recipient the run will mail, as the ledger knows it."""

    line: int
    key: str
    address: str
    state: str
    batch: str | None


@dataclass
class UnknownBatch:
    """The unknown recipients of one batch: their reasons by key, and the latest change."""

    provider: str | None
    reasons: dict[str, str | None] = field(default_factory=dict)
    at: float = 0.0  # epoch seconds

    @property
    def keys(self) -> list[str]:
        return list(self.reasons)


@dataclass
class Plan:
    """What planning a run found in the list, for the confirmation and the report."""

    rows: int = 0
    invalid: int = 0
    duplicates: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # first few only
    counts: dict[str, int] = field(default_factory=dict)

    def problem(self, line: int, address: str, why: str, most: int) -> None:
        """Note a problem row, keeping only the first few."""
        if len(self.problems) < most:
            self.problems.append((line, address, why))


class Ledger:
    """The states of one issue's recipients."""

    def __init__(self, store: Store, issue: str):
        self.store = store
        self.issue = issue

    # -- planning -----------------------------------------------------------------
    def plan(
        self, rows: Iterable, check, keep: bool = True, max_problems: int = 50, chunk: int = 1000
    ) -> Plan:
        """Record every row of the list; report invalid rows and duplicates (by line).

        With keep=False the transaction stays open: commit() or rollback() (a dry run).
        """
        plan = Plan()
        self.store.begin()
        self.store.detach(self.issue)
        for part in chunks(rows, chunk):
            self._plan_part(plan, part, check, max_problems)
        # Rows no longer in the list that were never attempted are forgotten.
        self.store.forget_unlisted(self.issue)
        self.store.planned(self.issue, plan.rows)
        if keep:
            self.store.commit()
        plan.counts = self.counts()
        return plan

    def _plan_part(self, plan: Plan, part: list, check, most: int) -> None:
        """Record one chunk of list rows (a few queries per chunk, not per row)."""
        checked = [
            (row, *((None, row.problem) if row.problem else check(row.address))) for row in part
        ]
        keys = [email.lower() for _, email, _ in checked if email is not None]
        listed = self.store.listed(self.issue, keys)  # earlier in this list: duplicates
        suppressed = self.store.suppressed(keys)
        writes = []
        for row, email, why in checked:
            plan.rows += 1
            if email is None:
                plan.invalid += 1
                # A malformed row, or a valid address this provider cannot take, says so itself.
                plain = row.problem or why.startswith("not deliverable")
                shown = why if plain else f"invalid address: {why}"
                plan.problem(row.line, row.address, shown, most)
                writes.append((f"!{row.line}", row.address, row.line, "invalid", why))
                continue
            key = email.lower()
            first = listed.setdefault(key, row.line)
            if first != row.line:
                plan.duplicates += 1
                plan.problem(row.line, row.address, f"duplicate of line {first}", most)
                continue
            fresh = "suppressed" if key in suppressed else "pending"
            writes.append((key, email, row.line, fresh, None))
        self.store.upsert(self.issue, writes, time.time())

    def commit(self) -> None:
        """Keep a plan made with keep=False."""
        self.store.commit()

    def rollback(self) -> None:
        """Undo an uncommitted plan (dry run)."""
        self.store.rollback()

    def entries(self, states: Iterable[str], chunk: int = 1000) -> Iterator[Entry]:
        """Yield the rows of the current list in the given states, in list order."""
        states = tuple(states)
        after = 0
        while True:
            rows = self.store.entries(self.issue, states, after, chunk)
            if not rows:
                return
            for row in rows:
                yield Entry(*row)
            after = rows[-1][0]

    # -- state changes ------------------------------------------------------------
    def mark_inflight(self, keys: list[str], batch: str, provider: str) -> None:
        """Commit a batch as in flight, durably, before it goes out."""
        now = time.time()
        self.store.update(
            self.issue,
            ("state", "batch", "provider", "updated", "reason"),
            [("inflight", batch, provider, now, None, k) for k in keys],
            durable=True,
        )

    def mark_sent(self, results: list[tuple[str, str | None]]) -> None:
        """Record (key, provider message id) pairs as sent."""
        now = time.time()
        self.store.update(
            self.issue,
            ("state", "message_id", "updated"),
            [("sent", mid, now, k) for k, mid in results],
        )

    def mark_failed(self, results: list[tuple[str, str]]) -> None:
        """Record (key, the provider's reason) pairs as failed, in one transaction."""
        now = time.time()
        self.store.update(
            self.issue,
            ("state", "reason", "updated"),
            [("failed", reason, now, k) for k, reason in results],
        )

    def mark(self, keys: list[str], state: str, reason: str | None = None) -> None:
        """Set failed, unknown or pending (with the provider's reason) for keys."""
        now = time.time()
        self.store.update(
            self.issue, ("state", "reason", "updated"), [(state, reason, now, k) for k in keys]
        )

    def recover(self) -> int:
        """Turn batches left in flight by a crash into unknown; return how many recipients.

        Their time becomes now: the dead run's calls all started before, so a provider's
        search settles (see reconcile) counting from here at the latest.
        """
        keys = [row[0] for row in self.store.rows_in_state(self.issue, "inflight")]
        count = self.store.recover(self.issue, RECOVERED)
        if keys:
            now = time.time()
            self.store.update(self.issue, ("updated",), [(now, k) for k in keys])
        return count

    # -- reconciling with the provider's records -------------------------------------
    def has_records(self) -> bool:
        """Return True when the ledger knows anything of this issue."""
        return bool(self.store.counts(self.issue))

    def unknown_groups(self) -> dict[str, UnknownBatch]:
        """Return the unknown recipients by batch."""
        groups: dict[str, UnknownBatch] = {}
        for key, batch, provider, updated, reason in self.store.rows_in_state(
            self.issue, "unknown"
        ):
            group = groups.setdefault(batch, UnknownBatch(provider))
            group.reasons[key] = reason
            group.at = max(group.at, updated or 0.0)
        return groups

    def settle(self, found: list[tuple[str, str | None]], absent: list[str], how: str) -> None:
        """Record what the provider's search said: found -> sent, absent -> pending."""
        now = time.time()
        if found:
            self.store.update(
                self.issue,
                ("state", "message_id", "reason", "updated"),
                [("sent", mid, f"reconciled: {how} has it", now, k) for k, mid in found],
            )
        if absent:
            self.store.update(
                self.issue,
                ("state", "reason", "updated"),
                [("pending", f"reconciled: {how} does not have it", now, k) for k in absent],
            )

    def rebuild(self, found: Iterable[tuple[str, str | None, str | None]], provider: str) -> int:
        """Record (address, message id, batch) the provider has as sent; return how many."""
        rows = {address_key(address): (address, mid, batch) for address, mid, batch in found}
        if not rows:
            return 0
        reason = f"reconciled: rebuilt from {provider}'s records"
        self.store.begin()
        try:
            self.store.upsert(
                self.issue,
                [(key, address, None, "sent", reason) for key, (address, _, _) in rows.items()],
                time.time(),
            )
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise
        self.store.update(
            self.issue,
            ("batch", "provider", "message_id"),
            [(batch, provider, mid, key) for key, (_, mid, batch) in rows.items()],
        )
        return len(rows)

    def reconciled(self) -> int:
        """Return how many recipients reconciling found at the provider (now sent)."""
        return sum(
            n
            for reason, n in self.store.reasons(self.issue, "sent", 1000)
            if reason and reason.startswith("reconciled:")
        )

    # -- reports ------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Return the number of recipients in each state (every state, zeros included)."""
        return dict.fromkeys(STATES, 0) | self.store.counts(self.issue)

    def addresses(self, state: str) -> Iterator[str]:
        """Yield the addresses in one state, in list order."""
        return self.store.addresses(self.issue, state)

    def reasons(self, state: str = "failed", limit: int = 5) -> list[tuple[str, int]]:
        """Return the commonest reasons of a state, with their counts."""
        return self.store.reasons(self.issue, state, limit)

    def unknown_batches(self) -> dict[str, int]:
        """Return the size of each batch whose recipients are unknown, by batch id."""
        return self.store.unknown_batches(self.issue)


def address_key(address: str) -> str:
    """Return the ledger key of an address as a provider reports it back."""
    # The list's keys are lower case with the domain in Unicode (email-validator's form),
    # but we send internationalised domains in IDNA form and providers report them so:
    # "ana@xn--bcher-kva.example" must find "ana@bücher.example", or reconcile would call
    # a sent message absent and mail it again.
    local, at, domain = address.rpartition("@")
    if "xn--" in domain.lower():
        import contextlib

        import idna  # email-validator's own dependency

        # Not valid IDNA: not one of ours either, and compared as it is.
        with contextlib.suppress(idna.IDNAError):
            domain = idna.decode(domain)
    return f"{local}{at}{domain}".lower()


class SendLock:
    """An exclusive lock on sending one issue: two runs must never share a ledger."""

    def __init__(self, store: Store, issue: str):
        self.store = store
        self.issue = issue
        self.held = False

    def acquire(self) -> bool:
        """Take the lock; return False if another run holds it."""
        self.held = self.held or self.store.try_lock(self.issue)
        return self.held

    def require(self) -> SendLock:
        """Take the lock or fail with a message naming the lock."""
        if not self.acquire():
            raise SendError(
                "another 'newsletter send' is running for this issue "
                f"({self.store.lock_where(self.issue)}); it must finish or stop first"
            )
        return self

    def release(self) -> None:
        if self.held:
            self.store.unlock(self.issue)
            self.held = False

    def __enter__(self) -> SendLock:
        return self.require()

    def __exit__(self, *exc) -> None:
        self.release()
