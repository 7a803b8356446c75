"""Provider webhooks through the WSGI app in this process: only verified events are recorded,
each before the 200 (test_webhooks.py checks the same through the real server)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import types

import pytest

from newsletter.serve import webhooks
from newsletter.serve.webhooks import Tokens, configured
from tests.serve.servekit import (
    MAILGUN_KEY,
    POSTMARK_SECRET,
    RESEND_SECRET,
    call,
    mailgun_event,
    suppressions,
    svix_headers,
)

JSON = {"Content-Type": "application/json"}
COMPLAINED_AT = "2024-01-02T03:04:05Z"


def post(app, provider: str, body: bytes, headers: dict[str, str] | None = None):
    return call(
        app, "POST", f"/webhooks/{provider}", body=body, headers={**JSON, **(headers or {})}
    )


def recorded(app) -> dict[str, tuple[str, str, float]]:
    """Return {address: (reason, source, time)} of the suppression list."""
    rows = suppressions(app.workspace.root).items()
    return {key: (reason, source, added) for key, (_, reason, source, added, _) in rows}


def basic(password: str, user: str = "postmark", scheme: str = "Basic") -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"{scheme} {encoded}"}


def assert_refused(answer, provider: str, why: str) -> None:
    """401 and nothing more for the provider; the reason only in the server's log."""
    assert (answer.status_line, answer.body) == ("401 Unauthorized", b"not verified\n")
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"
    assert answer.logged == f"newsletter serve: {provider} webhook refused: {why}\n"


@pytest.fixture
def frozen(monkeypatch):
    """Stop the clock the webhooks check timestamps against; return its epoch seconds."""
    now = float(int(time.time()))
    clock = types.SimpleNamespace(time=lambda: now, monotonic=time.monotonic)
    monkeypatch.setattr(webhooks, "time", clock)
    return int(now)


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# -- Mailgun --------------------------------------------------------------------------
def test_mailgun_events_are_recorded_before_the_200(hooked_app):
    events = [
        {"event": "failed", "severity": "permanent", "recipient": "gone@example.org",
         "timestamp": 1_760_000_000.5},
        {"event": "complained", "recipient": "angry@example.org", "timestamp": 1_700_000_000},
        {"event": "unsubscribed", "recipient": "Left@Example.org", "timestamp": 1_700_000_001},
        {"event": "failed", "severity": "temporary", "recipient": "full@example.org"},
        {"event": "delivered", "recipient": "fine@example.org"},
        {"event": "complained", "recipient": ["not", "an", "address"]},
        {"event": "complained"},
    ]  # fmt: skip
    for event in events:
        answer = post(hooked_app, "mailgun", mailgun_event(event))
        assert (answer.status_line, answer.body) == ("200 OK", b"ok\n")
        assert answer.header("Content-Type") == "text/plain; charset=utf-8"
        assert set(recorded(hooked_app)) <= answer.suppressed_when_answering
    assert recorded(hooked_app) == {
        "gone@example.org": ("bounce", "mailgun", 1_760_000_000.5),
        "angry@example.org": ("complaint", "mailgun", 1_700_000_000),
        "left@example.org": ("unsubscribe", "mailgun", 1_700_000_001),
    }
    assert suppressions(hooked_app.workspace.root)["left@example.org"][0] == "Left@example.org"


def test_mailgun_event_without_a_time_is_taken_now(hooked_app):
    before = time.time()
    event = {"event": "complained", "recipient": "now@example.org"}
    assert post(hooked_app, "mailgun", mailgun_event(event)).status == 200
    assert before <= recorded(hooked_app)["now@example.org"][2] <= time.time()


