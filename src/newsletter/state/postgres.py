"""The PostgreSQL store (psycopg 3): one database shared by every machine that sends or serves.

Durability: the session runs with synchronous_commit=on, so a commit (the in-flight mark
above all) is on the server's disk when it returns; results are committed with
synchronous_commit=off, as SQLite commits them with synchronous=NORMAL: losing the last
few to a server crash leaves recipients in flight, reported as unknown, never resent
silently. Send locks are session-level advisory locks: the server drops them when the
connection ends, so a process killed with -9 releases its lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from newsletter.errors import StateError
from newsletter.state import migrations
from newsletter.state.base import COLUMNS, Store
from newsletter.state.urls import mask, scrub

# Array types for unnest(): results and marks are one statement per batch, not per row.
TYPES = {
    "key": "text",
    "address": "text",
    "line": "int4",
    "state": "text",
    "batch": "text",
    "provider": "text",
    "message_id": "text",
    "reason": "text",
    "updated": "float8",
}


def unnest(columns: Sequence[str]) -> sql.Composed:
    """Return unnest(%s::t1[], %s::t2[], ...) AS u(c1, c2, ...) for the columns."""
    arrays = sql.SQL(", ").join(sql.SQL(f"%s::{TYPES[c]}[]") for c in columns)
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    return sql.SQL("unnest({}) AS u({})").format(arrays, names)


def columns_of(rows: Sequence[tuple], width: int) -> list[list]:
    """Transpose rows into one list per column (the arrays unnest() takes)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * width


