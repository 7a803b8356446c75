"""Nothing unfinished goes out: drafts, TODOs, warnings under --strict, unfilled merge fields."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from sendkit import newsletter

from tests.helpers.workspace import SERIES, make_workspace

HEAD = "volume: 1\nnumber: 1\ndate: 2024-01-15\npreheader: A short test issue.\n"
ITEMS = "items:\n  - headline: First headline\n    summary: One paragraph.\n"


def workspace(tmp_path: Path, issue: str, series: str = SERIES) -> Path:
    root = make_workspace(tmp_path / "ws", {"vol-1-1": issue}, series)
    (root / "list.csv").write_text(
        "email,first_name,company\na+b@example.org,Ann,Acme\nbo@example.org,Bo,\n", "utf-8"
    )
    return root


def send(root: Path, *args: str):
    return newsletter("-w", str(root), "send", "vol-1-1", *args)


def sent(root: Path) -> dict[str, email.message.EmailMessage]:
    folder = root / "outbox" / "vol-1-1"
    if not folder.is_dir():
        return {}
    return {
        p.stem: email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in folder.glob("*.eml")
    }


def html(message) -> str:
    return message.get_body(("html",)).get_content()


def test_a_draft_is_refused_with_the_line_of_draft(tmp_path):
    root = workspace(tmp_path, HEAD + "draft: true\n" + ITEMS)
    done = send(root, "--list", str(root / "list.csv"), "--yes")
    assert done.returncode == 1
    assert "issues/vol-1-1.yaml:5:1: error: draft: the issue is a draft" in done.stderr
    assert sent(root) == {}
    done = send(root, "--test", "me@example.org")
    assert done.returncode == 0, done.stderr
    assert list(sent(root)) == ["me@example.org"]


def test_a_todo_is_a_warning_in_check_and_an_error_in_send(tmp_path):
    root = workspace(tmp_path, HEAD + ITEMS.replace("One paragraph.", "One TODO paragraph."))
    checked = newsletter("-w", str(root), "check")
    assert checked.returncode == 0
    assert "vol-1-1.yaml:7:18: warning: items[0].summary: placeholder 'TODO'" in checked.stderr
    done = send(root, "--list", str(root / "list.csv"), "--yes")
    assert done.returncode == 1
    assert "vol-1-1.yaml:7:18: error: items[0].summary: placeholder 'TODO'" in done.stderr
    assert sent(root) == {}
    assert send(root, "--test", "me@example.org").returncode == 0


def test_the_summary_lists_the_warnings_and_strict_refuses_them(tmp_path):
    root = workspace(tmp_path, HEAD.replace("preheader: A short test issue.\n", "") + ITEMS)
    done = send(root, "--list", str(root / "list.csv"), "--yes")
    assert done.returncode == 0, done.stderr
    assert "vol-1-1.yaml:1:1: warning: no preheader" in done.stderr
    assert "warnings: 1 (listed above)" in done.stderr
    assert "list: 2 rows in" in done.stderr
    strict = tmp_path / "strict"
    root = workspace(strict, HEAD.replace("preheader: A short test issue.\n", "") + ITEMS)
    done = send(root, "--list", str(root / "list.csv"), "--yes", "--strict")
    assert done.returncode == 1
    assert "vol-1-1.yaml:1:1: error: no preheader" in done.stderr
    assert sent(root) == {}


def test_a_field_without_column_or_fallback_refuses_before_mailing(tmp_path):
    series = SERIES + "merge_fields:\n  city:\n"
    root = workspace(tmp_path, HEAD + ITEMS.replace("One paragraph.", "News for %%city%%."), series)
    done = send(root, "--list", str(root / "list.csv"), "--yes")
    assert done.returncode == 1
    assert "uses %%city%%" in done.stderr and "nothing was sent" in done.stderr
    assert sent(root) == {}


@pytest.mark.parametrize("declared", ["your company", "{fallback: your company}"])
def test_an_empty_value_gets_the_fallback(tmp_path, declared):
    series = SERIES + f"merge_fields:\n  company: {declared}\n"
    issue = HEAD + ITEMS.replace("One paragraph.", "News for %%company%%.")
    root = workspace(tmp_path, issue, series)
    done = send(root, "--list", str(root / "list.csv"), "--yes")
    assert done.returncode == 0, done.stderr
    messages = sent(root)
    assert "News for Acme." in html(messages["a+b@example.org"])
    assert "News for your company." in html(messages["bo@example.org"])


def test_merge_fields_in_links_are_url_encoded_for_their_spot(tmp_path):
    issue = HEAD + (
        "items:\n  - headline: First headline\n"
        "    summary: >-\n"
        "      See [your profile](https://example.org/p/%%email%%?e=%%email%%&c=%%company%%)\n"
        "      or [unsubscribe](%%unsubscribe_url%%).\n"
        "    links:\n"
        "      - title: Preferences\n"
        "        url: https://example.org/prefs?who=%%email%%\n"
    )
    series = SERIES + "merge_fields:\n  company:\n"
    root = workspace(tmp_path, issue, series)
    (root / "list.csv").write_text("email,company\na+b@example.org,c&d=1\n", "utf-8")
    assert newsletter("-w", str(root), "check").returncode == 0
    done = send(root, "--list", str(root / "list.csv"), "--yes")
    assert done.returncode == 0, done.stderr
    assert "list: 1 row in" in done.stderr  # not "1 rows"
    message = sent(root)["a+b@example.org"]
    body = html(message)
    assert 'href="https://example.org/p/a+b@example.org?e=a%2Bb%40example.org&amp;c=c%26d%3D1"' in (
        body
    )
    assert 'href="https://example.org/prefs?who=a%2Bb%40example.org"' in body
    # The summary's [unsubscribe](%%unsubscribe_url%%) and the footer's own link:
    assert body.count('href="https://news.example.org/unsubscribe/?') == 2
    text = message.get_body(("plain",)).get_content()
    assert "https://example.org/prefs?who=a%2Bb%40example.org" in text
    assert "%%" not in body and "%25%25" not in body and "%%" not in text


def test_a_field_as_a_whole_link_must_be_unsubscribe_url(tmp_path):
    issue = HEAD + ITEMS.replace("One paragraph.", "Write to [me](%%email%%)")
    root = workspace(tmp_path, issue)
    done = newsletter("-w", str(root), "check")
    assert done.returncode == 1
    assert (
        "vol-1-1.yaml:7:28: error: items[0].summary: link '%%email%%': only %%unsubscribe_url%% "
        "can stand for a whole link" in done.stderr
    )
