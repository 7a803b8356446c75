"""The Store interface (state/base.py) as each store keeps it: what every caller relies on.

The ledger, the suppression list and `state migrate` tests reach the stores through their
callers; these pin each method's documented promise directly, on SQLite and PostgreSQL
alike (the `state_url` fixture), so that a store that bends one fails here by name.
"""

from __future__ import annotations

import os
import re
import tempfile

import pytest

from newsletter.errors import StateError
from newsletter.state import migrations, open_url

ISSUE = "vol-1-1"


@pytest.fixture
def store(state_url):
    opened = open_url(state_url)
    yield opened
    opened.close()


@pytest.fixture
def other(state_url):
    """A second connection to the same state: what another process sees (committed rows)."""
    opened = open_url(state_url)
    yield opened
    opened.close()


def plan(store, *rows, issue=ISSUE, now=1.0):
    """Write (key, address, line, state, reason) rows in a committed transaction."""
    store.begin()
    store.upsert(issue, list(rows), now)
    store.commit()


def row(n: int, state: str = "pending", line: int | None = None, reason=None):
    return (
        f"u{n}@example.org",
        f"U{n}@example.org",
        n + 2 if line is None else line,
        state,
        reason,
    )


FIELDS = ("address", "line", "state", "batch", "provider", "message_id", "reason", "updated")


def everything(store, issue=ISSUE) -> dict[str, tuple]:
    """Return {key: (address, line, state, batch, provider, message_id, reason, updated)}."""
    columns, rows = store.dump("recipients")
    found = {}
    for values in rows:
        named = dict(zip(columns, values, strict=True))
        if named["issue"] == issue:
            found[named["key"]] = tuple(named[c] for c in FIELDS)
    return found


# -- transactions -------------------------------------------------------------------------
def test_a_commit_is_seen_by_others_and_a_rollback_leaves_nothing(store, other):
    store.begin()
    store.upsert(ISSUE, [row(0)], 1.0)
    assert other.counts(ISSUE) == {}  # not committed yet
    store.rollback()
    assert store.counts(ISSUE) == {} and other.counts(ISSUE) == {}
    plan(store, row(1))
    assert other.counts(ISSUE) == {"pending": 1}
    store.commit()  # nothing open: nothing happens
    store.rollback()
    assert other.counts(ISSUE) == {"pending": 1}


def test_closing_rolls_back_and_releases_the_lock(state_url, other):
    store = open_url(state_url)
    assert store.try_lock(ISSUE)
    store.begin()
    store.upsert(ISSUE, [row(0)], 1.0)
    store.close()
    assert other.counts(ISSUE) == {}
    assert other.try_lock(ISSUE)


# -- send locks ---------------------------------------------------------------------------
def test_a_lock_is_held_until_unlocked_and_unlocking_twice_is_harmless(store, other):
    assert store.try_lock(ISSUE) and store.try_lock(ISSUE)  # held: taking it again is fine
    assert not other.try_lock(ISSUE)
    assert other.try_lock("vol-1-2")  # one lock per issue
    other.unlock(ISSUE)  # not its lock: nothing happens
    assert not other.try_lock(ISSUE)
    store.unlock(ISSUE)
    store.unlock(ISSUE)
    assert other.try_lock(ISSUE)
    assert not store.try_lock(ISSUE)


def test_the_sqlite_lock_file_names_the_process_holding_it(tmp_path):
    store = open_url(f"sqlite:///{tmp_path / 'send.db'}")
    where = store.lock_where(ISSUE)
    path = tmp_path / f"send-{ISSUE}.lock"
    assert where == f"lock: {path}"
    path.write_text("123456789012")  # left by an earlier, longer process id
    assert store.try_lock(ISSUE)
    assert path.read_text() == str(os.getpid())
    store.close()


def test_the_postgresql_lock_names_the_database_without_its_password(postgres):
    url = postgres.schema().replace("postgres@", "postgres:hunter2@")
    store = open_url(url)
    where = store.lock_where(ISSUE)
    store.close()
    assert where.startswith("advisory lock in postgresql://")
    assert "hunter2" not in where and f":{postgres.port}/postgres" in where


def test_postgresql_locks_of_two_states_are_apart(postgres):
    first, second = open_url(postgres.schema()), open_url(postgres.schema())
    assert first.try_lock(ISSUE) and second.try_lock(ISSUE)  # two states, one server
    first.close()
    second.close()