class PostgresStore(Store):
    """The state in a PostgreSQL database, shared across machines."""

    name = "postgresql"

    def __init__(self, url: str):
        self.url = mask(url)
        try:
            self.conn = psycopg.connect(
                url, autocommit=True, connect_timeout=15, application_name="newsletter"
            )
            # The guarantee, whatever the server's or the role's default says.
            self.conn.execute("SET synchronous_commit = on")
        except psycopg.Error as exc:
            why = scrub(exc, url)
            raise StateError(f"cannot open the state database {self.url}: {why}") from None
        self.locks: set[str] = set()

    def _run(self, query, params=()) -> psycopg.Cursor:
        return self.conn.execute(query, params)

    # -- transactions ---------------------------------------------------------------
    def begin(self) -> None:
        self._run("BEGIN")

    def commit(self) -> None:
        status = self.conn.info.transaction_status
        if status == TransactionStatus.INTRANS:
            self._run("COMMIT")
        elif status == TransactionStatus.INERROR:
            self._run("ROLLBACK")

    def rollback(self) -> None:
        if self.conn.info.transaction_status != TransactionStatus.IDLE:
            self._run("ROLLBACK")

    def close(self) -> None:
        if not self.conn.closed:
            self.rollback()
            self.conn.close()  # the server drops this session's advisory locks
        self.locks.clear()

    # -- send locks -----------------------------------------------------------------
    LOCK_KEY = "hashtextextended('newsletter send ' || current_schema() || ' ' || %s, 0)"

    def try_lock(self, issue: str) -> bool:
        if issue in self.locks:
            return True
        (taken,) = self._run(f"SELECT pg_try_advisory_lock({self.LOCK_KEY})", (issue,)).fetchone()
        if taken:
            self.locks.add(issue)
        return taken

    def unlock(self, issue: str) -> None:
        if issue in self.locks and not self.conn.closed:
            self._run(f"SELECT pg_advisory_unlock({self.LOCK_KEY})", (issue,))
        self.locks.discard(issue)

    def lock_where(self, issue: str) -> str:
        return f"advisory lock in {self.url}"

    # -- the ledger -----------------------------------------------------------------
    def detach(self, issue: str) -> None:
        self._run(
            "UPDATE recipients SET line = NULL WHERE issue = %s AND line IS NOT NULL", (issue,)
        )

    def listed(self, issue: str, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        return dict(
            self._run(
                "SELECT key, line FROM recipients WHERE issue = %s AND line IS NOT NULL"
                " AND key = ANY(%s)",
                (issue, list(keys)),
            ).fetchall()
        )

    def upsert(self, issue: str, rows: Sequence[tuple], now: float) -> None:
        if not rows:
            return
        columns = ("key", "address", "line", "state", "reason")
        query = sql.SQL(
            "INSERT INTO recipients AS r (issue, key, address, line, state, reason, updated)"
            " SELECT %s, key, address, line, state, reason, %s FROM {}"
            " ON CONFLICT (issue, key) DO UPDATE SET"
            " line = excluded.line, address = excluded.address,"
            " state = CASE WHEN r.state IN ('pending', 'suppressed', 'invalid')"
            " THEN excluded.state ELSE r.state END,"
            " reason = CASE WHEN excluded.state = 'invalid' THEN excluded.reason ELSE r.reason END,"
            " updated = CASE WHEN excluded.state = 'invalid'"
            " THEN excluded.updated ELSE r.updated END"
        ).format(unnest(columns))
        self._run(query, (issue, now, *columns_of(rows, len(columns))))

    def forget_unlisted(self, issue: str) -> None:
        self._run(
            "DELETE FROM recipients WHERE issue = %s AND line IS NULL"
            " AND state IN ('pending', 'suppressed', 'invalid')",
            (issue,),
        )

    def planned(self, issue: str, rows: int) -> None:
        # Statistics from before a big list was loaded make the planner read the whole
        # issue for every batch's UPDATE (80 ms a batch at 100,000 rows, not 2): refresh
        # them now, as PostgreSQL advises after a bulk load, not when autovacuum gets to it.
        if rows >= 1000:
            self._run("ANALYZE recipients")

    def update(
        self, issue: str, columns: Sequence[str], rows: Sequence[tuple], durable: bool = False
    ) -> None:
        assert COLUMNS.issuperset(columns), columns
        if not rows:
            return
        sets = sql.SQL(", ").join(
            sql.SQL("{} = u.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in columns
        )
        # The batch joins as an unnest() of arrays: one statement, one round trip. The
        # extra `key = ANY(keys)` makes the planner fetch just the batch's rows by primary
        # key; without it, it may hash the issue's whole ledger for every batch (70 ms at
        # 100,000 rows instead of 2).
        query = sql.SQL(
            "UPDATE recipients AS r SET {} FROM {}"
            " WHERE r.issue = %s AND r.key = ANY(%s) AND r.key = u.key"
        ).format(sets, unnest((*columns, "key")))
        arrays = columns_of(rows, len(columns) + 1)
        # One transaction: all of the batch or none of it. Only the in-flight mark must
        # wait for the server's disk; results may not (see the module docstring).
        with self.conn.transaction(), self.conn.cursor() as cursor:
            if not durable:
                cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(query, (*arrays, issue, arrays[-1]))

    def recover(self, issue: str, reason: str) -> int:
        return self._run(
            "UPDATE recipients SET state = 'unknown', reason = %s"
            " WHERE issue = %s AND state = 'inflight'",
            (reason, issue),
        ).rowcount

    def entries(self, issue: str, states: Sequence[str], after: int, limit: int) -> list[tuple]:
        return self._run(
            "SELECT line, key, address, state, batch FROM recipients WHERE issue = %s"
            " AND line > %s AND state = ANY(%s) ORDER BY line LIMIT %s",
            (issue, after, list(states), limit),
        ).fetchall()

    def counts(self, issue: str) -> dict[str, int]:
        return dict(
            self._run(
                "SELECT state, COUNT(*) FROM recipients WHERE issue = %s GROUP BY state", (issue,)
            ).fetchall()
        )

    def addresses(self, issue: str, state: str) -> Iterator[str]:
        query = (
            "SELECT address FROM recipients WHERE issue = %s AND state = %s"
            " ORDER BY line IS NULL, line, key"
        )
        for (address,) in self.conn.cursor().stream(query, (issue, state)):
            yield address

    def reasons(self, issue: str, state: str, limit: int) -> list[tuple[str, int]]:
        return self._run(
            "SELECT reason, COUNT(*) AS n FROM recipients WHERE issue = %s AND state = %s"
            " GROUP BY reason ORDER BY n DESC LIMIT %s",
            (issue, state, limit),
        ).fetchall()

    def unknown_batches(self, issue: str) -> dict[str, int]:
        return dict(
            self._run(
                "SELECT batch, COUNT(*) FROM recipients WHERE issue = %s AND state = 'unknown'"
                " AND line IS NOT NULL GROUP BY batch",
                (issue,),
            ).fetchall()
        )

    def rows_in_state(self, issue: str, state: str) -> list[tuple]:
        return self._run(
            "SELECT key, batch, provider, updated, reason FROM recipients"
            " WHERE issue = %s AND state = %s ORDER BY batch, key",
            (issue, state),
        ).fetchall()

    # -- the suppression list -------------------------------------------------------
    def suppressed(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        found = self._run("SELECT key FROM suppression WHERE key = ANY(%s)", (list(keys),))
        return {key for (key,) in found}

    def suppress(self, rows: Sequence[tuple], durable: bool = False) -> int:
        if not rows:
            return 0
        query = (
            "INSERT INTO suppression (key, address, reason, added, source, list)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING"
        )
        with self.conn.cursor() as cursor:  # executemany pipelines the rows: one round trip
            if not durable:
                cursor.executemany(query, rows)
                return cursor.rowcount
            # Its own transaction, committed with synchronous_commit=on (the session's).
            with self.conn.transaction():
                cursor.executemany(query, rows)
            return cursor.rowcount

    def suppressions(self) -> Iterator[tuple]:
        query = "SELECT address, reason, source, added, list FROM suppression ORDER BY key"
        yield from self.conn.cursor().stream(query)

    def sync_cursor(self, provider: str) -> float | None:
        row = self._run(
            "SELECT cursor FROM sync_cursor WHERE provider = %s", (provider,)
        ).fetchone()
        return row[0] if row else None

    def set_sync_cursor(self, provider: str, reached: float, now: float) -> None:
        self._run(
            "INSERT INTO sync_cursor (provider, cursor, updated) VALUES (%s, %s, %s)"
            " ON CONFLICT (provider) DO UPDATE SET cursor = excluded.cursor,"
            " updated = excluded.updated",
            (provider, reached, now),
        )

    # -- provenance -----------------------------------------------------------------
    def record_send(self, issue: str, row: tuple) -> None:
        self._run(
            "INSERT INTO sends (issue, started, git_commit, dirty, allowed, provider)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (issue, *row[:3], int(row[3]), row[4]),
        )

    def sends(self, issue: str) -> list[tuple]:
        return self._run(
            "SELECT started, git_commit, dirty, allowed, provider FROM sends"
            " WHERE issue = %s ORDER BY started",
            (issue,),
        ).fetchall()

    # -- copying (state migrate) ----------------------------------------------------
    def issues(self) -> list[str]:
        return [i for (i,) in self._run("SELECT DISTINCT issue FROM recipients ORDER BY 1")]

    def count(self, table: str) -> int:
        assert table in migrations.TABLES, table
        query = sql.SQL("SELECT COUNT(*) FROM {}").format(sql.Identifier(table))
        return self._run(query).fetchone()[0]

    def dump(self, table: str) -> tuple[list[str], Iterator[tuple]]:
        assert table in migrations.TABLES, table
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
        columns = [d.name for d in self._run(query + sql.SQL(" LIMIT 0")).description]
        return columns, self.conn.cursor().stream(query)

    def load(self, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        assert table in migrations.TABLES, table
        # COPY into a scratch table, then one INSERT that skips the keys already there.
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        scratch = sql.Identifier(f"copy_{table}")
        self._run(
            sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(
                scratch, sql.Identifier(table)
            )
        )
        with self.conn.cursor() as cursor:
            with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(scratch, names)) as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                    sql.Identifier(table), names, names, scratch
                )
            )
            return cursor.rowcount

    # -- schema ---------------------------------------------------------------------
    def _lock_schema(self) -> None:
        self.begin()
        self._run("SELECT pg_advisory_xact_lock(hashtextextended('newsletter schema', 0))")

    def _execute(self, statement: str) -> None:
        self._run(statement)

    def schema_version(self) -> int:
        self._run(migrations.SCHEMA_VERSION_TABLE)
        return self._run("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
