"""A real PostgreSQL server for the tests: Debian's binaries, a temporary cluster, a free port.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` system
user (the Debian package creates it) and its commands run through `runuser`.

With NEWSLETTER_TEST_POSTGRES set to the URL of a server that is already running (`make
mutation` starts one for a whole module), the tests use it instead of starting their own:
each test still gets an empty schema of its own, named after its process.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
SHARED = "NEWSLETTER_TEST_POSTGRES"
PREFIX = "newsletter-pg-"
STILL_BEING_MADE = 3600  # seconds
_schemas = itertools.count(1)


def _as_owner(command: list[str]) -> list[str]:
    """Run as the postgres user when we are root (the server refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    return True


def reap_orphans() -> list[Path]:
    """Stop and delete the clusters of test sessions that were killed before their clean-up."""
    reaped = []
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            owner = None
        if owner is None and time.time() - folder.stat().st_mtime < STILL_BEING_MADE:
            continue  # initdb takes seconds: an hour-old folder without an owner is dead
        if owner is not None and _alive(owner):
            continue
        _stop(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder)
    return reaped


def _stop(data: Path) -> None:
    subprocess.run(
        _as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
        capture_output=True,
        timeout=60,
        check=False,
    )


class PostgresServer:
    """One throwaway cluster; schema() gives each test an empty schema of its own."""

    def __init__(self):
        if not (BIN / "initdb").is_file():
            raise RuntimeError(f"no PostgreSQL in {BIN}: run scripts/install-system.sh")
        # A session killed by SIGKILL (a timeout, a mutation run) leaves its server running.
        reap_orphans()
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = _free_port()
        self._run(BIN / "initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "-D", self.data)
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"
        log = self.dir / "log"
        self._run(BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", log, "-w", "start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # Written last: a folder without it is one still being made, which nobody reaps.
        (self.dir / "owner.pid").write_text(str(os.getpid()))

    @classmethod
    def shared(cls) -> PostgresServer | None:
        """Return the running server NEWSLETTER_TEST_POSTGRES names, if any (never stopped)."""
        url = os.environ.get(SHARED)
        if not url:
            return None
        server = cls.__new__(cls)
        server.dir = server.data = None
        server.url = url
        server.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        return server

    def _run(self, *command) -> None:
        subprocess.run(
            _as_owner([str(c) for c in command]), check=True, capture_output=True, timeout=120
        )

    def schema(self) -> str:
        """Create an empty schema; return a URL whose tables land in it."""
        import psycopg

        # Random too: a shared server outlives processes, and process ids come round again.
        name = f"t{os.getpid()}_{next(_schemas)}_{secrets.token_hex(4)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return f"{self.url}?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        if self.data is None:  # shared: its owner stops it
            return
        _stop(self.data)
        shutil.rmtree(self.dir, ignore_errors=True)