# -- the ledger ---------------------------------------------------------------------------
def test_upsert_keeps_what_was_attempted_and_updates_the_rest(store):
    plan(store, *(row(n) for n in range(4)), row(4, "invalid", reason="bad"), row(5), now=1.0)
    store.update(ISSUE, ("state", "reason"), [("sent", None, "u1@example.org")])
    store.update(ISSUE, ("state", "reason"), [("failed", "406", "u2@example.org")])
    store.update(ISSUE, ("state", "reason"), [("unknown", "lost", "u3@example.org")])
    again = [
        ("u0@example.org", "u0@EXAMPLE.org", 20, "suppressed", None),
        ("u1@example.org", "u1@EXAMPLE.org", 21, "pending", None),
        ("u2@example.org", "u2@EXAMPLE.org", 22, "pending", None),
        ("u3@example.org", "u3@EXAMPLE.org", 23, "pending", None),
        ("u4@example.org", "u4@EXAMPLE.org", 24, "pending", None),
        ("u5@example.org", "u5@EXAMPLE.org", 25, "invalid", "now invalid"),
    ]
    plan(store, *again, now=2.0)
    rows = everything(store)
    assert {k: v[:3] for k, v in rows.items()} == {
        "u0@example.org": ("u0@EXAMPLE.org", 20, "suppressed"),
        "u1@example.org": ("u1@EXAMPLE.org", 21, "sent"),
        "u2@example.org": ("u2@EXAMPLE.org", 22, "failed"),
        "u3@example.org": ("u3@EXAMPLE.org", 23, "unknown"),
        "u4@example.org": ("u4@EXAMPLE.org", 24, "pending"),
        "u5@example.org": ("u5@EXAMPLE.org", 25, "invalid"),
    }
    # A row invalid now says why, since when; the others keep their reason and time.
    assert rows["u5@example.org"][6:] == ("now invalid", 2.0)
    assert rows["u2@example.org"][6:] == ("406", 1.0)
    assert rows["u3@example.org"][6:] == ("lost", 1.0)


def test_detach_listed_and_forget_unlisted(store):
    plan(store, row(0), row(1), row(2), row(3, "invalid"), row(4, "suppressed"))
    store.update(ISSUE, ("state",), [("sent", "u1@example.org"), ("failed", "u2@example.org")])
    plan(store, row(9), issue="vol-1-2")
    keys = ["u0@example.org", "u1@example.org", "nobody@example.org"]
    assert store.listed(ISSUE, keys) == {"u0@example.org": 2, "u1@example.org": 3}
    assert store.listed(ISSUE, []) == {}
    store.begin()
    store.detach(ISSUE)
    assert store.listed(ISSUE, keys) == {}
    store.upsert(ISSUE, [row(0, line=7)], 2.0)  # the new list holds u0 only
    store.forget_unlisted(ISSUE)
    store.commit()
    assert store.listed(ISSUE, keys) == {"u0@example.org": 7}
    # Never attempted and no longer listed: gone. Sent and failed stay, unlisted.
    assert {k: v[1:3] for k, v in everything(store).items()} == {
        "u0@example.org": (7, "pending"),
        "u1@example.org": (None, "sent"),
        "u2@example.org": (None, "failed"),
    }
    assert store.listed("vol-1-2", ["u9@example.org"]) == {"u9@example.org": 11}


def test_update_sets_only_the_named_keys_of_the_issue_at_once(store, other):
    plan(store, row(0), row(1), row(2))
    plan(store, row(0), issue="vol-1-2")
    store.update(
        ISSUE,
        ("state", "batch", "provider", "message_id", "reason", "updated"),
        [
            ("sent", "b1", "postmark", "id-0", "r0", 5.0, "u0@example.org"),
            ("failed", "b1", "postmark", None, "r1", 6.0, "u1@example.org"),
        ],
        durable=True,
    )
    assert everything(other)["u0@example.org"] == (
        "U0@example.org", 2, "sent", "b1", "postmark", "id-0", "r0", 5.0,
    )  # fmt: skip
    assert everything(other)["u1@example.org"][2:] == ("failed", "b1", "postmark", None, "r1", 6.0)
    assert everything(other)["u2@example.org"][2] == "pending"
    assert everything(other, "vol-1-2")["u0@example.org"][2] == "pending"
    store.update(ISSUE, ("state",), [])  # no rows: nothing to do
    with pytest.raises(AssertionError):
        store.update(ISSUE, ("line",), [(1, "u0@example.org")])  # only COLUMNS may be set


