"""Conditions of the machine, not of the input (issue 15, item 7): each gets its own one-line
message and exit code, never 'internal error ... please report it'.

A full disk and a read-only workspace are real: a small tmpfs and a read-only bind mount,
made in a private mount namespace with `unshare` (util-linux), so nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.workspace import copy_sample

NEWSLETTER = [sys.executable, "-m", "newsletter"]


@pytest.fixture
def sent(tmp_path: Path) -> Path:
    """Return the sample workspace after one send to the outbox (so it has a ledger)."""
    root = copy_sample(tmp_path / "ws")
    shutil.copy(Path(__file__).parents[2] / "subscribers.csv", root / "subscribers.csv")
    env = {**os.environ, "NEWSLETTER_UNSUBSCRIBE_SECRET": "x" * 40}
    done = subprocess.run(
        [*NEWSLETTER, "send", "vol-2-10", "--list", "subscribers.csv", "--yes"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return root


def _plain(result: subprocess.CompletedProcess[str]) -> None:
    assert "please report it" not in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def _in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell script as root of a private user and mount namespace."""
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _ledger(root: Path) -> Path:
    db = root / ".newsletter" / "send.db"
    with sqlite3.connect(db) as connection:  # fold the WAL in, so the file is the whole ledger
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


@pytest.mark.parametrize("damage", ["not-a-database", "malformed"])
def test_a_damaged_ledger_is_a_state_error(sent: Path, damage: str) -> None:
    db = _ledger(sent)
    data = bytearray(db.read_bytes())
    if damage == "not-a-database":
        data[:100] = b"\x5a" * 100
    else:
        data[8192:] = b"\x5a" * (len(data) - 8192)
    db.write_bytes(bytes(data))
    result = run_cli("status", "vol-2-10", cwd=sent)
    assert result.returncode == 65
    assert "damaged" in result.stderr and "backup" in result.stderr
    _plain(result)


def test_a_full_disk(sent: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    command = " ".join([*NEWSLETTER, "render", "vol-2-10", "-o", str(small)])
    result = _in_namespace(f"mount -t tmpfs -o size=48k tmpfs {small} && {command}", sent)
    assert result.returncode == 74, result.stderr
    assert "error: the disk is full" in result.stderr
    assert "please report it" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [("render", "vol-2-10", "--format", "html"), ("build", "--jobs", "1"), ("status", "vol-2-10")],
)
def test_a_read_only_workspace(sent: Path, args: tuple[str, ...]) -> None:
    command = " ".join([*NEWSLETTER, *args])
    script = f"mount --bind {sent} {sent} && mount -o remount,bind,ro {sent} && {command}"
    result = _in_namespace(script, sent)
    assert result.returncode == 73, result.stderr
    assert "read-only" in result.stderr.lower()
    assert "please report it" not in result.stderr


def test_a_closed_pipe(sent: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written, as after `| head -1`
    try:
        result = subprocess.run(
            [*NEWSLETTER, "status", "vol-2-10"],
            cwd=sent,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert result.returncode == 141
    assert "broken pipe" in result.stderr
    _plain(result)


def test_a_full_ledger(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "ws")
    shutil.copy(Path(__file__).parents[2] / "subscribers.csv", root / "subscribers.csv")
    state = root / ".newsletter"
    state.mkdir()
    command = " ".join([*NEWSLETTER, "send", "vol-2-10", "--list", "subscribers.csv", "--yes"])
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {state} && "
        f"dd if=/dev/zero of={state}/fill bs=1k count=60 2>/dev/null; "
        f"NEWSLETTER_UNSUBSCRIBE_SECRET={'x' * 40} {command}"
    )
    result = _in_namespace(script, root)
    assert result.returncode == 74, result.stderr
    assert "error: the disk is full" in result.stderr
    _plain(result)
