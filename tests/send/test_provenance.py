"""Provenance: a send records the git commit it came from and refuses uncommitted changes."""

from __future__ import annotations

import json
import subprocess

import pytest
from sendkit import cli_env, newsletter, sample_workspace

from newsletter.send.provenance import history
from newsletter.state import open_url

LIST = "email\nana@example.org\nbo@example.org\n"


def git(root, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Editor", "-c", "user.email=editor@example.org", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def ws(tmp_path):
    root = sample_workspace(tmp_path / "ws")
    (root / "subscribers.csv").write_text(LIST, encoding="utf-8")
    (root / ".gitignore").write_text(".newsletter/\noutbox/\nbuild/\n", encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "The issue as reviewed")
    return root


def send(root, *more: str):
    return newsletter(
        "-w", str(root), "send", "vol-2-10", "--list", "subscribers.csv", *more, cwd=root
    )


def sends(root) -> list[dict]:
    done = newsletter("-w", str(root), "status", "vol-2-10", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["sends"]


def outbox(root) -> list[str]:
    folder = root / "outbox" / "vol-2-10"
    return sorted(p.name for p in folder.glob("*.eml")) if folder.is_dir() else []


def test_a_clean_send_records_the_commit_it_came_from(ws):
    done = send(ws, "--yes")
    assert done.returncode == 0, done.stderr
    (record,) = sends(ws)
    assert record["commit"] == git(ws, "rev-parse", "HEAD")
    assert record["dirty"] == [] and record["allow_dirty"] is False
    text = newsletter("-w", str(ws), "status", "vol-2-10").stdout
    assert git(ws, "rev-parse", "HEAD") in text


@pytest.mark.parametrize(
    "path,change",
    [
        ("issues/vol-2-10.yaml", "# an unreviewed edit\n"),
        ("newsletter.yaml", "# an unreviewed edit\n"),
        ("templates/email/footer.mjml.j2", None),  # a new, untracked template
    ],
)
def test_uncommitted_changes_are_refused(ws, path, change):
    target = ws / path
    if change is None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("<mj-section></mj-section>\n", encoding="utf-8")
    else:
        target.write_text(target.read_text("utf-8") + change, encoding="utf-8")
    done = send(ws, "--yes")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert path in done.stderr and "--allow-dirty" in done.stderr
    assert outbox(ws) == [] and sends(ws) == []


def test_a_staged_change_is_uncommitted_too(ws):
    issue = ws / "issues" / "vol-2-10.yaml"
    issue.write_text(issue.read_text("utf-8") + "# staged\n", encoding="utf-8")
    git(ws, "add", "issues/vol-2-10.yaml")
    assert send(ws, "--yes").returncode == 1
    assert outbox(ws) == []


def test_allow_dirty_sends_and_says_so_in_the_record(ws):
    issue = ws / "issues" / "vol-2-10.yaml"
    issue.write_text(issue.read_text("utf-8") + "# an unreviewed edit\n", encoding="utf-8")
    done = send(ws, "--yes", "--allow-dirty")
    assert done.returncode == 0, done.stderr
    assert outbox(ws) == ["ana@example.org.eml", "bo@example.org.eml"]
    (record,) = sends(ws)
    assert record["commit"] == git(ws, "rev-parse", "HEAD")
    assert record["dirty"] == ["issues/vol-2-10.yaml"] and record["allow_dirty"] is True


def test_other_files_do_not_count(ws):
    (ws / "notes.txt").write_text("not part of the email\n", encoding="utf-8")
    other = next(p for p in (ws / "issues").glob("*.yaml") if p.stem != "vol-2-10")
    other.write_text(other.read_text("utf-8") + "# another issue's edit\n", encoding="utf-8")
    assert send(ws, "--yes").returncode == 0


def test_a_test_send_is_exempt(ws):
    issue = ws / "issues" / "vol-2-10.yaml"
    issue.write_text(issue.read_text("utf-8") + "# an unreviewed edit\n", encoding="utf-8")
    done = newsletter("-w", str(ws), "send", "vol-2-10", "--test", "me@example.org")
    assert done.returncode == 0, done.stderr
    assert sends(ws) == []


def test_a_workspace_outside_git_is_recorded_as_such(tmp_path):
    root = sample_workspace(tmp_path / "plain")
    (root / "subscribers.csv").write_text(LIST, encoding="utf-8")
    done = send(root, "--yes")
    assert done.returncode == 0, done.stderr
    (record,) = sends(root)
    assert record["commit"] is None and record["dirty"] == []
    assert "not in git" in newsletter("-w", str(root), "status", "vol-2-10").stdout


def test_each_send_keeps_its_own_commit(ws):
    assert send(ws, "--yes").returncode == 0
    first = git(ws, "rev-parse", "HEAD")
    (ws / "subscribers.csv").write_text(LIST + "cy@example.org\n", encoding="utf-8")
    git(ws, "commit", "-q", "--allow-empty", "-m", "A later commit")
    assert send(ws, "--yes").returncode == 0
    assert [r["commit"] for r in sends(ws)] == [first, git(ws, "rev-parse", "HEAD")]


def test_both_stores_keep_the_sends_of_an_issue(state_url):
    store = open_url(state_url)
    try:
        store.record_send("vol-1-1", (1.5, "a" * 40, "issues/vol-1-1.yaml", True, "postmark"))
        store.record_send("vol-1-1", (2.5, None, "", False, "outbox"))
        store.record_send("vol-1-2", (3.5, "b" * 40, "", False, "outbox"))
        records = history(store, "vol-1-1")
    finally:
        store.close()
    assert [r.provenance.describe() for r in records] == [
        f"commit {'a' * 40} (uncommitted: issues/vol-1-1.yaml)",
        "not in git",
    ]
    assert [r.allowed_dirty for r in records] == [True, False]


def test_a_send_with_a_shared_postgresql_state_records_its_commit(ws, postgres):
    env = cli_env(NEWSLETTER_DATABASE_URL=postgres.schema())
    done = newsletter(
        "-w", str(ws), "send", "vol-2-10", "--list", "subscribers.csv", "--yes", env=env, cwd=ws
    )
    assert done.returncode == 0, done.stderr
    shown = newsletter("-w", str(ws), "status", "vol-2-10", "--format", "json", env=env)
    assert json.loads(shown.stdout)["sends"][0]["commit"] == git(ws, "rev-parse", "HEAD")
    assert not (ws / ".newsletter" / "send.db").exists()  # the state went to PostgreSQL
