"""The sample workspace reproduces the seed documents word for word and passes every check."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from newsletter import markup
from newsletter.loader import load_workspace
from newsletter.model import json_schema
from newsletter.scaffold import SCHEMAS
from newsletter.source import read_yaml
from newsletter.workspace import Workspace
from tests.helpers import REPO

SEEDS = REPO / "seeds"


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def sample():
    series, issues, diagnostics = load_workspace(Workspace(REPO))
    return series, {i.slug: i.issue for i in issues}, diagnostics


def test_sample_workspace_has_no_errors(sample):
    _series, issues, diagnostics = sample
    assert [str(d) for d in diagnostics if d.is_error] == []
    assert set(issues) == {"vol-2-10", "vol-3-8"}


def test_digest_matches_seed_word_for_word(sample):
    series, issues, _ = sample
    seed = (SEEDS / "001_edb20d81fa56921f.txt").read_text(encoding="utf-8")
    bullets = [
        line.strip()[1:].strip() for line in seed.splitlines() if line.strip().startswith("•")
    ]
    issue = issues["vol-2-10"]
    assert [item.headline for item in issue.items] == bullets[:5]
    assert [words(item.summary) for item in issue.items] == [words(b) for b in bullets[5:]]
    assert issue.label == "Vol 2.10"
    assert issue.title == "US-Japan Alliance Digest Vol 2.10"
    assert issue.image.credit == "Associated Press" and "Image Source: Associated Press" in seed
    blurb = seed.split("\n\n“US-Japan Alliance Digest”")[1].split("contact")[0]
    assert words("“US-Japan Alliance Digest”" + blurb + "contact") in words(series.footer)
    assert [link.title for link in series.links] == ["Privacy Policy", "Sitemap"]
    assert series.publisher == "Sasakawa USA"


def test_article_matches_seed_word_for_word(sample):
    _series, issues, _ = sample
    seed = (SEEDS / "000_bb16248577f501a7.txt").read_text(encoding="utf-8")
    paragraphs = [words(p) for p in re.split(r"\n\s*\n", seed) if p.strip()]
    (article,) = issues["vol-3-8"].articles
    assert article.category == paragraphs[1]
    assert article.title == paragraphs[2]
    assert words(article.dek) == paragraphs[3]
    assert words(f"{article.image.caption} ({article.image.credit})") == paragraphs[4]
    assert article.author == paragraphs[-1].removeprefix("Author: ")
    blocks = []
    for token in markup.markdown().parse(article.body):
        if token.type == "inline":
            images = [c for c in token.children if c.type == "image"]
            blocks.append(
                words(images[0].attrs["title"]) if images else words(markup.plain(token.content))
            )
    assert blocks == paragraphs[5:-1]


def test_committed_schemas_are_current():
    for name, model in SCHEMAS.items():
        committed = json.loads((REPO / "schemas" / name).read_text(encoding="utf-8"))
        assert committed == json_schema(model), (
            f"regenerate schemas/{name} with `newsletter schema`"
        )


@pytest.mark.parametrize("path", sorted((REPO / "issues").glob("*.yaml")), ids=lambda p: p.stem)
def test_seed_issues_validate_against_json_schema(path):
    schema = json.loads((REPO / "schemas" / "issue.schema.json").read_text(encoding="utf-8"))
    data = json.loads(json.dumps(read_yaml(path, path.name).data, default=str))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        data
    )


def test_series_validates_against_json_schema():
    schema = json.loads((REPO / "schemas" / "series.schema.json").read_text(encoding="utf-8"))
    data = read_yaml(REPO / "newsletter.yaml", "newsletter.yaml").data
    jsonschema.Draft202012Validator(schema).validate(data)


def test_json_schema_rejects_what_the_loader_rejects():
    schema = json.loads((REPO / "schemas" / "issue.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid(
        {
            "volume": 1,
            "number": 1,
            "date": "2024-01-01",
            "titel": "x",
            "items": [{"headline": "h", "summary": "s"}],
        }
    )
    assert not validator.is_valid({"volume": 0, "number": 1, "date": "2024-01-01"})