def test_an_update_that_fails_leaves_the_batch_as_it_was(store):
    plan(store, row(0), row(1))
    marks = [("inflight", "u0@example.org"), (None, "u1@example.org")]  # state is NOT NULL
    with pytest.raises(Exception):  # noqa: B017 (each driver names it its own way)
        store.update(ISSUE, ("state",), marks, durable=True)
    assert store.counts(ISSUE) == {"pending": 2}
    store.update(ISSUE, ("state",), [("inflight", "u0@example.org")])  # the store still works
    assert store.counts(ISSUE) == {"pending": 1, "inflight": 1}


def test_recover_turns_only_the_issues_inflight_rows_unknown(store):
    plan(store, row(0), row(1), row(2))
    plan(store, row(0), issue="vol-1-2")
    store.update(
        ISSUE, ("state",), [("inflight", "u0@example.org"), ("inflight", "u1@example.org")]
    )
    store.update("vol-1-2", ("state",), [("inflight", "u0@example.org")])
    assert store.recover(ISSUE, "crashed") == 2
    assert store.counts(ISSUE) == {"unknown": 2, "pending": 1}
    assert store.reasons(ISSUE, "unknown", 5) == [("crashed", 2)]
    assert store.counts("vol-1-2") == {"inflight": 1}
    assert store.recover(ISSUE, "crashed") == 0


def test_entries_page_through_the_listed_rows_in_states_in_list_order(store):
    plan(store, row(3, line=5), row(1, line=3), row(2, line=4), row(0, line=2), row(4, line=6))
    store.update(ISSUE, ("state", "batch"), [("failed", "b1", "u2@example.org")])
    plan(store, row(7, line=3), issue="vol-1-2")
    assert store.entries(ISSUE, ("pending",), 0, 2) == [
        (2, "u0@example.org", "U0@example.org", "pending", None),
        (3, "u1@example.org", "U1@example.org", "pending", None),
    ]
    assert [e[0] for e in store.entries(ISSUE, ("pending",), 3, 10)] == [5, 6]
    assert [e[0] for e in store.entries(ISSUE, ("pending", "failed"), 2, 10)] == [3, 4, 5, 6]
    assert store.entries(ISSUE, ("failed",), 0, 10) == [
        (4, "u2@example.org", "U2@example.org", "failed", "b1")
    ]
    assert store.entries(ISSUE, ("pending",), 6, 10) == []


def test_counts_addresses_and_reasons(store):
    plan(store, row(2, line=2), row(1, line=4), row(0, line=3), row(3, line=5), row(4, line=6))
    failed = [("failed", "a", "u1@example.org"), ("failed", "b", "u2@example.org")]
    store.update(ISSUE, ("state", "reason"), [*failed, ("failed", "b", "u3@example.org")])
    plan(store, row(9), issue="vol-1-2")
    store.begin()
    store.detach(ISSUE)  # u1, u2, u3 unlisted (failed: kept); u0, u4 listed again
    store.upsert(ISSUE, [row(4, line=2), row(0, line=3)], 2.0)
    store.commit()
    assert store.counts(ISSUE) == {"failed": 3, "pending": 2}
    assert list(store.addresses(ISSUE, "pending")) == ["U4@example.org", "U0@example.org"]
    # Listed rows by line first, then the unlisted ones by key.
    store.update(ISSUE, ("state",), [("failed", "u4@example.org")])
    order = ["U4@example.org", "U1@example.org", "U2@example.org", "U3@example.org"]
    assert list(store.addresses(ISSUE, "failed")) == order
    assert store.reasons(ISSUE, "failed", 5) == [("b", 2), ("a", 1), (None, 1)]
    assert store.reasons(ISSUE, "failed", 1) == [("b", 2)]