def test_mailgun_forged_stale_or_malformed_events_are_refused(hooked_app, frozen):
    event = {"event": "complained", "recipient": "angry@example.org"}
    good = json.loads(mailgun_event(event))
    signature = good["signature"]
    forged = {**good, "signature": {**signature, "signature": "0" * 64}}
    unsigned = {"event-data": event}
    no_token = {**good, "signature": {k: v for k, v in signature.items() if k != "token"}}
    timing = "the timestamp is not within 900 s of now"
    for body, why in (
        (mailgun_event(event, key="not-the-key"), "the signature does not verify"),
        (json.dumps(forged).encode(), "the signature does not verify"),
        (mailgun_event(event, stamp=frozen - 901), timing),  # older than the 15 minutes
        (mailgun_event(event, stamp=frozen + 901), timing),  # or as far in the future
        (mailgun_event(event, stamp=-5), timing),
        (json.dumps(unsigned).encode(), "no signature"),
        (json.dumps(no_token).encode(), "no signature"),
        (json.dumps({**good, "signature": "x"}).encode(), "no signature"),
        (json.dumps({**good, "signature": None}).encode(), "no signature"),
        (b"{}", "no signature"),
        (b"[]", "the body is not a JSON object"),
        (b"not json", "the body is not JSON"),
        (b"", "the body is not JSON"),
    ):
        answer = post(hooked_app, "mailgun", body)
        assert_refused(answer, "mailgun", why)
        assert "angry" not in answer.logged and MAILGUN_KEY not in answer.logged
    assert recorded(hooked_app) == {}
    # Within the window either way, a signed event is taken: 15 minutes exactly.
    for stamp, address in ((frozen - 900, "late@example.org"), (frozen + 900, "soon@example.org")):
        answer = post(
            hooked_app, "mailgun", mailgun_event({**event, "recipient": address}, stamp=stamp)
        )
        assert answer.status == 200 and answer.logged == ""
    assert set(recorded(hooked_app)) == {"late@example.org", "soon@example.org"}


def test_mailgun_timestamp_must_be_digits(hooked_app):
    token = "a" * 50
    for stamp in ("12.5e8", " 1700000000", "", "soon"):
        signature = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256)
        sign = {"timestamp": stamp, "token": token, "signature": signature.hexdigest()}
        event = {"event": "complained", "recipient": "x@example.org"}
        body = json.dumps({"signature": sign, "event-data": event}).encode()
        answer = post(hooked_app, "mailgun", body)
        assert_refused(answer, "mailgun", "the timestamp is not within 900 s of now")
    assert recorded(hooked_app) == {}


def test_each_mailgun_token_is_taken_once(hooked_app):
    event = {"event": "complained", "recipient": "angry@example.org"}
    genuine = mailgun_event(event)
    assert post(hooked_app, "mailgun", genuine).status == 200
    # Mailgun signs the timestamp and token, not the body: a seen token is never taken again.
    replay = "the token was taken before (a replay)"
    assert_refused(post(hooked_app, "mailgun", genuine), "mailgun", replay)
    altered = post(hooked_app, "mailgun", genuine.replace(b"angry@", b"victim@"))
    assert_refused(altered, "mailgun", replay)
    assert set(recorded(hooked_app)) == {"angry@example.org"}


def test_a_token_is_taken_again_only_after_its_window(monkeypatch):
    clock = [1000.0]  # halves: exact in binary, so "900 s later" is exactly that
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: clock[0])
    tokens = Tokens(window=900)
    assert tokens.take("t1") and not tokens.take("t1")
    clock[0] += 899.5
    assert not tokens.take("t1") and tokens.take("t2")
    clock[0] += 0.5  # t1 was taken 900 s ago: its timestamp is refused by now anyway
    assert tokens.take("t1")
    assert list(tokens.seen) == ["t2", "t1"]  # the old ones are forgotten
    clock[0] += 900
    assert tokens.take("t3") and list(tokens.seen) == ["t3"]


def test_tokens_are_remembered_for_the_15_minutes_of_the_default_window(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: clock[0])
    tokens = Tokens()
    assert tokens.take("t-900")
    clock[0] = 899.5
    assert not tokens.take("t-900")
    clock[0] = 900
    assert tokens.take("t-900")


def test_an_event_stamped_ahead_cannot_be_replayed_while_its_stamp_is_taken(
    hooked_app, monkeypatch
):
    # Signed 15 minutes ahead of our clock, an event is valid for 30 minutes from now:
    # its token must be remembered that long, or a replay at minute 16 would be taken.
    start = float(int(time.time()))
    now = [start]
    clock = types.SimpleNamespace(time=lambda: now[0], monotonic=lambda: now[0])
    monkeypatch.setattr(webhooks, "time", clock)
    monkeypatch.setattr(webhooks.MAILGUN_TOKENS, "seen", {})
    event = {"event": "complained", "recipient": "angry@example.org"}
    ahead = mailgun_event(event, stamp=int(start) + 900)
    assert post(hooked_app, "mailgun", ahead).status == 200
    replay = "the token was taken before (a replay)"
    for later in (899.5, 960.0, 1799.5):  # its timestamp is still within 15 minutes
        now[0] = start + later
        assert_refused(post(hooked_app, "mailgun", ahead), "mailgun", replay)
    now[0] = start + 1800.5  # the stamp is now too old: refused for its time instead
    assert_refused(
        post(hooked_app, "mailgun", ahead), "mailgun", "the timestamp is not within 900 s of now"
    )


