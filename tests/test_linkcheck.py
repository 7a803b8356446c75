"""`newsletter check --links`: every link fetched once, concurrently, broken ones located."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from newsletter.linkcheck import Link, check_links, collect_links
from newsletter.loader import load_workspace
from newsletter.workspace import Workspace
from tests.helpers.cli import run_cli
from tests.helpers.server import serve
from tests.helpers.workspace import SERIES, make_workspace


class Site(BaseHTTPRequestHandler):
    """A small site with good, broken, HEAD-refusing, redirecting and slow pages."""

    requests: ClassVar[list[tuple[str, str]]] = []
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def log_message(self, format, *args):
        pass

    def _answer(self, head: bool) -> None:
        cls = type(self)
        with cls.lock:
            cls.requests.append((self.command, self.path))
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        try:
            path = self.path.split("?")[0]
            if path == "/slow":
                time.sleep(2)
            if path == "/wait":
                time.sleep(0.2)
            status, location = {
                "/missing": (404, None),
                "/redirect": (301, "/ok"),
                "/redirect-to-missing": (302, "/gone"),
                "/gone": (404, None),
                "/nohead": (405 if head else 200, None),
                "/error": (500, None),
            }.get(path, (200, None))
            body = b"<html><body>page</body></html>"
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)


@pytest.fixture
def site():
    Site.requests = []
    Site.in_flight = Site.most_in_flight = 0
    with serve(Site) as url:
        yield url.rstrip("/")


def issue_yaml(base: str) -> str:
    return f"""\
volume: 1
number: 1
date: 2024-01-15
preheader: Links.
items:
  - headline: Good and bad
    summary: >-
      A working [page]({base}/ok) and on the next line
      a [missing one]({base}/missing) and [HEAD-shy]({base}/nohead).
    links:
      - title: Moved
        url: {base}/redirect
      - title: Moved to nowhere
        url: {base}/redirect-to-missing
  - headline: Repeats
    summary: The [missing one]({base}/missing) again, and [mail](mailto:a@example.org).
"""


def workspace_with(tmp_path: Path, base: str) -> Workspace:
    series = SERIES + f"links:\n  - title: Privacy\n    url: {base}/error\n"
    return Workspace(make_workspace(tmp_path / "ws", {"vol-1-1": issue_yaml(base)}, series))


def test_broken_links_are_reported_where_they_are_written(tmp_path: Path, site: str) -> None:
    workspace = workspace_with(tmp_path, site)
    series, issues, _ = load_workspace(workspace)
    links = collect_links(workspace, series, issues)
    found = sorted(
        (Path(d.path).name, d.line, d.column, d.field, d.message) for d in check_links(links)
    )
    missing = f"broken link {site}/missing: HTTP 404 Not Found"
    assert found == [
        ("newsletter.yaml", 12, 10, "links[0].url",
         f"broken link {site}/error: HTTP 500 Internal Server Error"),
        ("vol-1-1.yaml", 9, 23, "items[0].summary", missing),
        ("vol-1-1.yaml", 14, 14, "items[0].links[1].url",
         f"broken link {site}/redirect-to-missing: HTTP 404 Not Found"),
        ("vol-1-1.yaml", 16, 32, "items[1].summary", missing),
    ]  # fmt: skip


def test_each_address_is_fetched_once_and_head_comes_first(tmp_path: Path, site: str) -> None:
    workspace = workspace_with(tmp_path, site)
    series, issues, _ = load_workspace(workspace)
    check_links(collect_links(workspace, series, issues))
    heads = [path for method, path in Site.requests if method == "HEAD"]
    assert heads.count("/missing") == 1  # written twice, fetched once
    assert ("GET", "/nohead") in Site.requests and ("GET", "/ok") not in Site.requests
    assert not [path for _method, path in Site.requests if "mailto" in path]


def test_concurrency_is_bounded(site: str) -> None:
    links = [Link(f"{site}/wait?n={n}", "f.yaml", 1, 1, "") for n in range(12)]
    start = time.monotonic()
    assert check_links(links, concurrency=3) == []
    assert 1 < Site.most_in_flight <= 3
    assert time.monotonic() - start < 12 * 0.2  # not one after another


def test_a_slow_server_times_out_as_broken(site: str) -> None:
    [problem] = check_links([Link(f"{site}/slow", "f.yaml", 3, 4, "x")], timeout=0.5)
    assert "no answer within 0.5 s" in problem.message and (problem.line, problem.column) == (3, 4)


def test_an_unreachable_host_is_broken_not_a_crash() -> None:
    [problem] = check_links([Link("http://127.0.0.1:9/", "f.yaml", 1, 1, "")], timeout=2)
    assert "cannot connect" in problem.message


def test_cli_check_links_exits_1_and_prints_locations(tmp_path: Path, site: str) -> None:
    workspace = workspace_with(tmp_path, site)
    result = run_cli("check", "--links", cwd=workspace.root)
    assert result.returncode == 1, result.stderr
    assert f"issues/vol-1-1.yaml:9:23: error: items[0].summary: broken link {site}/missing" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "fetched 7 links" in result.stderr


def test_cli_check_without_links_fetches_nothing(tmp_path: Path, site: str) -> None:
    workspace = workspace_with(tmp_path, site)
    result = run_cli("check", cwd=workspace.root)
    assert result.returncode == 0, result.stderr
    assert Site.requests == []


def test_works_inside_a_running_event_loop(site: str) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def from_a_loop():
        return check_links([Link(f"{site}/missing", "f.yaml", 1, 1, "")])

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: pytest's may hold a loop already
        [problem] = pool.submit(asyncio.run, from_a_loop()).result()
    assert "404" in problem.message


def test_links_with_merge_fields_are_fetched_with_the_field_empty_and_located(space):
    from newsletter.linkcheck import check_links, collect_links
    from newsletter.loader import load_workspace
    from newsletter.workspace import Workspace

    space.issue(
        "vol-1-1",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: p\nitems:\n"
        "  - headline: a\n    summary: >-\n      Text and\n"
        "      [you](https://example.org/p?e=%%email%%).\n",
    )
    series, issues, _ = load_workspace(Workspace(space.root))
    found = [link for link in collect_links(Workspace(space.root), series, issues)]
    mine = [link for link in found if "%%" in link.url]
    assert [(link.url, link.line, link.column) for link in mine] == [
        ("https://example.org/p?e=%%email%%", 9, 13)
    ]
    asked = []

    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(404)

    problems = check_links(mine, transport=httpx.MockTransport(answer))
    assert asked and all("%%" not in url and "%25%25" not in url for url in asked)
    assert asked[0].startswith("https://example.org/p?e=")
    assert str(problems[0]).startswith("issues/vol-1-1.yaml:9:13: error: items[0].summary: ")
