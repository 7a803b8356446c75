"""The print HTML: structure of the publication, references, figures, paper, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest

from newsletter.render.print import css_string, render_print, split_credit, write_print
from tests.render.workspaces import digest, load, set_series, write_issue


def _page(workspace, slug):
    series, loaded = load(workspace, slug)
    html = render_print(workspace, series, loaded)
    return html, lxml.html.fromstring(html), loaded.issue


def _text(element) -> str:
    return " ".join(element.text_content().split())


def test_headline_list_comes_first_then_each_headline_with_its_summary(sample_workspace):
    _html, doc, issue = _page(sample_workspace, "vol-2-10")
    toc = [_text(a) for a in doc.cssselect("nav.toc li a")]
    assert toc == [" ".join(item.headline.split()) for item in issue.items]
    sections = doc.cssselect("section.item")
    assert [_text(s.cssselect("h2")[0]) for s in sections] == toc
    for section, item in zip(sections, issue.items, strict=True):
        heading, paragraph = section.cssselect("h2")[0], section.cssselect("p")[0]
        assert heading.getnext() is paragraph  # nothing may come between them
        assert _text(paragraph) == " ".join(item.summary.split())
    body_order = [el.tag for el in doc.cssselect("main > *")]
    assert body_order.index("nav") < body_order.index("section")


def test_headline_list_links_to_its_items(sample_workspace):
    _html, doc, _issue = _page(sample_workspace, "vol-2-10")
    ids = {el.get("id") for el in doc.cssselect("[id]")}
    targets = [a.get("href") for a in doc.cssselect("nav.toc a")]
    assert targets and all(t.startswith("#") and t[1:] in ids for t in targets)


def test_summaries_are_kept_with_their_headline_by_css(sample_workspace):
    html, _doc, _issue = _page(sample_workspace, "vol-2-10")
    assert re.search(r"\.item\s*\{[^}]*break-inside:\s*avoid", html)
    assert re.search(r"h1, h2, h3, h4, h5, h6\s*\{[^}]*break-after:\s*avoid", html)


@pytest.mark.parametrize(("paper", "size"), [("letter", "letter"), ("a4", "A4")])
def test_paper_size_comes_from_the_series(sample_workspace, paper, size):
    set_series(sample_workspace, paper=paper)
    html, _doc, _issue = _page(sample_workspace, "vol-2-10")
    assert re.search(rf"@page\s*\{{\s*size:\s*{size};", html)


def test_running_header_and_page_footer(sample_workspace):
    html, _doc, _issue = _page(sample_workspace, "vol-2-10")
    assert '@top-left { content: "US-Japan Alliance Digest"; }' in html
    assert '@top-right { content: "Vol 2.10"; }' in html
    assert '"Page " counter(page) " of " counter(pages)' in html


def test_links_become_numbered_references(sample_workspace):
    summary = "Read [the statement](https://example.org/a) and [notes](https://example.org/b)."
    issue = digest(("One", summary))
    issue["items"].append(
        {
            "headline": "Two",
            "summary": "Write to [me@example.org](mailto:me@example.org).",
            "links": [{"title": "Source", "url": "https://example.org/c"}],
        }
    )
    write_issue(sample_workspace, "refs", issue)
    _html, doc, _issue = _page(sample_workspace, "refs")
    first, second = doc.cssselect("section.item")
    assert [_text(s) for s in first.cssselect("sup.ref")] == ["[1]", "[2]"]
    assert [_text(li) for li in first.cssselect("ol.references li")] == [
        "[1] the statement: https://example.org/a",
        "[2] notes: https://example.org/b",
    ]
    # An address that is its own link text is printed once, with no reference.
    assert second.cssselect("sup.ref") == []
    assert "me@example.org" in _text(second.cssselect("p")[0])
    assert [_text(li) for li in second.cssselect("ol.references li")] == [
        "[3] Source: https://example.org/c",
    ]
    colophon = [_text(li) for li in doc.cssselect("footer.colophon ol.references li")]
    assert colophon == [
        "[4] Privacy Policy: https://digest.example.org/privacy/",
        "[5] Sitemap: https://digest.example.org/sitemap/",
    ]


def test_content_is_data_never_markup(sample_workspace):
    evil = '<script>alert(1)</script> "quoted" & </style>'
    set_series(sample_workspace, name="Evil </style><script>x</script> Digest")
    write_issue(sample_workspace, "evil", digest((evil, evil)))
    html, doc, _issue = _page(sample_workspace, "evil")
    assert doc.cssselect("script") == []
    assert html.count("</style>") == 1  # the series name cannot close the style sheet
    assert _text(doc.cssselect("section.item h2")[0]) == " ".join(evil.split())


def test_css_string_escapes_quotes_and_markup():
    assert css_string('a"b\\c</style>') == '"a\\22 b\\5c c\\3c /style\\3e "'


def test_article_has_headings_figures_with_captions_and_credits(sample_workspace):
    _html, doc, issue = _page(sample_workspace, "vol-3-8")
    article = doc.cssselect("article.article")[0]
    assert _text(article.cssselect("header h2")[0]) == issue.articles[0].title
    assert _text(article.cssselect("p.kicker")[0]) == "Politics & Security"
    assert _text(article.cssselect("p.meta")[0]) == "By Erik M Jacobs"
    headings = [_text(h) for h in article.cssselect("h3.section")]
    assert headings[:2] == ["Bilateral Space Coordination", "Bilateral Technology Efforts"]
    figures = article.cssselect("figure")
    assert [f.cssselect("img")[0].get("src") for f in figures] == [
        "images/kishida-state-visit.jpg",
        "images/kishida-congress.jpg",
        "images/trilateral-summit.jpg",
    ]
    assert all(f.getparent().tag == "article" for f in figures)  # never inside a <p>
    credits = [_text(f.cssselect(".credit")[0]) for f in figures]
    assert credits == [
        "Image: ©REUTERS/Kevin Lamarque",
        "Image: ©Kyodo",
        "Image: ©REUTERS/Kevin Lamarque",
    ]
    assert _text(figures[1].cssselect(".caption")[0]).startswith("Prime Minister Fumio Kishida")


def test_split_credit_keeps_captions_without_credit():
    assert split_credit("A caption (©Kyodo)") == ("A caption", "©Kyodo")
    assert split_credit("A caption (2024)") == ("A caption (2024)", "")


def test_hero_image_with_credit(sample_workspace):
    _html, doc, _issue = _page(sample_workspace, "vol-2-10")
    hero = doc.cssselect("figure.hero")[0]
    assert hero.cssselect("img")[0].get("alt").startswith("Sample image")
    assert _text(hero.cssselect(".credit")[0]) == "Image: Associated Press"


def test_document_metadata_in_head(sample_workspace):
    _html, doc, _issue = _page(sample_workspace, "vol-3-8")
    meta = {m.get("name"): m.get("content") for m in doc.cssselect("meta[name]")}
    assert meta["author"] == "Sasakawa USA"
    assert meta["description"].startswith("PM Kishida's State Visit")
    assert meta["dcterms.created"] == "2024-04-26"
    assert "Politics & Security" in meta["keywords"]
    assert doc.get("lang") == "en"


def test_write_print_addresses_images_back_into_the_workspace(sample_workspace, tmp_path):
    series, loaded = load(sample_workspace, "vol-3-8")
    out = tmp_path / "out"
    path, diagnostics = write_print(sample_workspace, series, loaded, out)
    assert path == out / "vol-3-8" / "print.html" and diagnostics == []
    doc = lxml.html.fromstring(path.read_text(encoding="utf-8"))
    sources = [img.get("src") for img in doc.cssselect("img")]
    assert sources and all((path.parent / src).resolve().is_file() for src in sources)


def test_workspace_template_overrides_the_print_template(sample_workspace):
    sample_workspace.templates_dir.mkdir()
    (sample_workspace.templates_dir / "print.html.j2").write_text(
        "<p>{{ issue.title }} for {{ series.publisher }}</p>", encoding="utf-8"
    )
    html, _doc, _issue = _page(sample_workspace, "vol-2-10")
    assert html == "<p>US-Japan Alliance Digest Vol 2.10 for Sasakawa USA</p>"


def test_packaged_template_exists():
    assert (Path(__file__).parents[2] / "src/newsletter/templates/print.html.j2").is_file()