def test_unknown_batches_count_the_listed_rows_and_rows_in_state_all(store):
    plan(store, row(0), row(1), row(2), row(3))
    plan(store, row(0), issue="vol-1-2")
    columns = ("state", "batch", "provider", "updated", "reason")
    store.update(
        ISSUE,
        columns,
        [
            ("unknown", "b2", "postmark", 3.0, "lost", "u3@example.org"),
            ("unknown", "b1", "postmark", 1.0, "lost", "u1@example.org"),
            ("unknown", "b1", "postmark", 2.0, "timeout", "u0@example.org"),
            ("unknown", "b2", "postmark", 4.0, "lost", "u2@example.org"),
        ],
    )
    store.update("vol-1-2", columns, [("unknown", "b9", "ses", 1.0, "x", "u0@example.org")])
    store.begin()
    store.detach(ISSUE)
    store.upsert(ISSUE, [row(0), row(1), row(2)], 2.0)  # u3 has left the list
    store.commit()
    assert store.unknown_batches(ISSUE) == {"b1": 2, "b2": 1}
    assert store.rows_in_state(ISSUE, "unknown") == [
        ("u0@example.org", "b1", "postmark", 2.0, "timeout"),
        ("u1@example.org", "b1", "postmark", 1.0, "lost"),
        ("u2@example.org", "b2", "postmark", 4.0, "lost"),
        ("u3@example.org", "b2", "postmark", 3.0, "lost"),
    ]
    assert store.rows_in_state(ISSUE, "pending") == []


# -- the suppression list -----------------------------------------------------------------
def suppression_row(key, reason="bounce", added=1.0, source="manual", listed=None):
    return (key, key.upper(), reason, added, source, listed)


@pytest.mark.parametrize("durable", [False, True])
def test_the_first_suppression_of_a_key_wins(store, other, durable):
    rows = [suppression_row("b@x.org"), suppression_row("a@x.org", "unsubscribe", 2.0, "link", "d")]
    assert store.suppress(rows, durable=durable) == 2
    again = [suppression_row("a@x.org", "complaint"), suppression_row("c@x.org")]
    assert store.suppress(again, durable=durable) == 1
    assert store.suppress([], durable=durable) == 0
    if durable:  # committed on its own
        assert other.suppressed(["a@x.org", "b@x.org", "c@x.org"]) == {
            "a@x.org",
            "b@x.org",
            "c@x.org",
        }
    assert store.suppressed(["a@x.org", "z@x.org", "c@x.org"]) == {"a@x.org", "c@x.org"}
    assert store.suppressed([]) == set()
    assert list(store.suppressions()) == [
        ("A@X.ORG", "unsubscribe", "link", 2.0, "d"),
        ("B@X.ORG", "bounce", "manual", 1.0, None),
        ("C@X.ORG", "bounce", "manual", 1.0, None),
    ]


def test_a_durable_suppression_is_all_of_its_rows_or_none(store):
    broken = [suppression_row("a@x.org"), ("b@x.org", "b@x.org", "bounce", 1.0, "manual")]
    with pytest.raises(Exception):  # noqa: B017 (a row one value short; drivers differ)
        store.suppress(broken, durable=True)
    assert store.suppressed(["a@x.org", "b@x.org"]) == set()
    assert store.suppress([suppression_row("a@x.org")], durable=True) == 1


def test_sync_cursors_are_kept_per_provider(store, other):
    assert store.sync_cursor("postmark") is None
    store.set_sync_cursor("postmark", 10.5, 100.0)
    store.set_sync_cursor("mailgun", 3.0, 100.0)
    store.set_sync_cursor("postmark", 20.5, 200.0)
    assert other.sync_cursor("postmark") == 20.5 and other.sync_cursor("mailgun") == 3.0
    columns, rows = other.dump("sync_cursor")
    assert sorted(dict(zip(columns, r, strict=True))["updated"] for r in rows) == [100.0, 200.0]


# -- provenance ---------------------------------------------------------------------------
def test_sends_are_recorded_and_read_back_in_order(store, other):
    store.record_send(ISSUE, (20.0, None, "", True, "outbox"))
    store.record_send(ISSUE, (10.0, "abc123", "issues/a.yaml\nissues/b.yaml", False, "postmark"))
    store.record_send("vol-1-2", (15.0, "def", "", False, "ses"))
    assert [tuple(s) for s in other.sends(ISSUE)] == [
        (10.0, "abc123", "issues/a.yaml\nissues/b.yaml", 0, "postmark"),
        (20.0, None, "", 1, "outbox"),
    ]
    assert other.sends("vol-2-1") == []


