# ruff: noqa: E501  (a golden table: each input and message reads best on one line)
"""The editor's walk-through: each of 28 common mistakes gets one message at its own place.

A golden table, `input -> expected message at line:col`. Each input is a whole small
file (an issue, or lines added to newsletter.yaml); the file must produce exactly the
expected error or warning and no other error.
"""

from __future__ import annotations

import pytest

from newsletter.loader import load_workspace
from newsletter.workspace import Workspace
from tests.conftest import SERIES
from tests.helpers import without_library_reason

VALID_ISSUE = (
    "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: p\n"
    "items:\n  - headline: a\n    summary: b\n"
)

WALK_THROUGH = [
    (
        "misspelt required summary",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: First\n    sumary: The first summary.\n",
        "7:5: error: items[0].sumary: unknown field 'sumary'; did you mean 'summary'? (summary is required)",
    ),
    (
        "misspelt required volume",
        "issue",
        "volumne: 1\nnumber: 1\ndate: 2024-01-05\npreheader: p\nitems:\n  - headline: First headline\n    summary: The first summary.\n",
        "1:1: error: volumne: unknown field 'volumne'; did you mean 'volume'? (volume is required)",
    ),
    (
        "misspelt required headline",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headlne: First\n    summary: The first summary.\n",
        "6:5: error: items[0].headlne: unknown field 'headlne'; did you mean 'headline'? (headline is required)",
    ),
    (
        "misspelt required title",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\narticles:\n  - titel: A long read\n    body: Text.\n",
        "6:5: error: articles[0].titel: unknown field 'titel'; did you mean 'title'? (title is required)",
    ),
    (
        "misspelt optional key",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheadr: p\nitems:\n  - headline: First headline\n    summary: The first summary.\n",
        "4:1: error: preheadr: unknown field 'preheadr'; did you mean 'preheader'?",
    ),
    (
        "empty items",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems: []\n",
        "5:1: error: items: is empty: an issue needs at least one entry in 'items' or 'articles'",
    ),
    (
        "date in another form",
        "issue",
        "volume: 1\nnumber: 1\ndate: 13/12/2026\npreheader: p\nitems:\n  - headline: First headline\n    summary: The first summary.\n",
        "3:7: error: date: expected YYYY-MM-DD, e.g. 2024-06-01; got '13/12/2026'",
    ),
    (
        "impossible date",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-13-01\npreheader: p\nitems:\n  - headline: First headline\n    summary: The first summary.\n",
        "3:7: error: date: expected YYYY-MM-DD, e.g. 2024-06-01; got '2024-13-01' (month must be in 1..12)",
    ),
    (
        "number in words",
        "issue",
        "volume: 1\nnumber: two\ndate: 2024-01-05\npreheader: p\nitems:\n  - headline: First headline\n    summary: The first summary.\n",
        "2:9: error: number: expected a whole number, got str 'two'",
    ),
    (
        "colour by name",
        "series",
        "brand:\n  color: blue\n",
        "9:10: error: brand.color: expected a colour as #rgb or #rrggbb, e.g. #1f4e79; got 'blue'",
    ),
    (
        "paper size not offered",
        "series",
        "paper: A5\n",
        "8:8: error: paper: expected one of letter, a4 (e.g. paper: a4); got 'A5'",
    ),
    (
        "language as a word",
        "series",
        "language: english\n",
        "8:11: error: language: expected a language code, e.g. en or pt-BR; got 'english'",
    ),
    (
        "indentation mismatch",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: First\n     summary: The first summary.\n",
        "7:6: error: indented by 5 spaces, but the field above it by 4 spaces; fields of the same block must line up (indent with spaces to the same column)",
    ),
    (
        "unquoted colon in a value",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: Note: a short issue\nitems:\n  - headline: First headline\n    summary: The first summary.\n",
        "4:16: error: the value of 'preheader' contains ': '; put the whole value in quotes, e.g. preheader: \"Note: ...\"",
    ),
    (
        "unclosed quote",
        "issue",
        'volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: "A short issue\nitems:\n  - headline: First headline\n    summary: The first summary.\n',
        '4:12: error: the quote opened here is never closed; end the value with the same quote (") or remove the quote',
    ),
    (
        "missing dash before a list entry",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: First headline\n    summary: The first summary.\n  headline: Second\n    summary: Two.\n",
        "8:3: error: a new list entry needs '- ' in front: write '- headline: Second' (or indent the line under the entry above)",
    ),
    (
        "tab in indentation",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n\t- headline: First\n    summary: The first summary.\n",
        "6:1: error: tab character in indentation: YAML indents with spaces only; replace the tab with spaces",
    ),
    (
        "bad link in a folded block",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: First\n    summary: >-\n      A first line of the summary,\n      a second line, and then\n      a [bad link](javascript:alert(1)) on the third.\n",
        "10:20: error: items[0].summary: link 'javascript:alert(1)' must start with http://, https:// or mailto:",
    ),
    (
        "bad link in a literal body",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\narticles:\n  - title: A long read\n    body: |\n      ## Heading\n\n      Text with a [link](ftp://example.org/file).\n",
        "10:26: error: articles[0].body: link 'ftp://example.org/file' must start with http://, https:// or mailto:",
    ),
    (
        "link without a host",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: First\n    summary: See [this](https:///nowhere).\n",
        "7:25: error: items[0].summary: link 'https:///nowhere' has no host",
    ),
    (
        "links: entry not a web address",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: First headline\n    summary: The first summary.\n    links:\n      - title: Source\n        url: example.org/source\n",
        "10:14: error: items[0].links[0].url: link 'example.org/source' must start with http://, https:// or mailto:",
    ),
    (
        "unknown merge field",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: Hi %%frist_name%%, the news.\nitems:\n  - headline: First headline\n    summary: The first summary.\n",
        "4:15: error: preheader: unknown merge field '%%frist_name%%'; did you mean 'first_name'? (declare your own under merge_fields: in newsletter.yaml)",
    ),
    (
        "unknown merge field in a block",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: First\n    summary: |\n      Dear reader,\n      your %%compnay%% news.\n",
        "9:12: error: items[0].summary: unknown merge field '%%compnay%%'; known fields: email, name, first_name, last_name, unsubscribe_url (declare your own under merge_fields: in newsletter.yaml)",
    ),
    (
        "TODO left in a block",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: First\n    summary: >-\n      The first summary,\n      TODO: add the figures.\n",
        "9:7: warning: items[0].summary: placeholder 'TODO' left in the text",
    ),
    (
        "missing hero image",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nimage:\n  src: images/hero.jpg\n  alt: The summit\n  credit: Agency\nitems:\n  - headline: First headline\n    summary: The first summary.\n",
        "6:8: error: image.src: image file 'images/hero.jpg' not found in the workspace",
    ),
    (
        "missing body image",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\narticles:\n  - title: A long read\n    body: |\n      Text.\n\n      ![The summit](images/summit.jpg)\n",
        "10:21: error: articles[0].body: image file 'images/summit.jpg' not found in the workspace",
    ),
    (
        "image without alt text",
        "issue",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\narticles:\n  - title: A long read\n    body: |\n      Text.\n\n      ![](https://example.org/a.jpg)\n",
        "10:11: warning: articles[0].body: image 'https://example.org/a.jpg' has no alt text",
    ),
    (
        "headline on two lines",
        "issue",
        'volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A short test issue.\nitems:\n  - headline: "First\\nline"\n    summary: The first summary.\n',
        "6:15: error: items[0].headline: must be a single line",
    ),
]


@pytest.mark.parametrize(
    "kind,text,expected", [row[1:] for row in WALK_THROUGH], ids=[row[0] for row in WALK_THROUGH]
)
def test_each_mistake_gets_its_message_at_its_place(space, kind, text, expected):
    space.write("newsletter.yaml", SERIES + (text if kind == "series" else ""))
    space.issue("vol-1-1", text if kind == "issue" else VALID_ISSUE)
    _series, _issues, diagnostics = load_workspace(Workspace(space.root))
    shown = "newsletter.yaml" if kind == "series" else "issues/vol-1-1.yaml"
    # The library's explanation after our words (a datetime reason) is compared as "...".
    found = [
        without_library_reason(str(d).removeprefix(f"{shown}:"))
        for d in diagnostics
        if d.path == shown
    ]
    expected = without_library_reason(expected)
    assert expected in found
    errors = [f for f in found if ": error: " in f]
    assert errors == ([expected] if ": error: " in expected else [])


def test_the_walk_through_has_25_mistakes_or_more():
    assert len(WALK_THROUGH) >= 25
