"""The WSGI app of `newsletter serve` in this process: the unsubscribe guarantees, request by
request (test_unsubscribe_page.py checks the same through the real server)."""

from __future__ import annotations

import html
import re
import threading
from urllib.parse import parse_qs, urlencode

import pytest

from newsletter.errors import StateError, ValidationError, WorkspaceError
from newsletter.send.unsubscribe import PROBE_ADDRESS, sign
from newsletter.serve.app import UnsubscribeApp, create_app
from tests.serve.servekit import (
    LIST_ID,
    RFC_8058_POST,
    RFC_8058_TYPE,
    SECRET,
    Answer,
    call,
    multipart,
    signed_query,
    suppressions,
    workspace,
)

SERIES = "US-Japan Alliance Digest"
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SECURITY = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def title(answer: Answer) -> str:
    found = re.search(r"<title>(.*?)</title>", answer.text, re.S)
    assert found, answer.text
    return html.unescape(found.group(1))


def form_action(answer: Answer) -> str:
    (action,) = re.findall(r'<form method="post" action="([^"]*)">', answer.text)
    return html.unescape(action)


def entry(app, address: str) -> tuple:
    return suppressions(app.workspace.root)[address.lower()]


def assert_private(answer: Answer) -> None:
    """No cookie, no redirect, the page's security headers, an exact Content-Length."""
    names = {name.lower() for name, _ in answer.headers}
    assert not names & {"set-cookie", "location", "refresh"}
    for name, value in SECURITY.items():
        assert answer.header(name) == value, name
    assert answer.header("Content-Length") == str(len(answer.body))


# -- showing a link -------------------------------------------------------------------
def test_get_shows_the_address_and_a_button_and_records_nothing(app):
    address = "ana.ito@example.org"
    answer = call(app, "GET", query=signed_query(address) + "&utm=x")
    assert answer.status_line == "200 OK"
    assert answer.header("Content-Type") == "text/html; charset=utf-8"
    assert title(answer) == f"Unsubscribe · {SERIES}"
    assert f'<span class="address">{address}</span>' in answer.text
    assert "#1f4e79" in answer.text  # the series' brand colour
    # The button posts back, relative (no Host), with the checked link and nothing else.
    path, _, link = form_action(answer).partition("?")
    assert path == "/unsubscribe/"
    assert parse_qs(link) == parse_qs(signed_query(address))
    assert_private(answer)
    assert suppressions(app.workspace.root) == {}


def test_the_button_posts_to_the_path_the_app_is_mounted_at(app):
    answer = call(app, "GET", query=signed_query("ana.ito@example.org"), SCRIPT_NAME="/news")
    assert form_action(answer).startswith("/news/unsubscribe/?list=")


def test_head_answers_like_get_without_a_body_and_records_nothing(app):
    query = signed_query("chie.sato@example.org")
    shown = call(app, "GET", query=query)
    for _ in range(2):
        head = call(app, "HEAD", query=query)
        assert head.status == 200 and head.body == b""
        assert head.header("Content-Length") == str(len(shown.body))
    assert suppressions(app.workspace.root) == {}


def test_the_path_without_its_slash_is_the_same_page(app):
    answer = call(app, "GET", "/unsubscribe", query=signed_query("ana.ito@example.org"))
    assert answer.status == 200 and title(answer) == f"Unsubscribe · {SERIES}"


def test_the_first_value_of_a_repeated_field_counts(app):
    query = signed_query("ana.ito@example.org") + "&email=ben.carter%40example.org"
    answer = call(app, "GET", query=query)
    assert answer.status == 200 and "ana.ito@example.org" in answer.text
    assert "ben.carter" not in answer.text


def test_the_probe_address_of_send_is_answered(app):
    """`newsletter send` checks the endpoint with an address no validator accepts."""
    answer = call(app, "GET", query=signed_query(PROBE_ADDRESS))
    assert answer.status == 200 and PROBE_ADDRESS in answer.text


def test_page_escapes_the_address_and_ignores_the_host_header(app):
    address = "o'neil&co@example.org"
    query = signed_query(address) + "&x=%22%3E%3Cscript%3E"
    answer = call(app, "GET", query=query, headers={"Host": "evil.example"})
    assert answer.status == 200
    assert "o&#39;neil&amp;co@example.org" in answer.text
    assert "script" not in answer.text and "evil.example" not in answer.text


