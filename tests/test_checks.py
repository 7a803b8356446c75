"""Checks beyond the schema: every problem of a file at once, merge fields, series limits."""

from __future__ import annotations

from newsletter.loader import load_workspace
from newsletter.workspace import Workspace
from tests.conftest import SERIES
from tests.helpers.cli import run_cli


def found(space, shown: str = "issues/vol-1-1.yaml") -> list[str]:
    _series, _issues, diagnostics = load_workspace(Workspace(space.root))
    return [str(d) for d in diagnostics if d.path == shown]


def test_series_reports_a_missing_field_with_the_others(space):
    space.write(
        "newsletter.yaml",
        "name: T\npublisher: P\nfrom: {name: T, email: t@example.org}\n"
        "base_url: https://x.example.org/\npaper: A5\nbrand:\n  color: blue\n",
    )
    assert found(space, "newsletter.yaml") == [
        "newsletter.yaml:1:1: error: address: field required",
        "newsletter.yaml:5:8: error: paper: expected one of letter, a4 (e.g. paper: a4); got 'A5'",
        "newsletter.yaml:7:10: error: brand.color: expected a colour as #rgb or #rrggbb, "
        "e.g. #1f4e79; got 'blue'",
    ]


def test_issue_reports_schema_unknown_keys_and_missing_images_together(space):
    space.issue(
        "vol-1-1",
        """\
        volume: 1
        date: 2024-01-05
        preheader: p
        colour: red
        image: {src: images/none.jpg, alt: A, credit: C}
        items:
          - headline: a
        """,
    )
    assert found(space) == [
        "issues/vol-1-1.yaml:1:1: error: number: field required",
        "issues/vol-1-1.yaml:4:1: error: colour: unknown field 'colour'; expected one of: "
        "volume, number, date, draft, send_at, title, subject, preheader, image, items, "
        "articles",
        "issues/vol-1-1.yaml:5:14: error: image.src: image file 'images/none.jpg' not found "
        "in the workspace",
        "issues/vol-1-1.yaml:7:5: error: items[0].summary: field required",
    ]


def test_declared_merge_fields_are_known(space):
    space.write("newsletter.yaml", SERIES + "merge_fields:\n  company: your company\n  city:\n")
    space.issue(
        "vol-1-1",
        "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: For %%company%% in %%city%%\n"
        "items:\n  - headline: Hi %%first_name%%\n    summary: From %%comapny%%.\n",
    )
    assert found(space) == [
        "issues/vol-1-1.yaml:7:19: error: items[0].summary: unknown merge field '%%comapny%%'; "
        "did you mean 'company'? (declare your own under merge_fields: in newsletter.yaml)"
    ]


def test_merge_fields_in_newsletter_yaml_are_checked(space):
    space.write("newsletter.yaml", SERIES + "footer: Sent to %%emial%%.\n")
    assert found(space, "newsletter.yaml") == [
        "newsletter.yaml:8:17: error: footer: unknown merge field '%%emial%%'; did you mean "
        "'email'? (declare your own under merge_fields: in newsletter.yaml)"
    ]


def test_warning_limits_are_series_settings(space):
    long = " ".join(["word"] * 30)
    space.issue(
        "vol-1-1",
        f"volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: p\n"
        f"items:\n  - headline: A headline\n    summary: {long}\n",
    )
    assert found(space) == []
    space.write("newsletter.yaml", SERIES + "limits:\n  summary_words: 25\n  headline_chars: 5\n")
    assert found(space) == [
        "issues/vol-1-1.yaml:6:15: warning: items[0].headline: headline is 10 characters "
        "(more than 5: limits.headline_chars)",
        "issues/vol-1-1.yaml:7:14: warning: items[0].summary: summary is 30 words "
        "(more than 25: limits.summary_words in newsletter.yaml)",
    ]


def test_the_sample_passes_check_strict():
    done = run_cli("check", "--strict")
    assert done.returncode == 0, done.stderr
    assert "0 errors, 0 warnings" in done.stderr
