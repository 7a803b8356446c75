"""Caption and credit read the same everywhere; every article is listed in "In this issue"."""

from __future__ import annotations

import subprocess

import lxml.html
import pytest

from newsletter.render.captions import caption_line, title_caption
from newsletter.render.message import render_message
from newsletter.render.pdf import write_issue_pdf
from newsletter.render.print import render_print
from newsletter.render.web import render_web_page
from tests.render.workspaces import digest, load, sample_copy, write_issue

HERO = {
    "src": "images/vol-2-10-hero.jpg",
    "alt": "Leaders at a table",
    "caption": "Leaders at the trilateral summit",
    "credit": "Example Photo Agency",
}
ARTICLE = {
    "title": "A long read about the alliance",
    "body": 'Text.\n\n![Ships](images/trilateral-summit.jpg "Ships at anchor (©Kyodo)")\n\nMore.',
}
HERO_LINE = "Leaders at the trilateral summit — Image: Example Photo Agency"
BODY_LINE = "Ships at anchor — Image: ©Kyodo"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_caption_line_separates_caption_and_credit():
    assert caption_line("A caption", "Owner") == "A caption — Image: Owner"
    assert caption_line("A caption", None) == "A caption"
    assert caption_line(None, "Owner") == "Image: Owner"
    assert title_caption("Ships (©Kyodo)") == "Ships — Image: ©Kyodo"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Return the email HTML, web page, text part, print HTML and PDF text of one issue."""
    workspace = sample_copy(tmp_path_factory.mktemp("captions") / "ws")
    issue = digest(("A headline", "A summary."), image=HERO, articles=[ARTICLE])
    write_issue(workspace, "vol-9-1", issue)
    series, loaded = load(workspace, "vol-9-1")
    message = render_message(workspace, series, loaded)
    pdf, _ = write_issue_pdf(workspace, series, loaded, workspace.root / "build")
    pdf_text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return {
        "email": message.html,
        "web": render_web_page(workspace, series, loaded),
        "text": message.text,
        "print": render_print(workspace, series, loaded),
        "pdf": pdf_text,
    }


@pytest.mark.parametrize("part", ["email", "web", "text", "print", "pdf"])
def test_caption_and_credit_are_separated_the_same_way_everywhere(rendered, part):
    text = rendered[part]
    if part not in ("text", "pdf"):
        text = lxml.html.fromstring(text).text_content()
    assert HERO_LINE in flat(text)
    assert BODY_LINE in flat(text)


@pytest.mark.parametrize("part", ["email", "text", "pdf"])
def test_in_this_issue_lists_headlines_and_articles(rendered, part):
    text = rendered[part]
    if part == "email":
        doc = lxml.html.fromstring(text)
        heading = next(h for h in doc.iter("h2") if h.text_content().strip() == "In this issue")
        text = heading.getnext().text_content()
    else:
        start = text.upper().index("IN THIS ISSUE")
        text = text[start : start + 400]
    assert "A headline" in text
    assert ARTICLE["title"] in flat(text)
