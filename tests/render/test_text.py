"""The plain-text part: from the model, 72 columns, numbered headlines and link references."""

from __future__ import annotations

from pathlib import Path

from newsletter.loader import require_issue
from newsletter.render.text import WIDTH, render_text
from newsletter.workspace import Workspace
from tests.helpers.workspace import SERIES, make_workspace

ISSUE = """\
volume: 3
number: 4
date: 2024-03-05
items:
  - headline: >-
      A headline that is long enough to wrap past the seventy-two column limit of plain text
    summary: >-
      First summary cites [the report](https://example.org/report) and
      [the report again](https://example.org/report), mails
      [editors@example.org](mailto:editors@example.org) and shows <script> as text.
    links:
      - title: Ministry statement
        url: https://example.org/statement
  - headline: Second headline
    summary: Second summary with [another link](https://example.org/other).
articles:
  - title: The long read
    category: Analysis
    author: A. Writer
    date: 2024-03-04
    body: |
      Opening paragraph of the article, long enough to need wrapping at seventy-two columns
      for sure.

      ## First section

      - a bullet point that is long enough to wrap onto a second line, indented under its marker
      - a short one

      1. first
      2. second

      > A quoted sentence from somebody important.

      ![Alt of a picture](images/p.png "Caption of the picture")
"""


def text_of(tmp_path: Path, issue: str = ISSUE, series: str = SERIES) -> str:
    root = make_workspace(tmp_path / "ws", {"vol-3-4": issue}, series, {"images/p.png": b"png"})
    series_model, loaded, _ = require_issue(Workspace(root), "vol-3-4")
    return render_text(series_model, loaded)


def test_lines_fit_72_columns_except_unbreakable_addresses(tmp_path: Path) -> None:
    text = text_of(tmp_path)
    for line in text.splitlines():
        assert len(line) <= WIDTH or (" " not in line.strip().split(" ", 1)[-1]), line


def test_headlines_are_numbered_and_summaries_follow(tmp_path: Path) -> None:
    text = text_of(tmp_path)
    assert "IN THIS ISSUE" in text
    assert "1. A headline that is long enough to wrap past the seventy-two column\n   limit" in text
    assert "\n2. Second headline\n" in text
    assert text.index("IN THIS ISSUE") < text.index("First summary cites")
    assert "shows <script> as text" in text


def test_links_become_numbered_references_listed_once(tmp_path: Path) -> None:
    text = text_of(tmp_path)
    assert "the report [1]" in text and "the report again [1]" in text
    assert "Ministry statement [2]" in text and "another link [3]" in text
    links = text[text.index("\nLINKS\n") :]
    assert "[1] https://example.org/report" in links
    assert "[2] https://example.org/statement" in links
    assert "[3] https://example.org/other" in links
    # a link whose text is its address needs no reference
    assert "editors@example.org [" not in text and "mailto:" not in links


def test_article_markdown_becomes_readable_text(tmp_path: Path) -> None:
    text = text_of(tmp_path)
    assert "ANALYSIS\nThe long read\n=============" in text
    assert "By A. Writer · March 4, 2024" in text
    assert "First section\n-------------" in text
    assert "- a bullet point that is long enough to wrap onto a second line,\n  indented" in text
    assert "\n1. first\n2. second\n" in text  # tight lists stay tight
    assert "> A quoted sentence from somebody important." in text
    assert "[Image: Alt of a picture]\nCaption of the picture" in text


def test_footer_has_address_web_links_and_unsubscribe_token(tmp_path: Path) -> None:
    text = text_of(tmp_path)
    assert "Questions or tips: editors@example.org" in text
    assert "Web version: https://news.example.org/vol-3-4/" in text
    assert "PDF: https://news.example.org/vol-3-4/vol-3-4.pdf" in text
    assert "1 Example Street, Example City" in text
    assert text.rstrip().endswith("Unsubscribe: %%unsubscribe_url%%")


def test_masthead_names_series_volume_and_date(tmp_path: Path) -> None:
    text = text_of(tmp_path)
    assert text.startswith("TEST DIGEST\nVol 3.4 · March 5, 2024\n")
