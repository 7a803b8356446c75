"""The send ledger: each recipient's state per issue, in SQLite (WAL) under .newsletter/.

States: pending -> inflight -> sent | failed; inflight rows left behind by a crash become
unknown (the provider may or may not have them); suppressed and invalid rows are never
mailed. A batch is committed as inflight before it goes out and its results are committed
as soon as the provider answers, so a `kill -9` loses at most the batches in flight, and
those are reported. The ledger holds addresses, states, provider message ids and
reasons: no message bodies, no secrets.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.errors import SendError

STATES = ("pending", "sent", "failed", "unknown", "suppressed", "invalid")
DB_NAME = "send.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS recipients (
    issue      TEXT NOT NULL,
    key        TEXT NOT NULL,     -- lower-cased address; '!<line>' for an invalid row
    address    TEXT NOT NULL,
    line       INTEGER,           -- first line in the list of the latest run, NULL if absent
    state      TEXT NOT NULL,
    batch      TEXT,
    provider   TEXT,
    message_id TEXT,
    reason     TEXT,
    updated    REAL,
    PRIMARY KEY (issue, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipients_line ON recipients (issue, line);
CREATE TABLE IF NOT EXISTS suppression (
    key     TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    reason  TEXT NOT NULL,
    added   REAL NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One recipient the run will mail, as the ledger knows it."""

    line: int
    key: str
    address: str
    state: str
    batch: str | None


@dataclass
class Plan:
    """What planning a run found in the list, for the confirmation and the report."""

    rows: int = 0
    invalid: int = 0
    duplicates: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # first few only
    counts: dict[str, int] = field(default_factory=dict)


def connect(state_dir: Path) -> sqlite3.Connection:
    """Open (creating) the workspace's send database in WAL mode."""
    state_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(state_dir / DB_NAME, isolation_level=None, timeout=30)
    # WAL + NORMAL: a commit is in the operating system's hands when it returns, so it
    # survives the process being killed (kill -9, Ctrl-C, a crash) without an fsync; only
    # a power cut or a kernel crash can lose the last few. Losing a result (sent, failed)
    # that way leaves its recipients in flight, which the next run reports as unknown and
    # never resends on its own: safe. Losing an in-flight mark would not be (the batch
    # may be out, and its recipients would look pending), so Ledger.mark_inflight alone
    # commits with synchronous=FULL: on disk before the POST, for about 0.2 ms a batch.
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


