"""Scheduled sends: `send_at`, `send --due` with a frozen clock, and `status` without ISSUE."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.send import schedule
from tests.helpers.cli import run_cli
from tests.helpers.workspace import make_workspace

ISSUE = """\
volume: 1
number: {n}
date: 2026-10-0{n}
preheader: Issue {n}.
items:
  - headline: Headline {n}
    summary: Summary {n}.
"""


def issue(n: int, extra: str = "") -> str:
    return ISSUE.format(n=n) + extra


@pytest.fixture
def ws(tmp_path, monkeypatch, state_url):
    root = make_workspace(
        tmp_path / "ws",
        {
            "vol-1-1": issue(1, "send_at: 2026-11-01T09:00:00-05:00\n"),  # 14:00 UTC
            "vol-1-2": issue(2, "send_at: 2026-11-01T09:00:00+09:00\n"),  # 00:00 UTC, first
            "vol-1-3": issue(3, "send_at: 2026-12-01T09:00:00Z\n"),  # later
            "vol-1-4": issue(4, "send_at: 2026-10-01T09:00:00Z\ndraft: true\n"),  # a draft
            "vol-1-5": issue(5),  # not scheduled
        },
        files={"list.csv": "email\nana@example.org\nbo@example.org\n"},
    )
    monkeypatch.delenv("NEWSLETTER_WORKSPACE", raising=False)
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", state_url)  # each store, SQLite and PostgreSQL
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "test-unsubscribe-secret")
    monkeypatch.chdir(root)
    return root


def freeze(monkeypatch, when: str) -> None:
    """Stop the scheduler's clock at when."""
    monkeypatch.setattr(schedule, "now", lambda: dt.datetime.fromisoformat(when))


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def sent(root) -> dict[str, int]:
    outbox = root / "outbox"
    if not outbox.is_dir():
        return {}
    return {p.name: len(list(p.glob("*.eml"))) for p in sorted(outbox.iterdir())}


def test_due_sends_exactly_the_due_issues_in_date_order_then_nothing(ws, monkeypatch):
    freeze(monkeypatch, "2026-11-01T15:00:00+00:00")
    first = run("send", "--due", "--list", "list.csv", "--yes")
    assert first.exit_code == 0, first.output
    assert sent(ws) == {"vol-1-1": 2, "vol-1-2": 2}
    order = re.findall(r"== (vol-\d-\d): due since", first.output)
    assert order == ["vol-1-2", "vol-1-1"]
    files = {p: p.stat().st_mtime_ns for p in (ws / "outbox").rglob("*.eml")}

    again = run("send", "--due", "--list", "list.csv", "--yes")
    assert again.exit_code == 0, again.output
    assert "nothing due" in again.output and "vol-1-3" in again.output  # names the next one
    assert {p: p.stat().st_mtime_ns for p in (ws / "outbox").rglob("*.eml")} == files


def test_an_issue_becomes_due_when_its_time_comes(ws, monkeypatch):
    freeze(monkeypatch, "2026-11-01T10:00:00+00:00")  # after vol-1-2 (00:00), before vol-1-1
    assert run("send", "--due", "--list", "list.csv", "--yes").exit_code == 0
    assert sent(ws) == {"vol-1-2": 2}
    freeze(monkeypatch, "2026-12-01T09:00:00+00:00")  # exactly vol-1-3's time
    assert run("send", "--due", "--list", "list.csv", "--yes").exit_code == 0
    assert sent(ws) == {"vol-1-1": 2, "vol-1-2": 2, "vol-1-3": 2}


def test_nothing_due_exits_0_and_sends_nothing(ws, monkeypatch):
    freeze(monkeypatch, "2026-09-01T00:00:00+00:00")
    result = run("send", "--due", "--list", "list.csv", "--yes")
    assert result.exit_code == 0, result.output
    assert sent(ws) == {}


def test_a_finished_send_is_not_repeated_for_new_rows_of_the_list(ws, monkeypatch):
    freeze(monkeypatch, "2026-11-01T01:00:00+00:00")
    assert run("send", "--due", "--list", "list.csv", "--yes").exit_code == 0
    (ws / "list.csv").write_text("email\nana@example.org\nbo@example.org\ncy@example.org\n")
    assert run("send", "--due", "--list", "list.csv", "--yes").exit_code == 0
    assert sent(ws) == {"vol-1-2": 2}


def test_an_issue_with_errors_is_reported_and_the_others_still_go(ws, monkeypatch):
    broken = issue(6, "send_at: 2026-10-15T09:00:00Z\n").replace("volume: 1", "volume: 0")
    (ws / "issues" / "vol-1-6.yaml").write_text(broken, encoding="utf-8")
    freeze(monkeypatch, "2026-11-01T15:00:00+00:00")
    result = run("send", "--due", "--list", "list.csv", "--yes")
    assert result.exit_code == 1
    assert "issues/vol-1-6.yaml:1:9: error: volume:" in result.output
    assert sent(ws) == {"vol-1-1": 2, "vol-1-2": 2}


def test_due_takes_no_issue_and_needs_a_list(ws):
    assert run("send", "--due", "vol-1-1", "--list", "list.csv", "--yes").exit_code == 2
    assert run("send", "--due", "--yes").exit_code == 2
    assert run("send", "--due", "--test", "a@example.org").exit_code == 2


def test_status_lists_the_schedule_with_times(ws, monkeypatch):
    freeze(monkeypatch, "2026-11-01T10:00:00+00:00")
    run("send", "--due", "--list", "list.csv", "--yes")  # sends vol-1-2
    freeze(monkeypatch, "2026-11-01T15:00:00+00:00")  # vol-1-1's time has come since
    text = run("status")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert [line.split()[0] for line in lines] == ["vol-1-4", "vol-1-2", "vol-1-1", "vol-1-3"]
    assert "2026-11-01T09:00:00-05:00" in lines[2] and "2026-11-01 14:00 UTC" in lines[2]
    data = json.loads(run("status", "--format", "json").output)
    states = {row["issue"]: row["state"] for row in data["scheduled"]}
    assert states == {
        "vol-1-4": "draft",
        "vol-1-2": "sent",
        "vol-1-1": "due",
        "vol-1-3": "scheduled",
    }
    assert {row["issue"]: row["send_at"] for row in data["scheduled"]}["vol-1-1"] == (
        "2026-11-01T09:00:00-05:00"
    )


@pytest.mark.parametrize(
    "value,column",
    [("2026-12-01T09:00:00", 10), ("'2026-12-01 09:00'", 10), ("2026-12-01", 10)],
)
def test_check_refuses_a_send_at_without_an_offset(tmp_path, value, column):
    root = make_workspace(tmp_path / "ws", {"vol-1-1": issue(1, f"send_at: {value}\n")})
    result = run_cli("check", cwd=root)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert errors[0].startswith(f"issues/vol-1-1.yaml:8:{column}: error: send_at: ")
    assert "offset" in errors[0]


def test_check_accepts_offsets_and_utc(tmp_path):
    text = issue(1, "send_at: 2026-12-01T09:00:00Z\n")
    root = make_workspace(
        tmp_path / "ws",
        {"vol-1-1": text, "vol-1-2": issue(2, "send_at: '2026-12-01T09:00+05:30'\n")},
    )
    result = run_cli("check", cwd=root)
    assert result.returncode == 0, result.stderr
