"""The suppression list: reason, source, time and list per entry; old databases upgraded."""

from __future__ import annotations

import sqlite3

from newsletter.send import suppression
from newsletter.state import open_url


def connect(folder):
    return open_url(f"sqlite:///{folder / 'send.db'}")


OLD_SCHEMA = """
CREATE TABLE suppression (
    key     TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    reason  TEXT NOT NULL,
    added   REAL NOT NULL
) WITHOUT ROWID;
INSERT INTO suppression VALUES ('old@example.org', 'Old@example.org', 'bounce', 1700000000.0);
"""


def test_an_old_database_is_upgraded_in_place(tmp_path):
    old = sqlite3.connect(tmp_path / "send.db")
    old.executescript(OLD_SCHEMA)
    old.close()
    db = connect(tmp_path)
    (entry,) = suppression.entries(db)
    assert entry == suppression.Entry("Old@example.org", "bounce", "unknown", 1700000000.0, None)
    assert suppression.record(db, "new@example.org", "unsubscribe", "one-click", "digest")
    assert not suppression.record(db, "NEW@example.org", "unsubscribe", "link", "digest")
    db.close()
    again = connect(tmp_path)  # a second upgrade is a no-op
    rows = {e.address: (e.reason, e.source, e.list) for e in suppression.entries(again)}
    assert rows == {
        "Old@example.org": ("bounce", "unknown", None),
        "new@example.org": ("unsubscribe", "one-click", "digest"),
    }


def test_provider_entries_keep_the_providers_time_and_count_new_ones(tmp_path):
    db = connect(tmp_path)
    found = [
        ("a@example.org", "bounce", 1700000001.0),
        ("b@example.org", "complaint", 1700000002.0),
        ("A@example.org", "unsubscribe", 1700000003.0),  # already there as a bounce
        ("not an address", "bounce", 1700000004.0),
    ]
    assert suppression.record_many(db, found, "postmark") == {"bounce": 1, "complaint": 1}
    entries = {e.address: e for e in suppression.entries(db)}
    assert entries["a@example.org"].added == 1700000001.0
    assert entries["b@example.org"].source == "postmark"
    assert db.sync_cursor("postmark") is None
    db.set_sync_cursor("postmark", 1700000002.5, 1700000009.0)
    assert db.sync_cursor("postmark") == 1700000002.5
