"""Editors' Markdown: what reaches the reader's HTML, and links that are http(s) or mailto only."""

from __future__ import annotations

import pytest

from newsletter import markup
from newsletter.render.prose import to_html

SCHEMES = "must start with http://, https:// or mailto:"


# -- what reaches the reader's HTML ----------------------------------------------------------


def test_raw_html_and_quotes_in_markdown_reach_the_reader_as_text():
    html = to_html('<script>alert(1)</script> <b onclick="x">hi</b> & "q"')
    assert html == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; &lt;b onclick=&quot;x&quot;&gt;hi&lt;/b&gt;"
        " &amp; &quot;q&quot;</p>"
    )


def test_a_block_of_raw_html_is_text_too():
    assert to_html("<div>\n<script>x</script>\n</div>") == (
        "<p>&lt;div&gt;\n&lt;script&gt;x&lt;/script&gt;\n&lt;/div&gt;</p>"
    )


def test_text_is_not_rewritten_behind_the_editors_back():
    # no typographer (quotes and dashes as typed), no bare addresses turned into links
    assert to_html("It's -- (c) https://example.org", inline=True) == (
        "It's -- (c) https://example.org"
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
    ],
)
def test_a_script_link_never_becomes_a_link_in_the_html(url):
    html = to_html(f"[click]({url})", inline=True)
    assert "<a" not in html and "href" not in html


def test_link_addresses_are_percent_encoded_and_their_merge_fields_kept_for_their_spot():
    html = to_html(
        "[a](https://example.org/?r=%%first_name%%&b=<) [p](https://example.org/%%email%%/ä)",
        inline=True,
    )
    assert html == (
        '<a href="https://example.org/?r=%%first_name__query%%&amp;b=%3C">a</a> '
        '<a href="https://example.org/%%email__path%%/%C3%A4">p</a>'
    )


def test_the_unsubscribe_field_stands_for_a_whole_link():
    assert to_html("[leave](%%unsubscribe_url%%)", inline=True) == (
        '<a href="%%unsubscribe_url%%">leave</a>'
    )


# -- links: http(s) and mailto only, each refusal in words the editor can act on -------------


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.org/a", "https://example.org/a"),
        ("HTTP://EXAMPLE.ORG", "HTTP://EXAMPLE.ORG"),
        ("mailto:editors@example.org", "mailto:editors@example.org"),
        ("MAILTO:editors@example.org", "MAILTO:editors@example.org"),
        ("  https://example.org/a  ", "https://example.org/a"),
        ("https://example.org/?ref=%%first_name%%", "https://example.org/?ref=%%first_name%%"),
        ("https://%%first_name%%.example.org/", "https://%%first_name%%.example.org/"),
        ("https://%%site%%/welcome", "https://%%site%%/welcome"),  # the host from the list
        (" %%unsubscribe_url%% ", "%%unsubscribe_url%%"),
    ],
)
def test_accepted_links_are_kept_as_written(url, kept):
    assert markup.check_url(url) == kept


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert(1)", f"link 'javascript:alert(1)' {SCHEMES}"),
        ("ftp://example.org/file", f"link 'ftp://example.org/file' {SCHEMES}"),
        ("example.org/page", f"link 'example.org/page' {SCHEMES}"),
        ("//example.org/page", f"link '//example.org/page' {SCHEMES}"),
        ("data:text/html,x", f"link 'data:text/html,x' {SCHEMES}"),
        ("http://", "link 'http://' has no host"),
        ("HTTPS:///path", "link 'HTTPS:///path' has no host"),
        ("mailto:", "link 'mailto:' has no address after mailto:"),
        ("Mailto:editors", "link 'Mailto:editors' has no address after mailto:"),
        ("https://example.org/a b", "link 'https://example.org/a b' contains spaces"),
        ("https://example.org/a\tb", "link 'https://example.org/a\tb' contains spaces"),
        (
            "https://example.org/ %%first_name%%",
            "link 'https://example.org/ %%first_name%%' contains spaces",
        ),
        (
            "%%first_name%%",
            "link '%%first_name%%': only %%unsubscribe_url%% can stand for a whole link; put "
            "%%first_name%% inside one, e.g. https://example.org/?ref=%%first_name%%",
        ),
    ],
)
def test_refused_links_name_the_address_and_the_problem(url, message):
    with pytest.raises(markup.TextError) as caught:
        markup.check_url(url)
    assert str(caught.value) == message
    assert caught.value.needle == url  # the loader finds it in the text as written


