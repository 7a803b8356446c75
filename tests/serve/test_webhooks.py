"""Provider webhooks on `newsletter serve`: verified events are recorded, others refused."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from tests.serve.servekit import (
    POSTMARK_SECRET,
    WEBHOOK_SECRETS,
    Server,
    count_suppressed,
    env,
    free_port,
    mailgun_event,
    sendgrid_headers,
    suppressed,
    svix_headers,
    workspace,
)


@pytest.fixture
def hooked(tmp_path):
    port = free_port()
    root = workspace(tmp_path / "ws", port)
    server = Server(root, port, environ=env(**WEBHOOK_SECRETS))
    yield server
    server.stop()


def test_mailgun_permanent_failure_and_complaint_are_recorded(hooked):
    url = f"{hooked.url}/webhooks/mailgun"
    bounce = {
        "event": "failed",
        "severity": "permanent",
        "recipient": "gone@example.org",
        "timestamp": 1_760_000_000.5,
    }
    temporary = {"event": "failed", "severity": "temporary", "recipient": "full@example.org"}
    complaint = {"event": "complained", "recipient": "angry@example.org"}
    for event in (bounce, temporary, complaint):
        assert httpx.post(url, content=mailgun_event(event)).status_code == 200
    entries = suppressed(hooked.root)
    assert {a: (e["reason"], e["source"]) for a, e in entries.items()} == {
        "gone@example.org": ("bounce", "mailgun"),
        "angry@example.org": ("complaint", "mailgun"),
    }
    assert entries["gone@example.org"]["time"] == "2025-10-09T08:53:20Z"  # the event's time


def test_mailgun_forged_or_replayed_events_are_refused(hooked):
    url = f"{hooked.url}/webhooks/mailgun"
    event = {"event": "complained", "recipient": "angry@example.org"}
    forged = mailgun_event(event, key="not-the-key")
    stale = mailgun_event(event, stamp=int(time.time()) - 3600)
    for body in (forged, stale, b"{}", b"not json"):
        assert httpx.post(url, content=body).status_code == 401
    genuine = mailgun_event(event)
    assert httpx.post(url, content=genuine).status_code == 200
    # Mailgun signs the timestamp and token, not the body: a seen token is never taken again.
    altered = genuine.replace(b"angry@", b"victim@")
    assert httpx.post(url, content=altered).status_code == 401
    assert list(suppressed(hooked.root)) == ["angry@example.org"]


def test_resend_svix_signed_events(hooked):
    url = f"{hooked.url}/webhooks/resend"
    bounced = json.dumps(
        {
            "type": "email.bounced",
            "created_at": "2023-10-06T23:47:56.678Z",
            "data": {
                "email_id": "4ef9a417",
                "created_at": "2023-10-06T23:47:56.678Z",
                "from": "Digest <digest@example.org>",
                "to": ["gone@example.org"],
                "subject": "Vol 2.10",
                "bounce": {
                    "type": "Permanent",
                    "subType": "General",
                    "message": "no such user",
                    "diagnosticCode": ["smtp; 550 5.1.1"],
                },
            },
        }
    ).encode()
    unsubscribed = json.dumps(
        {
            "type": "contact.updated",
            "created_at": "2023-10-06T23:47:56.678Z",
            "data": {
                "id": "e169aa45",
                "created_at": "2023-10-06T23:47:56.678Z",
                "updated_at": "2023-10-06T23:47:56.678Z",
                "email": "left@example.org",
                "unsubscribed": True,
            },
        }
    ).encode()
    for body in (bounced, unsubscribed):
        assert httpx.post(url, content=body, headers=svix_headers(body)).status_code == 200
    wrong = svix_headers(bounced, secret="whsec_" + base64.b64encode(b"other").decode())
    assert (
        httpx.post(url, content=bounced.replace(b"gone@", b"x@"), headers=wrong).status_code == 401
    )
    tampered = bounced.replace(b"gone@", b"victim@")
    assert httpx.post(url, content=tampered, headers=svix_headers(bounced)).status_code == 401
    entries = suppressed(hooked.root)
    assert {a: e["reason"] for a, e in entries.items()} == {
        "gone@example.org": "bounce",
        "left@example.org": "unsubscribe",
    }


def test_postmark_needs_the_basic_credentials(hooked):
    url = f"{hooked.url}/webhooks/postmark"
    bounce = json.dumps(
        {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "TypeCode": 1,
            "Email": "gone@example.org",
            "BouncedAt": "2019-11-05T16:33:54Z",
            "MessageStream": "broadcast",
        }
    ).encode()
    assert httpx.post(url, content=bounce).status_code == 401
    assert httpx.post(url, content=bounce, auth=("postmark", "wrong")).status_code == 401
    assert count_suppressed(hooked.root) == 0
    assert httpx.post(url, content=bounce, auth=("postmark", POSTMARK_SECRET)).status_code == 200
    assert suppressed(hooked.root)["gone@example.org"]["source"] == "postmark"


def test_sendgrid_signed_events(hooked):
    url = f"{hooked.url}/webhooks/sendgrid"
    body = json.dumps(
        [
            {"email": "gone@example.org", "timestamp": 1513299569, "event": "bounce",
             "type": "bounce", "reason": "500 unknown recipient", "status": "5.0.0",
             "sg_event_id": "sg_event_id", "sg_message_id": "sg_message_id"},
            {"email": "busy@example.org", "timestamp": 1513299569, "event": "bounce",
             "type": "blocked", "reason": "500 blocked", "status": "5.0.0"},
            {"email": "angry@example.org", "timestamp": 1513299570, "event": "spamreport"},
        ]
    ).encode()  # fmt: skip
    headers = sendgrid_headers(body)
    tampered = body.replace(b"angry@", b"victim@")
    assert httpx.post(url, content=tampered, headers=headers).status_code == 401
    assert count_suppressed(hooked.root) == 0
    assert httpx.post(url, content=body, headers=headers).status_code == 200
    assert httpx.post(url, content=body, headers=headers).status_code == 401  # a replay
    entries = suppressed(hooked.root)
    assert {a: (e["reason"], e["source"], e["time"]) for a, e in entries.items()} == {
        "gone@example.org": ("bounce", "sendgrid", "2017-12-15T00:59:29Z"),
        "angry@example.org": ("complaint", "sendgrid", "2017-12-15T00:59:30Z"),
    }
    printed = hooked.printed()
    assert "newsletter serve: sendgrid webhook refused: the signature does not verify" in printed
    assert "sendgrid webhook refused: this timestamp and body were taken before" in printed
    assert "victim" not in printed and "angry" not in printed


def test_webhooks_without_a_secret_do_not_exist(served):
    for name in ("mailgun", "resend", "postmark", "sendgrid", "ses"):
        assert httpx.post(f"{served.url}/webhooks/{name}", content=b"{}").status_code == 404
