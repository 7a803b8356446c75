"""Check that every link of an issue answers: concurrent HEAD (then GET) requests with httpx.

Each link is found with the place it was written (file:line:col), fetched once
however often it appears, with bounded concurrency and a timeout, and reported
at every place it appears when it is broken. Servers that refuse HEAD (405, 403,
501, or any error) get a GET before the link is called broken.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import __version__, markup, merge
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


def _collect(source: Source, found: list[tuple[YamlPath, str]]) -> list[Link]:
    links, seen = [], Counter()
    for where, url in found:
        written = merge.as_written(url)  # %%email__query%% -> %%email%%, as in the file
        nth = seen[where, written]
        seen[where, written] += 1
        line, column = source.locate(where, written, nth)
        links.append(Link(written, source.path, line, column, format_path(where)))
    return links


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
    return _collect(loaded.source, found)


def series_links(series: Series, source: Source, config: Path) -> list[Link]:
    """Return the web links of newsletter.yaml (footer blurb and footer links)."""
    found: list[tuple[YamlPath, str]] = []
    if series.footer:
        found += [(("footer",), u) for u in markup.links(series.footer, inline=True)]
    found += [(("links", j, "url"), link.url) for j, link in enumerate(series.links)]
    return _collect(source, found)


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
    # A merge field is fetched empty: the page must answer whoever the reader is.
    fetched = {link.url: merge.fill(link.url, {}) for link in links}
    urls = list(dict.fromkeys(u for u in fetched.values() if u.startswith(("http", "HTTP"))))
    if not urls:
        return []
    answers = _run(_check_all(urls, concurrency, timeout, transport))
    results = {url: answers.get(fetched[url]) for url in fetched}
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
