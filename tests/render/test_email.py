"""The HTML email: content as data, published image URLs, email craft, templates, size budget."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from newsletter.errors import RenderError
from newsletter.loader import require_issue
from newsletter.render import colors
from newsletter.render.email import render_email_html
from newsletter.render.size import SIZE_LIMIT, SIZE_WARNING, size_diagnostics
from newsletter.workspace import Workspace
from tests.helpers.workspace import ISSUE, SERIES, make_workspace

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)

RICH_ISSUE = """\
volume: 1
number: 2
date: 2024-02-01
preheader: Hidden preview text for the inbox.
image:
  src: images/hero.png
  alt: The hero picture
  credit: Example Agency
items:
  - headline: "Braces {{ 7*7 }} and <b>tags</b> stay text"
    summary: "A summary with {{ 7*7 }}, {% if true %}x{% endif %} and <script>alert(1)</script>."
    links:
      - title: The source
        url: https://example.org/source
articles:
  - title: A long read
    category: Analysis
    author: A. Writer
    image:
      src: https://cdn.example.org/remote.jpg
      alt: A remote picture
    body: |
      Opening paragraph with a [link](https://example.org/link).

      ## A section

      ![A body picture](images/body.png "The caption of the body picture")

      - one
      - two
"""


def render(tmp_path: Path, issue: str = RICH_ISSUE, series: str = SERIES, files=None) -> str:
    root = make_workspace(
        tmp_path / "ws",
        {"vol-1-2": issue},
        series,
        {"images/hero.png": PNG, "images/body.png": PNG, **(files or {})},
    )
    workspace = Workspace(root)
    series_model, loaded, _ = require_issue(workspace, "vol-1-2")
    return render_email_html(workspace, series_model, loaded)


@pytest.fixture
def rich(tmp_path: Path) -> str:
    return render(tmp_path)


def test_content_is_data_never_template_code_or_markup(rich: str) -> None:
    assert "{{ 7*7 }}" in rich and "{% if true %}x{% endif %}" in rich
    assert ">49<" not in rich and "Braces 49" not in rich
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rich
    assert "<script" not in rich.lower()
    assert "&lt;b&gt;tags&lt;/b&gt;" in rich


def test_workspace_images_get_absolute_urls_under_base_url(tmp_path: Path) -> None:
    series = SERIES + "brand:\n  logo: images/logo.png\n"
    rich = render(tmp_path, series=series, files={"images/logo.png": PNG})
    sources = lxml_html.fromstring(rich).xpath("//img/@src")
    assert "https://news.example.org/images/logo.png" in sources
    assert "https://news.example.org/images/hero.png" in sources
    assert "https://news.example.org/images/body.png" in sources
    assert "https://cdn.example.org/remote.jpg" in sources
    assert all(src.startswith("https://") for src in sources), sources
    assert "The caption of the body picture" in rich


def test_every_image_has_alt_text_and_every_table_is_presentational(rich: str) -> None:
    doc = lxml_html.fromstring(rich)
    images = doc.xpath("//img")
    assert len(images) == 3
    assert all(img.get("alt", "").strip() for img in images)
    tables = doc.xpath("//table")
    assert tables and all(t.get("role") == "presentation" for t in tables)


def test_email_craft_lang_preheader_dark_mode_and_width(tmp_path: Path) -> None:
    page = render(tmp_path, series=SERIES.replace("language: en", "language: ja"))
    doc = lxml_html.fromstring(page)
    assert page.startswith("<!doctype html>")
    assert doc.get("lang") == "ja"
    preheader = doc.xpath("//div[@class='preheader']")[0]
    assert preheader.text_content() == "Hidden preview text for the inbox."
    assert "display:none" in preheader.get("style")
    metas = {m.get("name"): m.get("content") for m in doc.xpath("//meta[@name]")}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"
    assert "@media (prefers-color-scheme: dark)" in page
    assert "max-width:600px" in page
    assert doc.xpath("//title")[0].text == "Test Digest Vol 1.2"


def test_premailer_inlines_styles_and_keeps_media_queries_mso_and_important(rich: str) -> None:
    doc = lxml_html.fromstring(rich)
    link = doc.xpath("//a[@href='https://example.org/link']")[0]
    assert "color:#" in link.get("style").replace(" ", "")
    heading = doc.xpath("//h3")[0]  # '## A section' nests under the article's h2
    assert "font-size:19px" in heading.get("style").replace(" ", "")
    assert "@media only screen and (min-width:480px)" in rich
    assert "!important" in rich
    assert "<!--[if mso | IE]>" in rich and "<!--[if mso]>" in rich
    assert "data-premailer" not in rich
    assert "mj-style" not in rich
    # nothing to fetch: no web fonts, no external stylesheets
    assert "<link" not in rich and "@import" not in rich and "googleapis" not in rich


def test_rendering_logs_nothing(tmp_path: Path, capfd, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        render(tmp_path)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_links_to_web_version_pdf_footer_and_unsubscribe_token(rich: str) -> None:
    hrefs = lxml_html.fromstring(rich).xpath("//a/@href")
    assert "https://news.example.org/vol-1-2/" in hrefs
    assert "https://news.example.org/vol-1-2/vol-1-2.pdf" in hrefs
    assert "mailto:editors@example.org" in hrefs
    assert "%%unsubscribe_url%%" in hrefs
    assert "1 Example Street, Example City" in rich


def test_without_base_url_images_keep_workspace_paths_and_no_web_links(tmp_path: Path) -> None:
    page = render(tmp_path, series=SERIES.replace("base_url: https://news.example.org/\n", ""))
    assert 'src="images/hero.png"' in page
    assert ".pdf" not in page and "View this issue in your browser" not in page


@pytest.mark.parametrize("brand", ["#1f4e79", "#ffdd00", "#e11", "#777777"])
def test_any_brand_colour_keeps_text_and_links_readable(tmp_path: Path, brand: str) -> None:
    series = SERIES + f'brand:\n  color: "{brand}"\n'
    page = render(tmp_path, series=series)
    palette = colors.palette(brand)
    assert f"background-color:{palette['masthead']}" in page
    # Judged with the test's own WCAG formula, not the module's: a contrast() that
    # flatters would otherwise approve its own unreadable colours.
    assert wcag_contrast(palette["on_brand"], palette["masthead"]) >= 4.5
    assert wcag_contrast(palette["on_brand_soft"], palette["masthead"]) >= 4.5
    assert wcag_contrast(palette["link"], "#ffffff") >= 4.5
    assert wcag_contrast(palette["dark_link"], "#1b1f24") >= 7.0
    assert palette["link"] in page


def wcag_contrast(a: str, b: str) -> float:
    """Compute the WCAG 2.1 contrast ratio, written out here independently of colors.py."""

    def lum(color: str) -> float:
        h = color.lstrip("#")
        h = "".join(c * 2 for c in h) if len(h) == 3 else h
        out = []
        for i in (0, 2, 4):
            c = int(h[i : i + 2], 16) / 255
            out.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * out[0] + 0.7152 * out[1] + 0.0722 * out[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# Published ratios (WebAIM's contrast checker, rounded to 2 places as it shows them).
@pytest.mark.parametrize(
    ("fg", "bg", "ratio"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#ffffff", 1.0),
        ("#777777", "#ffffff", 4.48),
        ("#767676", "#ffffff", 4.54),
        ("#0000ff", "#ffffff", 8.59),
        ("#ff0000", "#ffffff", 4.0),
        ("#ffffff", "#777", 4.48),
    ],
)
def test_contrast_matches_published_wcag_ratios(fg: str, bg: str, ratio: float) -> None:
    assert round(colors.contrast(fg, bg), 2) == ratio
    assert round(wcag_contrast(fg, bg), 2) == ratio


def test_workspace_template_overrides_one_partial(tmp_path: Path) -> None:
    footer = """
    <mj-section><mj-column><mj-text>Our own footer for {{ series.name }}.
      <a href="{{ unsubscribe_url }}">Leave</a></mj-text></mj-column></mj-section>
    """
    page = render(tmp_path, files={"templates/email/footer.mjml.j2": footer})
    assert "Our own footer for Test Digest." in page
    assert "You receive Test Digest because" not in page
    assert "In this issue" in page  # the other partials still come from the package


def test_template_with_an_undefined_name_fails_clearly(tmp_path: Path) -> None:
    files = {"templates/email/footer.mjml.j2": "<mj-section>{{ no_such_value }}</mj-section>"}
    with pytest.raises(RenderError, match="no_such_value"):
        render(tmp_path, files=files)


def test_template_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    files = {"templates/email/footer.mjml.j2": "<mj-section>\n{% if %}\n</mj-section>"}
    with pytest.raises(RenderError) as caught:
        render(tmp_path, files=files)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.path.endswith("templates/email/footer.mjml.j2") and diagnostic.line == 2


def test_size_budget_warns_over_90_kb_and_errors_over_102_kb(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", {"vol-1-1": ISSUE})
    _, loaded, _ = require_issue(Workspace(root), "vol-1-1")
    assert size_diagnostics("x" * SIZE_WARNING, loaded) == []
    [warning] = size_diagnostics("x" * (SIZE_WARNING + 1), loaded)
    assert not warning.is_error and "90 KB" in warning.message
    [error] = size_diagnostics("é" * (SIZE_LIMIT // 2 + 1), loaded)  # bytes, not characters
    assert error.is_error and "102 KB" in error.message and "clips" in error.message


def test_markdown_merge_tags_survive_rendering(tmp_path: Path) -> None:
    issue = ISSUE.replace("One paragraph with", "Dear %%first_name%%, one paragraph with")
    page = render(tmp_path, issue=issue)
    assert "Dear %%first_name%%, one paragraph" in page
    assert re.search(r"Dear %%first_name%%", page)


def test_a_template_added_to_the_workspace_is_used_at_once(tmp_path: Path) -> None:
    first = render(tmp_path)
    assert "Freshly overridden" not in first
    override = tmp_path / "ws" / "templates" / "email" / "footer.mjml.j2"
    override.parent.mkdir(parents=True)
    override.write_text("<mj-section><mj-column><mj-text>Freshly overridden</mj-text>"
                        "</mj-column></mj-section>")  # fmt: skip
    root = tmp_path / "ws"
    series, loaded, _ = require_issue(Workspace(root), "vol-1-2")
    assert "Freshly overridden" in render_email_html(Workspace(root), series, loaded)
    assert not (root / ".newsletter" / "cache" / "templates").exists()  # cached outside


def test_check_warns_when_base_url_is_missing(tmp_path: Path) -> None:
    from newsletter.loader import load_workspace

    series = SERIES.replace("base_url: https://news.example.org/\n", "")
    root = make_workspace(tmp_path / "ws", series=series)
    _series, _issues, diagnostics = load_workspace(Workspace(root))
    assert any("no base_url" in d.message and not d.is_error for d in diagnostics)


def test_size_limit_is_exactly_102_kb(tmp_path: Path) -> None:
    # Written out, not taken from the module: Gmail clips HTML over 102 KB (104,448 bytes).
    root = make_workspace(tmp_path / "ws", {"vol-1-1": ISSUE})
    _, loaded, _ = require_issue(Workspace(root), "vol-1-1")
    path = loaded.source.path
    [at_limit] = size_diagnostics("x" * 104_448, loaded)
    assert str(at_limit) == (
        f"{path}:1:1: warning: email HTML is 102.0 KB, over 90 KB: Gmail clips it above "
        "102 KB; shorten the issue or split it"
    )
    [over] = size_diagnostics("x" * 104_449, loaded)
    assert str(over) == (
        f"{path}:1:1: error: email HTML is 102.0 KB, over 102 KB: Gmail clips it; "
        "shorten the issue or split it"
    )
    assert over.is_error and not at_limit.is_error
    assert size_diagnostics("x" * 92_160, loaded) == []  # 90 KB: no warning yet
    [warning] = size_diagnostics("x" * 92_161, loaded)
    assert str(warning).startswith(f"{path}:1:1: warning: email HTML is 90.0 KB, over 90 KB")
    [big] = size_diagnostics("x" * 200_000, loaded)
    assert "email HTML is 195.3 KB, over 102 KB" in str(big)
