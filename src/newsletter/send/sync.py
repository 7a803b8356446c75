"""`newsletter suppress sync`: the provider's bounces, complaints and unsubscribes, brought home.

Each provider file's `sync` yields what the provider suppressed (reading through the send
path's HTTP client, pacing and retries); here the results go into the suppression list
with the provider as their source and its time, and the store remembers how far each
provider's sync got, so the next one asks only for what is newer (where the API can
filter by time). An hour of overlap covers clocks that disagree; entries read twice
change nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from newsletter.errors import SendError
from newsletter.send import suppression
from newsletter.send.providers.base import Provider, ProviderError
from newsletter.state import Store

OVERLAP = 3600.0  # seconds re-read before the last sync's start


@dataclass
class SyncReport:
    """What one provider's sync found."""

    provider: str
    read: int = 0
    new: dict[str, int] = field(default_factory=dict)  # newly suppressed, by reason
    since: float | None = None

    @property
    def added(self) -> int:
        return sum(self.new.values())


def can_sync(provider: Provider) -> bool:
    """Return True if the provider keeps a suppression list that sync can read."""
    return type(provider).sync is not Provider.sync


def sync(store: Store, provider: Provider, since: float | None = None) -> SyncReport:
    """Read the provider's suppressions into the store; since (epoch) overrides the cursor."""
    started = time.time()
    if since is None:
        reached = store.sync_cursor(provider.name)
        since = None if reached is None else reached - OVERLAP
    report = SyncReport(provider.name, since=since)
    try:
        # Read everything first: the store is not held (and `newsletter serve` not kept
        # waiting) while pages come in over the network.
        found = [(s.address, s.reason, s.when) for s in provider.sync(since)]
    except ProviderError as exc:
        raise SendError(f"suppression sync from {provider.name} failed: {exc.message}") from None
    report.read = len(found)
    report.new = suppression.record_many(store, found, provider.name)
    store.begin()
    try:
        store.set_sync_cursor(provider.name, started, time.time())
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return report


def describe(report: SyncReport) -> str:
    """Return the one-line summary of a sync, counts by reason."""
    counts = ", ".join(f"{reason} {n}" for reason, n in sorted(report.new.items())) or "none"
    return (
        f"{report.provider}: {report.added} newly suppressed ({counts}); {report.read} entries read"
    )