# -- unsubscribing --------------------------------------------------------------------
def test_one_click_post_is_recorded_before_the_200(app):
    address = "ben.carter@example.org"
    answer = call(app, "POST", query=signed_query(address), body=ONE_CLICK, headers=FORM)
    assert answer.status_line == "200 OK"
    assert address in answer.suppressed_when_answering  # committed before the status went
    assert title(answer) == f"Unsubscribed · {SERIES}"
    assert f'<span class="address">{address}</span>' in answer.text
    assert_private(answer)
    address_, reason, source, added, list_id = entry(app, address)
    assert (address_, reason, source, list_id) == (address, "unsubscribe", "one-click", LIST_ID)
    again = call(app, "POST", query=signed_query(address), body=ONE_CLICK, headers=FORM)
    assert again.status == 200  # repeats are harmless: the first entry stays
    assert list(suppressions(app.workspace.root).values()) == [
        (address, reason, source, added, list_id)
    ]


def test_the_rfc_8058_example_multipart_post_is_a_one_click(app):
    headers = {"Content-Type": RFC_8058_TYPE.replace("multipart/form-data", "Multipart/Form-Data")}
    query = signed_query("frank.lee@example.org")
    answer = call(app, "POST", query=query, body=RFC_8058_POST, headers=headers)
    assert answer.status == 200
    assert entry(app, "frank.lee@example.org")[2] == "one-click"


def test_multipart_fields_carry_the_link_and_the_first_one_counts(app):
    fields = [
        *((k, v[0]) for k, v in parse_qs(signed_query("gil@example.org")).items()),
        ("email", "other@example.org"),
        ("List-Unsubscribe", "One-Click"),
    ]
    headers = {"Content-Type": "multipart/form-data; boundary=b0und"}
    answer = call(app, "POST", body=multipart(fields, "b0und"), headers=headers)
    assert answer.status == 200
    assert set(suppressions(app.workspace.root)) == {"gil@example.org"}
    assert entry(app, "gil@example.org")[2] == "one-click"


def test_a_multipart_body_that_is_not_multipart_is_a_bad_link(app):
    headers = {"Content-Type": "multipart/form-data; boundary=x"}
    answer = call(app, "POST", body=b"just text", headers=headers)
    assert answer.status == 400 and suppressions(app.workspace.root) == {}


def test_the_button_records_an_unsubscribe_from_the_link(app):
    shown = call(app, "GET", query=signed_query("dan.miller@example.org"))
    path, _, query = form_action(shown).partition("?")
    answer = call(app, "POST", path, query=query, body=b"", headers=FORM)
    assert answer.status == 200 and "dan.miller@example.org" in answer.suppressed_when_answering
    assert entry(app, "dan.miller@example.org")[1:3] == ("unsubscribe", "link")


def test_the_link_may_come_in_the_form_and_the_query_comes_first(app):
    form = signed_query("eve@example.org").encode()
    answer = call(app, "POST", body=form + b"&" + ONE_CLICK, headers=FORM)
    assert answer.status == 200 and entry(app, "eve@example.org")[2] == "one-click"
    # A valid link in the query wins over another address in the form.
    query = signed_query("fay@example.org")
    answer = call(app, "POST", query=query, body=signed_query("gus@example.org").encode())
    assert answer.status == 200
    assert set(suppressions(app.workspace.root)) == {"eve@example.org", "fay@example.org"}


def test_the_address_is_recorded_as_checked(app):
    address = "Hana.Mori@EXAMPLE.org"
    answer = call(app, "POST", query=signed_query(address), body=ONE_CLICK, headers=FORM)
    assert answer.status == 200 and "Hana.Mori@example.org" in answer.text
    assert entry(app, "hana.mori@example.org")[0] == "Hana.Mori@example.org"


def test_a_post_without_a_body_stream_still_acts(app):
    answer = call(app, "POST", query=signed_query("ivy@example.org"), **{"wsgi.input": None})
    assert answer.status == 200 and entry(app, "ivy@example.org")[2] == "link"


