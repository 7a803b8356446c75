"""The suppression list: addresses that are never mailed (unsubscribes, bounces, complaints).

It lives in the workspace's send database next to the ledger, keyed case-insensitively,
and applies to every issue: planning a send marks listed recipients suppressed. Each entry
says why (reason), where it came from (source: `one-click` or `link` for `newsletter
serve`, a provider's name for `suppress sync`, `manual` or `import` from the command
line), when (the provider's time where it has one) and for which list. The first entry of
an address wins: repeating an unsubscribe, or syncing it again, changes nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.errors import SendError
from newsletter.send.subscribers import check_address, read_rows

REASONS = ("unsubscribe", "bounce", "complaint", "invalid", "manual")

# Columns added to databases made before suppressions had a source and a list (issue 11):
# old rows get source 'unknown' and no list, and keep their reason and time.
COLUMNS = {"source": "TEXT NOT NULL DEFAULT 'unknown'", "list": "TEXT"}
CURSORS = """
CREATE TABLE IF NOT EXISTS sync_cursor (
    provider TEXT PRIMARY KEY,
    cursor   TEXT NOT NULL,   -- the provider's time (epoch seconds) the last sync reached
    updated  REAL NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One suppressed address, as `suppress list` shows it."""

    address: str
    reason: str
    source: str
    added: float
    list: str | None


def migrate(db: sqlite3.Connection) -> None:
    """Add the suppression table's newer columns and the sync cursors, in place."""
    have = {row[1] for row in db.execute("PRAGMA table_info(suppression)")}
    for name, kind in COLUMNS.items():
        if name not in have:
            db.execute(f"ALTER TABLE suppression ADD COLUMN {name} {kind}")
    db.executescript(CURSORS)


@dataclass
class Added:
    """What adding addresses did: how many were new, and which could not be read."""

    added: int = 0
    known: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (where, why)


_INSERT = (
    "INSERT OR IGNORE INTO suppression (key, address, reason, added, source, list)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise SendError(f"unknown reason '{reason}' (one of: {', '.join(REASONS)})")


def add(
    db: sqlite3.Connection,
    addresses: Iterable[tuple[str, str]],
    reason: str,
    source: str = "manual",
    list_id: str | None = None,
) -> Added:
    """Suppress (where, address) pairs; where names the source for messages (file:line)."""
    _check_reason(reason)
    result, now = Added(), time.time()
    with db:
        db.execute("BEGIN")
        for where, address in addresses:
            email, why = check_address(address.strip())
            if email is None:
                result.invalid.append((where, f"'{address}': {why}"))
                continue
            cursor = db.execute(_INSERT, (email.lower(), email, reason, now, source, list_id))
            if cursor.rowcount:
                result.added += 1
            else:
                result.known += 1
    return result


def record(
    db: sqlite3.Connection, email: str, reason: str, source: str, list_id: str | None
) -> bool:
    """Suppress one checked address, on disk before returning; return True if it is new."""
    _check_reason(reason)
    # FULL: the answer to a reader's unsubscribe promises it is kept, even through a power
    # cut; about a millisecond per unsubscribe.
    db.execute("PRAGMA synchronous=FULL")
    try:
        with db:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(
                _INSERT, (email.lower(), email, reason, time.time(), source, list_id)
            )
            return bool(cursor.rowcount)
    finally:
        db.execute("PRAGMA synchronous=NORMAL")


def record_many(
    db: sqlite3.Connection, found: Iterable[tuple[str, str, float]], source: str
) -> dict[str, int]:
    """Suppress (address, reason, time) triples from a provider; return new ones by reason."""
    new: dict[str, int] = {}
    with db:
        db.execute("BEGIN")
        for address, reason, when in found:
            email, _ = check_address(address.strip())
            if email is None:  # a provider may hold addresses we would never send to
                continue
            cursor = db.execute(_INSERT, (email.lower(), email, reason, when, source, None))
            if cursor.rowcount:
                new[reason] = new.get(reason, 0) + 1
    return new


def file_addresses(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (file:line, address) from a CSV with an address column or one address a line."""
    from newsletter.errors import display_path

    try:
        with path.open(encoding="utf-8-sig") as handle:
            first = handle.readline()
    except OSError as exc:
        raise SendError(f"cannot read {display_path(path)}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SendError(f"{display_path(path)} is not UTF-8 text ({exc.reason})") from None
    shown = display_path(path)
    if "@" in first:  # no header: a bare list of addresses
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    yield f"{shown}:{number}", line.strip()
        return
    for row in read_rows(path):
        yield f"{shown}:{row.line}", row.address


def entries(db: sqlite3.Connection) -> Iterator[Entry]:
    """Yield every suppressed address, sorted."""
    for row in db.execute(
        "SELECT address, reason, source, added, list FROM suppression ORDER BY key"
    ):
        yield Entry(*row)


def cursor(db: sqlite3.Connection, provider: str) -> float | None:
    """Return the provider time the last sync of this provider reached, if any."""
    row = db.execute("SELECT cursor FROM sync_cursor WHERE provider = ?", (provider,)).fetchone()
    return float(row[0]) if row else None


def set_cursor(db: sqlite3.Connection, provider: str, reached: float) -> None:
    """Remember how far a provider's sync got."""
    with db:
        db.execute("BEGIN")
        db.execute(
            "INSERT OR REPLACE INTO sync_cursor (provider, cursor, updated) VALUES (?, ?, ?)",
            (provider, repr(reached), time.time()),
        )
