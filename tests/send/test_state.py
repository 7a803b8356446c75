"""The state behind a URL: choosing it, secrets, PostgreSQL locks across processes, migrate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sendkit import cli_env, newsletter, sample_workspace, write_list

from newsletter.send.ledger import Ledger
from newsletter.state import open_url

SECRET = "s3cret-Pa55word"


@pytest.fixture
def ws(tmp_path):
    root = sample_workspace(tmp_path / "ws")
    write_list(root / "list.csv", 5)
    return root


def configure(ws, url: str) -> None:
    """Write state.database_url into newsletter.yaml (before delivery, as users would)."""
    config = ws / "newsletter.yaml"
    head, tail = config.read_text("utf-8").split("\ndelivery:", 1)
    config.write_text(f"{head}\nstate:\n  database_url: '{url}'\n\ndelivery:{tail}", "utf-8")


def counts(ws, env=None, issue="vol-2-10"):
    done = newsletter("-w", str(ws), "status", issue, "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["counts"]


def test_the_environment_wins_over_newsletter_yaml(ws, postgres, tmp_path):
    url = postgres.schema()
    configure(ws, f"sqlite:///{tmp_path / 'configured.db'}")
    env = cli_env(NEWSLETTER_DATABASE_URL=url)
    done = newsletter(
        "-w", str(ws), "send", "vol-2-10", "--list", str(ws / "list.csv"), "--yes", env=env
    )
    assert done.returncode == 0, done.stderr
    assert counts(ws, env)["sent"] == 5
    assert counts(ws)["sent"] == 0  # the configured SQLite file never saw the send
    assert (tmp_path / "configured.db").is_file() and not (ws / ".newsletter" / "send.db").exists()


def test_yaml_url_takes_the_password_from_the_environment(ws, postgres):
    schema_url = postgres.schema()
    # trust authentication ignores the password; what matters is that ${VAR} is filled in
    configure(ws, schema_url.replace("postgres@", "postgres:${PG_TEST_PASSWORD}@"))
    done = newsletter("-w", str(ws), "status", "vol-2-10")
    assert done.returncode == 1 and "uses ${PG_TEST_PASSWORD}, which is not set" in done.stderr
    env = cli_env(PG_TEST_PASSWORD=SECRET)
    done = newsletter(
        "-w", str(ws), "send", "vol-2-10", "--list", str(ws / "list.csv"), "--yes", env=env
    )
    assert done.returncode == 0, done.stderr
    assert counts(ws, env)["sent"] == 5
    store = open_url(schema_url)
    assert Ledger(store, "vol-2-10").counts()["sent"] == 5  # it went to PostgreSQL
    store.close()


def test_a_password_written_in_newsletter_yaml_is_refused(ws):
    configure(ws, f"postgresql://editor:{SECRET}@db.example.org/news")
    done = newsletter("-w", str(ws), "send", "vol-2-10", "--list", str(ws / "list.csv"), "--yes")
    assert done.returncode == 1
    assert "newsletter.yaml:" in done.stderr and "state.database_url" in done.stderr
    assert "password is written in newsletter.yaml" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_an_unreachable_database_is_a_clear_error_without_the_password(ws):
    env = cli_env(NEWSLETTER_DATABASE_URL=f"postgresql://editor:{SECRET}@127.0.0.1:1/news")
    done = newsletter("-w", str(ws), "status", "vol-2-10", env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cannot open the state database postgresql://" in done.stderr
    assert "***@127.0.0.1:1/news" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_a_url_of_another_kind_is_refused(ws):
    env = cli_env(NEWSLETTER_DATABASE_URL="mysql://db/news")
    done = newsletter("-w", str(ws), "status", "vol-2-10", env=env)
    assert done.returncode == 1 and "is not a state URL" in done.stderr


def _hold_lock(url: str) -> subprocess.Popen:
    """Start a process that takes vol-1-1's send lock and waits."""
    code = (
        "import sys, time\n"
        "from newsletter.send.ledger import SendLock\n"
        "from newsletter.state import open_url\n"
        f"store = open_url({url!r})\n"
        "lock = SendLock(store, 'vol-1-1').require()\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_the_send_lock_dies_with_a_killed_process(state_url):
    holder = _hold_lock(state_url)
    store = open_url(state_url)
    try:
        assert not store.try_lock("vol-1-1")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        deadline = time.monotonic() + 10  # the server notices the closed connection
        while not store.try_lock("vol-1-1") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "vol-1-1" in store.locks or store.try_lock("vol-1-1")
    finally:
        store.close()


def test_two_sends_of_one_issue_one_refused_then_takes_over(ws, postmark, postgres, tmp_path):
    """Two machines, one PostgreSQL: one sends, the other refuses; kill -9; the other finishes."""
    total = 2000
    sample_workspace(ws, provider="postmark", api_base=postmark.url, batch_size=50, concurrency=2)
    subscribers = write_list(tmp_path / "big.csv", total)
    env = cli_env(NEWSLETTER_DATABASE_URL=postgres.schema())
    postmark.delay = 0.3  # ~12 s for the first send: the second starts well within it
    command = [sys.executable, "-m", "newsletter", "-w", str(ws), "send", "vol-2-10"]
    command += ["--list", str(subscribers), "--yes", "--no-sync", "--no-probe"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while sum(postmark.received.values()) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.poll() is None, "the first send ended before the second tried"
    assert second.returncode == 1
    assert "another 'newsletter send' is running for this issue" in second.stderr
    assert "advisory lock" in second.stderr
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert sum(postmark.received.values()) < total
    postmark.delay = 0.0
    third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    state = counts(ws, env)
    unknown = set(
        newsletter(
            "-w", str(ws), "status", "vol-2-10", "--state", "unknown", env=env
        ).stdout.split()
    )
    assert max(postmark.received.values()) == 1, "a recipient was mailed twice"
    everyone = {f"user{i}@example.org" for i in range(total)}
    assert everyone - set(postmark.received) <= unknown, "someone missing without a report"
    assert state["sent"] + state["unknown"] == total and state["pending"] == 0
    assert third.returncode == (1 if unknown else 0), third.stderr


def test_state_migrate_copies_sqlite_into_postgresql_and_verifies(ws, postgres):
    send = ("-w", str(ws), "send", "vol-2-10", "--list", str(ws / "list.csv"), "--yes")
    assert newsletter(*send).returncode == 0
    assert newsletter("-w", str(ws), "suppress", "add", "gone@example.org").returncode == 0
    url = postgres.schema()
    done = newsletter("-w", str(ws), "state", "migrate", "--to", url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:5] == ["recipients", "5", "5", "0", "5"] for line in lines)
    assert any(line.split()[:5] == ["suppression", "1", "1", "0", "1"] for line in lines)
    assert "verified" in done.stdout
    env = cli_env(NEWSLETTER_DATABASE_URL=url)
    assert counts(ws, env) == counts(ws)
    listed = newsletter("-w", str(ws), "suppress", "list", env=env).stdout
    assert listed.startswith("gone@example.org\tmanual\t") and len(listed.splitlines()) == 1
    again = newsletter("-w", str(ws), "state", "migrate", "--to", url)
    assert again.returncode == 1 and "already holds a ledger for vol-2-10" in again.stderr


def test_state_migrate_exits_1_when_rows_go_missing(ws, postgres, monkeypatch):
    from click.testing import CliRunner

    from newsletter.cli import cli
    from newsletter.state.postgres import PostgresStore

    assert (
        newsletter(
            "-w", str(ws), "send", "vol-2-10", "--list", str(ws / "list.csv"), "--yes"
        ).returncode
        == 0
    )
    real = PostgresStore.load

    def lossy(self, table, columns, rows):
        rows = list(rows)
        return real(self, table, columns, rows[1:] if table == "recipients" else rows)

    monkeypatch.setattr(PostgresStore, "load", lossy)
    done = CliRunner().invoke(cli, ["-w", str(ws), "state", "migrate", "--to", postgres.schema()])
    assert done.exit_code == 1
    assert "mismatch: vol-2-10: states" in done.output


def test_state_migrate_needs_a_state_to_copy(ws, postgres):
    done = newsletter("-w", str(ws), "state", "migrate", "--to", postgres.schema())
    assert done.returncode == 2 and "no state to copy" in done.stderr


def test_postgresql_records_its_schema_version(postgres):
    from newsletter.state import migrations

    url = postgres.schema()
    first, second = open_url(url), open_url(url)  # the second finds it migrated
    assert second.schema_version() == first.schema_version() == migrations.latest("postgresql")
    applied = second.conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
    assert applied == len(migrations.POSTGRESQL)
    first.close()
    second.close()
