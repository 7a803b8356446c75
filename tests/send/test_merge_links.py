"""Merge fields in link addresses reach every provider URL-encoded for their spot."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from newsletter.model import Delivery
from newsletter.render.message import RenderedMessage, personalize
from newsletter.send import providers
from newsletter.send.providers.base import Batch
from newsletter.send.subscribers import Recipient

ADDRESS = "a+b@example.org"
QUERY = "a%2Bb%40example.org"
MESSAGE = RenderedMessage(
    slug="vol-1-1",
    subject="Hi %%first_name%%",
    from_name="Test Digest",
    from_email="digest@example.org",
    html='<a href="https://example.org/p/%%email__path%%?e=%%email__query%%'
    '&amp;c=%%company__query%%">p</a>',
    text="[1] https://example.org/p/%%email__path%%?e=%%email__query%%&c=%%company__query%%\n",
)
VALUES = {"email": ADDRESS, "first_name": "Ann", "company": "c&d=1"}
EXPECTED = f"https://example.org/p/a+b@example.org?e={QUERY}&c=c%26d%3D1"


def test_personalize_encodes_for_the_spot():
    personal = personalize(MESSAGE, VALUES)
    assert EXPECTED in personal.text
    assert EXPECTED.replace("&", "&amp;") in personal.html


def _body(name: str, **settings) -> bytes:
    provider = providers.get(name)(
        MESSAGE, Delivery(provider=name, **settings), env={}, need_credentials=False
    )
    call = provider.prepare(Batch("b1", [Recipient(ADDRESS, 2, dict(VALUES))]))
    return bytes(call.body)


@pytest.mark.parametrize("name", ["postmark", "resend"])
def test_json_providers_fill_encoded_values(name):
    body = json.loads(_body(name))
    text = json.dumps(body)
    assert EXPECTED in text and "%%" not in text


def test_mailgun_variables_are_encoded_for_the_spot():
    form = parse_qs(_body("mailgun", domain="mg.example.org").decode())
    assert "%recipient.email__query__html%" in form["html"][0]
    variables = json.loads(form["recipient-variables"][0])[ADDRESS]
    assert variables["email__query__html"] == QUERY
    assert variables["email__path"] == ADDRESS
    assert variables["company__query"] == "c%26d%3D1"


def test_sendgrid_substitutions_are_encoded_for_the_spot():
    body = json.loads(_body("sendgrid"))
    substitutions = body["personalizations"][0]["substitutions"]
    assert substitutions["%%email__query__html%%"] == QUERY
    assert substitutions["%%company__query%%"] == "c%26d%3D1"