# -- Resend (Svix) --------------------------------------------------------------------
def resend_body(kind: str, data: dict, created: str | None = "2023-10-06T23:47:56.678Z") -> bytes:
    body = {"type": kind, "data": data}
    if created is not None:
        body["created_at"] = created
    return json.dumps(body).encode()


def test_resend_events_are_recorded(hooked_app):
    bounce = {"type": "Permanent", "subType": "General"}
    bodies = [
        resend_body("email.bounced", {"to": ["gone@example.org", 7], "bounce": bounce}),
        resend_body(
            "email.complained", {"to": ["angry@example.org", None]}, "2024-01-02T03:04:05Z"
        ),
        resend_body("contact.updated", {"email": "left@example.org", "unsubscribed": True}),
        resend_body("email.bounced", {"to": ["soft@example.org"], "bounce": {"type": "Transient"}}),
        resend_body("email.bounced", {"to": ["nobounce@example.org"]}),
        resend_body("contact.updated", {"email": "stays@example.org", "unsubscribed": False}),
        resend_body("contact.updated", {"email": "truthy@example.org", "unsubscribed": "yes"}),
        resend_body("contact.updated", {"unsubscribed": True}),
        resend_body("email.delivered", {"to": ["fine@example.org"]}),
        resend_body("email.complained", {}),
    ]
    for body in bodies:
        answer = post(hooked_app, "resend", body, svix_headers(body))
        assert answer.status_line == "200 OK", body
    assert recorded(hooked_app) == {
        "gone@example.org": ("bounce", "resend", 1696636076.678),
        "angry@example.org": ("complaint", "resend", 1704164645.0),
        "left@example.org": ("unsubscribe", "resend", 1696636076.678),
    }


def test_resend_event_times_fall_back_to_now(hooked_app):
    before = time.time()
    for created, address in ((None, "a@example.org"), ("yesterday", "b@example.org")):
        body = resend_body("contact.updated", {"email": address, "unsubscribed": True}, created)
        assert post(hooked_app, "resend", body, svix_headers(body)).status == 200
    assert all(before <= added <= time.time() for *_, added in recorded(hooked_app).values())


def test_resend_accepts_any_of_several_signatures(hooked_app):
    body = resend_body("contact.updated", {"email": "left@example.org", "unsubscribed": True})
    headers = svix_headers(body)
    headers["svix-signature"] = (
        f"v1,{base64.b64encode(b'x' * 32).decode()} " + headers["svix-signature"]
    )
    assert post(hooked_app, "resend", body, headers).status == 200
    assert set(recorded(hooked_app)) == {"left@example.org"}


def test_resend_forged_stale_or_tampered_events_are_refused(hooked_app, frozen):
    body = resend_body("contact.updated", {"email": "left@example.org", "unsubscribed": True})
    wrong = svix_headers(body, secret="whsec_" + base64.b64encode(b"other").decode())
    headers = svix_headers(body)
    key = base64.b64decode(RESEND_SECRET.removeprefix("whsec_"))

    def signed(stamp: str, ident: str = headers["svix-id"]) -> dict[str, str]:
        text = f"{ident}.{stamp}.".encode() + body
        digest = base64.b64encode(hmac.new(key, text, hashlib.sha256).digest()).decode()
        return {**headers, "svix-timestamp": stamp, "svix-signature": f"v1,{digest}"}

    unsigned = {k: v for k, v in headers.items() if k != "svix-signature"}
    anonymous = {k: v for k, v in signed(headers["svix-timestamp"], "").items() if k != "svix-id"}
    digest = headers["svix-signature"].partition(",")[2]
    forged, timing = "the signature does not verify", "the timestamp is not within 300 s of now"
    cases = [
        (body, wrong, forged),
        (body.replace(b"left@", b"victim@"), headers, forged),
        (body, {**headers, "svix-id": "msg_other"}, forged),
        (body, {**headers, "svix-signature": ""}, forged),
        (body, {**headers, "svix-signature": f"v1{digest}"}, forged),
        (body, {**headers, "svix-signature": f"v1,x,{digest}"}, forged),
        (body, unsigned, "no Svix signature headers"),
        (body, anonymous, "no Svix signature headers"),
        (body, signed(str(frozen - 301)), timing),  # older than 5 minutes
        (body, signed(str(frozen + 301)), timing),
        (body, signed("soon"), timing),
        (b"[]", svix_headers(b"[]"), "the body is not a JSON object"),
        (b"not json", svix_headers(b"not json"), "the body is not JSON"),
    ]
    for content, sent, why in cases:
        answer = post(hooked_app, "resend", content, sent)
        assert_refused(answer, "resend", why)
        assert "left@" not in answer.logged and RESEND_SECRET not in answer.logged
    assert recorded(hooked_app) == {}
    for stamp in (frozen - 300, frozen + 300):  # 5 minutes exactly, either way
        assert post(hooked_app, "resend", body, signed(str(stamp))).status == 200
    assert set(recorded(hooked_app)) == {"left@example.org"}


