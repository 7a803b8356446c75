"""Fixtures of the serve tests: the sample workspace sent to the outbox, served for real."""

from __future__ import annotations

import pytest

from tests.serve.servekit import Server, free_port, newsletter, workspace


@pytest.fixture
def served(tmp_path, state_url):
    """Send the sample issue to the outbox, then start `newsletter serve`; yield the Server.

    The state is in each store in turn: SQLite by default, or newsletter.yaml's PostgreSQL.
    """
    port = free_port()
    root = workspace(tmp_path / "ws", port)
    if state_url.startswith("postgresql"):
        with (root / "newsletter.yaml").open("a", encoding="utf-8") as config:
            config.write(f"state:\n  database_url: '{state_url}'\n")
    done = newsletter(root, "send", "vol-2-10", "--list", str(root / "subscribers.csv"), "--yes")
    assert done.returncode == 0, done.stderr
    server = Server(root, port)
    yield server
    server.stop()
