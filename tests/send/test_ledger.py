"""The ledger on each store: planning a list, states across runs, crash recovery, the lock."""

from __future__ import annotations

import pytest
from sendkit import write_list

from newsletter.errors import SendError
from newsletter.send import suppression
from newsletter.send.ledger import Ledger, SendLock
from newsletter.send.subscribers import Row, check_address, read_rows
from newsletter.state import open_url


@pytest.fixture
def ledger(state_url):
    store = open_url(state_url)
    yield Ledger(store, "vol-1-1")
    store.close()


def setting(store, sqlite: str, postgres: str):
    """Return a store's durability setting (SQLite pragma, PostgreSQL parameter)."""
    if store.name == "sqlite":
        return store.db.execute(sqlite).fetchone()[0]
    return store.conn.execute(postgres).fetchone()[0]


def columns(store) -> set[str]:
    if store.name == "sqlite":
        return {row[1] for row in store.db.execute("PRAGMA table_info(recipients)")}
    query = (
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'recipients' AND table_schema = current_schema()"
    )
    return {row[0] for row in store.conn.execute(query)}


def updated(store, what: str, where: str):
    """Return one value about the recipients' update times, on either store."""
    query = f"SELECT {what} FROM recipients WHERE {where}"
    if store.name == "sqlite":
        return store.db.execute(query).fetchone()[0]
    return store.conn.execute(query).fetchone()[0]


def plan(ledger, path):
    return ledger.plan(read_rows(path), check_address)


def test_plan_reports_invalid_and_duplicates_with_lines(ledger, tmp_path):
    path = write_list(tmp_path / "l.csv", 3, extra="nope,,,\nUSER1@example.org,,,\n")
    result = plan(ledger, path)
    assert result.rows == 5 and result.invalid == 1 and result.duplicates == 1
    assert result.problems[0][:2] == (5, "nope")
    assert result.problems[1] == (6, "USER1@example.org", "duplicate of line 3")
    assert result.counts == {
        "pending": 3,
        "sent": 0,
        "failed": 0,
        "unknown": 0,
        "suppressed": 0,
        "invalid": 1,
    }


def test_suppressed_addresses_are_never_pending(ledger, tmp_path):
    suppression.add(ledger.store, [("arg", "User2@Example.org")], "unsubscribe")
    result = plan(ledger, write_list(tmp_path / "l.csv", 3))
    assert result.counts["suppressed"] == 1 and result.counts["pending"] == 2
    assert list(ledger.addresses("suppressed")) == ["user2@example.org"]


def test_sent_stays_sent_and_removed_pending_rows_are_forgotten(ledger, tmp_path):
    plan(ledger, write_list(tmp_path / "l.csv", 4))
    ledger.mark_inflight(["user0@example.org"], "b1", "outbox")
    ledger.mark_sent([("user0@example.org", "id-0")])
    result = plan(ledger, write_list(tmp_path / "l.csv", 2))  # user2, user3 left the list
    assert result.counts["sent"] == 1 and result.counts["pending"] == 1
    assert [e.address for e in ledger.entries(["pending"])] == ["user1@example.org"]


def test_recover_turns_inflight_into_unknown(ledger, tmp_path):
    plan(ledger, write_list(tmp_path / "l.csv", 3))
    ledger.mark_inflight(["user0@example.org", "user1@example.org"], "b1", "postmark")
    assert ledger.recover() == 2
    assert ledger.counts()["unknown"] == 2
    assert ledger.reasons("unknown") == [
        ("in flight when a send stopped; the provider may or may not have it", 2)
    ]
    assert ledger.unknown_batches() == {"b1": 2}


def test_inflight_is_committed_fully_synced_and_results_in_one_go(ledger, tmp_path):
    plan(ledger, write_list(tmp_path / "l.csv", 3))
    keys = ["user0@example.org", "user1@example.org", "user2@example.org"]
    ledger.mark_inflight(keys, "b1", "postmark")
    # SQLite: NORMAL again after the FULL commit; PostgreSQL: every commit waits for the disk
    # unless a result asks otherwise, in its own transaction only.
    assert setting(ledger.store, "PRAGMA synchronous", "SHOW synchronous_commit") in (1, "on")
    ledger.mark_sent([(keys[0], "id-0")])
    ledger.mark_failed([(keys[1], "406: inactive"), (keys[2], "300: invalid")])
    assert ledger.counts()["sent"] == 1 and ledger.counts()["failed"] == 2
    assert sorted(ledger.reasons()) == [("300: invalid", 1), ("406: inactive", 1)]


def test_entries_follow_the_list_order_across_chunks(ledger, tmp_path):
    plan(ledger, write_list(tmp_path / "l.csv", 25))
    lines = [e.line for e in ledger.entries(["pending"], chunk=4)]
    assert lines == list(range(2, 27))


def test_the_ledger_holds_no_bodies_or_secrets(ledger, tmp_path):
    plan(ledger, write_list(tmp_path / "l.csv", 1))
    assert columns(ledger.store) == {
        "issue",
        "key",
        "address",
        "line",
        "state",
        "batch",
        "provider",
        "message_id",
        "reason",
        "updated",
    }


