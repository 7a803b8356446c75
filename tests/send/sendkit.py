"""Helpers of the send tests: a rendered message, lists, Prism, a sender in a workspace."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from provider_fakes import MailgunServer, PostmarkServer, ResendServer, SesServer

from newsletter.render.message import RenderedMessage, token
from tests.helpers import REPO

# The providers' official documents, kept with the tests (see specs/README.md).
SPECS = Path(__file__).with_name("specs")
PRISM = REPO / "node_modules" / "@stoplight" / "prism-cli" / "dist" / "index.js"


def sample_message(slug: str = "vol-1-1", paragraphs: int = 3) -> RenderedMessage:
    """Return a message with tokens in the subject, both bodies and a header."""
    body = "".join(f"<p>Paragraph {i} &amp; more text.</p>" for i in range(paragraphs))
    return RenderedMessage(
        slug=slug,
        subject=f"Test Digest Vol 1.1 for {token('first_name')}",
        from_name="Test Digest",
        from_email="digest@example.org",
        html=(
            f"<html><body><p>Dear {token('name')},</p>{body}"
            f'<a href="{token("unsubscribe_url")}">Unsubscribe</a></body></html>'
        ),
        text=f"Dear {token('name')},\n\nText.\n\nUnsubscribe: {token('unsubscribe_url')}\n",
        reply_to="replies@example.org",
        headers={
            "List-Unsubscribe": f"<{token('unsubscribe_url')}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def write_list(path: Path, count: int, start: int = 0, extra: str = "") -> Path:
    """Write a list of count subscribers (user<i>@example.org) plus extra raw lines."""
    lines = ["email,first_name,last_name,company"]
    lines += [f"user{i}@example.org,First{i},Last{i},Co {i}" for i in range(start, start + count)]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prism exited: {process.stdout.read() if process.stdout else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"prism did not listen on {port} within {timeout} s")


def start_prism(spec: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            "node",
            str(PRISM),
            "mock",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--errors",
            str((SPECS / spec).resolve()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_port(port, process)
    return process, f"http://127.0.0.1:{port}"


class Sender:
    """Send a message to a generated list through a provider, in a tmp workspace."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        from newsletter.workspace import Workspace

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.workspace = Workspace(root)
        monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", "test-unsubscribe-secret")
        monkeypatch.setenv("POSTMARK_SERVER_TOKEN", PostmarkServer.token)
        monkeypatch.setenv("MAILGUN_API_KEY", MailgunServer.key)
        monkeypatch.setenv("RESEND_API_KEY", ResendServer.key)
        monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", SesServer.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SesServer.secret_key)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    def series(self, **delivery):
        from newsletter.model import Series

        return Series.model_validate(
            {
                "name": "Test Digest",
                "publisher": "Test Publisher",
                "from": {"name": "Test Digest", "email": "digest@example.org"},
                "address": "1 Example Street",
                "base_url": "https://digest.example.org/",
                "delivery": delivery,
            }
        )

    def job(
        self,
        count: int = 10,
        message=None,
        extra: str = "",
        client=None,
        options=None,
        list_path: Path | None = None,
        **flags,
    ):
        from newsletter.send.engine import Options
        from newsletter.send.job import SendJob, make_provider

        delivery = flags.pop("delivery", {})
        series = self.series(**delivery)
        message = message or sample_message()
        kwargs = {"client": client} if client is not None else {}
        provider = make_provider(self.workspace, series, message, **kwargs)
        path = list_path or write_list(self.root / "list.csv", count, extra=extra)
        options = options or Options(rate=None, backoff_base=0.05, backoff_cap=0.2)
        return SendJob(self.workspace, series, message, provider, path, options=options, **flags)

    def ledger(self, issue: str = "vol-1-1"):
        """Return the issue's ledger in the workspace's state store (close its .store)."""
        from newsletter.send.ledger import Ledger
        from newsletter.state import open_store

        return Ledger(open_store(self.workspace), issue)

    def send(self, count: int = 10, **kwargs):
        """Plan and run one job; return (plan, report, counts)."""
        job = self.job(count, **kwargs)
        try:
            plan = job.plan()
            report = job.run()
            return plan, report, job.ledger.counts()
        finally:
            job.close()


def sample_workspace(dest: Path, **delivery) -> Path:
    """Copy the sample workspace to dest with the given delivery settings."""
    import yaml

    from tests.helpers.workspace import copy_sample

    copy_sample(dest)
    config = dest / "newsletter.yaml"
    text = config.read_text("utf-8").split("\ndelivery:")[0]
    block = yaml.safe_dump({"delivery": {"provider": "outbox", **delivery}}, sort_keys=False)
    config.write_text(f"{text}\n{block}", encoding="utf-8")
    return dest


def cli_env(**more: str) -> dict[str, str]:
    """Return the environment of a `newsletter send` process: test credentials only."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "AWS_"))}
    env.update(
        NEWSLETTER_UNSUBSCRIBE_SECRET="test-unsubscribe-secret",
        POSTMARK_SERVER_TOKEN=PostmarkServer.token,
        MAILGUN_API_KEY=MailgunServer.key,
    )
    env.update(more)
    return env


def newsletter(*args: str, env: dict[str, str] | None = None, **kwargs):
    """Run `python -m newsletter ARGS` as a real process and wait for it."""
    import sys

    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,
    )


def postmark_delivery(server, **more):
    """Return delivery settings for a local Postmark fake: small batches, one worker."""
    return {
        "provider": "postmark",
        "api_base": server.url,
        "batch_size": 10,
        "concurrency": 1,
        "reconcile_settle": 0.2,
        **more,
    }
