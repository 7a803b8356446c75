"""SendGrid's Signed Event Webhook through the WSGI app: real ECDSA P-256 signatures made
here, verified by the app; only verified events are recorded, each before the 200."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from newsletter.serve import webhooks
from tests.serve.conftest import in_process
from tests.serve.servekit import (
    SENDGRID_PRIVATE_KEY,
    SENDGRID_PUBLIC_KEY,
    WEBHOOK_SECRETS,
    call,
    public_text,
    sendgrid_headers,
    workspace,
)
from tests.serve.test_webhooks_app import assert_refused, frozen, post, recorded  # noqa: F401

STAMP = 1_513_299_569  # the documentation's example events' time
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture(autouse=True)
def nothing_seen(monkeypatch):
    """Each test starts with no signed request taken (the app keeps them for 10 minutes)."""
    monkeypatch.setattr(webhooks, "SENDGRID_SEEN", webhooks.Tokens(window=600))


def events(*items: dict) -> bytes:
    """Return a webhook body: a JSON array of events, as SendGrid posts them."""
    common = {"smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "sg_event_id": "sg_event_id",
              "sg_message_id": "sg_message_id", "category": "cat facts"}  # fmt: skip
    return json.dumps([{**common, "timestamp": STAMP, **item} for item in items]).encode()


def send(app, body: bytes, headers: dict[str, str] | None = None):
    return post(app, "sendgrid", body, sendgrid_headers(body) if headers is None else headers)


def test_bounces_complaints_and_unsubscribes_are_recorded_before_the_200(hooked_app):
    body = events(
        {"email": "gone@example.org", "event": "bounce", "type": "bounce",
         "reason": "500 unknown recipient", "status": "5.0.0"},
        {"email": "blocked@example.org", "event": "bounce", "type": "blocked",
         "reason": "500 blocked", "status": "5.0.0"},
        {"email": "old@example.org", "event": "bounce"},
        {"email": "dead@example.org", "event": "dropped", "reason": "Bounced Address",
         "timestamp": STAMP + 1},
        {"email": "bad@example.org", "event": "dropped", "reason": "Invalid"},
        {"email": "spam@example.org", "event": "dropped", "reason": "Spam Reporting Address"},
        {"email": "out@example.org", "event": "dropped", "reason": "Unsubscribed Address"},
        {"email": "header@example.org", "event": "dropped", "reason": "Invalid SMTPAPI header"},
        {"email": "quota@example.org", "event": "dropped",
         "reason": "Recipient List over Package Quota"},
        {"email": "angry@example.org", "event": "spamreport", "timestamp": STAMP + 2},
        {"email": "Left@Example.org", "event": "unsubscribe", "timestamp": STAMP + 3},
        {"email": "group@example.org", "event": "group_unsubscribe", "asm_group_id": 10,
         "timestamp": STAMP + 4},
        {"email": "fine@example.org", "event": "delivered", "response": "250 OK"},
        {"email": "later@example.org", "event": "deferred", "attempt": "5"},
        {"email": "reader@example.org", "event": "open"},
        {"email": "back@example.org", "event": "group_resubscribe", "asm_group_id": 10},
        {"email": "not an address", "event": "spamreport"},
        {"email": ["x@example.org"], "event": "spamreport"},
        {"event": "spamreport"},
    )  # fmt: skip
    answer = send(hooked_app, body)
    assert (answer.status_line, answer.body) == ("200 OK", b"ok\n")
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"
    assert answer.logged == ""
    assert recorded(hooked_app) == {
        "gone@example.org": ("bounce", "sendgrid", STAMP),
        "dead@example.org": ("bounce", "sendgrid", STAMP + 1),
        "bad@example.org": ("invalid", "sendgrid", STAMP),
        "spam@example.org": ("complaint", "sendgrid", STAMP),
        "out@example.org": ("unsubscribe", "sendgrid", STAMP),
        "angry@example.org": ("complaint", "sendgrid", STAMP + 2),
        "left@example.org": ("unsubscribe", "sendgrid", STAMP + 3),
        "group@example.org": ("unsubscribe", "sendgrid", STAMP + 4),
    }
    assert set(recorded(hooked_app)) == answer.suppressed_when_answering


def test_events_of_other_shapes_are_skipped_and_times_fall_back_to_now(hooked_app):
    before = time.time()
    body = json.dumps(
        [
            "not an event",
            None,
            {"email": "a@example.org", "event": "spamreport"},  # no time
            {"email": "b@example.org", "event": "spamreport", "timestamp": "yesterday"},
            {"email": "c@example.org", "event": "spamreport", "timestamp": True},
            {"email": "d@example.org", "event": ["spamreport"]},
            {"email": "e@example.org", "event": "dropped", "reason": None},
        ]
    ).encode()
    assert send(hooked_app, body).status == 200
    found = recorded(hooked_app)
    assert set(found) == {"a@example.org", "b@example.org", "c@example.org"}
    assert all(before <= added <= time.time() for *_, added in found.values())
    assert send(hooked_app, b"[]").status == 200  # SendGrid's test post may be empty


def test_group_unsubscribes_count_for_the_series_group_only(tmp_path, monkeypatch):
    root = workspace(tmp_path / "ws", 8080, asm_group_id=10)
    for app in in_process(root, monkeypatch, WEBHOOK_SECRETS):
        body = events(
            {"email": "ours@example.org", "event": "group_unsubscribe", "asm_group_id": 10},
            {"email": "theirs@example.org", "event": "group_unsubscribe", "asm_group_id": 11},
            {"email": "unsaid@example.org", "event": "group_unsubscribe"},
            {"email": "all@example.org", "event": "unsubscribe"},  # the global list: all mail
        )
        assert send(app, body).status == 200
        assert set(recorded(app)) == {"ours@example.org", "all@example.org"}


def test_forged_tampered_or_stale_events_are_refused(hooked_app, frozen):  # noqa: F811
    event = {"email": "angry@example.org", "event": "spamreport"}
    body = events(event)
    good = sendgrid_headers(body, stamp=frozen)
    stamp_name = "X-Twilio-Email-Event-Webhook-Timestamp"
    signature_name = "X-Twilio-Email-Event-Webhook-Signature"
    other = ec.generate_private_key(ec.SECP256R1())
    forged, timing = "the signature does not verify", "the timestamp is not within 300 s of now"
    cases = [
        (body, sendgrid_headers(body, key=other, stamp=frozen), forged),  # the wrong key
        (body.replace(b"angry@", b"victim@"), good, forged),  # the body changed
        (body + b" ", good, forged),
        (body, {**good, stamp_name: str(frozen - 1)}, forged),  # the time changed
        (body, {**good, signature_name: ""}, forged),
        (body, {**good, signature_name: "not base64!"}, forged),
        (body, {**good, signature_name: base64.b64encode(b"\x30\x02\x00").decode()}, forged),
        (body, {signature_name: good[signature_name]}, "no signature headers"),
        (body, {stamp_name: good[stamp_name]}, "no signature headers"),
        (body, {}, "no signature headers"),
        (body, sendgrid_headers(body, stamp=frozen - 301), timing),  # older than 5 minutes
        (body, sendgrid_headers(body, stamp=frozen + 301), timing),  # or as far ahead
        (body, sendgrid_headers(body, stamp=-5), timing),
    ]
    for content, headers, why in cases:
        answer = post(hooked_app, "sendgrid", content, headers)
        assert_refused(answer, "sendgrid", why)
        assert "angry" not in answer.logged and "victim" not in answer.logged
    assert recorded(hooked_app) == {}
    for stamp, address in ((frozen - 300, "late@example.org"), (frozen + 300, "soon@example.org")):
        late = events({**event, "email": address})
        assert post(hooked_app, "sendgrid", late, sendgrid_headers(late, stamp=stamp)).status == 200
    assert set(recorded(hooked_app)) == {"late@example.org", "soon@example.org"}


def test_a_signed_request_is_taken_once(hooked_app, frozen):  # noqa: F811
    body = events({"email": "angry@example.org", "event": "spamreport"})
    headers = sendgrid_headers(body, stamp=frozen)
    assert send(hooked_app, body, headers).status == 200
    replay = "this timestamp and body were taken before (a replay)"
    assert_refused(send(hooked_app, body, headers), "sendgrid", replay)
    # ECDSA's (r, s) and (r, n - s) both verify: the other form is the same replay.
    name = "X-Twilio-Email-Event-Webhook-Signature"
    r, s = decode_dss_signature(base64.b64decode(headers[name]))
    twin = base64.b64encode(encode_dss_signature(r, P256_ORDER - s)).decode()
    assert twin != headers[name]
    assert_refused(send(hooked_app, body, {**headers, name: twin}), "sendgrid", replay)
    # A new signature a second later (SendGrid's retry) is a new request.
    assert send(hooked_app, body, sendgrid_headers(body, stamp=frozen + 1)).status == 200
    assert set(recorded(hooked_app)) == {"angry@example.org"}


def test_a_verified_body_that_is_not_an_array_of_events_is_refused(hooked_app):
    for body, why in (
        (b"not json", "the body is not JSON"),
        (b"", "the body is not JSON"),
        (b'{"email": "a@example.org", "event": "spamreport"}', "the body is not a JSON array"),
        (b"null", "the body is not a JSON array"),
    ):
        assert_refused(send(hooked_app, body), "sendgrid", why)
    assert recorded(hooked_app) == {}


def key_texts(private_key) -> tuple[str, str]:
    """Return the public key as base64 DER and as PEM (both as SendGrid users paste it)."""
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public_text(private_key), pem.decode()


@pytest.mark.parametrize("form", ["der", "pem", "wrapped"])
def test_the_public_key_as_sendgrid_shows_it_or_as_pem(form):
    der, pem = key_texts(SENDGRID_PRIVATE_KEY)
    text = {"der": der, "pem": pem, "wrapped": f"  {der[:40]}\n{der[40:]}\n"}[form]
    body = events({"email": "angry@example.org", "event": "spamreport"})
    found = webhooks.sendgrid(text, lowered(sendgrid_headers(body)), body)
    assert found == [("angry@example.org", "complaint", STAMP)]


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.mark.parametrize(
    "text",
    [
        "not a key",
        base64.b64encode(b"\x30\x03\x02\x01\x00").decode(),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        public_text(ec.generate_private_key(ec.SECP384R1())),  # ECDSA, but not P-256
        public_text(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "",
    ],
)
def test_a_public_key_that_is_not_p256_refuses_everything(text):
    body = events({"email": "angry@example.org", "event": "spamreport"})
    message = r"^the public key is not an ECDSA P-256 key \(base64 DER or PEM\)$"
    with pytest.raises(webhooks.Refused, match=message):
        webhooks.sendgrid(text, lowered(sendgrid_headers(body)), body)


def test_sendgrid_bodies_over_256_kib_are_refused(hooked_app):
    event = {"email": "big@example.org", "event": "spamreport"}
    bare = json.dumps([{**event, "pad": ""}]).encode()
    padded = json.dumps([{**event, "pad": "x" * (256 * 1024 - len(bare))}]).encode()
    assert len(padded) == 256 * 1024
    answer = send(hooked_app, padded + b" ")
    assert (answer.status_line, answer.body) == ("413 Content Too Large", b"too large\n")
    assert recorded(hooked_app) == {}
    assert send(hooked_app, padded).status == 200
    assert set(recorded(hooked_app)) == {"big@example.org"}


def test_without_the_public_key_the_endpoint_does_not_exist(tmp_path, monkeypatch):
    others = {k: v for k, v in WEBHOOK_SECRETS.items() if k != "SENDGRID_WEBHOOK_PUBLIC_KEY"}
    for app in in_process(workspace(tmp_path / "ws", 8080), monkeypatch, others):
        body = events({"email": "angry@example.org", "event": "spamreport"})
        answer = call(app, "POST", "/webhooks/sendgrid", body=body, headers=sendgrid_headers(body))
        assert answer.status == 404
        assert recorded(app) == {}
    assert webhooks.configured({"SENDGRID_WEBHOOK_PUBLIC_KEY": SENDGRID_PUBLIC_KEY}) == {
        "sendgrid": SENDGRID_PUBLIC_KEY
    }
