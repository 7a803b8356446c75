"""Fixtures shared by every test package: workspaces, a headless Chromium, the CLI."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-goldens",
        action="store_true",
        help="Rewrite golden files from the current output instead of comparing with them.",
    )


@pytest.fixture(scope="session")
def regen_goldens(request: pytest.FixtureRequest) -> bool:
    """Return True when the run rewrites golden files."""
    return bool(request.config.getoption("--regen-goldens"))


@pytest.fixture(scope="session")
def chromium_browser():
    """Return one headless system Chromium (Playwright Browser) for the whole session."""
    from playwright.sync_api import sync_playwright

    from tests.helpers.browser import launch_chromium

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()