# -- copying (state migrate) --------------------------------------------------------------
def test_issues_count_dump_and_load(store, tmp_path):
    plan(store, row(0), row(1), issue="vol-2-1")
    plan(store, row(0), issue="vol-1-1")
    store.suppress([suppression_row("a@x.org")])
    assert store.issues() == ["vol-1-1", "vol-2-1"]
    assert store.count("recipients") == 3 and store.count("suppression") == 1
    assert store.count("sends") == 0
    columns, rows = store.dump("suppression")
    assert columns == ["key", "address", "reason", "added", "source", "list"]
    assert [tuple(r) for r in rows] == [("a@x.org", "A@X.ORG", "bounce", 1.0, "manual", None)]
    target = open_url(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        target.suppress([suppression_row("a@x.org", "complaint")])
        target.begin()
        for table in migrations.TABLES:
            columns, rows = store.dump(table)
            copied = target.load(table, columns, rows)
            assert copied == {"recipients": 3, "suppression": 0}.get(table, 0), table
        target.commit()
        assert target.issues() == ["vol-1-1", "vol-2-1"]
        assert everything(target, "vol-2-1") == everything(store, "vol-2-1")
        assert [s[1] for s in target.suppressions()] == ["complaint"]  # the target's is kept
    finally:
        target.close()


def test_loading_into_postgresql_skips_the_rows_it_holds(postgres, tmp_path):
    source = open_url(f"sqlite:///{tmp_path / 'send.db'}")
    target = open_url(postgres.schema())
    try:
        plan(source, row(0), row(1))
        source.suppress([suppression_row("a@x.org"), suppression_row("b@x.org")])
        target.suppress([suppression_row("b@x.org", "complaint")])
        target.begin()
        columns, rows = source.dump("suppression")
        assert target.load("suppression", columns, rows) == 1
        columns, rows = source.dump("recipients")
        assert target.load("recipients", columns, rows) == 2
        target.commit()
        assert [s[:2] for s in target.suppressions()] == [
            ("A@X.ORG", "bounce"),
            ("B@X.ORG", "complaint"),
        ]
        assert everything(target) == everything(source)
        assert target.count("suppression") == 2
    finally:
        source.close()
        target.close()


# -- schema and durability ----------------------------------------------------------------
def test_opening_again_applies_no_migration_twice(state_url):
    first = open_url(state_url)
    second = open_url(state_url)  # finds it migrated
    assert second.schema_version() == migrations.latest(second.name)
    assert second.migrate() == migrations.latest(second.name)
    query = "SELECT version FROM schema_version ORDER BY version"
    conn = second.db if second.name == "sqlite" else second.conn
    applied = [version for (version,) in conn.execute(query).fetchall()]
    assert applied == sorted(migrations.BY_STORE[second.name])
    first.close()
    second.close()


def statements(store, action) -> list[str]:
    """Return the SQL the PostgreSQL store sent while action ran, from libpq's own trace."""
    from psycopg import pq

    with tempfile.TemporaryFile("w+") as log:
        store.conn.pgconn.trace(log.fileno())
        store.conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            store.conn.pgconn.untrace()
        log.seek(0)
        sent = [line for line in log.read().splitlines() if line.startswith("F\t")]
    # F <length> Query "SQL", or F <length> Parse "<statement name>" "SQL" <parameters> ...
    found = [re.search(r'\t(?:Query\t|Parse\t "[^"]*") "(.*)"', line) for line in sent]
    return [" ".join(m[1].split()) for m in found if m]


def test_postgresql_commits_the_in_flight_mark_waiting_for_the_disk(postgres):
    # A server or role whose default does not wait for the disk: the store must still.
    url = postgres.schema().replace("options=", "options=-csynchronous_commit%3Doff%20")
    store = open_url(url)
    try:
        assert store.conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        plan(store, row(0), row(1))
        keys = ["u0@example.org", "u1@example.org"]
        inflight = statements(
            store, lambda: store.update(ISSUE, ("state",), [("inflight", k) for k in keys], True)
        )
        result = statements(store, lambda: store.update(ISSUE, ("state",), [("sent", keys[0])]))
        suppress = statements(store, lambda: store.suppress([suppression_row("a@x.org")], True))
    finally:
        store.close()
    assert any(s.startswith("INSERT INTO suppression") for s in suppress), suppress
    for durable in (inflight, suppress):
        assert durable[0] == "BEGIN" and durable[-1] == "COMMIT", durable
        assert not any("synchronous_commit" in s for s in durable), durable
    # A result may be lost to a server crash (it is then unknown, never resent): no wait.
    assert result[0] == "BEGIN" and result[-1] == "COMMIT", result
    assert "SET LOCAL synchronous_commit = off" in result[1:-1]


def test_sqlite_commits_a_durable_suppression_with_synchronous_full(tmp_path):
    store = open_url(f"sqlite:///{tmp_path / 'send.db'}")
    seen: list[str] = []
    store.db.set_trace_callback(seen.append)
    store.suppress([suppression_row("a@x.org")], durable=True)
    store.suppress([suppression_row("b@x.org")])  # inside the caller's transaction: NORMAL
    store.db.set_trace_callback(None)
    store.close()
    flat = [" ".join(s.split()).upper() for s in seen]
    commit = flat.index("COMMIT")
    levels = [(i, s) for i, s in enumerate(flat) if s.startswith("PRAGMA SYNCHRONOUS=")]
    assert [s for i, s in levels if i < commit][-1] == "PRAGMA SYNCHRONOUS=FULL"
    assert [s for i, s in levels if i > commit] == ["PRAGMA SYNCHRONOUS=NORMAL"]
    assert flat[commit - 2 : commit] == [
        "BEGIN IMMEDIATE",
        "INSERT OR IGNORE INTO SUPPRESSION (KEY, ADDRESS, REASON, ADDED, SOURCE, LIST)"
        " VALUES ('A@X.ORG', 'A@X.ORG', 'BOUNCE', 1.0, 'MANUAL', NULL)",
    ]


def test_a_state_that_cannot_be_opened_is_named_without_its_password(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StateError) as sqlite:
        open_url(f"sqlite:///{tmp_path / 'file' / 'send.db'}")
    assert str(sqlite.value).startswith(f"cannot open the state database {tmp_path / 'file'}")
    with pytest.raises(StateError) as postgresql:
        open_url("postgresql://editor:hunter2@127.0.0.1:1/news?connect_timeout=5")
    shown = str(postgresql.value)
    assert shown.startswith("cannot open the state database postgresql://editor:***@127.0.0.1:1")
    assert "refused" in shown and "hunter2" not in shown  # why, without the password
    with pytest.raises(StateError) as malformed:  # libpq quotes the bad token: the password
        open_url("postgresql://editor:hunt%zz2@127.0.0.1:1/news")
    assert "hunt%zz2" not in str(malformed.value) and "percent-encoded" in str(malformed.value)


def test_postgresql_sessions_say_they_are_newsletters(postgres):
    store = open_url(postgres.schema())
    try:  # what a database administrator sees in pg_stat_activity
        assert store.conn.execute("SHOW application_name").fetchone()[0] == "newsletter"
    finally:
        store.close()


def test_a_lost_postgresql_connection_still_closes_and_frees_the_lock(postgres):
    import psycopg

    url = postgres.schema()
    store = open_url(url)
    assert store.try_lock(ISSUE)
    with psycopg.connect(postgres.url, autocommit=True) as admin:  # the server restarts, say
        admin.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        store.counts(ISSUE)
    store.unlock(ISSUE)  # a send ending with the error above: no second error from here
    store.close()
    again = open_url(url)
    assert again.try_lock(ISSUE)  # the server dropped the lock with the session
    again.close()


def test_a_sqlite_state_makes_its_folders_and_names_itself(tmp_path):
    path = tmp_path / "states" / "digest" / "send.db"  # state.database_url: sqlite:///...
    store = open_url(f"sqlite:///{path}")
    assert store.url == f"sqlite:///{path}" and path.is_file()  # as state migrate shows it
    store.close()


def test_postgresql_refreshes_its_statistics_after_planning_a_big_list(postgres):
    store = open_url(postgres.schema())
    query = (
        "SELECT reltuples FROM pg_class WHERE relname = 'recipients'"
        " AND relnamespace = current_schema()::regnamespace"
    )
    try:
        plan(store, *(row(n) for n in range(5)))
        store.planned(ISSUE, 999)
        assert store.conn.execute(query).fetchone()[0] == -1  # never analysed
        store.planned(ISSUE, 1000)  # a big list: the planner must know it before the batches
        assert store.conn.execute(query).fetchone()[0] == 5
    finally:
        store.close()
