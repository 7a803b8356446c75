"""The numbered schema migrations of each store, applied in order by Store.migrate().

Never edit a migration that has shipped: add the next number, for both stores, so a
database made by any earlier version of the tool reaches the same schema. The table
schema_version holds one row per migration applied. Migration 1 uses IF NOT EXISTS so
that send.db files made before versioning (which hold its tables already) are adopted
in place.
"""

from __future__ import annotations

SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
)

SQLITE: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS recipients (
            issue      TEXT NOT NULL,
            key        TEXT NOT NULL,     -- lower-cased address; '!<line>' for an invalid row
            address    TEXT NOT NULL,
            line       INTEGER,           -- line in the list of the latest run, NULL if absent
            state      TEXT NOT NULL,
            batch      TEXT,
            provider   TEXT,
            message_id TEXT,
            reason     TEXT,
            updated    REAL,
            PRIMARY KEY (issue, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX IF NOT EXISTS recipients_line ON recipients (issue, line)",
        """CREATE TABLE IF NOT EXISTS suppression (
            key     TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            reason  TEXT NOT NULL,
            added   REAL NOT NULL
        ) WITHOUT ROWID""",
    ),
    # Suppressions say where they came from and for which list (`newsletter serve`,
    # `suppress sync`); old rows get source 'unknown'. Sync cursors: how far each
    # provider's sync got, in the provider's time (epoch seconds).
    2: (
        "ALTER TABLE suppression ADD COLUMN source TEXT NOT NULL DEFAULT 'unknown'",
        "ALTER TABLE suppression ADD COLUMN list TEXT",
        """CREATE TABLE IF NOT EXISTS sync_cursor (
            provider TEXT PRIMARY KEY,
            cursor   REAL NOT NULL,
            updated  REAL NOT NULL
        ) WITHOUT ROWID""",
    ),
    # Provenance: one row per send of an issue, with the git commit it was sent from
    # (NULL: the workspace is not in git) and the sent files that differed from it.
    3: (
        """CREATE TABLE IF NOT EXISTS sends (
            issue      TEXT NOT NULL,
            started    REAL NOT NULL,
            git_commit TEXT,
            dirty      TEXT NOT NULL,   -- workspace-relative paths, one a line
            allowed    INTEGER NOT NULL, -- 1: sent with --allow-dirty
            provider   TEXT NOT NULL,
            PRIMARY KEY (issue, started)
        ) WITHOUT ROWID""",
    ),
    4: (),  # PostgreSQL's fillfactor has no SQLite counterpart
}

POSTGRESQL: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS recipients (
            issue      TEXT NOT NULL,
            key        TEXT NOT NULL,
            address    TEXT NOT NULL,
            line       INTEGER,
            state      TEXT NOT NULL,
            batch      TEXT,
            provider   TEXT,
            message_id TEXT,
            reason     TEXT,
            updated    DOUBLE PRECISION,
            PRIMARY KEY (issue, key)
        )""",
        "CREATE INDEX IF NOT EXISTS recipients_line ON recipients (issue, line)",
        """CREATE TABLE IF NOT EXISTS suppression (
            key     TEXT PRIMARY KEY,
            address TEXT NOT NULL,
            reason  TEXT NOT NULL,
            added   DOUBLE PRECISION NOT NULL
        )""",
    ),
    2: (
        "ALTER TABLE suppression ADD COLUMN IF NOT EXISTS source TEXT NOT NULL DEFAULT 'unknown'",
        "ALTER TABLE suppression ADD COLUMN IF NOT EXISTS list TEXT",
        """CREATE TABLE IF NOT EXISTS sync_cursor (
            provider TEXT PRIMARY KEY,
            cursor   DOUBLE PRECISION NOT NULL,
            updated  DOUBLE PRECISION NOT NULL
        )""",
    ),
    3: (
        """CREATE TABLE IF NOT EXISTS sends (
            issue      TEXT NOT NULL,
            started    DOUBLE PRECISION NOT NULL,
            git_commit TEXT,
            dirty      TEXT NOT NULL,
            allowed    INTEGER NOT NULL,  -- as in SQLite, so `state migrate` copies it as is
            provider   TEXT NOT NULL,
            PRIMARY KEY (issue, started)
        )""",
    ),
    # Room on each page for a row's next version: marking a batch in flight, then sent,
    # rewrites each row twice, and a version that fits on its page leaves the indexes
    # alone (a HOT update). Existing pages get the room as they are rewritten.
    4: ("ALTER TABLE recipients SET (fillfactor = 60)",),
}

BY_STORE = {"sqlite": SQLITE, "postgresql": POSTGRESQL}

# Every table of the state, with its key: `newsletter state migrate` copies these, in order.
# A migration that adds a table adds it here too.
TABLES: dict[str, tuple[str, ...]] = {
    "recipients": ("issue", "key"),
    "suppression": ("key",),
    "sync_cursor": ("provider",),
    "sends": ("issue", "started"),
}


def latest(store: str) -> int:
    """Return the number of the store's newest migration."""
    return max(BY_STORE[store])


def after(store: str, version: int) -> list[tuple[int, tuple[str, ...]]]:
    """Return the store's migrations newer than version, in order."""
    return sorted((n, sql) for n, sql in BY_STORE[store].items() if n > version)


def record(number: int, now: float) -> str:
    """Return the statement that notes a migration as applied."""
    return f"INSERT INTO schema_version (version, applied) VALUES ({int(number)}, {float(now)})"
