"""Shared fixtures: small workspaces built in tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

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
