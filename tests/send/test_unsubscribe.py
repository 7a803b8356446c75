"""Signed unsubscribe links."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from newsletter.errors import SendError
from newsletter.send.unsubscribe import SECRET_ENV, Unsubscribe, from_environment, verify


def test_url_under_base_url_verifies_only_for_its_address():
    links = Unsubscribe("https://digest.example.org/news/", "test-digest", "k" * 32)
    url = links.url("Ana@example.org")
    parts = urlsplit(url)
    assert url.startswith("https://digest.example.org/news/unsubscribe/?")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["email"] == "Ana@example.org"
    assert verify("k" * 32, "test-digest", "ana@example.org", query["token"])
    assert not verify("k" * 32, "test-digest", "bo@example.org", query["token"])
    assert not verify("other" * 8, "test-digest", "ana@example.org", query["token"])
    assert not verify("k" * 32, "other-list", "ana@example.org", query["token"])


def test_secret_never_shows_in_repr():
    assert "s3cret" not in repr(Unsubscribe("https://x.example.org/", "l", "s3cret"))


def test_secret_is_required_except_for_the_outbox(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(SendError, match=SECRET_ENV):
        from_environment("https://x.example.org/", "l", ephemeral_ok=False)
    assert from_environment("https://x.example.org/", "l", ephemeral_ok=True).url("a@example.org")


def test_no_base_url_is_a_clear_error():
    with pytest.raises(SendError, match="base_url"):
        Unsubscribe(None, "l", "secret").url("a@example.org")


@pytest.mark.parametrize(
    "email", ["a@example.org", "Ana.Ito+news@Example.org", "o'neil@example.org", "üni@bücher.de"]
)
def test_url_is_the_urlencoded_query(email):
    from urllib.parse import urlencode

    from newsletter.send.unsubscribe import sign

    links = Unsubscribe("https://x.example.org/", "a list&co", "k" * 32)
    token = sign("k" * 32, "a list&co", email)
    query = urlencode({"list": "a list&co", "email": email, "token": token})
    assert links.url(email) == f"https://x.example.org/unsubscribe/?{query}"