# -- what is refused ------------------------------------------------------------------
def bad_links() -> list[str]:
    address = "dan.miller@example.org"
    token = sign(SECRET, LIST_ID, address)
    other = token[:-1] + ("A" if token[-1] != "A" else "B")
    return [
        signed_query(address, token=other),  # one character changed
        signed_query(address, token=token[:-1]),  # cut short
        signed_query(address, token=token + "A"),
        signed_query(address, token=token.swapcase()),
        signed_query(address, token=""),
        signed_query(address, token=token + "A" * 60),  # too long to be ours
        signed_query("ana.ito@example.org", token=token),  # on the list, another's token
        signed_query("stranger@example.org", token=token),  # on no list
        signed_query(address, "other-list"),  # signed, but for another list
        signed_query(address, list="other-list"),
        signed_query(address, list=""),
        signed_query("not an address"),  # signed, but no address
        signed_query("a" * 250 + "@example.org"),  # signed, but too long
        signed_query("x@" + "e" * 320 + ".org"),
        urlencode({"list": LIST_ID, "email": address}),
        urlencode({"list": LIST_ID, "token": token}),
        urlencode({"email": address, "token": token}),
        signed_query(address) + "".join(f"&f{i}=1" for i in range(18)),  # 21 fields
        "",
    ]


def test_bad_links_get_one_neutral_answer_and_record_nothing(app):
    bodies = set()
    for query in bad_links():
        for method in ("GET", "POST"):
            answer = call(app, method, query=query, body=ONE_CLICK, headers=FORM)
            assert answer.status_line == "400 Bad Request", (method, query)
            assert title(answer) == f"This link does not work · {SERIES}"
            assert "<form" not in answer.text
            assert_private(answer)
            bodies.add(answer.body)
    assert len(bodies) == 1  # identical whoever the address is
    assert suppressions(app.workspace.root) == {}


def test_a_link_with_twenty_fields_is_still_read(app):
    query = signed_query("jo@example.org") + "".join(f"&f{i}=1" for i in range(17))
    assert call(app, "GET", query=query).status == 200


def test_a_form_with_more_than_twenty_fields_is_a_bad_link(app):
    form = signed_query("kim@example.org") + "".join(f"&f{i}=1" for i in range(18))
    answer = call(app, "POST", body=form.encode(), headers=FORM)
    assert answer.status == 400 and suppressions(app.workspace.root) == {}
    answer = call(app, "POST", body=form.rpartition("&")[0].encode(), headers=FORM)
    assert answer.status == 200


def test_bodies_over_4_kib_are_refused(app):
    query = signed_query("lee@example.org")
    over = ONE_CLICK + b"&" + b"x" * (4096 - len(ONE_CLICK))
    for headers in (FORM, {**FORM, "Content-Length": "999999"}):
        answer = call(app, "POST", query=query, body=over, headers=headers)
        assert answer.status_line == "413 Content Too Large"
        assert title(answer) == f"Too large · {SERIES}"
    # Without a length (chunked), the body is read up to one byte past the limit.
    answer = call(app, "POST", query=query, body=over, headers=FORM, CONTENT_LENGTH="")
    assert answer.status == 413
    answer = call(app, "POST", query=query, body=b"x", headers={"Content-Length": "ten"})
    assert answer.status == 413
    assert suppressions(app.workspace.root) == {}
    limit = over[:-1]  # exactly 4 KiB
    assert call(app, "POST", query=query, body=limit, headers=FORM).status == 200
    assert call(app, "POST", query=query, body=limit, headers=FORM, CONTENT_LENGTH="").status == 200
    assert entry(app, "lee@example.org")[2] == "one-click"


def test_unknown_paths_and_methods(app):
    for path in ("/admin", "/", "", "/unsubscribe/x", "/webhooks/mailgun"):
        answer = call(app, "GET", path)
        assert answer.status_line == "404 Not Found", path
        assert title(answer) == f"Not found · {SERIES}"
        assert_private(answer)
    for method in ("PUT", "DELETE"):
        answer = call(app, method, query=signed_query("ana.ito@example.org"), body=ONE_CLICK)
        assert answer.status_line == "405 Method Not Allowed"
        assert answer.header("Allow") == "GET, POST"
        assert title(answer) == f"Not allowed · {SERIES}"
        assert_private(answer)
    answer = call(app, "POST", "/healthz")
    assert answer.status == 405 and answer.header("Allow") == "GET"
    assert suppressions(app.workspace.root) == {}


