"""Fixtures of the preview tests: a live preview of a small workspace, and real Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from preview_helpers import model_renderer

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
