"""Fixtures of the preview tests: a live preview of a small workspace, and real Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsletter.preview.server import LivePreview
from newsletter.workspace import Workspace

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def model_renderer(workspace, slug):
    """Render parts straight from the model (stand-in until the real renderers land)."""
    import html

    from newsletter.loader import require_issue
    from newsletter.preview.parts import Lazy, Parts

    series, loaded, diagnostics = require_issue(workspace, slug)
    issue = loaded.issue
    heads = "".join(f"<h2>{html.escape(i.headline)}</h2>" for i in issue.items)
    page = (
        "<!doctype html><html><head><meta charset=utf-8><style>"
        "body{margin:0;background:#ffffff;color:#111}"
        ".wrap{max-width:600px;margin:0 auto;padding:24px}"
        "@media (prefers-color-scheme: dark){body{background:#111417!important;color:#eee}}"
        f"</style></head><body><div class=wrap>{heads}</div></body></html>"
    )
    return Parts(
        slug=slug,
        subject=issue.subject or "",
        preheader=issue.preheader or "",
        sender=f"{series.sender.name} <{series.sender.email}>",
        html=page,
        text="\n".join(i.headline for i in issue.items),
        html_bytes=len(page),
        print_html=Lazy(lambda: page),
        pdf=Lazy(lambda: b"%PDF-1.7 stand-in"),
        warnings=tuple(d for d in diagnostics if not d.is_error),
    )


@pytest.fixture
def live(space) -> Iterator[LivePreview]:
    """Return a running preview of the test workspace on a free port."""
    with LivePreview(Workspace(space.root), port=0, renderer=model_renderer) as preview:
        yield preview


@pytest.fixture(scope="session")
def browser():
    """Return headless Chromium (the Debian package), driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()
