"""Helpers of the serve tests: a sample workspace sent to the outbox, and the real server."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.send.unsubscribe import sign
from tests.helpers import REPO
from tests.helpers.workspace import copy_sample

SECRET = "test-unsubscribe-secret-0123456789"
LIST_ID = "us-japan-alliance-digest"  # the sample series' name, as list_id() makes it
MAILGUN_KEY = "key-mailgun-webhook-signing"
RESEND_SECRET = "whsec_" + base64.b64encode(b"resend-webhook-secret-bytes").decode()
POSTMARK_SECRET = "postmark-webhook-password"
# SendGrid's Signed Event Webhook: a P-256 key pair, the public half as SendGrid's settings
# page shows it (base64 of the DER SubjectPublicKeyInfo).
SENDGRID_PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())


def public_text(private_key) -> str:
    """Return a key's public half as base64 DER, as SendGrid shows its verification key."""
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


SENDGRID_PUBLIC_KEY = public_text(SENDGRID_PRIVATE_KEY)
SES_TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
WEBHOOK_SECRETS = {
    "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
    "RESEND_WEBHOOK_SECRET": RESEND_SECRET,
    "POSTMARK_WEBHOOK_SECRET": POSTMARK_SECRET,
    "SENDGRID_WEBHOOK_PUBLIC_KEY": SENDGRID_PUBLIC_KEY,
    "SES_WEBHOOK_TOPIC_ARN": SES_TOPIC,
}


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


def mailgun_event(event: dict, key: str = MAILGUN_KEY, stamp: int | None = None) -> bytes:
    """Return a webhook body as Mailgun signs it (documentation.mailgun.com, webhooks)."""
    stamp = str(int(time.time()) if stamp is None else stamp)
    token = secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    body = {"signature": {"timestamp": stamp, "token": token, "signature": signature}}
    return json.dumps({**body, "event-data": event}).encode()


def svix_headers(body: bytes, secret: str = RESEND_SECRET) -> dict[str, str]:
    """Return the Svix headers Resend signs a webhook with."""
    ident, stamp = "msg_2Lh9KRb6pzN4LePd3XiFJBRDxiA", str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{ident}.{stamp}.".encode() + body, hashlib.sha256).digest()
    signature = f"v1,{base64.b64encode(digest).decode()}"
    return {"svix-id": ident, "svix-timestamp": stamp, "svix-signature": signature}


def sendgrid_headers(
    body: bytes, key: ec.EllipticCurvePrivateKey = SENDGRID_PRIVATE_KEY, stamp: int | None = None
) -> dict[str, str]:
    """Return the headers SendGrid signs an event webhook with: ECDSA of timestamp + body."""
    stamp_text = str(int(time.time()) if stamp is None else stamp)
    signature = key.sign(stamp_text.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp_text,
    }


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

    # Generous: with other test runs on the machine, the start (imports, migrating the
    # state) can take many seconds; the wait ends as soon as /healthz answers.
    READY = 120.0

    def __init__(self, root: Path, port: int, *args: str, environ: dict[str, str] | None = None):
        self.root, self.port = root, port
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "newsletter", "serve", "--workspace", str(root)]
        # A file, not a pipe nobody reads: waitress warns on stderr about every request that
        # waits for a thread, and a full pipe would stop the server mid-test.
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop() and kill())
        self.process = subprocess.Popen(
            [*command, "--port", str(port), *args],
            env=environ or env(),
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.READY
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.printed()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"serve did not answer /healthz within {self.READY:.0f} s")

    def printed(self) -> str:
        """Return what the server printed so far."""
        self.output.seek(0)
        return self.output.read().decode("utf-8", "replace")

    def local(self, link: str) -> str:
        """Return a link as it is, checking it points at this server."""
        assert link.startswith(f"{self.url}/unsubscribe/?"), link
        return link

    def kill(self) -> None:
        """Kill the server at once (kill -9)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)
        self.output.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=60)
        self.output.close()


def multipart(fields: list[tuple[str, str]], boundary: str = "---FormBoundaryjWmhtjORrn"):
    """Return a multipart/form-data body, as RFC 8058's example (section 8) posts one."""
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    )
    return f"{parts}--{boundary}--\r\n".encode()


RFC_8058_POST = multipart([("List-Unsubscribe", "One-Click")])
RFC_8058_TYPE = "multipart/form-data; boundary=---FormBoundaryjWmhtjORrn"


def signed_query(address: str, list_id: str = LIST_ID, **change: str) -> str:
    """Return the query of an unsubscribe link as a send signs it, with fields changed."""
    fields = {"list": list_id, "email": address, "token": sign(SECRET, list_id, address)}
    return urlencode({**fields, **change})


@dataclass
class Answer:
    """What a WSGI app answered: the status line, the headers, the body."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes
    suppressed_when_answering: set[str]  # what the state held when the status was sent
    logged: str  # what the app wrote to the server's error stream (wsgi.errors)

    @property
    def status(self) -> int:
        return int(self.status_line.split()[0])

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(found) <= 1, found
        return found[0] if found else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def call(
    app,
    method: str,
    path: str = "/unsubscribe/",
    query: str = "",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    **environ: object,
) -> Answer:
    """Send one request to a WSGI app in this process, as a WSGI server would."""
    errors = io.StringIO()
    request = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": errors,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body is not None:
        request["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        request[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    request.update(environ)
    for name in [k for k, v in request.items() if v is None]:  # None: leave it out
        del request[name]
    seen: dict = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
        # Read through a connection of its own: it sees only what is committed.
        seen.update(status=status, headers=response_headers, suppressed=stored(app.workspace.root))
        return lambda data: None

    chunks = app(request, start_response)
    body = b"".join(chunks)
    return Answer(seen["status"], seen["headers"], body, seen["suppressed"], errors.getvalue())


def stored(root: Path) -> set[str]:
    """Return the lower-cased addresses a workspace's state store suppresses (committed)."""
    return set(suppressions(root))


def suppressions(root: Path) -> dict[str, tuple]:
    """Return (address, reason, source, added, list) of each suppressed address, by key."""
    from newsletter.state import open_store
    from newsletter.workspace import Workspace

    store = open_store(Workspace(root))
    try:
        return {row[0].lower(): row for row in store.suppressions()}
    finally:
        store.close()
