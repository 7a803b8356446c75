"""Build workspaces for tests: a copy of the sample workspace, or a small one from YAML."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

from tests.helpers import REPO

SERIES = """\
name: Test Digest
publisher: Test Publisher
language: en
from:
  name: Test Digest
  email: digest@example.org
contact: editors@example.org
address: 1 Example Street, Example City
base_url: https://news.example.org/
"""

ISSUE = """\
volume: 1
number: 1
date: 2024-01-15
preheader: A short test issue.
items:
  - headline: First headline
    summary: One paragraph with a [link](https://example.org/a).
"""


def copy_sample(dest: Path, base_url: str | None = None) -> Path:
    """Copy the repository's sample workspace to dest, optionally with another base_url."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "newsletter.yaml", dest / "newsletter.yaml")
    for folder in ("issues", "images"):
        shutil.copytree(REPO / folder, dest / folder, dirs_exist_ok=True)
    if base_url is not None:
        config = dest / "newsletter.yaml"
        text = re.sub(r"(?m)^base_url:.*$", f"base_url: {base_url}", config.read_text("utf-8"))
        config.write_text(text, encoding="utf-8")
    return dest


def make_workspace(
    dest: Path,
    issues: dict[str, str] | None = None,
    series: str = SERIES,
    files: dict[str, str | bytes] | None = None,
) -> Path:
    """Write a small workspace: newsletter.yaml, issues/<slug>.yaml and any other files."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "newsletter.yaml").write_text(textwrap.dedent(series), encoding="utf-8")
    (dest / "issues").mkdir(exist_ok=True)
    for slug, text in (issues if issues is not None else {"vol-1-1": ISSUE}).items():
        (dest / "issues" / f"{slug}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    for name, content in (files or {}).items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return dest