def test_a_resend_secret_that_is_not_base64_refuses_everything():
    body = resend_body("contact.updated", {"email": "left@example.org", "unsubscribed": True})
    read = webhooks.PROVIDERS["resend"][1]
    with pytest.raises(webhooks.Refused, match=r"^the secret is not base64 \(whsec_\.\.\.\)$"):
        read("whsec_not*base64", svix_headers(body), body)
    # The secret as Resend shows it, with its prefix, is what verifies.
    (event,) = read(RESEND_SECRET, svix_headers(body), body)
    assert event[:2] == ("left@example.org", "unsubscribe")


# -- Postmark -------------------------------------------------------------------------
def postmark_body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_postmark_events_are_recorded(hooked_app):
    bodies = [
        postmark_body(RecordType="Bounce", Type="HardBounce", Email="gone@example.org",
                      BouncedAt="2019-11-05T16:33:54Z"),
        postmark_body(RecordType="SpamComplaint", Email="angry@example.org",
                      BouncedAt="2019-11-05T16:33:55Z"),
        postmark_body(RecordType="SubscriptionChange", Recipient="left@example.org",
                      SuppressSending=True, SuppressionReason="ManualSuppression",
                      ChangedAt="2019-11-05T16:33:56Z"),
        postmark_body(RecordType="SubscriptionChange", Recipient="hard@example.org",
                      SuppressSending=True, SuppressionReason="HardBounce",
                      ChangedAt="2019-11-05T16:33:57Z"),
        postmark_body(RecordType="SubscriptionChange", Recipient="spam@example.org",
                      SuppressSending=True, SuppressionReason="SpamComplaint",
                      ChangedAt="2019-11-05T16:33:58Z"),
        postmark_body(RecordType="SubscriptionChange", Recipient="back@example.org",
                      SuppressSending=False, SuppressionReason="ManualSuppression"),
        postmark_body(RecordType="SubscriptionChange", Recipient="maybe@example.org",
                      SuppressSending="true"),
        postmark_body(RecordType="Bounce", Type="SoftBounce", Email="soft@example.org"),
        postmark_body(RecordType="Bounce", Type="HardBounce"),
        postmark_body(RecordType="Delivery", Email="fine@example.org"),
    ]  # fmt: skip
    for body in bodies:
        answer = post(hooked_app, "postmark", body, basic(POSTMARK_SECRET))
        assert answer.status_line == "200 OK", body
    stamp = 1572971634  # 2019-11-05T16:33:54Z
    assert recorded(hooked_app) == {
        "gone@example.org": ("bounce", "postmark", stamp),
        "angry@example.org": ("complaint", "postmark", stamp + 1),
        "left@example.org": ("unsubscribe", "postmark", stamp + 2),
        "hard@example.org": ("bounce", "postmark", stamp + 3),
        "spam@example.org": ("complaint", "postmark", stamp + 4),
    }


