"""The archival PDF, judged by real tools: poppler (pdfinfo, pdftotext, pdffonts) and pikepdf."""

from __future__ import annotations

import re
import subprocess

import pikepdf
import pikepdf.pdfa
import pytest

from newsletter.errors import Severity
from newsletter.render.pdf import write_issue_pdf, write_pdf
from newsletter.render.print import render_print
from tests.render.workspaces import digest, load, sample_copy, set_series, write_issue


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def info(path) -> dict[str, str]:
    """Return pdfinfo's fields."""
    pairs = (line.split(":", 1) for line in run("pdfinfo", str(path)).splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def words(text: str) -> str:
    """Return text as letters and digits only: hyphenation, wrapping and spacing removed."""
    return re.sub(r"[\W_]+", "", text).lower()


def in_order(haystack: str, needles: list[str]) -> bool:
    position = 0
    for needle in needles:
        found = haystack.find(words(needle), position)
        if found < 0:
            return False
        position = found + len(words(needle))
    return True


@pytest.fixture(scope="module")
def sample_pdfs(tmp_path_factory):
    """Render both sample issues once: {slug: (path, loaded issue, diagnostics)}."""
    workspace = sample_copy(tmp_path_factory.mktemp("pdf") / "ws")
    out = workspace.root / "build"
    result = {}
    for slug in ("vol-2-10", "vol-3-8"):
        series, loaded = load(workspace, slug)
        path, diagnostics = write_issue_pdf(workspace, series, loaded, out)
        result[slug] = (path, loaded.issue, diagnostics)
    return result


@pytest.mark.parametrize("slug", ["vol-2-10", "vol-3-8"])
def test_pdf_is_written_where_promised_without_warnings(sample_pdfs, slug):
    path, _issue, diagnostics = sample_pdfs[slug]
    assert path.parts[-2:] == (slug, f"{slug}.pdf")
    assert path.read_bytes().startswith(b"%PDF-")
    assert diagnostics == []


@pytest.mark.parametrize("slug", ["vol-2-10", "vol-3-8"])
def test_pdf_passes_pdfa_3b(sample_pdfs, slug):
    with pikepdf.open(sample_pdfs[slug][0]) as pdf:
        report = pikepdf.pdfa.check(pdf, "3b")
    assert report.verdict == "pass", report.findings


def test_metadata(sample_pdfs):
    path, issue, _ = sample_pdfs["vol-3-8"]
    fields = info(path)
    assert fields["Title"] == "US-Japan Alliance Digest Vol 3.8"
    assert fields["Author"] == "Sasakawa USA"
    assert fields["Subject"] == issue.subject
    assert fields["Keywords"] == "US-Japan Alliance Digest, Vol 3.8, Politics & Security"
    assert fields["Tagged"] == "yes"
    with pikepdf.open(path) as pdf:
        assert str(pdf.docinfo["/CreationDate"]).startswith("D:20240426")
        with pdf.open_metadata() as xmp:
            assert xmp["pdfaid:part"] == "3" and xmp["pdfaid:conformance"] == "B"
            assert xmp["dc:title"] == "US-Japan Alliance Digest Vol 3.8"


@pytest.mark.parametrize("slug", ["vol-2-10", "vol-3-8"])
def test_every_font_is_embedded(sample_pdfs, slug):
    rows = run("pdffonts", str(sample_pdfs[slug][0])).splitlines()[2:]
    assert rows, "no fonts listed"
    for row in rows:
        emb = row.split()[-5]  # columns: name type encoding emb sub uni object ID
        assert emb == "yes", row


@pytest.mark.parametrize("slug", ["vol-2-10", "vol-3-8"])
def test_page_count_and_page_n_of_m_footer(sample_pdfs, slug):
    path = sample_pdfs[slug][0]
    pages = int(info(path)["Pages"])
    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == pages
    assert pages >= (2 if slug == "vol-2-10" else 4)
    for number in range(1, pages + 1):
        text = run("pdftotext", "-layout", "-f", str(number), "-l", str(number), str(path), "-")
        assert f"Page {number} of {pages}" in text
        if number > 1:  # the running header: series name and issue label
            assert (
                "US-Japan Alliance Digest" in text and ("Vol " + slug[4:].replace("-", ".")) in text
            )


def test_outline_has_one_entry_per_headline(sample_pdfs):
    path, issue, _ = sample_pdfs["vol-2-10"]
    with pikepdf.open(path) as pdf, pdf.open_outline() as outline:
        titles = [entry.title for entry in outline.root]
    assert titles == [item.headline for item in issue.items]


def test_outline_has_the_article_with_its_sections(sample_pdfs):
    path, issue, _ = sample_pdfs["vol-3-8"]
    with pikepdf.open(path) as pdf, pdf.open_outline() as outline:
        [entry] = outline.root
        sections = [child.title for child in entry.children]
    assert entry.title == issue.articles[0].title
    headings = re.findall(r"^## (.+)$", issue.articles[0].body, flags=re.M)
    assert sections == headings and len(headings) == 7


def test_text_holds_every_headline_then_every_summary_in_reading_order(sample_pdfs):
    path, issue, _ = sample_pdfs["vol-2-10"]
    text = words(run("pdftotext", "-layout", str(path), "-"))
    headlines = [item.headline for item in issue.items]
    assert in_order(text, headlines)  # the headline list first
    after_list = text.find(words(headlines[-1])) + len(words(headlines[-1]))
    pairs = [part for item in issue.items for part in (item.headline, item.summary)]
    assert in_order(text[after_list:], pairs)


def test_text_holds_every_article_heading_in_reading_order(sample_pdfs):
    path, issue, _ = sample_pdfs["vol-3-8"]
    text = words(run("pdftotext", "-layout", str(path), "-"))
    article = issue.articles[0]
    headings = re.findall(r"^## (.+)$", article.body, flags=re.M)
    assert in_order(text, [article.title, article.dek, *headings])


def test_a4_paper(tmp_path):
    workspace = sample_copy(tmp_path / "ws")
    set_series(workspace, paper="a4")
    series, loaded = load(workspace, "vol-2-10")
    path, _ = write_issue_pdf(workspace, series, loaded, tmp_path / "out")
    assert "(A4)" in info(path)["Page size"]


def _render(workspace, slug, tmp_path):
    series, loaded = load(workspace, slug)
    out = tmp_path / f"{slug}.pdf"
    diagnostics = write_pdf(render_print(workspace, series, loaded), workspace, series, loaded, out)
    return out, diagnostics


def test_japanese_renders_with_real_embedded_glyphs(tmp_path):
    workspace = sample_copy(tmp_path / "ws")
    summary = "岸田首相とバイデン大統領は同盟の強化を確認した。"
    write_issue(workspace, "ja", digest(("日米首脳会談 summit", summary)))
    path, diagnostics = _render(workspace, "ja", tmp_path)
    assert diagnostics == []  # no character fell back to an empty box
    text = run("pdftotext", "-layout", str(path), "-")
    assert "日米首脳会談" in text and summary in text
    fonts = run("pdffonts", str(path))
    assert re.search(r"CJK\S*\s.*\byes\s+yes\s+yes\b", fonts), fonts


def test_a_character_no_font_covers_is_a_warning(tmp_path):
    workspace = sample_copy(tmp_path / "ws")
    write_issue(workspace, "odd", digest(("Odd glyph", "A private character: \U000f0000.")))
    path, diagnostics = _render(workspace, "odd", tmp_path)
    assert path.is_file()
    [warning] = diagnostics
    assert warning.severity is Severity.WARNING
    assert "U+F0000" in warning.message and "newsletter doctor" in warning.message
    assert warning.path.endswith("odd.yaml")


def test_remote_images_are_not_fetched_but_reported(tmp_path):
    workspace = sample_copy(tmp_path / "ws")
    remote = "https://192.0.2.1/never-fetched.jpg"  # TEST-NET-1: nothing answers there
    issue = digest(("Remote", "An issue with a remote hero image."))
    issue["image"] = {"src": remote, "alt": "A remote picture", "credit": "Someone"}
    write_issue(workspace, "remote", issue)
    path, diagnostics = _render(workspace, "remote", tmp_path)
    [warning] = diagnostics
    assert remote in warning.message and "offline" in warning.message
    assert (warning.line, warning.column) != (1, 1)  # located at image.src
    assert "A remote picture" in run("pdftotext", str(path), "-")  # alt text stands in


def test_files_outside_the_workspace_are_not_read(tmp_path):
    workspace = sample_copy(tmp_path / "ws")
    secret = tmp_path / "outside.png"
    secret.write_bytes((workspace.root / "images/vol-2-10-hero.jpg").read_bytes())
    series, loaded = load(workspace, "vol-2-10")
    html = render_print(workspace, series, loaded).replace(
        "images/vol-2-10-hero.jpg", secret.as_uri()
    )
    diagnostics = write_pdf(html, workspace, series, loaded, tmp_path / "x.pdf")
    assert any(secret.as_uri() in d.message for d in diagnostics)
    with pikepdf.open(tmp_path / "x.pdf") as pdf:
        images = [k for page in pdf.pages for k in page.get_images()]
    assert images == []


def test_weasyprint_loads_without_compiler_probes() -> None:
    """WeasyPrint's library names made ctypes run ldconfig, gcc and ld per miss (~30 runs)."""
    import sys

    probe = (
        "import subprocess\n"
        "runs = []\n"
        "original = subprocess.Popen.__init__\n"
        "def counted(self, args, *a, **k):\n"
        "    runs.append(args[0] if isinstance(args, (list, tuple)) else args)\n"
        "    original(self, args, *a, **k)\n"
        "subprocess.Popen.__init__ = counted\n"
        "import ctypes.util\n"
        "lookup = ctypes.util.find_library\n"
        "from newsletter.render.pdf import import_weasyprint\n"
        "weasyprint = import_weasyprint()\n"
        "from weasyprint.text.ffi import pango\n"
        "assert pango.pango_version() > 0\n"
        "assert ctypes.util.find_library is lookup, 'lookup not restored'\n"
        "print(len(runs), *runs)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    count, *programs = done.stdout.split()
    assert int(count) <= 1 and all(p.endswith("ldconfig") for p in programs), done.stdout


def test_library_lookup_answers_from_the_ldconfig_cache() -> None:
    import ctypes.util

    from newsletter.render.pdf import _libraries_from_ldconfig

    original = ctypes.util.find_library
    with _libraries_from_ldconfig():
        assert ctypes.util.find_library("pango-1.0") == "libpango-1.0.so.0"
        assert ctypes.util.find_library("libpango-1.0-0") is None  # a Windows name
    assert ctypes.util.find_library is original


def test_warm_up_prints_quietly_in_memory(tmp_path, monkeypatch, caplog) -> None:
    import logging

    from newsletter.render.pdf import warm_up

    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.DEBUG, logger="weasyprint"):
        warm_up("en")
        warm_up("ja")  # a language without a hyphenation dictionary is no error
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not list(tmp_path.iterdir())