class Ledger:
    """The states of one issue's recipients."""

    def __init__(self, db: sqlite3.Connection, issue: str):
        self.db = db
        self.issue = issue

    # -- planning -----------------------------------------------------------------
    def plan(self, rows: Iterable, check, keep: bool = True, max_problems: int = 50) -> Plan:
        """Record every row of the list; report invalid rows and duplicates (by line).

        With keep=False the transaction stays open (a dry run rolls it back at the end).
        """
        plan = Plan()
        db, issue, now = self.db, self.issue, time.time()
        if not db.in_transaction:  # (a ledger rebuilt from the provider's records is in one)
            db.execute("BEGIN")
        db.execute("UPDATE recipients SET line = NULL WHERE issue = ?", (issue,))
        for row in rows:
            plan.rows += 1
            email, why = check(row.address)
            if email is None:
                plan.invalid += 1
                if len(plan.problems) < max_problems:
                    plan.problems.append((row.line, row.address, f"invalid address: {why}"))
                db.execute(
                    "INSERT OR REPLACE INTO recipients (issue, key, address, line, state, reason,"
                    " updated) VALUES (?, ?, ?, ?, 'invalid', ?, ?)",
                    (issue, f"!{row.line}", row.address, row.line, why, now),
                )
                continue
            key = email.lower()
            found = db.execute(
                "SELECT line FROM recipients WHERE issue = ? AND key = ?", (issue, key)
            ).fetchone()
            if found and found[0] is not None:
                plan.duplicates += 1
                if len(plan.problems) < max_problems:
                    plan.problems.append((row.line, row.address, f"duplicate of line {found[0]}"))
                continue
            suppressed = db.execute("SELECT 1 FROM suppression WHERE key = ?", (key,)).fetchone()
            fresh = "suppressed" if suppressed else "pending"
            if found is None:
                db.execute(
                    "INSERT INTO recipients (issue, key, address, line, state, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (issue, key, email, row.line, fresh, now),
                )
            else:  # known from an earlier run: sent, failed and unknown keep their state
                db.execute(
                    "UPDATE recipients SET line = ?, address = ?, state = CASE WHEN state IN"
                    " ('pending', 'suppressed') THEN ? ELSE state END WHERE issue = ? AND key = ?",
                    (row.line, email, fresh, issue, key),
                )
        # Rows no longer in the list that were never attempted are forgotten.
        db.execute(
            "DELETE FROM recipients WHERE issue = ? AND line IS NULL"
            " AND state IN ('pending', 'suppressed', 'invalid')",
            (issue,),
        )
        if keep:
            db.execute("COMMIT")
        plan.counts = self.counts()
        return plan

    def rollback(self) -> None:
        """Undo an uncommitted plan (dry run)."""
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def entries(self, states: Iterable[str], chunk: int = 1000) -> Iterator[Entry]:
        """Yield the rows of the current list in the given states, in list order."""
        states = tuple(states)
        marks = ",".join("?" * len(states))
        after = 0
        while True:
            rows = self.db.execute(
                "SELECT line, key, address, state, batch FROM recipients WHERE issue = ?"
                f" AND line > ? AND state IN ({marks}) ORDER BY line LIMIT ?",
                (self.issue, after, *states, chunk),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield Entry(*row)
            after = rows[-1][0]

    # -- state changes ------------------------------------------------------------
    def _set(self, sql: str, params: Iterable[tuple]) -> None:
        with self.db:  # one transaction per batch: all of it or none of it
            self.db.execute("BEGIN")
            self.db.executemany(sql, params)

    def mark_inflight(self, keys: list[str], batch: str, provider: str) -> None:
        """Commit a batch as in flight, on disk (see connect()), before it goes out."""
        now = time.time()
        self.db.execute("PRAGMA synchronous=FULL")
        try:
            self._set(
                "UPDATE recipients SET state = 'inflight', batch = ?, provider = ?,"
                " updated = ?, reason = NULL WHERE issue = ? AND key = ?",
                [(batch, provider, now, self.issue, k) for k in keys],
            )
        finally:
            self.db.execute("PRAGMA synchronous=NORMAL")

    def mark_sent(self, results: list[tuple[str, str | None]]) -> None:
        """Record (key, provider message id) pairs as sent."""
        now = time.time()
        self._set(
            "UPDATE recipients SET state = 'sent', message_id = ?, updated = ?"
            " WHERE issue = ? AND key = ?",
            [(mid, now, self.issue, k) for k, mid in results],
        )

    def mark_failed(self, results: list[tuple[str, str]]) -> None:
        """Record (key, the provider's reason) pairs as failed, in one transaction."""
        now = time.time()
        self._set(
            "UPDATE recipients SET state = 'failed', reason = ?, updated = ?"
            " WHERE issue = ? AND key = ?",
            [(reason, now, self.issue, k) for k, reason in results],
        )

    def mark(self, keys: list[str], state: str, reason: str | None = None) -> None:
        """Set failed, unknown or pending (with the provider's reason) for keys."""
        now = time.time()
        self._set(
            "UPDATE recipients SET state = ?, reason = ?, updated = ? WHERE issue = ? AND key = ?",
            [(state, reason, now, self.issue, k) for k in keys],
        )

    def recover(self) -> int:
        """Turn batches left in flight by a crash into unknown; return how many recipients.

        Their time becomes now: the dead run's calls all started before, so a provider's
        search settles (see reconcile) counting from here at the latest.
        """
        cursor = self.db.execute(
            "UPDATE recipients SET state = 'unknown', updated = ?,"
            " reason = 'in flight when a send stopped; the provider may or may not have it'"
            " WHERE issue = ? AND state = 'inflight'",
            (time.time(), self.issue),
        )
        return cursor.rowcount

    # -- reconciling with the provider's records -------------------------------------
    def has_records(self) -> bool:
        """Return True when the ledger knows anything of this issue."""
        found = self.db.execute(
            "SELECT 1 FROM recipients WHERE issue = ? LIMIT 1", (self.issue,)
        ).fetchone()
        return found is not None

    def unknown_groups(self) -> dict[str, tuple[list[str], float, str | None]]:
        """Return each unknown batch's keys, latest change (epoch seconds) and provider."""
        groups: dict[str, tuple[list[str], float, str | None]] = {}
        for batch, key, updated, provider in self.db.execute(
            "SELECT batch, key, updated, provider FROM recipients"
            " WHERE issue = ? AND state = 'unknown' ORDER BY batch",
            (self.issue,),
        ):
            keys, latest, _ = groups.get(batch, ([], 0.0, provider))
            keys.append(key)
            groups[batch] = (keys, max(latest, updated or 0.0), provider)
        return groups

    def settle(self, found: list[tuple[str, str | None]], absent: list[str], how: str) -> None:
        """Record what the provider's search said: found -> sent, absent -> pending."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "UPDATE recipients SET state = 'sent', message_id = ?, reason = ?, updated = ?"
                " WHERE issue = ? AND key = ? AND state = 'unknown'",
                [(mid, f"reconciled: {how} has it", now, self.issue, k) for k, mid in found],
            )
            self.db.executemany(
                "UPDATE recipients SET state = 'pending', reason = ?, updated = ?"
                " WHERE issue = ? AND key = ? AND state = 'unknown'",
                [(f"reconciled: {how} does not have it", now, self.issue, k) for k in absent],
            )

    def rebuild(self, found: Iterable[tuple[str, str | None, str | None]], provider: str) -> int:
        """Record (address, message id, batch) the provider has as sent; return how many.

        Runs inside the caller's transaction (the plan that follows is part of it).
        """
        now, count = time.time(), 0
        for address, message_id, batch in found:
            count += self.db.execute(
                "INSERT OR IGNORE INTO recipients (issue, key, address, state, batch, provider,"
                " message_id, reason, updated) VALUES (?, ?, ?, 'sent', ?, ?, ?, ?, ?)",
                (
                    self.issue,
                    address.lower(),
                    address,
                    batch,
                    provider,
                    message_id,
                    f"reconciled: rebuilt from {provider}'s records",
                    now,
                ),
            ).rowcount
        return count

    def reasons_of(self, keys: list[str]) -> list[tuple[str, str | None]]:
        """Return (key, reason) of the given recipients."""
        rows: list[tuple[str, str | None]] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows += self.db.execute(
                f"SELECT key, reason FROM recipients WHERE issue = ? AND key IN"
                f" ({','.join('?' * len(chunk))})",
                (self.issue, *chunk),
            ).fetchall()
        return rows

    def reconciled(self) -> int:
        """Return how many recipients reconciling found at the provider (now sent)."""
        (count,) = self.db.execute(
            "SELECT COUNT(*) FROM recipients WHERE issue = ? AND state = 'sent'"
            " AND reason LIKE 'reconciled:%'",
            (self.issue,),
        ).fetchone()
        return count

    # -- reports ------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Return the number of recipients in each state (every state, zeros included)."""
        counts = dict.fromkeys(STATES, 0)
        for state, n in self.db.execute(
            "SELECT state, COUNT(*) FROM recipients WHERE issue = ? GROUP BY state", (self.issue,)
        ):
            counts[state] = n
        return counts

    def addresses(self, state: str) -> Iterator[str]:
        """Yield the addresses in one state, in list order."""
        for (address,) in self.db.execute(
            "SELECT address FROM recipients WHERE issue = ? AND state = ?"
            " ORDER BY line IS NULL, line, key",
            (self.issue, state),
        ):
            yield address

    def reasons(self, state: str = "failed", limit: int = 5) -> list[tuple[str, int]]:
        """Return the commonest reasons of a state, with their counts."""
        return self.db.execute(
            "SELECT reason, COUNT(*) AS n FROM recipients WHERE issue = ? AND state = ?"
            " GROUP BY reason ORDER BY n DESC LIMIT ?",
            (self.issue, state, limit),
        ).fetchall()

    def unknown_batches(self) -> dict[str, int]:
        """Return the size of each batch whose recipients are unknown, by batch id."""
        return dict(
            self.db.execute(
                "SELECT batch, COUNT(*) FROM recipients WHERE issue = ? AND state = 'unknown'"
                " AND line IS NOT NULL GROUP BY batch",
                (self.issue,),
            ).fetchall()
        )


class SendLock:
    """An exclusive lock on sending one issue: two runs must never share a ledger."""

    def __init__(self, state_dir: Path, issue: str):
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / f"send-{issue}.lock"
        self.handle = None

    def acquire(self, wait: bool = False) -> bool:
        """Take the lock; return False (or raise with wait=False) if another run holds it."""
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.handle = handle
        return True

    def require(self) -> SendLock:
        """Take the lock or fail with a message naming the lock file."""
        if not self.acquire():
            raise SendError(
                f"another 'newsletter send' is running for this issue (lock: {self.path})"
            )
        return self

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self) -> SendLock:
        return self.require()

    def __exit__(self, *exc) -> None:
        self.release()
