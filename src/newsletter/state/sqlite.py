"""The SQLite store: one WAL database file (by default .newsletter/send.db), flock send locks."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from newsletter.errors import StateError
from newsletter.state import migrations
from newsletter.state.base import COLUMNS, Store


def marks(n: int) -> str:
    """Return n comma-separated placeholders."""
    return ",".join("?" * n)


class SqliteStore(Store):
    """The state in one SQLite file, for one machine."""

    name = "sqlite"

    def __init__(self, path: Path):
        self.path = path
        self.url = f"sqlite:///{path}"
        self.locks: dict[str, object] = {}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            # WAL + NORMAL: a commit is in the operating system's hands when it returns, so
            # it survives the process being killed (kill -9, Ctrl-C, a crash) without an
            # fsync; only a power cut or a kernel crash can lose the last few. Losing a
            # result (sent, failed) that way leaves its recipients in flight, which the next
            # run reports as unknown and never resends on its own: safe. Losing an in-flight
            # mark would not be (the batch may be out, and its recipients would look
            # pending), so update(durable=True) alone commits with synchronous=FULL: on
            # disk before the call, for about 0.2 ms a batch.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open the state database {path}: {exc}") from None

    # -- transactions ---------------------------------------------------------------
    def begin(self) -> None:
        self.db.execute("BEGIN")

    def commit(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def close(self) -> None:
        self.rollback()
        for issue in list(self.locks):
            self.unlock(issue)
        self.db.close()

    # -- send locks -----------------------------------------------------------------
    def _lock_path(self, issue: str) -> Path:
        return self.path.parent / f"send-{issue}.lock"

    def try_lock(self, issue: str) -> bool:
        if issue in self.locks:
            return True
        handle = self._lock_path(issue).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self.locks[issue] = handle
        return True

    def unlock(self, issue: str) -> None:
        handle = self.locks.pop(issue, None)
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def lock_where(self, issue: str) -> str:
        return f"lock: {self._lock_path(issue)}"

    # -- the ledger -----------------------------------------------------------------
    def detach(self, issue: str) -> None:
        self.db.execute("UPDATE recipients SET line = NULL WHERE issue = ?", (issue,))

    def listed(self, issue: str, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        return dict(
            self.db.execute(
                "SELECT key, line FROM recipients WHERE issue = ? AND line IS NOT NULL"
                f" AND key IN ({marks(len(keys))})",
                (issue, *keys),
            ).fetchall()
        )

    def upsert(self, issue: str, rows: Sequence[tuple], now: float) -> None:
        self.db.executemany(
            "INSERT INTO recipients (issue, key, address, line, state, reason, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (issue, key) DO UPDATE SET"
            " line = excluded.line, address = excluded.address,"
            " state = CASE WHEN state IN ('pending', 'suppressed', 'invalid')"
            " THEN excluded.state ELSE state END,"
            " reason = CASE WHEN excluded.state = 'invalid'"
            " THEN excluded.reason ELSE reason END,"
            " updated = CASE WHEN excluded.state = 'invalid'"
            " THEN excluded.updated ELSE updated END",
            [(issue, *row, now) for row in rows],
        )

    def forget_unlisted(self, issue: str) -> None:
        self.db.execute(
            "DELETE FROM recipients WHERE issue = ? AND line IS NULL"
            " AND state IN ('pending', 'suppressed', 'invalid')",
            (issue,),
        )

    def update(
        self, issue: str, columns: Sequence[str], rows: Sequence[tuple], durable: bool = False
    ) -> None:
        assert COLUMNS.issuperset(columns), columns
        sets = ", ".join(f"{column} = ?" for column in columns)
        if durable:  # SQLite takes the safety level only outside a transaction
            self.db.execute("PRAGMA synchronous=FULL")
        self.begin()  # one transaction per batch: all of it or none of it
        try:
            self.db.executemany(
                f"UPDATE recipients SET {sets} WHERE issue = ? AND key = ?",
                [(*row[:-1], issue, row[-1]) for row in rows],
            )
            self.commit()
        except BaseException:
            self.rollback()
            raise
        finally:
            if durable:
                self.db.execute("PRAGMA synchronous=NORMAL")

    def recover(self, issue: str, reason: str) -> int:
        return self.db.execute(
            "UPDATE recipients SET state = 'unknown', reason = ?"
            " WHERE issue = ? AND state = 'inflight'",
            (reason, issue),
        ).rowcount

    def entries(self, issue: str, states: Sequence[str], after: int, limit: int) -> list[tuple]:
        return self.db.execute(
            "SELECT line, key, address, state, batch FROM recipients WHERE issue = ?"
            f" AND line > ? AND state IN ({marks(len(states))}) ORDER BY line LIMIT ?",
            (issue, after, *states, limit),
        ).fetchall()

    def counts(self, issue: str) -> dict[str, int]:
        return dict(
            self.db.execute(
                "SELECT state, COUNT(*) FROM recipients WHERE issue = ? GROUP BY state", (issue,)
            ).fetchall()
        )

    def addresses(self, issue: str, state: str) -> Iterator[str]:
        for (address,) in self.db.execute(
            "SELECT address FROM recipients WHERE issue = ? AND state = ?"
            " ORDER BY line IS NULL, line, key",
            (issue, state),
        ):
            yield address

    def reasons(self, issue: str, state: str, limit: int) -> list[tuple[str, int]]:
        return self.db.execute(
            "SELECT reason, COUNT(*) AS n FROM recipients WHERE issue = ? AND state = ?"
            " GROUP BY reason ORDER BY n DESC LIMIT ?",
            (issue, state, limit),
        ).fetchall()

    def unknown_batches(self, issue: str) -> dict[str, int]:
        return dict(
            self.db.execute(
                "SELECT batch, COUNT(*) FROM recipients WHERE issue = ? AND state = 'unknown'"
                " AND line IS NOT NULL GROUP BY batch",
                (issue,),
            ).fetchall()
        )

    def rows_in_state(self, issue: str, state: str) -> list[tuple]:
        return self.db.execute(
            "SELECT key, batch, provider, updated, reason FROM recipients"
            " WHERE issue = ? AND state = ? ORDER BY batch, key",
            (issue, state),
        ).fetchall()

    # -- the suppression list -------------------------------------------------------
    def suppressed(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        found = self.db.execute(
            f"SELECT key FROM suppression WHERE key IN ({marks(len(keys))})", tuple(keys)
        )
        return {key for (key,) in found}

    def suppress(self, rows: Sequence[tuple], durable: bool = False) -> int:
        sql = (
            "INSERT OR IGNORE INTO suppression (key, address, reason, added, source, list)"
            " VALUES (?, ?, ?, ?, ?, ?)"
        )
        before = self.db.total_changes
        if not durable:
            self.db.executemany(sql, rows)
            return self.db.total_changes - before
        self.db.execute("PRAGMA synchronous=FULL")  # outside a transaction, as update()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(sql, rows)
                self.commit()
            except BaseException:
                self.rollback()
                raise
        finally:
            self.db.execute("PRAGMA synchronous=NORMAL")
        return self.db.total_changes - before

    def suppressions(self) -> Iterator[tuple]:
        yield from self.db.execute(
            "SELECT address, reason, source, added, list FROM suppression ORDER BY key"
        )

    def sync_cursor(self, provider: str) -> float | None:
        row = self.db.execute(
            "SELECT cursor FROM sync_cursor WHERE provider = ?", (provider,)
        ).fetchone()
        return row[0] if row else None

    def set_sync_cursor(self, provider: str, reached: float, now: float) -> None:
        self.db.execute(
            "INSERT INTO sync_cursor (provider, cursor, updated) VALUES (?, ?, ?)"
            " ON CONFLICT (provider) DO UPDATE SET cursor = excluded.cursor,"
            " updated = excluded.updated",
            (provider, reached, now),
        )

    # -- provenance -----------------------------------------------------------------
    def record_send(self, issue: str, row: tuple) -> None:
        self.db.execute(
            "INSERT INTO sends (issue, started, git_commit, dirty, allowed, provider)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (issue, *row),
        )

    def sends(self, issue: str) -> list[tuple]:
        return self.db.execute(
            "SELECT started, git_commit, dirty, allowed, provider FROM sends"
            " WHERE issue = ? ORDER BY started",
            (issue,),
        ).fetchall()

    # -- copying (state migrate) ----------------------------------------------------
    def issues(self) -> list[str]:
        return [i for (i,) in self.db.execute("SELECT DISTINCT issue FROM recipients ORDER BY 1")]

    def count(self, table: str) -> int:
        assert table in migrations.TABLES, table
        return self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def dump(self, table: str) -> tuple[list[str], Iterator[tuple]]:
        assert table in migrations.TABLES, table
        cursor = self.db.execute(f"SELECT * FROM {table}")
        return [d[0] for d in cursor.description], iter(cursor)

    def load(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        assert table in migrations.TABLES, table
        names = ", ".join(f'"{c}"' for c in columns)
        before = self.db.total_changes
        self.db.executemany(
            f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({marks(len(columns))})", rows
        )
        return self.db.total_changes - before

    # -- schema ---------------------------------------------------------------------
    def _lock_schema(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")  # the write lock now: one migrating process

    def _execute(self, sql: str) -> None:
        self.db.execute(sql)

    def schema_version(self) -> int:
        self.db.execute(migrations.SCHEMA_VERSION_TABLE)
        return self.db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
