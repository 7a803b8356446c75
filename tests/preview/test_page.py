"""The preview page in real headless Chromium: live reload, error overlay, widths, dark mode."""

from __future__ import annotations

import io

import pytest

from tests.preview.support import get, save

pytestmark = pytest.mark.judge

TIMEOUT = 10_000  # ms; a save shows within a fraction of that, CI machines are slow


def open_issue(page, live, slug: str = "vol-1-1"):
    """Open the issue's page and return the iframe's frame once it shows the first render."""
    page.goto(f"{live.url}issues/{slug}/")
    page.wait_for_function("window.__preview.loads.length > 0", timeout=TIMEOUT)
    return page.frame_locator("#frame")


def edit(space, slug: str, old: str, new: str) -> None:
    """Replace text in an issue file and save it."""
    path = space.root / f"issues/{slug}.yaml"
    save(path, path.read_text(encoding="utf-8").replace(old, new))


def frame_text(page) -> str:
    return page.frame_locator("#frame").locator("body").inner_text(timeout=TIMEOUT)


def test_a_save_shows_the_new_headline(page, live, space):
    frame = open_issue(page, live)
    frame.get_by_text("First headline").first.wait_for(timeout=TIMEOUT)
    edit(space, "vol-1-1", "First headline", "Fresh headline")
    frame.get_by_text("Fresh headline").first.wait_for(timeout=TIMEOUT)
    assert "First headline" not in frame_text(page)


def test_a_save_patches_the_frame_in_place_keeping_the_place(page, live, space):
    edit(space, "vol-1-1", "The second summary.", "The second summary. " + "Long text. " * 600)
    frame = open_issue(page, live)
    frame.get_by_text("Long text.").first.wait_for(timeout=TIMEOUT)
    page.wait_for_function("document.getElementById('frame').offsetHeight > 2000")
    page.evaluate("window.scrollTo(0, 1200); frames[0].__kept = 'same document'")
    loads = page.evaluate("window.__preview.loads.length")
    edit(space, "vol-1-1", "First headline", "Patched headline")
    frame.get_by_text("Patched headline").first.wait_for(timeout=TIMEOUT)
    page.wait_for_function(f"window.__preview.loads.length > {loads}", timeout=TIMEOUT)
    assert page.evaluate("window.__preview.loads.at(-1).patched") is True
    assert page.evaluate("frames[0].__kept") == "same document"  # no navigation
    assert page.evaluate("window.scrollY") == 1200
    assert "First headline" not in frame_text(page)


def test_a_broken_save_shows_the_overlay_over_the_last_good_render(page, live, space):
    frame = open_issue(page, live)
    frame.get_by_text("First headline").first.wait_for(timeout=TIMEOUT)
    edit(space, "vol-1-1", "volume: 1", "volume: one")
    overlay = page.locator("#overlay")
    overlay.wait_for(state="visible", timeout=TIMEOUT)
    problems = page.locator("#problems").inner_text()
    assert "issues/vol-1-1.yaml:1:9: error: volume: expected a whole number" in problems
    assert "First headline" in frame_text(page)  # the last good render stays underneath

    edit(space, "vol-1-1", "volume: one", "volume: 1")
    edit(space, "vol-1-1", "First headline", "Mended headline")
    overlay.wait_for(state="hidden", timeout=TIMEOUT)
    frame.get_by_text("Mended headline").first.wait_for(timeout=TIMEOUT)


def test_settings_change_updates_the_strip(page, live, space):
    open_issue(page, live)
    subject = page.locator("#subject")
    assert subject.inner_text() == "Test Digest Vol 1.1"
    assert page.locator("#from").inner_text() == "Test Digest <digest@example.org>"
    assert "KB of HTML, Gmail clips at 102 KB" in page.locator("#size").inner_text()
    settings = space.root / "newsletter.yaml"
    save(settings, settings.read_text().replace("name: Test Digest\n", "name: Renamed Digest\n"))
    page.wait_for_function(
        "document.getElementById('subject').textContent === 'Renamed Digest Vol 1.1'",
        timeout=TIMEOUT,
    )


def test_mobile_width_has_no_sideways_scroll(page, live):
    open_issue(page, live)
    loads = page.evaluate("window.__preview.loads.length")
    page.get_by_role("button", name="Mobile").click()
    page.get_by_role("button", name="Mobile", pressed=True).wait_for(timeout=TIMEOUT)
    assert page.locator("#frame").evaluate("f => f.getBoundingClientRect().width") == 375
    width = page.locator("#frame").evaluate("f => f.contentDocument.documentElement.scrollWidth")
    assert width <= 375
    assert page.evaluate("window.__preview.loads.length") == loads  # a width switch is no reload


def _luminance(png: bytes) -> float:
    from PIL import Image, ImageStat

    return ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).mean[0]


def test_dark_mode_changes_the_rendering(page, live):
    open_issue(page, live)
    background = "f => getComputedStyle(f.contentDocument.body).backgroundColor"
    light_bg = page.locator("#frame").evaluate(background)
    light = _luminance(page.locator("#frame").screenshot())
    page.get_by_role("button", name="Dark").click()
    page.wait_for_function(
        "window.__preview.loads.some(l => l.view === 'email') && "
        "document.getElementById('frame').src.includes('scheme=dark')",
        timeout=TIMEOUT,
    )
    page.wait_for_function("window.__preview.loads.length >= 2", timeout=TIMEOUT)
    dark_bg = page.locator("#frame").evaluate(background)
    dark = _luminance(page.locator("#frame").screenshot())
    assert dark_bg != light_bg
    assert dark < light - 60, (light, dark)


def test_text_print_and_pdf_views(page, live):
    open_issue(page, live)
    page.get_by_role("button", name="Text").click()
    page.wait_for_function("window.__preview.loads.some(l => l.view === 'text')", timeout=TIMEOUT)
    assert "First headline" in frame_text(page)
    assert page.get_by_role("button", name="Dark").is_disabled()
    page.get_by_role("button", name="Print").click()
    page.wait_for_function("window.__preview.loads.some(l => l.view === 'print')", timeout=TIMEOUT)
    assert "First headline" in frame_text(page)
    status, headers, body = get(f"{live.url}issues/vol-1-1/vol-1-1.pdf")
    assert status == 200
    assert headers["Content-Type"] == "application/pdf"
    assert body.startswith(b"%PDF-")


def test_index_lists_the_issues(page, live, space):
    page.goto(live.url)
    link = page.get_by_role("link", name="vol-1-1")
    assert link.get_attribute("href") == "/issues/vol-1-1/"
    original = (space.root / "issues/vol-1-1.yaml").read_text(encoding="utf-8")
    space.issue("vol-1-2", original.replace("number: 1", "number: 2"))
    page.get_by_role("link", name="vol-1-2").wait_for(timeout=TIMEOUT)


def test_an_issue_broken_from_the_start_shows_its_problems(page, live, space):
    space.issue("vol-1-2", "volume: 1\nnumber: 2\ndate: 2024-01-19\nitems: []\n")
    page.goto(f"{live.url}issues/vol-1-2/")
    page.locator("#overlay").wait_for(state="visible", timeout=TIMEOUT)
    assert "Nothing has rendered yet" in page.locator("#overlay-note").inner_text()
    assert (
        "issues/vol-1-2.yaml:4:1: error: items: is empty" in page.locator("#problems").inner_text()
    )
    assert get(f"{live.url}issues/vol-1-2/email.html")[0] == 503