def test_wal_mode(tmp_path):
    store = open_url(f"sqlite:///{tmp_path / 'send.db'}")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_one_send_per_issue_at_a_time(state_url):
    stores = [open_url(state_url) for _ in range(3)]  # as three processes would
    first = SendLock(stores[0], "vol-1-1").require()
    with pytest.raises(SendError, match="another 'newsletter send' is running"):
        SendLock(stores[1], "vol-1-1").require()
    assert SendLock(stores[2], "vol-1-2").acquire()  # another issue may go
    first.release()
    assert SendLock(stores[1], "vol-1-1").acquire()
    for store in stores:
        store.close()


def test_a_send_db_from_before_versioning_is_migrated_in_place(tmp_path):
    import sqlite3

    from newsletter.state import migrations

    path = tmp_path / "send.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE recipients (issue TEXT NOT NULL, key TEXT NOT NULL, address TEXT NOT NULL,"
        " line INTEGER, state TEXT NOT NULL, batch TEXT, provider TEXT, message_id TEXT,"
        " reason TEXT, updated REAL, PRIMARY KEY (issue, key)) WITHOUT ROWID;"
        "CREATE TABLE suppression (key TEXT PRIMARY KEY, address TEXT NOT NULL,"
        " reason TEXT NOT NULL, added REAL NOT NULL) WITHOUT ROWID;"
        "INSERT INTO recipients VALUES ('vol-1-1', 'a@example.org', 'a@example.org', 2, 'sent',"
        " 'b1', 'postmark', 'id-1', NULL, 1.0);"
        "INSERT INTO suppression VALUES ('b@example.org', 'b@example.org', 'bounce', 1.0);"
    )
    old.close()
    store = open_url(f"sqlite:///{path}")
    assert store.schema_version() == migrations.latest("sqlite")
    assert Ledger(store, "vol-1-1").counts()["sent"] == 1
    entries = [(e.address, e.reason, e.source) for e in suppression.entries(store)]
    assert entries == [("b@example.org", "bounce", "unknown")]  # migration 2: no source known
    store.close()


def test_a_state_newer_than_the_tool_is_refused(tmp_path):
    from newsletter.errors import StateError

    url = f"sqlite:///{tmp_path / 'send.db'}"
    store = open_url(url)
    store.db.execute("INSERT INTO schema_version VALUES (999, 0)")
    store.close()
    with pytest.raises(StateError, match="schema version 999, newer than this newsletter"):
        open_url(url)


def test_the_inflight_mark_is_committed_when_mark_inflight_returns(ledger, state_url, tmp_path):
    plan(ledger, write_list(tmp_path / "l.csv", 3))
    ledger.mark_inflight(["user0@example.org", "user1@example.org"], "b1", "postmark")
    other = open_url(state_url)  # another process's view: only committed rows
    try:
        assert Ledger(other, "vol-1-1").counts()["inflight"] == 2
    finally:
        other.close()


@pytest.fixture
def sqlite_ledger(tmp_path):
    store = open_url(f"sqlite:///{tmp_path / 'send.db'}")
    yield Ledger(store, "vol-1-1")
    store.close()


def test_the_in_flight_commit_itself_runs_with_synchronous_full(sqlite_ledger, tmp_path):
    ledger = sqlite_ledger
    plan(ledger, write_list(tmp_path / "l.csv", 3))
    statements: list[str] = []
    ledger.store.db.set_trace_callback(statements.append)
    ledger.mark_inflight(["user0@example.org", "user1@example.org"], "b1", "postmark")
    ledger.mark_sent([("user0@example.org", "id-0")])
    ledger.store.db.set_trace_callback(None)
    flat = [" ".join(s.split()).upper() for s in statements]
    marked = next(i for i, s in enumerate(flat) if "'INFLIGHT'" in s or "INFLIGHT" in s)
    committed = next(i for i in range(marked, len(flat)) if flat[i].startswith("COMMIT"))
    levels = [(i, s) for i, s in enumerate(flat) if s.startswith("PRAGMA SYNCHRONOUS=")]
    # The last safety level set before the in-flight COMMIT is FULL: the mark is on disk
    # before the provider is called. Results that follow are written at NORMAL.
    before = [s for i, s in levels if i < committed]
    assert before and before[-1] == "PRAGMA SYNCHRONOUS=FULL"
    after_commit = [s for i, s in levels if i > committed]
    assert after_commit and after_commit[0] == "PRAGMA SYNCHRONOUS=NORMAL"
    sent = next(i for i, s in enumerate(flat) if "'SENT'" in s)
    assert [s for i, s in levels if i < sent][-1] == "PRAGMA SYNCHRONOUS=NORMAL"


def rows(*items):
    """Return list rows made directly: (line, address) or (line, address, problem)."""
    return [Row(item[0], item[1], {}, *item[2:]) for item in items]


def test_problems_are_kept_up_to_the_limit_and_fifty_by_default(ledger):
    bad = rows(*[(line, f"nope{line}") for line in range(2, 60)])
    assert len(ledger.plan(bad[:3], check_address, max_problems=2).problems) == 2
    result = ledger.plan(bad, check_address)
    assert result.invalid == 58 and len(result.problems) == 50
    assert result.problems[-1][:2] == (51, "nope51")


