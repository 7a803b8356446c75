"""Where the tool keeps its state: the send ledger, the suppression list and the send locks.

    store = open_store(workspace)          # the workspace's state URL, migrated
    ledger = Ledger(store, "vol-2-10")     # newsletter.send.ledger: what the rows mean
    suppression.add(store, pairs, "bounce")

A state URL picks the store:

    sqlite:///path        one file (default: .newsletter/send.db in the workspace)
    postgresql://...      a shared PostgreSQL database, through psycopg 3

Every store implements `Store` (base.py); its SQL is in its own module (sqlite.py,
postgres.py) and its schema in numbered migrations (migrations.py), applied when the
store is opened. Callers use only the `Store` methods:

    begin / commit / rollback / close               transactions
    try_lock / unlock / lock_where                  one send per issue, dies with the process
    detach / listed / upsert / forget_unlisted      planning a list into the ledger
    update(durable) / recover                       state changes (in flight, results)
    entries / counts / addresses / reasons / unknown_batches     reading the ledger
    rows_in_state                                   the rows to reconcile (unknown, inflight)
    suppressed / suppress / suppressions            the suppression list
    migrate / schema_version                        the schema
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import StateError
from newsletter.state.base import Store

if TYPE_CHECKING:
    from newsletter.workspace import Workspace

DB_NAME = "send.db"

__all__ = ["DB_NAME", "Store", "default_url", "open_store", "open_url"]


def default_url(workspace: Workspace) -> str:
    """Return the URL of the workspace's own SQLite state."""
    return f"sqlite:///{workspace.state_dir / DB_NAME}"


def open_url(url: str) -> Store:
    """Open (creating and migrating) the store a state URL names."""
    if url.startswith("sqlite:///"):
        from newsletter.state.sqlite import SqliteStore

        store: Store = SqliteStore(Path(url.removeprefix("sqlite:///")))
    else:
        raise StateError(f"unsupported state URL '{url}': use sqlite:///PATH")
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def open_store(workspace: Workspace) -> Store:
    """Open the workspace's state store, migrated to the current schema."""
    return open_url(default_url(workspace))
