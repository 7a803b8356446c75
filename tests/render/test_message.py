"""render_message and the MIME message: tokens left for the send step, headers, email.eml."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest

from newsletter.loader import require_issue
from newsletter.render.message import list_headers, personalize, render_message
from newsletter.render.mime import SAMPLE_RECIPIENT, CompiledMime, sample_eml
from newsletter.workspace import Workspace
from tests.helpers.workspace import ISSUE, SERIES, make_workspace


@pytest.fixture
def rendered(tmp_path: Path):
    issue = ISSUE.replace("One paragraph with", "Hello %%first_name%%, one paragraph with")
    root = make_workspace(tmp_path / "ws", {"vol-1-1": issue})
    series, loaded, _ = require_issue(Workspace(root), "vol-1-1")
    return series, render_message(Workspace(root), series, loaded)


def test_message_is_rendered_once_with_tokens_left_in(rendered) -> None:
    _series, message = rendered
    assert message.slug == "vol-1-1"
    assert message.subject == "Test Digest Vol 1.1"
    assert (message.from_name, message.from_email) == ("Test Digest", "digest@example.org")
    assert message.fields() == {"unsubscribe_url", "first_name"}
    assert 'href="%%unsubscribe_url%%"' in message.html
    assert "Unsubscribe: %%unsubscribe_url%%" in message.text


def test_list_headers_offer_mailto_and_one_click_https(rendered) -> None:
    _series, message = rendered
    assert message.headers == {
        "List-Id": "Test Digest <test-digest.example.org>",
        "List-Unsubscribe": (
            "<mailto:editors@example.org?subject=unsubscribe>, <%%unsubscribe_url%%>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_list_id_quotes_a_name_with_specials(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path / "ws", series=SERIES.replace("Test Digest", "Smith, Jones & Co.")
    )
    series, _loaded, _ = require_issue(Workspace(root), "vol-1-1")
    assert list_headers(series)["List-Id"] == '"Smith, Jones & Co." <smith-jones-co.example.org>'


def test_personalize_fills_and_escapes_each_part(rendered) -> None:
    _series, message = rendered
    personal = personalize(
        message,
        {
            "email": "a@example.com",
            "first_name": "<Ann & Bo>",
            "unsubscribe_url": "https://news.example.org/u?t=1&x=2",
        },
    )
    assert "Hello &lt;Ann &amp; Bo&gt;, one paragraph" in personal.html
    assert 'href="https://news.example.org/u?t=1&amp;x=2"' in personal.html
    assert "Unsubscribe: https://news.example.org/u?t=1&x=2" in personal.text
    assert personal.headers["List-Unsubscribe"].endswith("<https://news.example.org/u?t=1&x=2>")


def test_sample_eml_is_multipart_alternative_with_every_header(rendered) -> None:
    series, message = rendered
    raw = sample_eml(message, series.base_url)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = list(parsed.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parsed["From"] == "Test Digest <digest@example.org>"
    assert parsed["To"] == f"{SAMPLE_RECIPIENT['name']} <{SAMPLE_RECIPIENT['email']}>"
    assert parsed["Subject"] == "Test Digest Vol 1.1"
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Date"].datetime is not None
    assert re.fullmatch(r"<[^@>]+@example\.org>", parsed["Message-ID"])
    assert parsed["List-Id"] == "Test Digest <test-digest.example.org>"
    assert re.fullmatch(
        r"<mailto:[^>]+>, <https://news\.example\.org/unsubscribe/\?token=example-token>",
        parsed["List-Unsubscribe"],
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "%%" not in raw.decode("ascii")
    assert "Hello Example, one paragraph" in parts[0].get_content()
    assert "Hello Example, one paragraph" in parts[1].get_content()


def test_compiled_mime_keeps_non_ascii_names(rendered) -> None:
    _series, message = rendered
    raw = CompiledMime(message).build({"email": "b@example.com", "name": "Zoë Ōno"})
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["To"] == "Zoë Ōno <b@example.com>"
