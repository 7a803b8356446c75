"""Reconcile `unknown` with the provider: ask which messages of a batch it accepted.

A batch becomes `unknown` when its fate is unclear (a crash while it was in flight, a
timeout, a 5xx that may have come after the provider committed it). Providers that can be
searched (`Provider.searchable`) are asked, batch by batch, through their own search API:
recipients the provider has become `sent` with its message id; those it does not have become
`pending`, so the next send mails them once. Search indexes lag behind sends, so a message
is concluded absent only once the provider's settle delay has passed since the batch's last
call (`Provider.settle`). A search that fails changes nothing. The same search, by issue,
notices a lost ledger: messages at the provider for an issue the ledger has no record of.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from newsletter.errors import SendError
from newsletter.send.ledger import address_key
from newsletter.send.providers.base import Found, Provider, SearchBudget, Unsearchable

# How long one reconciliation may spend searching (not counting the settle wait).
SEARCH_TIME = 300.0
CANNOT = "cannot reconcile: "
AMBIGUOUS = " (not retried: the provider may have it)"  # the engine's words for an unknown


@dataclass
class Reconciliation:
    """What asking the provider settled, and what it could not."""

    batches: int = 0  # unknown batches settled by the provider's answer
    found: int = 0  # recipients it has: now sent
    absent: int = 0  # recipients it does not have: pending again (or failed, giving up)
    waiting: int = 0  # recipients not found yet whose settle delay has not passed
    ready_at: float = 0.0  # epoch seconds when the waiting ones can be concluded
    left_batches: int = 0  # unknown batches that cannot be reconciled
    left: dict[str, int] = field(default_factory=dict)  # why -> recipients still unknown

    def add(self, other: Reconciliation) -> None:
        """Count another reconciliation into this one (a run reconciles more than once)."""
        self.batches += other.batches
        self.found += other.found
        self.absent += other.absent
        self.waiting, self.ready_at = other.waiting, other.ready_at
        self.left_batches, self.left = other.left_batches, other.left

    def cannot(self, why: str, count: int) -> None:
        self.left_batches += 1
        self.left[why] = self.left.get(why, 0) + count


def why_not(provider: Provider) -> str | None:
    """Return why the provider's unknown recipients cannot be reconciled (None: they can)."""
    if provider.searchable:
        return None
    if provider.idempotent:
        return None  # resent with the same key (or file): the provider drops the repeat
    return f"{provider.name} {provider.unsearchable_reason}"


def reconcile(
    ledger,
    provider: Provider,
    *,
    limiter=None,
    wait: bool = True,
    give_up: str | None = None,
    note: Callable[[str], None] | None = None,
    search_time: float = SEARCH_TIME,
) -> Reconciliation:
    """Ask the provider about every unknown batch of the ledger's issue; record the answers.

    wait: sleep until the settle delay has passed for batches with recipients not found;
    give_up: recipients concluded absent become failed with this reason and their last
    error (a send that has tried them enough), not pending.
    """
    result = Reconciliation()
    groups = ledger.unknown_groups()
    if not groups:
        return result
    reason = why_not(provider)
    if reason is not None or provider.idempotent:
        for group in groups.values():
            if reason:
                result.cannot(reason, len(group.reasons))
        return result
    budget = SearchBudget.lasting(search_time, limiter=limiter)
    todo = {
        batch: (set(group.reasons), group.at)
        for batch, group in groups.items()
        if _same_provider(group.provider, provider, result, len(group.reasons))
    }
    while todo:
        later: dict[str, tuple[set[str], float]] = {}
        batches = list(todo.items())
        for index, (batch, (keys, at)) in enumerate(batches):
            try:
                found = {
                    address_key(f.address): f.message_id
                    for f in provider.search(budget, issue=ledger.issue, batch=batch)
                }
            except Unsearchable as exc:  # this account cannot search: no batch can be asked
                for _, (rest, _) in batches[index:] + list(later.items()):
                    ledger.mark(sorted(rest), "unknown", f"{CANNOT}{exc.message}")
                    result.cannot(exc.message, len(rest))
                return result
            except SendError as exc:  # a failed search changes nothing
                result.cannot(f"the search failed: {exc.message}", len(keys))
                continue
            hit = [(k, found[k]) for k in sorted(keys) if k in found]
            missing = sorted(keys - found.keys())
            settled = time.time() >= at + provider.settle
            if missing and not settled:
                ledger.settle(hit, [], provider.name)
                result.found += len(hit)
                later[batch] = (set(missing), at)
                continue
            if give_up and missing:
                reasons = groups[batch].reasons
                ledger.settle(hit, [], provider.name)
                for key in missing:
                    last = (reasons.get(key) or "no answer").removesuffix(AMBIGUOUS)
                    ledger.mark([key], "failed", f"{give_up}: {last}")
            else:
                ledger.settle(hit, missing, provider.name)
            result.batches += 1
            result.found += len(hit)
            result.absent += len(missing)
        todo = later
        if not todo:
            break
        ready = max(at for _, at in todo.values()) + provider.settle
        result.waiting = sum(len(keys) for keys, _ in todo.values())
        result.ready_at = ready
        if not wait:
            break
        pause = ready - time.time()
        if pause > 0:
            if note:
                note(
                    f"waiting {pause:.0f} s for {provider.name}'s search to settle before "
                    f"concluding that {result.waiting} recipients were not sent "
                    "(delivery.reconcile_settle; Ctrl-C to stop waiting: they stay unknown)"
                )
            try:
                time.sleep(pause)
            except KeyboardInterrupt:  # they stay unknown: 'status --reconcile' later
                return result
        result.waiting = 0
    return result


def _same_provider(sent_by: str | None, provider: Provider, result, count: int) -> bool:
    if sent_by in (None, provider.name):
        return True
    result.cannot(f"sent through {sent_by}, not {provider.name}", count)
    return False


@dataclass
class Lookup:
    """What the provider has of an issue the ledger has no record of."""

    found: list[Found] = field(default_factory=list)
    complete: bool = True  # False: the search stopped early (count is a lower bound)
    problem: str | None = None  # why the provider could not be asked (or not fully)


def look_up_issue(provider: Provider, issue: str, limiter=None) -> Lookup:
    """Return the messages the provider already accepted for an issue."""
    lookup = Lookup()
    if not provider.searchable:
        lookup.complete = False
        lookup.problem = f"{provider.name} {provider.unsearchable_reason}"
        return lookup
    budget = SearchBudget.lasting(SEARCH_TIME, limiter=limiter)
    try:
        for found in provider.search(budget, issue=issue):
            lookup.found.append(found)
    except SendError as exc:  # a provider's error, or a setting it needs is missing
        lookup.complete = False
        lookup.problem = exc.message
    return lookup
