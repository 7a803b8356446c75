"""The rendered email judged by real checkers: caniemail, Nu HTML Checker, SpamAssassin,
axe-core in Chromium, and Chromium at phone width (see ../shared/JUDGES.md).

Each allowlist below names what plain MJML output itself triggers; anything else fails.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.judges import serious_axe_violations, unexpected_vnu_errors
from tests.helpers.workspace import REPO
from tests.render.conftest import SAMPLE_ISSUES, Rendered

pytestmark = pytest.mark.judge

# caniemail errors that come from MJML's own boilerplate, as (client glob, feature title).
CANIEMAIL_ALLOWED = {
    # Gmail's mobile webmail drops every <style> block; MJML keeps its responsive and
    # Outlook rules there and inlines what matters, so the selectors in them are moot.
    ("gmail.mobile-webmail", "<style> element"): "MJML head styles",
    ("gmail.mobile-webmail", "@media"): "MJML column widths and our phone/dark rules",
    ("gmail.mobile-webmail", "Type selector"): "MJML reset rules (body, table, td, img, p)",
    ("gmail.mobile-webmail", "Class selector"): "MJML .mj-column-per-100 rules",
    ("gmail.mobile-webmail", "ID selector"): "MJML #outlook a reset",
    ("gmail.mobile-webmail", "Descendant combinator"): "MJML .moz-text-html rules",
    ("gmail.mobile-webmail", "Chaining selectors"): "MJML table.mj-full-width-mobile",
    # The hidden preheader, styled as MJML's mj-preview styles it: display:none where
    # supported, opacity and overflow where not.
    ("gmail.mobile-webmail", "display:none"): "hidden preheader",
    ("gmail.mobile-webmail", "opacity"): "hidden preheader",
    ("outlook.windows*", "opacity"): "hidden preheader (Outlook hides it with mso-hide)",
    ("outlook.windows*", "overflow"): "hidden preheader",
    # Outlook for Windows renders with Word and ignores media queries: MJML gives it
    # fixed-width tables in conditional comments instead.
    ("outlook.windows*", "@media"): "MJML responsive rules, not for Word",
    ("outlook.windows*", "Chaining selectors"): "MJML table.mj-full-width-mobile",
    ("outlook.windows*", "outline"): "MJML img reset (outline:none)",
    ("outlook.windows*", "word-spacing"): "MJML body reset",
    ("outlook.windows*", "border-spacing"): "MJML mj-image table",
    ("outlook.macos", "border-spacing"): "MJML mj-image table",
    ("outlook.windows-mail", "role attribute"): "MJML role=presentation tables",
    ("outlook.windows-mail", "aria-label attribute"): "MJML article wrapper (mj-title)",
    ("outlook.windows-mail", "word-break"): "MJML mj-text cells (break-word)",
    # Some clients replace <body> with a <div>; MJML repeats the background on a wrapper.
    ("outlook.macos", "<body> element"): "MJML body wrapper",
    ("yahoo.*", "<body> element"): "MJML body wrapper",
    ("yahoo.*", "aria-label attribute"): "MJML article wrapper (mj-title)",
    ("yahoo.*", "word-break"): "MJML mj-text cells (break-word)",
    # Yahoo turns height into min-height; MJML's images are height:auto, same result.
    ("yahoo.*", "height property"): "MJML img height:auto",
}


def _allowed_by_caniemail(client: str, title: str) -> bool:
    return any(fnmatch.fnmatch(client, glob) and title == t for glob, t in CANIEMAIL_ALLOWED)


def test_caniemail_finds_nothing_beyond_mjml_boilerplate(sample_render: Rendered) -> None:
    files = [str(sample_render.path(slug, "email.html")) for slug in SAMPLE_ISSUES]
    result = subprocess.run(
        ["node", str(Path(__file__).with_name("caniemail.mjs")), *files],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == set(files)
    assert any(report.values()), "caniemail found nothing at all: is it judging the files?"
    unexpected = [
        f"{Path(file).parent.name}: {issue['client']}: {issue['title']} "
        f"at {issue['line']}:{issue['column']}: {issue['text'][:100]}"
        for file, issues in report.items()
        for issue in issues
        if not _allowed_by_caniemail(issue["client"], issue["title"])
    ]
    assert not unexpected, "\n".join(unexpected)


def test_nu_html_checker_finds_only_plain_mjml_errors(
    sample_render: Rendered, tmp_path: Path
) -> None:
    files = [sample_render.path(slug, "email.html") for slug in SAMPLE_ISSUES]
    assert unexpected_vnu_errors(files, tmp_path) == []


@pytest.mark.parametrize("slug", SAMPLE_ISSUES)
def test_spamassassin_scores_the_message_at_most_1(sample_render: Rendered, slug: str) -> None:
    eml = sample_render.path(slug, "email.eml").read_bytes()
    result = subprocess.run(
        ["spamassassin", "-t", "-L", "--cf=use_bayes 0"],
        input=eml,
        capture_output=True,
        timeout=180,
    )
    report = result.stdout.decode("utf-8", "replace")
    match = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", report)
    assert match, report[-2000:]
    details = report[match.start() :][:1500]
    assert float(match.group(1)) <= 1.0, details


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violations(
    chromium_browser, served_render: Rendered, scheme: str
) -> None:
    page = chromium_browser.new_page(viewport={"width": 640, "height": 900}, color_scheme=scheme)
    try:
        problems = []
        for slug in SAMPLE_ISSUES:
            page.goto(served_render.url(slug), wait_until="load")
            problems += [f"{slug}: {problem}" for problem in serious_axe_violations(page)]
        assert not problems, "\n".join(problems)
    finally:
        page.close()


@pytest.mark.parametrize("slug", SAMPLE_ISSUES)
def test_phone_width_has_no_sideways_scroll_and_images_scale(
    chromium_browser, served_render: Rendered, slug: str
) -> None:
    page = chromium_browser.new_page(viewport={"width": 375, "height": 800})
    try:
        page.goto(served_render.url(slug), wait_until="load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        images = page.evaluate(
            """() => [...document.images].map(i => {
                 const box = i.getBoundingClientRect();
                 return {src: i.src, loaded: i.naturalWidth > 0,
                         right: box.right, width: box.width};
               })"""
        )
        assert images, "the sample issues have images"
        for image in images:
            assert image["loaded"], f"{image['src']} did not load from the published address"
            assert image["right"] <= 375 and image["width"] > 200, image
        path = served_render.root / "screenshots" / f"{slug}-375.png"
        path.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
    finally:
        page.close()


def test_desktop_width_centres_a_600px_column(chromium_browser, served_render: Rendered) -> None:
    page = chromium_browser.new_page(viewport={"width": 900, "height": 900})
    try:
        page.goto(served_render.url("vol-2-10"), wait_until="load")
        box = page.evaluate(
            """() => { const r = document.querySelector('.masthead').getBoundingClientRect();
                       return {left: r.left, width: r.width}; }"""
        )
        assert box["width"] == 600 and box["left"] == 150
        assert page.evaluate("document.documentElement.scrollWidth") <= 900
        path = served_render.root / "screenshots" / "vol-2-10-900.png"
        path.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.close()


def test_dark_mode_turns_the_page_dark_and_the_text_light(
    chromium_browser, served_render: Rendered
) -> None:
    page = chromium_browser.new_page(viewport={"width": 640, "height": 900}, color_scheme="dark")
    try:
        page.goto(served_render.url("vol-2-10"), wait_until="load")
        colors = page.evaluate(
            """() => {
                const style = (sel) => getComputedStyle(document.querySelector(sel));
                return {page: getComputedStyle(document.body).backgroundColor,
                        card: style('.card div').backgroundColor,
                        text: style('.card .prose h2 + p').color};
            }"""
        )

        def level(css: str) -> float:
            r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
            return (r + g + b) / 3

        assert level(colors["page"]) < 40 and level(colors["card"]) < 50, colors
        assert level(colors["text"]) > 200, colors
        path = served_render.root / "screenshots" / "vol-2-10-dark.png"
        path.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(path), full_page=False)
    finally:
        page.close()
