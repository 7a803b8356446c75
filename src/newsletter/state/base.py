"""The state interface every store implements: transactions, locks, ledger rows, suppressions.

A store only moves rows; what they mean lives in the callers (send/ledger.py,
send/suppression.py), so the two guarantees are written once, above any SQL:

- a batch's in-flight mark is committed durably before the batch goes out: callers pass
  `durable=True` to `update()`, and each store makes that commit survive a crash of the
  machine (SQLite: synchronous=FULL; PostgreSQL: synchronous_commit=on);
- one send per issue at a time: `try_lock()` takes a lock that dies with the process
  (SQLite: flock on a file beside the database; PostgreSQL: a session advisory lock).

Rows of the ledger are (issue, key, address, line, state, batch, provider, message_id,
reason, updated); `key` is the lower-cased address, or '!<line>' for an unreadable row.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from newsletter.errors import StateError
from newsletter.state import migrations

# Columns callers may set with update(); the stores interpolate only these names into SQL.
COLUMNS = frozenset({"state", "batch", "provider", "message_id", "reason", "updated"})


class Store(ABC):
    """One state database: the send ledger, the suppression list and the send locks."""

    name: str  # "sqlite" or "postgresql": picks the migrations
    url: str  # where it is, safe to print (no password)

    # -- transactions ---------------------------------------------------------------
    @abstractmethod
    def begin(self) -> None:
        """Open a transaction (the write lock is taken by the first write)."""

    @abstractmethod
    def commit(self) -> None:
        """Commit the open transaction, if any."""

    @abstractmethod
    def rollback(self) -> None:
        """Undo the open transaction, if any."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (rolling back; a held send lock is released)."""

    # -- send locks -----------------------------------------------------------------
    @abstractmethod
    def try_lock(self, issue: str) -> bool:
        """Take the issue's send lock; False if another process holds it."""

    @abstractmethod
    def unlock(self, issue: str) -> None:
        """Release the issue's send lock if this process holds it."""

    @abstractmethod
    def lock_where(self, issue: str) -> str:
        """Name the issue's send lock for a message."""

    # -- the ledger -----------------------------------------------------------------
    @abstractmethod
    def detach(self, issue: str) -> None:
        """Mark every row of the issue as not in the list (line NULL) before a plan."""

    @abstractmethod
    def listed(self, issue: str, keys: Sequence[str]) -> dict[str, int]:
        """Return {key: line} of the keys already in the list of this plan."""

    @abstractmethod
    def upsert(self, issue: str, rows: Sequence[tuple], now: float) -> None:
        """Write (key, address, line, state, reason) rows of the list.

        A known row takes the new line and address; its state changes only from
        pending, suppressed or invalid (sent, failed and unknown are kept).
        """

    @abstractmethod
    def forget_unlisted(self, issue: str) -> None:
        """Delete rows no longer in the list that were never attempted."""

    def planned(self, issue: str, rows: int) -> None:  # noqa: B027 (most stores need nothing)
        """Note that a plan wrote rows (a store may refresh its query statistics)."""

    @abstractmethod
    def update(
        self, issue: str, columns: Sequence[str], rows: Sequence[tuple], durable: bool = False
    ) -> None:
        """Set columns of keys in one committed transaction; rows are (*values, key).

        durable=True: the commit survives even the machine dying (the in-flight mark).
        """

    @abstractmethod
    def recover(self, issue: str, reason: str) -> int:
        """Turn the issue's inflight rows into unknown with reason; return how many."""

    @abstractmethod
    def entries(self, issue: str, states: Sequence[str], after: int, limit: int) -> list[tuple]:
        """Return up to limit (line, key, address, state, batch) rows past line, in order."""

    @abstractmethod
    def counts(self, issue: str) -> dict[str, int]:
        """Return {state: rows} of the issue (states with rows only)."""

    @abstractmethod
    def addresses(self, issue: str, state: str) -> Iterator[str]:
        """Yield the addresses in one state, in list order."""

    @abstractmethod
    def reasons(self, issue: str, state: str, limit: int) -> list[tuple[str, int]]:
        """Return the commonest (reason, count) of a state."""

    @abstractmethod
    def unknown_batches(self, issue: str) -> dict[str, int]:
        """Return {batch: size} of the listed unknown rows."""

    @abstractmethod
    def rows_in_state(self, issue: str, state: str) -> list[tuple]:
        """Return (key, batch, provider, updated, reason) of every row in a state, by batch."""

    # -- the suppression list -------------------------------------------------------
    @abstractmethod
    def suppressed(self, keys: Sequence[str]) -> set[str]:
        """Return which of the keys are suppressed."""

    @abstractmethod
    def suppress(self, rows: Sequence[tuple], durable: bool = False) -> int:
        """Add (key, address, reason, added, source, list) rows unless listed; return new ones.

        durable=True: in a committed transaction of its own that survives even the machine
        dying (a reader's unsubscribe, answered 200 only after it).
        """

    @abstractmethod
    def suppressions(self) -> Iterator[tuple]:
        """Yield (address, reason, source, added, list) of every suppressed address, by key."""

    @abstractmethod
    def sync_cursor(self, provider: str) -> float | None:
        """Return the provider time the last suppression sync of provider reached."""

    @abstractmethod
    def set_sync_cursor(self, provider: str, reached: float, now: float) -> None:
        """Remember (committed) how far the suppression sync of provider got."""

    # -- provenance -----------------------------------------------------------------
    @abstractmethod
    def record_send(self, issue: str, row: tuple) -> None:
        """Add (started, git_commit, dirty, allowed, provider) of a send, committed."""

    @abstractmethod
    def sends(self, issue: str) -> list[tuple]:
        """Return (started, git_commit, dirty, allowed, provider) of the issue's sends, in order."""

    # -- copying (state migrate) ----------------------------------------------------
    @abstractmethod
    def issues(self) -> list[str]:
        """Return the issues the ledger holds rows of."""

    @abstractmethod
    def count(self, table: str) -> int:
        """Return the number of rows in one of migrations.TABLES."""

    @abstractmethod
    def dump(self, table: str) -> tuple[list[str], Iterator[tuple]]:
        """Return the columns and a stream of the rows of a table."""

    @abstractmethod
    def load(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        """Insert rows into a table inside the open transaction, skipping keys it holds.

        Return how many were new.
        """

    # -- schema ---------------------------------------------------------------------
    @abstractmethod
    def _lock_schema(self) -> None:
        """Start the migration transaction, excluding other migrating processes."""

    @abstractmethod
    def _execute(self, sql: str) -> None:
        """Run one statement of a migration."""

    @abstractmethod
    def schema_version(self) -> int:
        """Return the number of the last migration applied (0: none)."""

    def migrate(self) -> int:
        """Apply the store's pending migrations in one transaction; return the version."""
        self._lock_schema()
        try:
            current = self.schema_version()
            if current > migrations.latest(self.name):
                raise StateError(
                    f"the state in {self.url} is at schema version {current}, newer than this "
                    f"newsletter knows ({migrations.latest(self.name)}): upgrade newsletter"
                )
            for number, statements in migrations.after(self.name, current):
                for sql in statements:
                    self._execute(sql)
                self._execute(migrations.record(number, time.time()))
            self.commit()
        except BaseException:
            self.rollback()
            raise
        return migrations.latest(self.name)


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Yield lists of up to size items."""
    part: list = []
    for item in items:
        part.append(item)
        if len(part) == size:
            yield part
            part = []
    if part:
        yield part
