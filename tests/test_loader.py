"""Loading issues: pydantic errors located at file:line:col, cross-file and file checks."""

from __future__ import annotations

from newsletter.loader import load_workspace, require_issue
from newsletter.workspace import Workspace
from tests.helpers import without_library_reason


def problems(space, slug="vol-1-1"):
    path = space.root / "issues" / f"{slug}.yaml"
    _series, _issues, diagnostics = load_workspace(Workspace(space.root), [path])
    return [str(d) for d in diagnostics if d.path.startswith("issues/")]


def test_valid_issue_gets_default_title_and_subject(space):
    series, issues, diagnostics = load_workspace(Workspace(space.root))
    assert [d for d in diagnostics if d.is_error] == []
    assert issues[0].slug == "vol-1-1"
    assert issues[0].issue.title == "Test Digest Vol 1.1"
    assert issues[0].issue.subject == "Test Digest Vol 1.1"
    assert series.sender.email == "digest@example.org"


def test_missing_summary_points_at_the_item(space):
    space.issue(
        "vol-1-1",
        """\
        volume: 1
        number: 1
        date: 2024-01-05
        preheader: p
        items:
          - headline: a
            summary: b
          - headline: c
            summary: d
          - headline: e
        """,
    )
    assert problems(space) == ["issues/vol-1-1.yaml:10:5: error: items[2].summary: field required"]


def test_all_problems_of_a_file_are_reported_together(space):
    space.issue(
        "vol-1-1",
        """\
        volume: 0
        number: two
        date: 2024-13-01
        titel: Hello
        preheader: p
        image:
          src: javascript:alert(1)
        items:
          - headline: "Line one"
            summary: "See [this](javascript:alert(1))."
            links:
              - title: Source
                url: ftp://example.org/x
        """,
    )
    found = [without_library_reason(m) for m in problems(space)]
    assert found == [
        "issues/vol-1-1.yaml:1:9: error: volume: must be 1 or more, got 0",
        "issues/vol-1-1.yaml:2:9: error: number: expected a whole number, got str 'two'",
        "issues/vol-1-1.yaml:3:7: error: date: expected YYYY-MM-DD, e.g. 2024-06-01; "
        "got '2024-13-01' (...)",
        "issues/vol-1-1.yaml:4:1: error: titel: unknown field 'titel'; did you mean 'title'?",
        "issues/vol-1-1.yaml:7:3: error: image.alt: field required",
        "issues/vol-1-1.yaml:7:3: warning: image: image has no credit",
        "issues/vol-1-1.yaml:7:8: error: image.src: 'javascript:alert(1)' must be an http(s) URL "
        "or a path in the workspace",
        "issues/vol-1-1.yaml:10:26: error: items[0].summary: link 'javascript:alert(1)' must "
        "start with http://, https:// or mailto:",
        "issues/vol-1-1.yaml:13:14: error: items[0].links[0].url: link 'ftp://example.org/x' "
        "must start with http://, https:// or mailto:",
    ]


def test_unknown_key_far_from_any_field_lists_the_fields(space):
    space.issue(
        "vol-1-1",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\nzzz: 1\nitems: []\n"
        "articles: [{title: t, body: b}]\n",
    )
    found = [p for p in problems(space) if "error" in p]
    assert found[0].startswith(
        "issues/vol-1-1.yaml:4:1: error: zzz: unknown field 'zzz'; "
        "expected one of: volume, number, date,"
    )


def test_issue_needs_items_or_articles(space):
    space.issue("vol-1-1", "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: p\nitems: []\n")
    assert problems(space) == [
        "issues/vol-1-1.yaml:5:1: error: items: is empty: an issue needs at least one entry "
        "in 'items' or 'articles'"
    ]


def test_headline_must_be_one_line(space):
    space.issue(
        "vol-1-1",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: p\nitems:\n"
        '  - headline: "two\\nlines"\n    summary: s\n',
    )
    assert problems(space) == [
        "issues/vol-1-1.yaml:6:15: error: items[0].headline: must be a single line"
    ]


def test_wrong_shapes_say_what_was_expected(space):
    space.issue(
        "vol-1-1",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\nimage: hero.jpg\nitems:\n  headline: a\n",
    )
    assert problems(space)[1:] == [
        "issues/vol-1-1.yaml:4:8: error: image: expected fields (name: value), got str 'hero.jpg'",
        "issues/vol-1-1.yaml:6:3: error: items: expected a list (lines starting with '- '), "
        "got dict {'headline': 'a'}",
    ]


def test_missing_image_file_and_body_images(space):
    space.issue(
        "vol-1-1",
        """\
        volume: 1
        number: 1
        date: 2024-01-05
        preheader: p
        image: {src: images/none.jpg, alt: A picture, credit: Me}
        articles:
          - title: T
            body: |
              Text.

              ![](../secret.png)

              ![Alt](images/also-none.png "Caption")
        """,
    )
    assert problems(space) == [
        "issues/vol-1-1.yaml:5:14: error: image.src: image file 'images/none.jpg' not found in "
        "the workspace",
        "issues/vol-1-1.yaml:11:11: error: articles[0].body: '../secret.png' must be a path "
        "inside the workspace, e.g. images/hero.jpg",
        "issues/vol-1-1.yaml:13:14: error: articles[0].body: image file 'images/also-none.png' "
        "not found in the workspace",
    ]


