"""The provider fakes answer as the providers document: a test of the tests' own servers.

The expected answers below are written from each provider's documentation, not read from
the fakes, so a fake that drifts from its provider (a 422 where Postmark documents 401)
fails here before it can make a send test pass for the wrong reason.
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from provider_fakes import MailgunServer, PostmarkServer, ResendServer

MAILGUN_AUTH = base64.b64encode(f"api:{MailgunServer.key}".encode()).decode()

# provider -> (path, good headers, wrong-credential headers)
CALLS = {
    "postmark": (
        "/email/batch",
        {"X-Postmark-Server-Token": PostmarkServer.token},
        {"X-Postmark-Server-Token": "wrong"},
    ),
    "mailgun": (
        "/v3/mg.example.org/messages",
        {"Authorization": f"Basic {MAILGUN_AUTH}"},
        {"Authorization": "Basic " + base64.b64encode(b"api:wrong").decode()},
    ),
    "resend": (
        "/emails/batch",
        {"Authorization": f"Bearer {ResendServer.key}", "Idempotency-Key": "k1"},
        {"Authorization": "Bearer wrong", "Idempotency-Key": "k1"},
    ),
    "ses": ("/v2/email/outbound-emails", None, {"Authorization": "AWS4-HMAC-SHA256 Credential=x"}),
}

# provider -> documented (status, what the body holds) per case
DOCUMENTED = {
    "postmark": {  # postmarkapp.com/developer/api/overview#response-codes, #error-codes
        "bad_credentials": (401, {"ErrorCode": 10}),
        "throttled": (429, {}),
        "bad_request": (422, {"ErrorCode": 300}),
    },
    "mailgun": {  # documentation.mailgun.com: API response codes
        "bad_credentials": (401, "Forbidden"),
        "throttled": (429, {}),
        "bad_request": (400, {}),
    },
    "resend": {  # resend.com/docs/api-reference/errors
        "bad_credentials": (403, {"name": "invalid_api_key", "statusCode": 403}),
        "throttled": (429, {"name": "rate_limit_exceeded", "statusCode": 429}),
        "bad_request": (422, {"name": "validation_error", "statusCode": 422}),
    },
    "ses": {  # SES API v2 reference: common errors (x-amzn-ErrorType names the error)
        "bad_credentials": (403, {}),
        "throttled": (429, {}),
    },
}


def _check(response: httpx.Response, expected) -> None:
    status, body = expected
    assert response.status_code == status
    if isinstance(body, str):
        assert response.text == body
        return
    data = response.json()
    assert isinstance(data, dict)
    for key, value in body.items():
        assert data[key] == value
    # Every documented JSON error carries the provider's words for it.
    assert any(isinstance(data.get(k), str) and data[k] for k in ("Message", "message"))


@pytest.fixture
def server(request):
    fake = request.getfixturevalue(f"{request.param}_server")
    fake.reset()
    yield request.param, fake
    fake.reset()


@pytest.mark.parametrize("server", list(CALLS), indirect=True)
def test_wrong_credentials_get_the_documented_answer(server):
    name, fake = server
    path, _, wrong = CALLS[name]
    response = httpx.post(fake.url + path, content=b"{}", headers=wrong, timeout=10)
    _check(response, DOCUMENTED[name]["bad_credentials"])
    assert fake.received == {}


@pytest.mark.parametrize("server", list(CALLS), indirect=True)
def test_throttling_gets_the_documented_answer(server):
    name, fake = server
    path, _, wrong = CALLS[name]
    fake.faults.append("429")
    response = httpx.post(fake.url + path, content=b"{}", headers=wrong, timeout=10)
    _check(response, DOCUMENTED[name]["throttled"])
    assert response.headers.get("Retry-After")


@pytest.mark.parametrize("server", ["postmark", "mailgun", "resend"], indirect=True)
def test_a_bad_request_gets_the_documented_answer(server):
    name, fake = server
    path, good, _ = CALLS[name]
    kind = "application/x-www-form-urlencoded" if name == "mailgun" else "application/json"
    body = b"from=a%40example.org" if name == "mailgun" else json.dumps([{"To": ""}]).encode()
    headers = {**good, "Content-Type": kind, "Accept": "application/json"}
    response = httpx.post(fake.url + path, content=body, headers=headers, timeout=10)
    _check(response, DOCUMENTED[name]["bad_request"])
    assert fake.received == {}
    assert fake.errors  # the shape problem is recorded for the tests that rely on it
