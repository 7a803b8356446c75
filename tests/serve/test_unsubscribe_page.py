"""`newsletter serve` as a real process: the reader's unsubscribe, by button and one-click."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from newsletter.send.unsubscribe import sign
from tests.serve.servekit import (
    LIST_ID,
    RFC_8058_POST,
    RFC_8058_TYPE,
    SECRET,
    Server,
    free_port,
    newsletter,
    suppressed,
    unsubscribe_link,
    workspace,
)

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


def link_of(served: Server, address: str) -> str:
    return served.local(unsubscribe_link(served.root / "outbox" / "vol-2-10" / f"{address}.eml"))


@pytest.mark.judge
def test_reader_clicks_the_button_in_chromium(served, chromium_browser):
    link = link_of(served, "ana.ito@example.org")
    page = chromium_browser.new_page()
    try:
        page.goto(link)
        assert "US-Japan Alliance Digest" in page.title()
        assert "ana.ito@example.org" in page.inner_text("main")
        assert suppressed(served.root) == {}  # showing the page records nothing
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_load_state()
        assert "You are unsubscribed" in page.inner_text("h1")
        assert page.url == link  # no redirect
        assert page.context.cookies() == []
    finally:
        page.close()
    entry = suppressed(served.root)["ana.ito@example.org"]
    assert (entry["reason"], entry["source"], entry["list"]) == ("unsubscribe", "link", LIST_ID)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"])


def test_one_click_post_answers_200_and_records(served):
    link = link_of(served, "ben.carter@example.org")
    answer = httpx.post(link, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert answer.status_code == 200
    assert "set-cookie" not in answer.headers and "location" not in answer.headers
    entry = suppressed(served.root)["ben.carter@example.org"]
    assert (entry["reason"], entry["source"]) == ("unsubscribe", "one-click")
    again = httpx.post(link, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert again.status_code == 200  # repeats are harmless
    assert list(suppressed(served.root)) == ["ben.carter@example.org"]


def test_the_rfc_8058_example_multipart_post_is_a_one_click(served):
    link = link_of(served, "frank.lee@example.org")
    headers = {"Content-Type": RFC_8058_TYPE}
    assert httpx.post(link, content=RFC_8058_POST, headers=headers).status_code == 200
    assert suppressed(served.root)["frank.lee@example.org"]["source"] == "one-click"


def test_get_and_head_record_nothing(served):
    link = link_of(served, "chie.sato@example.org")
    for _ in range(3):
        assert httpx.get(link).status_code == 200
        assert httpx.head(link).status_code == 200
    assert suppressed(served.root) == {}


def test_healthz_and_unknown_paths(served):
    assert httpx.get(f"{served.url}/healthz").status_code == 200
    assert httpx.get(f"{served.url}/admin").status_code == 404
    answer = httpx.put(link_of(served, "ana.ito@example.org"), content=b"x")
    assert answer.status_code == 405 and "GET" in answer.headers["allow"]
    assert suppressed(served.root) == {}


def test_bad_links_get_one_neutral_answer_and_record_nothing(served):
    good = link_of(served, "dan.miller@example.org")
    query = {k: v[0] for k, v in parse_qs(urlsplit(good).query).items()}
    base = good.split("?")[0]

    def variant(**change):
        return f"{base}?{urlencode({**query, **change})}"

    never_sent = "stranger@example.org"
    bad = [
        variant(token=query["token"][:-1] + ("A" if query["token"][-1] != "A" else "B")),
        variant(token=""),
        variant(email="ana.ito@example.org"),  # on the list, but not this token's address
        variant(email=never_sent),  # on no list
        variant(list="other-list", token=sign(SECRET, "other-list", query["email"])),
        variant(email="not an address", token=sign(SECRET, LIST_ID, "not an address")),
        f"{base}?list={LIST_ID}",
        base,
    ]
    bodies = set()
    for url in bad:
        for method in ("GET", "POST"):
            answer = httpx.request(method, url, content=b"List-Unsubscribe=One-Click")
            assert answer.status_code == 400, (method, url)
            bodies.add(answer.content)
    assert len(bodies) == 1  # identical whoever the address is
    assert suppressed(served.root) == {}


def test_oversized_body_is_refused(served):
    link = link_of(served, "ana.ito@example.org")
    answer = httpx.post(link, content=b"List-Unsubscribe=One-Click&" + b"x" * 100_000)
    assert answer.status_code == 413
    assert suppressed(served.root) == {}


def test_page_escapes_and_ignores_the_host_header(served):
    address = "o'neil&co@example.org"
    token = sign(SECRET, LIST_ID, address)
    query = urlencode({"list": LIST_ID, "email": address, "token": token})
    url = f"{served.url}/unsubscribe/?{query}&x=%22%3E%3Cscript%3E"
    answer = httpx.get(url, headers={"Host": "evil.example"})
    assert answer.status_code == 200
    assert "o&#39;neil&amp;co@example.org" in answer.text
    assert "script" not in answer.text
    assert "evil.example" not in answer.text
    assert answer.headers["referrer-policy"] == "no-referrer"


def test_refuses_to_start_without_the_secret(tmp_path):
    root = workspace(tmp_path / "ws", free_port())
    environ = {k: v for k, v in __import__("os").environ.items() if not k.startswith("NEWSLETTER_")}
    done = newsletter(root, "serve", "--port", "0", environ=environ)
    assert done.returncode == 2
    assert "NEWSLETTER_UNSUBSCRIBE_SECRET" in done.stderr and "Traceback" not in done.stderr
