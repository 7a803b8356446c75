"""Headers built from clean values: literal encoded words, no CR/LF, RFC 2047 folding.

Every message is parsed back with the stdlib's strictest reading (policy.default): what a
mail client sees is what these tests assert on.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.doctor import check_python
from newsletter.render import headers
from newsletter.render.message import RenderedMessage, personalize, token
from newsletter.render.mime import CompiledMime
from tests.helpers.mail import HEADERS_WE_SET, INJECTED_CRLF, INJECTED_GROUP, parse, to_mime


def message(subject: str = f"News for {token('first_name')}") -> RenderedMessage:
    return RenderedMessage(
        slug="vol-1-1",
        subject=subject,
        from_name="Test Digest",
        from_email="digest@example.org",
        html=f"<p>Dear {token('name')},</p><p>Text &amp; more.</p>",
        text=f"Dear {token('name')},\n\nText.\n\nUnsubscribe: {token('unsubscribe_url')}\n",
        reply_to="replies@example.org",
        headers={
            "List-Unsubscribe": f"<{token('unsubscribe_url')}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def display_name(raw: bytes) -> str:
    """Return the To: display name as RFC 2047 decodes it.

    The stdlib's address parser keeps the folding space between two encoded words of a
    name (RFC 2047 6.2 says to drop it), so a long name is decoded here the RFC's way.
    """
    encoded = raw.split(b"\r\nTo: ", 1)[1].split(b" <", 1)[0].decode("ascii")
    if not encoded.startswith("=?"):
        return parse(raw)["To"].addresses[0].display_name
    return str(email.header.make_header(email.header.decode_header(encoded)))


def values(name: str, first_name: str = "Eve", addr: str = "eve@example.org") -> dict:
    return {
        "email": addr,
        "name": name,
        "first_name": first_name,
        "unsubscribe_url": "https://news.example.org/u/?t=abc",
    }


def expected(text: str) -> str:
    """Return text as a header must carry it: controls gone, breaks and space runs one space."""
    breaks = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"
    kept = "".join(c for c in text if c in breaks or unicodedata.category(c) not in ("Cc", "Cs"))
    kept = re.sub(r"\s{2,}", " ", kept)
    return "".join(" " if c in breaks else c for c in kept).strip()


@pytest.mark.parametrize("name", [INJECTED_CRLF, INJECTED_GROUP])
def test_an_encoded_word_in_a_name_stays_literal_text(name: str) -> None:
    raw = CompiledMime(message()).build(values(name, first_name=name))
    parsed = parse(raw)
    assert [k for k, _ in parsed.items()] == HEADERS_WE_SET  # no Bcc, nothing injected
    (to,) = parsed["To"].addresses  # one mailbox, not a group
    assert (to.display_name, to.addr_spec) == (name, "eve@example.org")
    assert parsed["To"].groups[0].display_name is None
    assert parsed["Subject"] == f"News for {name}"
    assert b"\r\nBcc:" not in raw and b"victim@evil.example" not in raw.split(b"\r\n\r\n")[0]
    assert parsed.get_body(("plain",)).get_content().startswith(f"Dear {name},")


def test_control_characters_never_reach_a_header() -> None:
    name = "Eve\r\nBcc: victim@evil.example\x00\x1b[2J\r\n\r\nContent-Type: text/html"
    raw = CompiledMime(message()).build(values(name, first_name=name))
    head = raw.split(b"\r\n\r\n")[0]
    assert b"\x00" not in head and b"\x1b" not in head and b"\r\nBcc" not in head
    parsed = parse(raw)
    assert [k for k, _ in parsed.items()] == HEADERS_WE_SET
    assert parsed["To"].addresses[0].display_name == (
        "Eve Bcc: victim@evil.example[2J Content-Type: text/html"
    )
    assert parsed.get_content_type() == "multipart/alternative"


def test_a_non_ascii_subject_is_folded_into_short_encoded_words() -> None:
    subject = "日本とアメリカの同盟についての最新ニュースと分析、そして今後の展望 " * 3
    raw = CompiledMime(message(subject)).build(values("Ann"))
    head = raw.split(b"\r\n\r\n")[0].decode("ascii")
    words = re.findall(r"=\?[^?]+\?[qb]\?[^?]*\?=", head)
    assert len(words) > 3 and max(map(len, words)) <= 75
    assert max(len(line) for line in head.split("\r\n")) <= 78
    assert parse(raw)["Subject"] == subject.strip()


def test_a_long_ascii_subject_folds_at_spaces_without_encoding() -> None:
    subject = " ".join(f"word{i}" for i in range(40))
    raw = CompiledMime(message(subject)).build(values("Ann"))
    head = raw.split(b"\r\n\r\n")[0].decode("ascii")
    assert "=?" not in head and max(len(line) for line in head.split("\r\n")) <= 78
    assert parse(raw)["Subject"] == subject


def test_names_with_specials_are_quoted_and_international_domains_go_in_ascii() -> None:
    raw = CompiledMime(message()).build(values('Smith, "Jo"', addr="jo@bücher.example"))
    (to,) = parse(raw)["To"].addresses
    assert (to.display_name, to.addr_spec) == ('Smith, "Jo"', "jo@xn--bcher-kva.example")


def test_a_value_that_cannot_be_a_url_fails_alone() -> None:
    compiled = CompiledMime(message())
    with pytest.raises(headers.HeaderError, match="not a <URL>"):
        compiled.build({**values("Ann"), "unsubscribe_url": "https://x.example/a b>"})
    assert parse(compiled.build(values("Ann")))["List-Unsubscribe"]


def test_the_known_header_bug_is_named_by_version() -> None:
    assert headers.has_header_bug((3, 11, 2)) and headers.has_header_bug((3, 11, 7))
    assert not headers.has_header_bug((3, 11, 10)) and not headers.has_header_bug((3, 12, 5))
    assert headers.has_header_bug((3, 12, 4)) and not headers.has_header_bug((3, 13, 0))
    check = check_python((3, 11, 2))
    assert check.ok and "CVE-2024-6923" in check.found and "protected" in check.found
    assert "CVE" not in check_python((3, 12, 8)).found


# Arbitrary Unicode, with what attacks headers mixed in.
NASTY = st.sampled_from(
    ["\r", "\n", "\r\n", "\x00", "=?", "?=", INJECTED_CRLF, INJECTED_GROUP, '"', "\\", "<", ","]
)
TEXT = st.lists(st.one_of(st.text(max_size=20), NASTY), max_size=8).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TEXT, subject=TEXT)
def test_any_name_and_subject_give_exactly_the_headers_we_set(name: str, subject: str) -> None:
    raw = CompiledMime(message(f"{subject}{token('first_name')}")).build(
        values(name, first_name=name)
    )
    head = raw.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    for word in re.findall(rb"=\?utf-8\?[qb]\?[^?]*\?=", head):
        assert len(word) <= 75
    parsed = parse(raw)
    assert [k for k, _ in parsed.items()] == HEADERS_WE_SET
    addresses = parsed["To"].addresses
    assert len(addresses) == 1 and addresses[0].addr_spec == "eve@example.org"
    assert display_name(raw) == expected(name)
    assert parsed["Subject"] == expected(subject + name)
    assert not parsed.defects and not parsed["To"].defects


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TEXT, first=TEXT, subject=TEXT)
def test_the_compiled_message_parses_like_the_stdlib_build(name, first, subject) -> None:
    # The stdlib build is the reference where it is right: for clean values without '=?'
    # (those it decodes, which is the bug this module exists for).
    name, first = expected(name).replace("=?", "= ?"), expected(first).replace("=?", "= ?")
    rendered = message(f"{expected(subject).replace('=?', '= ?')} {token('first_name')}")
    person = values(name, first_name=first)
    our_raw = CompiledMime(rendered).build(person)
    their_raw = to_mime(rendered, personalize(rendered, person)).as_bytes()
    ours, theirs = parse(our_raw), parse(their_raw)
    same = {"Date", "Message-ID", "Content-Type", "Subject", "To"}
    assert [(k, str(v)) for k, v in ours.items() if k not in same] == [
        (k, str(v)) for k, v in theirs.items() if k not in same
    ]
    assert [k for k, _ in ours.items()] == [k for k, _ in theirs.items()]
    # We also trim the subject's ends, where the stdlib keeps a space an empty field left.
    assert ours["Subject"] == expected(theirs["Subject"])
    assert ours["To"].addresses[0].addr_spec == theirs["To"].addresses[0].addr_spec
    assert display_name(our_raw) == display_name(their_raw)
    for mine, reference in zip(ours.iter_parts(), theirs.iter_parts(), strict=True):
        assert mine.get_content_type() == reference.get_content_type()
        assert mine["Content-Transfer-Encoding"] == reference["Content-Transfer-Encoding"]
        assert mine.get_content() == reference.get_content()


@settings(max_examples=200, deadline=None)
@given(body_value=st.text(max_size=40))
def test_body_values_of_any_text_parse_like_the_stdlib_build(body_value: str) -> None:
    rendered = message("News")
    person = values(body_value)
    ours = parse(CompiledMime(rendered).build(person))
    theirs = parse(to_mime(rendered, personalize(rendered, person)).as_bytes())
    for mine, reference in zip(ours.iter_parts(), theirs.iter_parts(), strict=True):
        assert mine.get_content() == reference.get_content()