def test_postmark_needs_its_basic_credentials(hooked_app):
    body = postmark_body(RecordType="SpamComplaint", Email="angry@example.org")
    encoded = base64.b64encode(f"postmark:{POSTMARK_SECRET}".encode()).decode()
    wrong, unreadable = "wrong credentials", "the credentials are not Basic user:password"
    for headers, why in (
        ({}, "no credentials"),
        (basic("wrong"), wrong),
        (basic(POSTMARK_SECRET[:-1]), wrong),
        (basic(""), wrong),
        (basic(POSTMARK_SECRET, scheme="Bearer"), wrong),
        ({"Authorization": f"Basic{encoded}"}, wrong),
        ({"Authorization": encoded}, wrong),
        ({"Authorization": "Basic " + base64.b64encode(POSTMARK_SECRET.encode()).decode()}, wrong),
        ({"Authorization": "Basic !!not-base64!!"}, unreadable),
        ({"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}, unreadable),
    ):
        answer = post(hooked_app, "postmark", body, headers)
        assert_refused(answer, "postmark", why)
        assert POSTMARK_SECRET not in answer.logged
    assert recorded(hooked_app) == {}
    answer = post(hooked_app, "postmark", b"not json", basic(POSTMARK_SECRET))
    assert_refused(answer, "postmark", "the body is not JSON")
    for headers in (
        basic(POSTMARK_SECRET, user=""),  # any user
        basic(POSTMARK_SECRET, scheme="basic"),  # the scheme in any case
        {"Authorization": f"Basic  {encoded}"},  # RFC 7235: one or more spaces
    ):
        assert post(hooked_app, "postmark", body, headers).status == 200
    assert set(recorded(hooked_app)) == {"angry@example.org"}


def test_a_postmark_password_may_hold_a_colon():
    read = webhooks.PROVIDERS["postmark"][1]
    body = postmark_body(RecordType="SpamComplaint", Email="a@example.org")
    headers = {k.lower(): v for k, v in basic("pass:word").items()}
    assert read("pass:word", headers, body)[0][:2] == ("a@example.org", "complaint")


# -- the endpoints --------------------------------------------------------------------
def test_webhook_bodies_over_256_kib_are_refused(hooked_app):
    event = json.loads(mailgun_event({"event": "complained", "recipient": "big@example.org"}))
    body = json.dumps({**event, "pad": ""}).encode()
    padded = json.dumps({**event, "pad": "x" * (256 * 1024 - len(body))}).encode()
    assert len(padded) == 256 * 1024
    answer = post(hooked_app, "mailgun", padded + b" ")
    assert (answer.status_line, answer.body) == ("413 Content Too Large", b"too large\n")
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"
    assert recorded(hooked_app) == {}
    assert post(hooked_app, "mailgun", padded).status == 200
    assert set(recorded(hooked_app)) == {"big@example.org"}


def test_webhooks_answer_posts_only(hooked_app):
    for name in ("mailgun", "resend", "postmark", "sendgrid", "ses"):
        for method in ("GET", "HEAD"):
            answer = call(hooked_app, method, f"/webhooks/{name}")
            assert answer.status == 405 and answer.header("Allow") == "POST"
    assert call(hooked_app, "POST", "/webhooks/sparkpost", body=b"{}").status == 404


def test_webhooks_without_a_secret_do_not_exist(app):
    for name in ("mailgun", "resend", "postmark", "sendgrid", "ses"):
        assert call(app, "POST", f"/webhooks/{name}", body=b"{}").status == 404


def test_configured_webhooks_are_those_with_a_secret():
    env = {"MAILGUN_WEBHOOK_SIGNING_KEY": "k1", "RESEND_WEBHOOK_SECRET": "", "OTHER": "x"}
    assert configured(env) == {"mailgun": "k1"}
    assert configured({"POSTMARK_WEBHOOK_SECRET": "p", "RESEND_WEBHOOK_SECRET": "r"}) == {
        "resend": "r",
        "postmark": "p",
    }
    assert configured({}) == {}


def test_configured_reads_the_environment(monkeypatch):
    for name in ("MAILGUN_WEBHOOK_SIGNING_KEY", "RESEND_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POSTMARK_WEBHOOK_SECRET", "from-env")
    assert configured() == {"postmark": "from-env"}


def test_iso_times_of_events():
    assert webhooks._iso("2019-11-05T16:33:54Z") == 1572971634
    assert webhooks._iso("2019-11-05T16:33:54+01:00") == 1572971634 - 3600
    assert iso(webhooks._iso("2019-11-05T16:33:54.5Z")) == "2019-11-05T16:33:54Z"


def test_a_refusal_goes_to_stderr_without_an_error_stream(hooked_app, capsys):
    answer = call(hooked_app, "POST", "/webhooks/mailgun", body=b"{}", **{"wsgi.errors": None})
    assert answer.status == 401
    printed = capsys.readouterr()
    assert printed.err == "newsletter serve: mailgun webhook refused: no signature\n"
    assert printed.out == ""
