"""`newsletter build`: the static archive, its links, its feed, and incremental rebuilds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import lxml.html
import pytest

from newsletter.archive.build import MANIFEST, build_site
from newsletter.errors import BuildError
from newsletter.workspace import Workspace
from tests.helpers.cli import run_cli
from tests.helpers.judges import serious_axe_violations, unexpected_vnu_errors
from tests.helpers.server import serve_directory
from tests.helpers.workspace import copy_sample

SLUGS = ("vol-2-10", "vol-3-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the sample workspace's site, built once through the CLI."""
    root = copy_sample(tmp_path_factory.mktemp("archive"))
    result = run_cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "built 2 issues, 0 unchanged" in result.stderr
    return root / "site"


def test_site_has_every_page_pdf_image_and_feed(site: Path) -> None:
    for slug in SLUGS:
        assert (site / slug / "index.html").is_file()
        assert (site / slug / f"{slug}.pdf").read_bytes().startswith(b"%PDF-")
    for name in (
        "index.html",
        "feed.xml",
        "images/vol-2-10-hero.jpg",
        "images/kishida-congress.jpg",
    ):
        assert (site / name).is_file(), name


def test_index_lists_issues_newest_first_grouped_by_volume(site: Path) -> None:
    page = lxml.html.parse(str(site / "index.html")).getroot()
    assert [h.text_content() for h in page.iter("h2")] == ["Volume 3", "Volume 2"]
    titles = [a.text_content() for a in page.cssselect("a.title")]
    assert titles == ["US-Japan Alliance Digest Vol 3.8", "US-Japan Alliance Digest Vol 2.10"]
    text = " ".join(page.text_content().split())
    assert "June 1, 2023 · 5 headlines · PDF" in text
    assert "April 26, 2024 · 1 article · PDF" in text


def _links(page: Path) -> list[str]:
    tree = lxml.html.parse(str(page)).getroot()
    found = [el.get("href") for el in tree.iter("a", "link") if el.get("href")]
    return found + [el.get("src") for el in tree.iter("img") if el.get("src")]


