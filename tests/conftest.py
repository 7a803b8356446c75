"""Fixtures shared by every test package: workspaces, a headless Chromium, the CLI."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

# Commands under test print PDFs in process: a run must leave no detached PDF worker
# behind. tests/render/test_pdfworker.py turns it back on, and stops what it starts.
os.environ["NEWSLETTER_PDF_WORKER"] = "off"

SERIES = """\
name: Test Digest
publisher: Test Publisher
from:
  name: Test Digest
  email: digest@example.org
address: 1 Example Street, Example City
base_url: https://digest.example.org/
"""

ISSUE = """\
volume: 1
number: 1
date: 2024-01-05
preheader: A short test issue.
items:
  - headline: First headline
    summary: The first summary, with a [link](https://example.org/a).
  - headline: Second headline
    summary: The second summary.
"""


class Space:
    """A workspace in a temporary folder, with helpers to write files into it."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def issue(self, slug: str, text: str = ISSUE) -> Path:
        return self.write(f"issues/{slug}.yaml", text)


@pytest.fixture
def space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Space:
    """Return a valid one-issue workspace and make it the current folder."""
    ws = Space(tmp_path / "ws")
    ws.write("newsletter.yaml", SERIES)
    ws.issue("vol-1-1")
    monkeypatch.chdir(ws.root)
    return ws


SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every skipped test."""
    if report.skipped and not hasattr(report, "wasxfail"):
        SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a run that skipped a test: a skip hides a part of the tool nobody then checks."""
    if SKIPPED and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    """Say which skipped tests failed the run."""
    for nodeid in SKIPPED:
        terminalreporter.write_line(f"error: skipped (skips are not allowed): {nodeid}", red=True)


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


@pytest.fixture(scope="session")
def postgres():
    """Start a real PostgreSQL server once per session (stopped with -m immediate)."""
    from tests.helpers.postgres import PostgresServer

    server = PostgresServer.shared() or PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a fresh state of each store: an SQLite file, an empty PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'send.db'}"
    return request.getfixturevalue("postgres").schema()