def test_healthz_answers_once_the_state_answers(app):
    answer = call(app, "GET", "/healthz")
    assert (answer.status_line, answer.body) == ("200 OK", b"ok\n")
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"
    app.store.close()
    app._local.store = BrokenStore()
    broken = call(app, "GET", "/healthz")
    assert broken.status_line == "500 Internal Server Error"


class BrokenStore:
    """A state store whose database is gone."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise OSError("disk I/O error: /secret/path/send.db")

        return fail

    def close(self) -> None:
        pass


def test_a_broken_state_says_so_and_reveals_nothing(app):
    app.store.close()
    app._local.store = BrokenStore()
    answer = call(app, "POST", query=signed_query("ana.ito@example.org"), body=ONE_CLICK)
    assert answer.status_line == "500 Internal Server Error"
    assert answer.body == b"Something went wrong.\n"
    assert answer.header("Content-Type") == "text/plain; charset=utf-8"
    assert_private(answer)


# -- the app and its state ------------------------------------------------------------
def test_each_server_thread_has_its_own_state_connection(app):
    mine = app.store
    assert app.store is mine  # one connection per thread, kept
    answers, theirs = [], []

    def worker() -> None:  # as a server thread: answer, then close its connection
        query = signed_query("mo@example.org")
        answers.append(call(app, "POST", query=query, body=ONE_CLICK, headers=FORM))
        theirs.append(app.store)
        app.store.close()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert answers[0].status == 200 and theirs[0] is not mine
    assert "mo@example.org" in suppressions(app.workspace.root)


def test_the_published_path_is_served_too(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    root = workspace(tmp_path / "ws", 8080, unsubscribe_url="https://news.example.org/u/x")
    served = create_app(root, SECRET)
    try:
        for path in ("/u/x", "/unsubscribe/"):
            assert call(served, "GET", path, query=signed_query("a@example.org")).status == 200
    finally:
        served.store.close()


def test_base_url_publishes_its_unsubscribe_path(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    root = workspace(tmp_path / "ws", 8080, unsubscribe_url=None)
    config = root / "newsletter.yaml"
    text = re.sub(r"(?m)^base_url:.*$", "base_url: https://x.example/news/", config.read_text())
    config.write_text(text.replace("  unsubscribe_url: null\n", ""), encoding="utf-8")
    served = create_app(root, SECRET)
    try:
        query = signed_query("a@example.org")
        assert call(served, "GET", "/news/unsubscribe/", query=query).status == 200
    finally:
        served.store.close()


def test_create_app_reads_the_environment(tmp_path, monkeypatch):
    root = workspace(tmp_path / "ws", 8080)
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEWSLETTER_WORKSPACE", str(root))
    monkeypatch.setenv("NEWSLETTER_UNSUBSCRIBE_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    served = create_app()
    try:
        assert served.workspace.root == root
        assert call(served, "GET", query=signed_query("a@example.org")).status == 200
        assert SECRET not in repr(served)
    finally:
        served.store.close()
    other = create_app(root, "another-secret")  # an explicit secret wins
    try:
        assert call(other, "GET", query=signed_query("a@example.org")).status == 400
    finally:
        other.store.close()


def test_no_secret_no_app(tmp_path, monkeypatch):
    root = workspace(tmp_path / "ws", 8080)
    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET", raising=False)
    said = (
        "set NEWSLETTER_UNSUBSCRIBE_SECRET (the secret the send signed the links with): "
        "without it no unsubscribe link can be checked"
    )
    for secret in (None, ""):
        with pytest.raises(WorkspaceError) as refused:
            create_app(root, secret)
        assert refused.value.message == said
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    served = create_app(root, SECRET)
    try:
        with pytest.raises(WorkspaceError, match="NEWSLETTER_UNSUBSCRIBE_SECRET"):
            UnsubscribeApp(served.workspace, served.series, "")
    finally:
        served.store.close()


def test_a_broken_configuration_is_reported_not_served(tmp_path):
    root = workspace(tmp_path / "ws", 8080)
    (root / "newsletter.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"newsletter\.yaml has problems") as refused:
        create_app(root, SECRET)
    assert refused.value.diagnostics  # each problem, with its line, for the command to show


def test_create_app_serves_the_workspace_it_is_started_in(tmp_path, monkeypatch):
    root = workspace(tmp_path / "ws", 8080)
    for name in ("NEWSLETTER_WORKSPACE", "NEWSLETTER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(root)
    served = create_app(secret=SECRET)
    try:
        assert served.workspace.root == root
    finally:
        served.store.close()


def test_a_service_of_its_own_host_answers_at_its_root(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    root = workspace(tmp_path / "ws", 8080, unsubscribe_url="https://lists.example.org")
    served = create_app(root, SECRET)
    try:
        query = signed_query("a@example.org")
        # PEP 3333: SCRIPT_NAME and PATH_INFO may be left out when they are empty.
        for environ in ({"PATH_INFO": ""}, {"PATH_INFO": None, "SCRIPT_NAME": None}):
            answer = call(served, "GET", query=query, **environ)
            assert answer.status == 200
            assert form_action(answer) == f"/?{query}"
        answer = call(served, "GET", "/unsubscribe/", query=query, SCRIPT_NAME=None)
        assert form_action(answer) == f"/unsubscribe/?{query}"
    finally:
        served.store.close()


def test_a_request_without_a_method_is_a_get_and_acts_on_nothing(app):
    query = signed_query("ana.ito@example.org")
    answer = call(app, "GET", query=query, body=ONE_CLICK, headers=FORM, REQUEST_METHOD=None)
    assert answer.status == 200 and title(answer) == f"Unsubscribe · {SERIES}"
    assert suppressions(app.workspace.root) == {}


def test_the_state_is_opened_when_the_app_starts(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_DATABASE_URL", raising=False)
    root = workspace(tmp_path / "ws", 8080)
    (root / ".newsletter").write_text("a file where the state's folder belongs")
    with pytest.raises(StateError, match="cannot open the state database"):
        create_app(root, SECRET)  # at start, not at the first reader's click


def test_overlong_fields_are_refused_before_any_signature_is_computed(app, monkeypatch):
    from newsletter.serve import app as module

    checked: list[str] = []
    real = module.verify

    def verify(secret, list_id, email, token):
        checked.append(email)
        return real(secret, list_id, email, token)

    monkeypatch.setattr(module, "verify", verify)
    longest = "a" * 64 + "@" + "b" * 251 + ".org"  # 320 characters, as RFC 3696 allows
    assert len(longest) == 320
    for email in (longest, longest + "x"):
        call(app, "GET", query=signed_query(email))
    token = sign(SECRET, LIST_ID, "a@example.org")
    for padded in (token + "=" * (64 - len(token)), token + "=" * (65 - len(token))):
        call(app, "GET", query=signed_query("b@example.org", token=padded))
    assert checked == [longest, "b@example.org"]


def test_a_body_that_is_not_utf_8_is_read_as_far_as_it_goes(app):
    query = signed_query("nia@example.org")
    answer = call(app, "POST", query=query, body=b"List-Unsubscribe=One-Click&x=\xff\xfe")
    assert answer.status == 200 and entry(app, "nia@example.org")[2] == "one-click"
    body = multipart([("List-Unsubscribe", "One-Click"), ("x", "BYTE")]).replace(b"BYTE", b"\xff")
    query = signed_query("oli@example.org")
    headers = {"Content-Type": RFC_8058_TYPE}
    answer = call(app, "POST", query=query, body=body, headers=headers)
    assert answer.status == 200 and entry(app, "oli@example.org")[2] == "one-click"


class Stream:
    """A request body as a server hands it over: reading past what is asked is a bug."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size >= 0, "an unbounded read of the request body"
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def test_the_body_is_read_to_its_length_and_never_unbounded(app):
    query = signed_query("pat@example.org")
    more = ONE_CLICK + b"&" + b"x" * 10_000  # the next request's bytes, or a flood
    stream = Stream(more)
    answer = call(app, "POST", query=query, headers={"Content-Length": str(len(ONE_CLICK))},
                  **{"wsgi.input": stream})  # fmt: skip
    assert answer.status == 200 and entry(app, "pat@example.org")[2] == "one-click"
    assert len(stream.data) == len(more) - len(ONE_CLICK)
    answer = call(app, "POST", query=query, **{"wsgi.input": Stream(more)})  # no length
    assert answer.status == 413
