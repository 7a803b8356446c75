"""Check that every link of an issue answers: concurrent HEAD (then GET) requests with httpx.

Each link is found with the place it was written (file:line:col), fetched once
however often it appears, with bounded concurrency and a timeout, and reported
at every place it appears when it is broken. Servers that refuse HEAD (405, 403,
501, or any error) get a GET before the link is called broken.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import __version__, markup
from newsletter.errors import Diagnostic
from newsletter.source import YamlPath, format_path

if TYPE_CHECKING:
    import httpx

    from newsletter.loader import LoadedIssue
    from newsletter.model import Series
    from newsletter.source import Source
    from newsletter.workspace import Workspace

CONCURRENCY = 8
TIMEOUT = 10.0
USER_AGENT = f"newsletter-linkcheck/{__version__} (+https://pypi.org/project/newsletter/)"


@dataclass(frozen=True)
class Link:
    """A link and where it is written."""

    url: str
    path: str  # display path of the file
    line: int
    column: int
    field: str


def _locate(source: Source, lines: list[str], where: YamlPath, url: str) -> tuple[int, int]:
    """Return the line and column of url inside the value at where (else the value's start)."""
    line, column = source.position(where)
    # A Markdown value can span lines (folded or literal blocks): look for the address
    # from the value's start onwards, within a bounded window.
    for number in range(line, min(len(lines), line + 200) + 1):
        start = column - 1 if number == line else 0
        found = lines[number - 1].find(url, start)
        if found >= 0:
            return number, found + 1
    return line, column


def _collect(source: Source, file: Path, found: list[tuple[YamlPath, str]]) -> list[Link]:
    try:
        lines = file.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    return [
        Link(url, source.path, *_locate(source, lines, where, url), format_path(where))
        for where, url in found
    ]


def issue_links(loaded: LoadedIssue) -> list[Link]:
    """Return every web link of an issue: summaries, sources, article bodies, remote images."""
    issue = loaded.issue
    found: list[tuple[YamlPath, str]] = []
    if issue.image and issue.image.src.startswith(("http://", "https://")):
        found.append((("image", "src"), issue.image.src))
    for i, item in enumerate(issue.items):
        found += [(("items", i, "summary"), u) for u in markup.links(item.summary, inline=True)]
        found += [(("items", i, "links", j, "url"), link.url) for j, link in enumerate(item.links)]
    for i, article in enumerate(issue.articles):
        if article.image and article.image.src.startswith(("http://", "https://")):
            found.append((("articles", i, "image", "src"), article.image.src))
        found += [(("articles", i, "body"), u) for u in markup.links(article.body)]
        found += [
            (("articles", i, "body"), src)
            for src, _alt, _title in markup.images(article.body)
            if src.startswith(("http://", "https://"))
        ]
    return _collect(loaded.source, loaded.path, found)


def series_links(series: Series, source: Source, config: Path) -> list[Link]:
    """Return the web links of newsletter.yaml (footer blurb and footer links)."""
    found: list[tuple[YamlPath, str]] = []
    if series.footer:
        found += [(("footer",), u) for u in markup.links(series.footer, inline=True)]
    found += [(("links", j, "url"), link.url) for j, link in enumerate(series.links)]
    return _collect(source, config, found)


async def _status(client: httpx.AsyncClient, url: str) -> str | None:
    """Return None if url answers, else a short reason it is broken."""
    import httpx

    try:
        response = await client.head(url)
        if response.status_code < 400:
            return None
        # Many servers answer HEAD wrongly (405, 403, 404 from CDNs): ask again with GET.
        async with client.stream("GET", url) as response:
            if response.status_code < 400:
                return None
            return f"HTTP {response.status_code} {response.reason_phrase}".strip()
    except httpx.TimeoutException:
        return f"no answer within {client.timeout.read or TIMEOUT:g} s"
    except httpx.TooManyRedirects:
        return "too many redirects"
    except httpx.HTTPError as exc:
        return f"cannot connect: {type(exc).__name__}: {exc}".rstrip(": ")


async def _check_all(
    urls: list[str], concurrency: int, timeout: float, transport: httpx.AsyncBaseTransport | None
) -> dict[str, str | None]:
    import httpx

    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        max_redirects=10,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=concurrency),
        transport=transport,
    ) as client:

        async def one(url: str) -> tuple[str, str | None]:
            async with limit:
                return url, await _status(client, url)

        return dict(await asyncio.gather(*(one(url) for url in urls)))


def _run(coroutine):
    """Run a coroutine to completion, also when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Inside a running loop (a preview server, Playwright's sync API): use a fresh thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def check_links(
    links: list[Link],
    *,
    concurrency: int = CONCURRENCY,
    timeout: float = TIMEOUT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[Diagnostic]:
    """Fetch every http(s) link once; return an error for each place a broken one is written."""
    urls = list(dict.fromkeys(link.url for link in links if link.url.startswith(("http", "HTTP"))))
    if not urls:
        return []
    results = _run(_check_all(urls, concurrency, timeout, transport))
    return [
        Diagnostic(
            link.path,
            link.line,
            link.column,
            f"broken link {link.url}: {results[link.url]}",
            link.field,
        )
        for link in links
        if results.get(link.url)
    ]


def collect_links(
    workspace: Workspace, series: Series | None, issues: list[LoadedIssue]
) -> list[Link]:
    """Return the links of the given issues and of newsletter.yaml, in file order."""
    from newsletter.loader import load_series

    links: list[Link] = []
    if series is not None:
        _series, source = load_series(workspace)
        links += series_links(series, source, workspace.config_path)
    for loaded in issues:
        links += issue_links(loaded)
    return links