def test_a_refused_markdown_link_is_named_as_the_editor_wrote_it():
    text = "Fine [a](https://example.org/) then [b](ftp://example.org/?r=%%first_name%%)."
    with pytest.raises(markup.TextError) as caught:
        markup.check_links(text)
    assert str(caught.value) == f"link 'ftp://example.org/?r=%%first_name%%' {SCHEMES}"
    assert caught.value.needle == "ftp://example.org/?r=%%first_name%%"
    with pytest.raises(markup.TextError, match="javascript"):
        markup.check_links("*[x](javascript:alert(1))*", inline=True)


def test_markdown_with_good_links_is_returned_unchanged():
    text = "A [link](https://example.org/?r=%%first_name%%) and [mail](mailto:a@example.org)."
    assert markup.check_links(text) == text
    assert markup.check_links(text, inline=True) == text


def test_links_are_found_everywhere_in_order_even_the_ones_a_reader_never_gets():
    text = (
        "See [a](https://a.example.org) and *[b](mailto:b@example.org)*\n\n"
        "> [c](javascript:x) [d](HTTPS://D.example.org/?r=%%first_name%%)\n"
    )
    assert markup.links(text) == [
        "https://a.example.org",
        "mailto:b@example.org",
        "javascript:x",
        "HTTPS://D.example.org/?r=%%first_name__query%%",
    ]
    assert markup.links("**[a](https://a.example.org)** [b](ftp://b)", inline=True) == [
        "https://a.example.org",
        "ftp://b",
    ]


def test_images_give_their_source_plain_alt_text_and_title():
    text = '![An *alt* text](images/a.png "The caption") and ![](b.png)'
    expected = [("images/a.png", "An alt text", "The caption"), ("b.png", "", "")]
    assert markup.images(text, inline=True) == expected
    assert markup.images(f"# Title\n\n{text}\n") == expected
    assert markup.images("[not an image](https://example.org/a.png)") == []


def test_plain_keeps_the_words_and_drops_the_markup():
    text = "A [link](https://x.org) and `code`\nnext **bold**  \nend"
    assert markup.plain(text) == "A link and code next bold end"


def test_inline_text_is_checked_as_it_is_rendered_inline():
    # Four spaces make a code block of block Markdown, but an inline summary renders the
    # link: it must be checked as one.
    text = "    [a](ftp://example.org/)"
    assert markup.check_links(text) == text
    with pytest.raises(markup.TextError, match=r"ftp://example\.org/"):
        markup.check_links(text, inline=True)
    assert markup.links(text) == [] and markup.links(text, inline=True) == ["ftp://example.org/"]
    assert markup.images("    ![x](a.png)") == []
    assert markup.images("    ![x](a.png)", inline=True) == [("a.png", "x", "")]


def test_reference_links_of_block_text_are_found_and_checked():
    text = "See [the source].\n\n[the source]: ftp://example.org/\n"
    assert markup.links(text) == ["ftp://example.org/"]
    with pytest.raises(markup.TextError, match=r"ftp://example\.org/"):
        markup.check_links(text)


def test_a_script_image_is_seen_by_the_checks_though_a_reader_never_gets_it():
    assert markup.images("![x](javascript:alert(1))") == [("javascript:alert(1)", "x", "")]
    assert "<img" not in to_html("![x](javascript:alert(1))")


def test_a_problem_of_a_whole_issue_is_reported_at_the_field_it_belongs_to():
    from newsletter.loader import validate
    from newsletter.model import Issue
    from newsletter.source import parse_yaml

    source = parse_yaml(b"volume: 1\nnumber: 1\ndate: 2024-01-15\nitems: []\n", "f.yaml")
    validate(source, Issue)
    assert [str(d) for d in source.diagnostics] == [
        "f.yaml:4:1: error: items: is empty: an issue needs at least one entry in 'items' or "
        "'articles'"
    ]