def test_same_volume_and_number_in_two_files(space):
    space.issue("vol-1-1-copy")
    _series, _issues, diagnostics = load_workspace(Workspace(space.root))
    assert [str(d) for d in diagnostics if d.is_error] == [
        "issues/vol-1-1.yaml:2:9: error: number: Vol 1.1 is also used by issues/vol-1-1-copy.yaml"
    ]


def test_duplicate_is_found_when_checking_one_file(space):
    space.issue("vol-1-2")
    assert "is also used by issues/vol-1-1.yaml" in problems(space, "vol-1-2")[0]


def test_warnings(space):
    space.issue(
        "vol-1-1",
        """\
        volume: 1
        number: 1
        date: 2024-01-05
        image: {{src: https://example.org/a.jpg, alt: A picture}}
        items:
          - headline: "TODO: headline"
            summary: {}
          - headline: "{}"
            summary: Short.
        """.format("word " * 121, "H" * 121),
    )
    found = problems(space)
    assert found == [
        "issues/vol-1-1.yaml:1:1: warning: no preheader: inboxes will show the first text of "
        "the email instead",
        "issues/vol-1-1.yaml:4:8: warning: image: image has no credit",
        "issues/vol-1-1.yaml:6:16: warning: items[0].headline: placeholder 'TODO' left in the text",
        "issues/vol-1-1.yaml:7:14: warning: items[0].summary: summary is 121 words "
        "(more than 120: limits.summary_words in newsletter.yaml)",
        "issues/vol-1-1.yaml:8:15: warning: items[1].headline: headline is 121 characters "
        "(more than 120: limits.headline_chars)",
    ]


def test_series_errors_are_located(space):
    space.write(
        "newsletter.yaml",
        """\
        name: Test
        publisher: P
        from: {name: T, email: not-an-address}
        address: A
        paper: a5
        brand: {color: blue}
        """,
    )
    _series, _issues, diagnostics = load_workspace(Workspace(space.root))
    found = [without_library_reason(str(d)) for d in diagnostics if d.is_error]
    assert found[:3] == [
        "newsletter.yaml:3:24: error: from.email: 'not-an-address' is not a valid email address: "
        "...",
        "newsletter.yaml:5:8: error: paper: expected one of letter, a4 (e.g. paper: a4); got 'a5'",
        "newsletter.yaml:6:16: error: brand.color: expected a colour as #rgb or #rrggbb, "
        "e.g. #1f4e79; got 'blue'",
    ]


def test_missing_base_url_is_a_warning(space):
    space.write(
        "newsletter.yaml",
        "name: T\npublisher: P\nfrom: {name: T, email: t@example.org}\naddress: A\n",
    )
    _series, _issues, diagnostics = load_workspace(Workspace(space.root))
    assert [d.message.split(":")[0] for d in diagnostics] == ["no base_url"]


def test_require_issue_raises_with_every_problem(space):
    import pytest

    from newsletter.errors import ValidationError

    space.issue("vol-1-1", "volume: 1\nnumber: 1\n")
    with pytest.raises(ValidationError) as caught:
        require_issue(Workspace(space.root), "vol-1-1")
    assert [d.field for d in caught.value.diagnostics if d.is_error] == ["date"]


def test_base_url_must_be_a_plain_http_folder(space):
    from tests.conftest import SERIES

    for bad, why in [
        ("mailto:news@example.org", "must be an http(s) address"),
        ("https://news.example.org/?x=1", "must not have a query"),
        ("https://news.example.org/#top", "must not have a query (?) or fragment"),
    ]:
        space.write("newsletter.yaml", SERIES.replace("https://digest.example.org/", bad))
        _series, _issues, diagnostics = load_workspace(Workspace(space.root))
        [shown] = [str(d) for d in diagnostics if d.is_error]
        assert shown.startswith(f"newsletter.yaml:7:11: error: base_url: '{bad}' "), shown
        assert why in shown


def test_bidi_and_zero_width_characters_in_headlines_and_subjects_are_warned(space):
    space.issue(
        "vol-1-1",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: p\n"
        "subject: Pay \u202eyadot\u202c now\n"
        "items:\n  - headline: In\u200bvisible\n    summary: s\n"
        "  - headline: Family \U0001f468\u200d\U0001f469 news\n    summary: s\n",
    )
    shown = problems(space)
    assert any(
        s.startswith("issues/vol-1-1.yaml:5:14: warning: subject: invisible character U+202E")
        for s in shown
    ), shown
    assert any(
        s.startswith("issues/vol-1-1.yaml:7:17: warning: items[0].headline: invisible character")
        and "ZERO WIDTH SPACE" in s
        for s in shown
    ), shown
    assert not any("items[1].headline" in s for s in shown), shown  # an emoji's joiner is fine
