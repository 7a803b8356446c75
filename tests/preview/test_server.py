"""The preview over plain HTTP: only rendered parts and workspace images, nothing else."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from newsletter.preview.server import path_segments
from tests.preview.support import get

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
SECRET = "Test Publisher"  # in newsletter.yaml: must never be served as a file

TRAVERSALS = [
    "/assets/../newsletter.yaml",
    "/assets/images/../../newsletter.yaml",
    "/assets/%2e%2e/newsletter.yaml",
    "/assets/%2E%2E/newsletter.yaml",
    "/assets/..%2fnewsletter.yaml",
    "/assets/..%2Fnewsletter.yaml",
    "/assets/%2e%2e%2fnewsletter.yaml",
    "/assets/..%5cnewsletter.yaml",
    "/assets/images\\..\\..\\newsletter.yaml",
    "/assets/%252e%252e/newsletter.yaml",
    "/assets//etc/passwd",
    "//etc/passwd",
    "/assets/%2fetc/passwd",
    "/assets/images/%00.png",
    "/issues/../newsletter.yaml",
    "/issues/vol-1-1/../../newsletter.yaml",
    "/issues/%2e%2e/newsletter.yaml",
    "/assets/newsletter.yaml",
    "/assets/issues/vol-1-1.yaml",
    "/assets/.git/config",
    "/assets/images/.hidden.png",
    "/assets/images/outside.png",  # a symlink out of the workspace
    "/etc/passwd",
    "/newsletter.yaml",
    "/issues/vol-1-1.yaml",
    "/issues/nope/",
    "/issues/vol-1-1/nope.html",
    "/issues/vol-1-1/email.html/x",
]
LISTINGS = ["/assets/", "/assets/images/", "/assets/images", "/issues/", "/images/", "/issues"]


def raw_get(base: str, path: str, host: str | None = None):
    """Send path exactly as written (no client-side normalising) and return status and body."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def assets(space, tmp_path):
    space.write("images/pic.png", "")
    (space.root / "images/pic.png").write_bytes(PNG)
    (space.root / "images/.hidden.png").write_bytes(PNG)
    outside = tmp_path / "outside.png"
    outside.write_bytes(PNG)
    (space.root / "images/outside.png").symlink_to(outside)
    space.write(".git/config", "[core]\n")
    return space


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_and_private_files_are_404(live, assets, path):
    status, body = raw_get(live.url, path)
    assert status == 404, path
    assert SECRET.encode() not in body
    assert b"[core]" not in body


@pytest.mark.parametrize("path", LISTINGS)
def test_no_directory_listings(live, assets, path):
    status, body = raw_get(live.url, path)
    assert status in (301, 404), path
    assert b"pic.png" not in body


def test_workspace_images_are_served(live, assets):
    status, headers, body = get(f"{live.url}assets/images/pic.png")
    assert (status, headers["Content-Type"], body) == (200, "image/png", PNG)
    assert headers["Cache-Control"] == "no-store"


def test_rendered_parts_are_served(live):
    base = f"{live.url}issues/vol-1-1/"
    status, headers, body = get(base + "email.html?scheme=dark")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in headers["Content-Security-Policy"]  # so: default-src 'none'
    assert b"color-scheme:dark" in body
    status, headers, body = get(base + "text.txt")
    assert (status, headers["Content-Type"]) == (200, "text/plain; charset=utf-8")
    assert b"First headline" in body
    state = json.loads(get(base + "state.json")[2])
    assert state["ok"] is True
    assert state["strip"]["subject"] == "Test Digest Vol 1.1"


def test_a_slug_without_slash_redirects(live):
    status, _ = raw_get(live.url, "/issues/vol-1-1")
    assert status == 301


def test_another_host_name_is_refused(live):
    """A page on another site reaching the preview through DNS rebinding gets nothing."""
    status, body = raw_get(live.url, "/issues/vol-1-1/text.txt", host="evil.example:80")
    assert status == 403
    assert b"First headline" not in body
    assert raw_get(live.url, "/", host="localhost")[0] == 200


def test_the_event_stream_greets_and_reports_renders(live, space):
    address = urlsplit(live.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request("GET", "/events")
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
    assert response.readline() == b"retry: 500\n"
    assert response.readline() == b"event: hello\n"
    response.readline(), response.readline()  # its data, the blank line
    live.session.render("vol-1-1")
    assert response.readline() == b"event: update\n"
    data = json.loads(response.readline().removeprefix(b"data: "))
    assert (data["slug"], data["ok"]) == ("vol-1-1", True)
    connection.close()


def test_other_methods_are_refused(live):
    address = urlsplit(live.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request("POST", "/issues/vol-1-1/", body=b"x")
    assert connection.getresponse().status == 501
    connection.close()


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        ("/", [""]),
        ("/issues/vol-1-1/", ["issues", "vol-1-1", ""]),
        ("/assets/images/a%20b.png?x=1", ["assets", "images", "a b.png"]),
        ("/assets/%2e%2e/x", None),
        ("/a/./b", None),
        ("/a\\b", None),
        ("/%ff", None),
    ],
)
def test_path_segments(raw, segments):
    assert path_segments(raw) == segments


def test_an_issue_whose_file_name_only_earns_a_warning_is_served(space, live):
    from tests.conftest import ISSUE

    space.issue("Vol-2-11", ISSUE.replace("number: 1", "number: 2"))
    status, _ = raw_get(live.url, "/issues/Vol-2-11")
    assert status == 301
    status, _, body = get(live.url + "/issues/Vol-2-11/text.txt")
    assert status == 200 and b"First headline" in body
    index = get(live.url + "/")[2]
    assert b'href="/issues/Vol-2-11/"' in index