def test_every_internal_link_resolves_inside_the_site(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 3
    checked, broken = 0, []
    for page in pages:
        for href in _links(page):
            parts = urlsplit(href)
            if parts.scheme or href.startswith("#"):
                continue  # external (http, mailto) or in-page
            target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.is_file() or site.resolve() not in target.parents:
                broken.append(f"{page.relative_to(site)}: {href}")
    assert checked >= 15 and broken == []


def test_web_version_has_archive_navigation_and_no_unsubscribe(site: Path) -> None:
    html = (site / "vol-2-10" / "index.html").read_text("utf-8")
    assert re.search(r'<a href="\.\./"[^>]*>All issues of US-Japan Alliance Digest</a>', html)
    assert 'href="../vol-2-10/vol-2-10.pdf"' in html
    assert 'src="../images/vol-2-10-hero.jpg"' in html
    assert '<link rel="canonical" href="https://digest.example.org/vol-2-10/">' in html
    assert "Unsubscribe" not in html and "%%" not in html
    assert "President Biden and PM Kishida met on May 18" in html


def test_feed_is_valid_atom_with_full_content(site: Path) -> None:
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "US-Japan Alliance Digest"
    entries = {e.link: e for e in feed.entries}
    digest = entries["https://digest.example.org/vol-2-10/"]
    assert digest.title == "US-Japan Alliance Digest Vol 2.10"
    content = " ".join(digest.content[0].value.split())  # the seed has a no-break space
    assert "US Space Force sensors to be hosted on Japanese satellites" in content
    assert "Launch dates are uncertain as Japan works to fix problems" in content
    assert 'src="https://digest.example.org/images/vol-2-10-hero.jpg"' in content
    enclosures = [link for link in digest.links if link.rel == "enclosure"]
    assert enclosures[0].href == "https://digest.example.org/vol-2-10/vol-2-10.pdf"
    assert int(enclosures[0].length) == (site / "vol-2-10/vol-2-10.pdf").stat().st_size
    article = entries["https://digest.example.org/vol-3-8/"].content[0].value
    assert "<h3>Bilateral Space Coordination</h3>" in article
    assert [e.link for e in feed.entries] == [
        "https://digest.example.org/vol-3-8/",
        "https://digest.example.org/vol-2-10/",
    ]


@pytest.mark.judge
def test_pages_pass_the_nu_html_checker(site: Path, tmp_path: Path) -> None:
    assert unexpected_vnu_errors([site / "index.html"], tmp_path, mjml=False) == []
    assert unexpected_vnu_errors([site / s / "index.html" for s in SLUGS], tmp_path) == []


@pytest.mark.judge
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_axe(chromium_browser, site: Path, scheme: str) -> None:
    page = chromium_browser.new_page(viewport={"width": 900, "height": 900}, color_scheme=scheme)
    problems = []
    try:
        with serve_directory(site) as url:
            for path in ("", "vol-2-10/", "vol-3-8/"):
                page.goto(url + path, wait_until="load")
                problems += [f"/{path}: {p}" for p in serious_axe_violations(page)]
    finally:
        page.close()
    assert problems == []


def _workspace(tmp_path: Path) -> Workspace:
    return Workspace(copy_sample(tmp_path / "ws"))


def test_rebuild_renders_only_what_changed(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    first = build_site(workspace, jobs=1)
    assert first.built == list(SLUGS) and first.unchanged == []
    pdf = workspace.root / "site/vol-2-10/vol-2-10.pdf"
    stamp = pdf.stat().st_mtime_ns

    again = build_site(workspace, jobs=1)
    assert again.built == [] and again.unchanged == list(SLUGS)
    assert pdf.stat().st_mtime_ns == stamp

    issue = workspace.issues_dir / "vol-3-8.yaml"
    issue.write_text(issue.read_text("utf-8").replace("Erik M Jacobs", "E. M. Jacobs"), "utf-8")
    edited = build_site(workspace, jobs=1)
    assert edited.built == ["vol-3-8"] and edited.unchanged == ["vol-2-10"]
    assert "E. M. Jacobs" in (workspace.root / "site/feed.xml").read_text("utf-8")

    image = workspace.root / "images/vol-2-10-hero.jpg"
    image.write_bytes(image.read_bytes() + b"\0")
    assert build_site(workspace, jobs=1).built == ["vol-2-10"]

    (workspace.templates_dir / "email").mkdir(parents=True)
    (workspace.templates_dir / "email/footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>Own footer</mj-text></mj-column></mj-section>", "utf-8"
    )
    assert build_site(workspace, jobs=1).built == list(SLUGS)
    assert "Own footer" in (workspace.root / "site/vol-3-8/index.html").read_text("utf-8")


def test_warnings_of_unchanged_issues_are_counted_not_repeated(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    config = workspace.config_path
    config.write_text(
        config.read_text("utf-8").replace("summary_words: 160", "summary_words: 120"), "utf-8"
    )
    first = run_cli("build", "-j", "1", cwd=workspace.root)
    assert "issues/vol-2-10.yaml:24:14: warning: items[1].summary" in first.stderr
    again = run_cli("build", "-j", "1", cwd=workspace.root)
    assert again.returncode == 0
    assert "warning: items[1].summary" not in again.stderr
    assert "2 warnings in unchanged issues ('newsletter check' lists them)" in again.stderr


def test_removed_issue_leaves_the_site(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    build_site(workspace, jobs=1)
    (workspace.issues_dir / "vol-3-8.yaml").unlink()
    report = build_site(workspace, jobs=1)
    assert report.removed == ["vol-3-8"]
    assert not (workspace.root / "site/vol-3-8").exists()
    assert "vol-3-8" not in (workspace.root / "site/index.html").read_text("utf-8")


def test_parallel_build_equals_serial_build(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    serial = tmp_path / "serial"
    parallel = tmp_path / "parallel"
    build_site(workspace, serial, jobs=1)
    build_site(workspace, parallel, jobs=2, force=True)
    for slug in SLUGS:
        assert (serial / slug / "index.html").read_text("utf-8") == (
            parallel / slug / "index.html"
        ).read_text("utf-8")
        text = [
            subprocess.run(["pdftotext", str(d / slug / f"{slug}.pdf"), "-"],
                           capture_output=True, text=True, check=True).stdout
            for d in (serial, parallel)
        ]  # fmt: skip
        assert text[0] == text[1] and "Alliance Digest" in text[0]


def test_force_rebuilds_everything(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    build_site(workspace, jobs=1)
    assert build_site(workspace, jobs=1, force=True).built == list(SLUGS)


def test_invalid_issue_stops_the_build_with_its_location(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    (workspace.issues_dir / "vol-9-9.yaml").write_text("volume: 9\nnumber: 9\n", "utf-8")
    result = run_cli("build", cwd=workspace.root)
    assert result.returncode == 1
    assert re.search(r"issues/vol-9-9\.yaml:1:1: error: date: field required", result.stderr)
    assert not (workspace.root / "site").exists()


def test_refuses_to_build_over_the_workspace(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    with pytest.raises(BuildError, match="would overwrite the workspace"):
        build_site(workspace, workspace.root)
    result = run_cli("build", "-o", ".", cwd=workspace.root)
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_manifest_records_what_was_built(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    build_site(workspace, jobs=1)
    manifest = (workspace.root / "site" / MANIFEST).read_text("utf-8")
    assert all(slug in manifest for slug in SLUGS)


def test_parallel_rebuild_of_one_edited_issue(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    build_site(workspace, jobs=2)
    issue = workspace.issues_dir / "vol-2-10.yaml"
    text = issue.read_text("utf-8").replace("Biden-Kishida discuss", "Biden and Kishida weigh")
    issue.write_text(text, "utf-8")
    report = build_site(workspace, jobs=2)
    assert report.built == ["vol-2-10"] and report.unchanged == ["vol-3-8"]
    text = subprocess.run(
        ["pdftotext", str(workspace.root / "site/vol-2-10/vol-2-10.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Biden and Kishida weigh" in text


def test_a_no_op_rebuild_rewrites_nothing_and_mends_what_was_deleted(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    build_site(workspace, jobs=1)
    site = workspace.root / "site"
    shared = [site / "index.html", site / "feed.xml", site / MANIFEST]
    stamps = [p.stat().st_mtime_ns for p in shared]
    again = build_site(workspace, jobs=1)
    assert again.built == [] and again.unchanged == list(SLUGS)
    assert [p.stat().st_mtime_ns for p in shared] == stamps  # nothing rewritten
    (site / "feed.xml").unlink()
    (site / "images/vol-2-10-hero.jpg").unlink()
    build_site(workspace, jobs=1)
    assert "vol-3-8" in (site / "feed.xml").read_text("utf-8")
    assert (site / "images/vol-2-10-hero.jpg").is_file()


def test_a_no_op_rebuild_loads_no_issue_yet_reports_as_before(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    config = workspace.config_path
    config.write_text(config.read_text("utf-8").replace("base_url:", "# base_url:"), "utf-8")
    first = run_cli("build", "-j", "1", cwd=workspace.root)
    assert first.returncode == 0, first.stderr
    probe = (
        "import sys, runpy; sys.argv = ['newsletter', 'build', '-j', '1']\n"
        "try:\n    runpy.run_module('newsletter', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('pydantic' in sys.modules, 'yaml' in sys.modules, file=sys.stderr)"
    )
    again = subprocess.run(
        [sys.executable, "-c", probe], cwd=workspace.root, capture_output=True, text=True
    )
    *messages, loaded = again.stderr.strip().splitlines()
    assert loaded == "False False"  # neither validated nor parsed
    assert "built 0 issues, 2 unchanged" in again.stderr
    assert "warning: no base_url" in again.stderr  # the settings' warnings, as every build
    (workspace.root / "site/.build-inputs.json").unlink()  # the same no-op, loading all
    loading = run_cli("build", "-j", "1", cwd=workspace.root)

    def timeless(lines):
        return [re.sub(r" in [0-9.]+ s ", " in T s ", line) for line in lines]

    assert timeless(messages) == timeless(loading.stderr.strip().splitlines())

    image = workspace.root / "images/vol-2-10-hero.jpg"
    image.write_bytes(image.read_bytes() + b"\0")  # an input the record must still see
    assert build_site(workspace, jobs=1).built == ["vol-2-10"]


def test_output_deleted_by_hand_is_rebuilt(tmp_path: Path) -> None:
    """No input changed, so no worker was warmed: the build must still print the PDF."""
    workspace = _workspace(tmp_path)
    build_site(workspace, jobs=2)
    pdf = workspace.root / "site/vol-3-8/vol-3-8.pdf"
    pdf.unlink()
    assert build_site(workspace, jobs=2).built == ["vol-3-8"]
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_a_pdf_that_cannot_be_written_fails_only_its_issue(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    build_site(workspace, jobs=2)
    pdf = workspace.root / "site/vol-2-10/vol-2-10.pdf"
    pdf.unlink()
    pdf.mkdir()  # a folder where the PDF goes: writing it fails in the worker
    with pytest.raises(BuildError, match=r"1 issue\(s\) failed to build: vol-2-10") as caught:
        build_site(workspace, jobs=2, force=True)
    assert any("cannot write" in d.message and "vol-2-10.pdf" in d.message
               for d in caught.value.diagnostics)  # fmt: skip
    manifest = (workspace.root / "site" / MANIFEST).read_text("utf-8")
    assert "vol-3-8" in manifest and "vol-2-10" not in manifest
    feed = feedparser.parse((workspace.root / "site/feed.xml").read_bytes())
    enclosures = {
        entry.link: [link.href for link in entry.links if link.rel == "enclosure"]
        for entry in feed.entries
    }
    assert enclosures == {  # no PDF, no enclosure: the feed never links a missing file
        "https://digest.example.org/vol-2-10/": [],
        "https://digest.example.org/vol-3-8/": ["https://digest.example.org/vol-3-8/vol-3-8.pdf"],
    }


def test_stale_guess_counts_edited_issues_and_gives_up_on_shared_inputs(tmp_path: Path) -> None:
    import os

    from newsletter.archive.build import _stale_guess

    workspace = _workspace(tmp_path)
    out = workspace.root / "site"
    assert _stale_guess(workspace, out, workspace.issue_paths()) is None  # never built: everything
    build_site(workspace, jobs=1)
    assert _stale_guess(workspace, out, workspace.issue_paths()) == 0
    later = (out / MANIFEST).stat().st_mtime + 5
    os.utime(workspace.issues_dir / "vol-3-8.yaml", (later, later))
    assert _stale_guess(workspace, out, workspace.issue_paths()) == 1
    os.utime(workspace.config_path, (later, later))
    assert _stale_guess(workspace, out, workspace.issue_paths()) is None


def test_interrupted_build_resumes_with_what_is_left(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    finished: list[str] = []

    def interrupt_after_first(slug: str) -> None:
        finished.append(slug)
        raise KeyboardInterrupt  # as Ctrl-C would, once one issue is done

    with pytest.raises(KeyboardInterrupt):
        build_site(workspace, jobs=1, progress=interrupt_after_first)
    assert finished == ["vol-2-10"]
    manifest = (workspace.root / "site" / MANIFEST).read_text("utf-8")
    assert "vol-2-10" in manifest and "vol-3-8" not in manifest
    resumed = build_site(workspace, jobs=1)
    assert resumed.built == ["vol-3-8"] and resumed.unchanged == ["vol-2-10"]


def test_drafts_are_left_out_unless_asked_for(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    path = workspace.issues_dir / "vol-3-8.yaml"
    path.write_text(path.read_text("utf-8") + "draft: true\n", "utf-8")
    done = run_cli("build", "-j", "1", cwd=workspace.root)
    assert done.returncode == 0, done.stderr
    assert "left out 1 draft (vol-3-8); 'newsletter build --drafts' includes them" in done.stderr
    site = workspace.root / "site"
    assert not (site / "vol-3-8").exists()
    assert "vol-3-8" not in (site / "index.html").read_text("utf-8")
    assert "vol-3-8" not in (site / "feed.xml").read_text("utf-8")
    done = run_cli("build", "-j", "1", "--drafts", cwd=workspace.root)
    assert done.returncode == 0, done.stderr
    assert (site / "vol-3-8" / "index.html").is_file()
    assert "vol-3-8" in (site / "feed.xml").read_text("utf-8")
