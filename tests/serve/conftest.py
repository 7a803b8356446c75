"""Fixtures of the serve tests: the sample workspace sent to the outbox, served for real."""

from __future__ import annotations

import os

import pytest

from tests.serve.servekit import (
    SECRET,
    WEBHOOK_SECRETS,
    Server,
    free_port,
    newsletter,
    workspace,
)


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


def in_process(root, monkeypatch, hooks: dict[str, str]):
    """Yield the WSGI app of a workspace in this process, with only the given webhook secrets."""
    from newsletter.serve.app import create_app

    for name in [*WEBHOOK_SECRETS, *(n for n in os.environ if n.startswith("NEWSLETTER_"))]:
        monkeypatch.delenv(name, raising=False)
    for name, value in hooks.items():
        monkeypatch.setenv(name, value)
    served = create_app(root, SECRET)
    yield served
    served.store.close()


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The WSGI app of the sample workspace (SQLite state), in this process; no webhooks."""
    yield from in_process(workspace(tmp_path / "ws", 8080), monkeypatch, {})


@pytest.fixture
def hooked_app(tmp_path, monkeypatch):
    """The same app with the three providers' webhook secrets set."""
    yield from in_process(workspace(tmp_path / "ws", 8080), monkeypatch, WEBHOOK_SECRETS)
