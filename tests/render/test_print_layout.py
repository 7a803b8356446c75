"""The print edition's page layout, judged from the PDF by poppler (pdftotext, pdftoppm)."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import pytest

from newsletter.render.pdf import write_issue_pdf
from tests.render.workspaces import digest, load, sample_copy, write_issue

pytestmark = pytest.mark.judge

WORDS = [
    "Negotiators",
    "from",
    "both",
    "capitals",
    "reviewed",
    "supply",
    "chain",
    "commitments,",
    "semiconductor",
    "export",
    "controls,",
    "alliance",
    "interoperability",
    "and",
    "regional",
    "maritime",
    "surveillance",
    "arrangements",
    "while",
    "parliamentary",
    "delegations",
    "compared",
    "implementation",
    "timetables",
]
TITLE = "Industrial policy reshapes the alliance"
OPENING = "Openingwords of the first paragraph"
LAST_FIFTH = (0.8, 0.89)  # of the page's height; the bottom margin starts near 0.92


def summary(n: int, words: int = 60) -> str:
    text = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(words))
    return f"{text} Endofitem{n}."


def article(body_paragraphs: int = 6) -> dict:
    paragraph = " ".join(WORDS * 3)
    body = "\n\n".join([f"{OPENING} {paragraph}", *([paragraph] * body_paragraphs)])
    return {
        "title": TITLE,
        "category": "Economic security",
        "dek": "A standfirst that runs to a second line so the header is several lines tall.",
        "author": "Test Author",
        "body": body,
    }


def words_at(pdf: Path) -> list[tuple[int, float, float, str]]:
    """Return (page, y of the word's bottom / page height, x, word) for every word."""
    xhtml = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for number, page in enumerate(re.findall(r"<page (.*?)</page>", xhtml, re.S), 1):
        height = float(re.search(r'height="([\d.]+)"', page).group(1))
        for x, y, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="[\d.]+" yMax="([\d.]+)">(.*?)</word>', page
        ):
            found.append((number, float(y) / height, float(x), html.unescape(word)))
    return found


def page_of(found, word: str) -> tuple[int, float]:
    return next((page, y) for page, y, _x, w in found if w.startswith(word))


def page_texts(pdf: Path) -> list[str]:
    """Return the text of each page (pdftotext -layout, page by page)."""
    pages = int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(pdf))).group(1))
    return [
        _run("pdftotext", "-layout", "-f", str(p), "-l", str(p), str(pdf), "-")
        for p in range(1, pages + 1)
    ]


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def stranded(tmp_path_factory):
    """An issue whose article would start in the last fifth of a page; return its PDF."""
    workspace = sample_copy(tmp_path_factory.mktemp("layout") / "ws")
    out = workspace.root / "build"
    # Items of varied lengths end at varied heights of their pages; the first count of
    # them whose last ends in the last fifth of a page puts the article's header there.
    items = [(f"Headline number {n}", summary(n, 12 + n * 17 % 50)) for n in range(1, 41)]
    for count in range(1, len(items) + 1):
        write_issue(workspace, "vol-9-1", digest(*items[:count], articles=[article()]))
        pdf, _ = write_issue_pdf(workspace, *load(workspace, "vol-9-1"), out)
        _page, y = page_of(words_at(pdf), f"Endofitem{count}")
        if LAST_FIFTH[0] <= y <= LAST_FIFTH[1]:
            return pdf, count
    pytest.fail("no item count puts the article at the foot of a page")


def last_of(found, word: str) -> tuple[int, float]:
    """Return the page and height of the word's last occurrence (past the contents)."""
    return [(page, y) for page, y, _x, w in found if w.startswith(word)][-1]


def test_the_article_would_start_in_the_last_fifth_of_a_page(stranded):
    pdf, count = stranded
    found = words_at(pdf)
    _page, y = page_of(found, f"Endofitem{count}")
    assert LAST_FIFTH[0] <= y <= LAST_FIFTH[1]  # the case the keep-together rules are for


def test_an_articles_header_stays_with_its_first_paragraph(stranded):
    pdf, _count = stranded
    found = words_at(pdf)
    kicker = page_of(found, "ECONOMIC")
    title = last_of(found, "Industrial")  # the first is in the contents
    dek = page_of(found, "standfirst")
    byline = page_of(found, "Author")
    opening = page_of(found, "Openingwords")
    assert kicker[0] == title[0] == dek[0] == byline[0] == opening[0]
    assert kicker[1] < title[1] < dek[1] < byline[1] < opening[1]


def test_the_table_of_contents_lists_the_article_with_its_page(stranded):
    pdf, _count = stranded
    pages = page_texts(pdf)
    title_page = next(n for n, text in enumerate(pages, 1) if "Openingwords" in text)
    toc = re.search(rf"{TITLE}\W*\.+\s*(\d+)", pages[0])
    assert toc and int(toc.group(1)) == title_page


def test_no_more_than_two_lines_in_a_row_end_with_a_hyphen(stranded):
    pdf, _count = stranded
    for text in page_texts(pdf):
        run = longest = 0
        for line in text.splitlines():
            if not line.strip():
                continue
            run = run + 1 if re.search(r"[\w][-‐]$", line.rstrip()) else 0
            longest = max(longest, run)
        assert longest <= 2, text


def test_the_pages_render_as_images(stranded, tmp_path):
    pdf, _count = stranded
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.stat().st_size > 2000 for p in pages)
