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


# Known answer, computed outside this module with
#   printf 'digest-list\nana@example.org' \
#     | openssl dgst -sha256 -hmac 'correct horse battery staple' -binary \
#     | head -c 16 | base64 | tr '+/' '-_' | tr -d '='
# so a change to the message layout, the hash, the key or the length of the token fails here.
KNOWN_SECRET = "correct horse battery staple"
KNOWN_TOKEN = "Ty3BBKls68bdgE2YXCzHiQ"


def test_sign_gives_the_known_answer():
    from newsletter.send.unsubscribe import sign

    assert sign(KNOWN_SECRET, "digest-list", "ana@example.org") == KNOWN_TOKEN
    assert sign(KNOWN_SECRET, "digest-list", "Ana@Example.ORG") == KNOWN_TOKEN  # case of address
    assert verify(KNOWN_SECRET, "digest-list", "ana@example.org", KNOWN_TOKEN)


@pytest.mark.parametrize(
    "token",
    [
        "",
        KNOWN_TOKEN[:1],
        KNOWN_TOKEN[:-1],  # one character short
        KNOWN_TOKEN[:4],  # 24 bits
        KNOWN_TOKEN + "A",  # one too many
        KNOWN_TOKEN + "=",
        KNOWN_TOKEN.swapcase(),
        KNOWN_TOKEN[:-1] + ("A" if KNOWN_TOKEN[-1] != "A" else "B"),
        " " + KNOWN_TOKEN,
    ],
)
def test_verify_refuses_every_other_token(token):
    assert not verify(KNOWN_SECRET, "digest-list", "ana@example.org", token)


def test_verify_refuses_a_token_of_another_list_or_address():
    from newsletter.send.unsubscribe import sign

    other_list = sign(KNOWN_SECRET, "other-list", "ana@example.org")
    assert other_list != KNOWN_TOKEN
    assert not verify(KNOWN_SECRET, "digest-list", "ana@example.org", other_list)
    assert not verify(KNOWN_SECRET, "digest-list", "bo@example.org", KNOWN_TOKEN)
    # The separator is part of the signed message: list 'a' + address 'b\nc' is not list 'a\nb'.
    assert sign(KNOWN_SECRET, "a", "b@c") != sign(KNOWN_SECRET, "a\nb", "@c")


def test_from_environment_signs_with_the_environments_secret_for_its_list(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, KNOWN_SECRET)
    url = from_environment("https://x.example.org/", "digest-list", ephemeral_ok=False).url(
        "ana@example.org"
    )
    assert url == (
        "https://x.example.org/unsubscribe/?list=digest-list&email=ana%40example.org"
        f"&token={KNOWN_TOKEN}"
    )


def test_the_messages_say_what_to_do(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(SendError) as missing:
        from_environment("https://x.example.org/", "l", ephemeral_ok=False)
    assert str(missing.value) == (
        f"set {SECRET_ENV} to a long random secret: it signs each recipient's unsubscribe "
        f'link (e.g. export {SECRET_ENV}="$(python -c "import secrets; '
        'print(secrets.token_urlsafe(32))")")'
    )
    with pytest.raises(SendError) as no_base:
        Unsubscribe(None, "l", "secret").url("a@example.org")
    assert str(no_base.value) == (
        "the message has %%unsubscribe_url%% but newsletter.yaml has neither "
        "delivery.unsubscribe_url nor base_url: set delivery.unsubscribe_url to where "
        "'newsletter serve' is published"
    )
