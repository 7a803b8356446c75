"""Where the tool keeps its state: the send ledger, the suppression list and the send locks.

    store = open_store(workspace)          # the workspace's state URL, migrated
    ledger = Ledger(store, "vol-2-10")     # newsletter.send.ledger: what the rows mean
    suppression.add(store, pairs, "bounce")

A state URL picks the store (urls.py: NEWSLETTER_DATABASE_URL, else state.database_url in
newsletter.yaml with ${VAR} from the environment, else the default):

    sqlite:///path        one file (default: .newsletter/send.db in the workspace)
    postgresql://...      a shared PostgreSQL database, through psycopg 3

Every store implements `Store` (base.py); its SQL is in its own module (sqlite.py,
postgres.py) and its schema in numbered migrations (migrations.py), applied when the
store is opened. Callers use only the `Store` methods:

    begin / commit / rollback / close               transactions
    try_lock / unlock / lock_where                  one send per issue, dies with the process
    detach / listed / upsert / forget_unlisted / planned    planning a list into the ledger
    update(durable) / recover                       state changes (in flight, results)
    entries / counts / addresses / reasons / unknown_batches     reading the ledger
    rows_in_state                                   the rows to reconcile (unknown, inflight)
    suppressed / suppress(durable) / suppressions   the suppression list
    sync_cursor / set_sync_cursor                   how far each provider's sync got
    issues / count / dump / load                    copying a state (copy.py, state migrate)
    migrate / schema_version                        the schema

A new table or column is a new numbered migration for both stores, plus its SQL in
both store modules; the tests run against both (the `state_url` fixture).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import StateError
from newsletter.state.base import Store

if TYPE_CHECKING:
    from newsletter.model import Series
    from newsletter.workspace import Workspace

DB_NAME = "send.db"

__all__ = ["DB_NAME", "Store", "default_url", "open_store", "open_url", "state_url"]


def default_url(workspace: Workspace) -> str:
    """Return the URL of the workspace's own SQLite state."""
    return f"sqlite:///{workspace.state_dir / DB_NAME}"


def state_url(workspace: Workspace, series: Series | None = None) -> str:
    """Return the state URL in force (see urls.py); loads newsletter.yaml if needed."""
    from newsletter.state import urls

    if series is None and not os.environ.get(urls.ENV, "").strip():
        from newsletter.errors import ValidationError, display_path
        from newsletter.loader import load_series

        series, source = load_series(workspace)
        if series is None:
            shown = display_path(workspace.config_path)
            raise ValidationError(f"{shown} has problems", source.diagnostics)
    return urls.resolve(workspace.root, series.state.database_url if series else None)


def open_url(url: str) -> Store:
    """Open (creating and migrating) the store a state URL names."""
    from newsletter.state.urls import mask

    if url.startswith("sqlite:///"):
        from newsletter.state.sqlite import SqliteStore

        store: Store = SqliteStore(Path(url.removeprefix("sqlite:///")))
    elif url.startswith(("postgresql://", "postgres://")):
        from newsletter.state.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise StateError(
            f"unsupported state URL '{mask(url)}': use sqlite:///PATH or postgresql://..."
        )
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def open_store(workspace: Workspace, series: Series | None = None) -> Store:
    """Open the workspace's state store, migrated to the current schema."""
    return open_url(state_url(workspace, series))
