"""Helpers of the serve tests: a sample workspace sent to the outbox, and the real server."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.helpers import REPO
from tests.helpers.workspace import copy_sample

SECRET = "test-unsubscribe-secret-0123456789"
LIST_ID = "us-japan-alliance-digest"  # the sample series' name, as list_id() makes it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**more: str) -> dict[str, str]:
    """Return a process environment with the test secret and no credentials of the machine."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "AWS_"))}
    return {**clean, "NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET, **more}


def newsletter(root: Path, *args: str, environ: dict[str, str] | None = None):
    """Run `python -m newsletter -w ROOT ARGS` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "newsletter", "-w", str(root), *args],
        env=environ or env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def workspace(dest: Path, port: int, **delivery) -> Path:
    """Copy the sample workspace, its unsubscribe links pointing at 127.0.0.1:port."""
    copy_sample(dest)
    shutil.copy(REPO / "subscribers.csv", dest / "subscribers.csv")
    config = dest / "newsletter.yaml"
    text = config.read_text("utf-8").split("\ndelivery:")[0]
    settings = {
        "provider": "outbox",
        "unsubscribe_url": f"http://127.0.0.1:{port}/unsubscribe/",
        **delivery,
    }
    config.write_text(f"{text}\n{yaml.safe_dump({'delivery': settings})}", encoding="utf-8")
    return dest


def unsubscribe_link(eml: Path) -> str:
    """Return the https (here: http) address of a message's List-Unsubscribe header."""
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    links = re.findall(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
    assert len(links) == 1, message["List-Unsubscribe"]
    return links[0]


def suppressed(root: Path) -> dict[str, dict]:
    """Return `newsletter suppress list --format json` by lower-cased address."""
    done = newsletter(root, "suppress", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    return {e["address"].lower(): e for e in entries}


def count_suppressed(root: Path) -> int:
    """Return how many addresses the workspace's state store suppresses (SQLite or PostgreSQL)."""
    from newsletter.state import open_store
    from newsletter.workspace import Workspace

    store = open_store(Workspace(root))
    try:
        return store.count("suppression")
    finally:
        store.close()


class Server:
    """`newsletter serve` as a real process on 127.0.0.1."""

    def __init__(self, root: Path, port: int, *args: str, environ: dict[str, str] | None = None):
        self.root, self.port = root, port
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "newsletter", "serve", "--workspace", str(root)]
        self.process = subprocess.Popen(
            [*command, "--port", str(port), *args],
            env=environ or env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.process.stderr.read()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("serve did not answer /healthz within 30 s")

    def local(self, link: str) -> str:
        """Return a link as it is, checking it points at this server."""
        assert link.startswith(f"{self.url}/unsubscribe/?"), link
        return link

    def kill(self) -> None:
        """Kill the server at once (kill -9)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