def test_a_malformed_row_is_invalid_even_with_a_good_address(ledger):
    result = ledger.plan(rows((2, "a@example.org", "more fields than the header")), check_address)
    assert result.counts["invalid"] == 1 and result.counts["pending"] == 0
    assert result.problems == [(2, "a@example.org", "more fields than the header")]


def test_a_duplicate_in_a_later_chunk_is_still_a_duplicate(ledger):
    listed = rows(
        (2, "a@example.org"),
        (3, "b@example.org"),
        (4, "A@example.org"),
        (5, "b@example.org"),
        (6, "c@example.org"),
    )
    result = ledger.plan(listed, check_address, chunk=2)
    assert result.duplicates == 2 and result.counts["pending"] == 3
    assert result.problems == [
        (4, "A@example.org", "duplicate of line 2"),
        (5, "b@example.org", "duplicate of line 3"),
    ]


def test_each_skipped_row_says_why_in_its_own_words(ledger):
    def check(address):  # as a provider that cannot take some valid addresses
        if address.startswith("big"):
            return None, "not deliverable by this provider: too long"
        return check_address(address)

    listed = rows((2, "nope"), (3, "big@example.org"), (4, "ok@example.org"))
    result = ledger.plan(listed, check)
    assert [p[2] for p in result.problems] == [
        f"invalid address: {check_address('nope')[1]}",
        "not deliverable by this provider: too long",
    ]
    assert result.counts["invalid"] == 2 and result.counts["pending"] == 1


def test_planning_holds_one_chunk_of_the_list_at_a_time(ledger):
    seen = []

    def listed():  # a huge list is recorded as it is read, never held whole in memory
        for line in range(2, 9):
            seen.append(sum(ledger.counts().values()))
            yield Row(line, f"user{line}@example.org", {})

    ledger.plan(listed(), check_address, chunk=3)
    assert seen == [0, 0, 0, 3, 3, 3, 6]


def test_entries_start_at_the_first_line(ledger):
    ledger.plan(rows((1, "a@example.org"), (2, "b@example.org")), check_address)
    assert [e.line for e in ledger.entries(["pending"])] == [1, 2]


def test_every_state_change_records_when(ledger, tmp_path):
    import time

    before = time.time()
    plan(ledger, write_list(tmp_path / "l.csv", 4))
    planned = updated(ledger.store, "MIN(updated)", "1 = 1")
    assert planned is not None and planned >= before
    keys = [f"user{i}@example.org" for i in range(4)]
    changes = [
        (keys[3], lambda: ledger.mark_inflight(keys, "b1", "postmark")),
        (keys[0], lambda: ledger.mark_sent([(keys[0], "id-0")])),
        (keys[1], lambda: ledger.mark_failed([(keys[1], "406: inactive")])),
        (keys[2], lambda: ledger.mark([keys[2]], "unknown", "lost")),
    ]
    for key, change in changes:
        before = time.time()
        change()
        stamp = updated(ledger.store, "updated", f"key = '{key}'")
        assert stamp is not None and before <= stamp <= time.time()


def test_the_five_commonest_reasons_by_default(ledger, tmp_path):
    plan(ledger, write_list(tmp_path / "l.csv", 7))
    ledger.mark_failed([(f"user{i}@example.org", f"reason {i}") for i in range(7)])
    assert len(ledger.reasons()) == 5 and len(ledger.reasons(limit=7)) == 7


def test_a_released_lock_is_taken_again_not_assumed(tmp_path):
    url = f"sqlite:///{tmp_path / 'send.db'}"
    first, second = open_url(url), open_url(url)
    lock = SendLock(first, "vol-1-1")
    assert lock.acquire()
    lock.release()
    assert SendLock(second, "vol-1-1").acquire()
    assert not lock.acquire()  # the other run holds it now
    with pytest.raises(SendError) as caught:
        lock.require()
    where = second.lock_where("vol-1-1")
    assert str(caught.value) == (
        f"another 'newsletter send' is running for this issue ({where}); "
        "it must finish or stop first"
    )
    assert "vol-1-1" in where
    first.close()
    second.close()


def test_a_rebuilt_ledger_knows_idna_domains_by_the_list_s_form(ledger):
    from newsletter.send.ledger import address_key

    assert address_key("Ana@XN--BCHER-KVA.Example") == "ana@bücher.example"
    assert address_key("ana@xn--zz.example") == "ana@xn--zz.example"  # not IDNA: as it is
    assert address_key("Ana@Example.org") == "ana@example.org"
    # The provider's records name her domain as we sent it (IDNA); the list, in Unicode.
    assert ledger.rebuild([("ana@xn--bcher-kva.example", "id-1", "b1")], "mailgun") == 1
    plan = ledger.plan(rows((1, "ana@bücher.example"), (2, "bo@bücher.example")), check_address)
    assert plan.counts["sent"] == 1 and plan.counts["pending"] == 1
    assert list(ledger.addresses("pending")) == ["bo@bücher.example"]
