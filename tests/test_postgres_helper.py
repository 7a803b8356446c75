"""The tests' PostgreSQL helper cleans up after a session that was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import postgres as helper

ROOT = Path(__file__).resolve().parent.parent
START_AND_HANG = """
import sys, time
from tests.helpers.postgres import PostgresServer
server = PostgresServer()
print(server.dir, flush=True)
time.sleep(600)
"""


def postmaster_running(folder: Path) -> bool:
    pid_file = folder / "data" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_session_s_server_is_stopped_and_deleted_by_the_next():
    session = subprocess.Popen(
        [sys.executable, "-c", START_AND_HANG], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    folder = Path(session.stdout.readline().strip())
    assert postmaster_running(folder)
    session.send_signal(signal.SIGKILL)  # no clean-up runs: the server stays up
    session.wait(timeout=30)
    assert postmaster_running(folder)

    assert folder in helper.reap_orphans()

    assert not folder.exists()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(f"-D {folder}/data" in line for line in _processes()):
        time.sleep(0.2)
    assert not any(f"-D {folder}/data" in line for line in _processes())


def test_a_live_session_s_server_is_left_alone(postgres):
    server = postgres
    assert server.dir not in helper.reap_orphans()
    assert postmaster_running(server.dir)


def _processes() -> list[str]:
    return subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
