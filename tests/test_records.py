"""Records: cached files read back without pydantic hold what the models held."""

from __future__ import annotations

import io
import pickle

import pydantic
import pytest

from newsletter.cache import cached_load
from newsletter.loader import load_workspace
from newsletter.records import NotPlainData, Record, load_records, record_class
from newsletter.workspace import Workspace

WARNED = """\
volume: 1
number: 2
date: 2024-01-19
items:
  - headline: A headline
    summary: TODO a summary.
    links:
      - title: Source
        url: https://example.org/s
"""


@pytest.fixture
def cache(space, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path / "cache"))
    space.issue("vol-1-2", WARNED)
    return Workspace(space.root)


def _values(record) -> object:
    """Return a model's or a record's values as plain data, nested."""
    if isinstance(record, list):
        return [_values(item) for item in record]
    if isinstance(record, dict):
        return {key: _values(value) for key, value in record.items()}
    if hasattr(record, "__dict__") and not isinstance(record, type):
        return {key: _values(value) for key, value in vars(record).items() if key != "source"}
    return record


def test_records_hold_the_models_values_and_the_same_diagnostics(cache):
    assert cached_load(cache) is None  # nothing cached yet
    series, issues, diagnostics = load_workspace(cache)
    again = cached_load(cache)
    assert again is not None
    r_series, r_issues, r_diagnostics = again
    assert type(r_series).__name__ == "Series" and isinstance(r_series, Record)
    assert _values(r_series) == _values(series)
    assert [_values(i.issue) for i in r_issues] == [_values(i.issue) for i in issues]
    assert [i.issue.label for i in r_issues] == ["Vol 1.1", "Vol 1.2"]
    assert r_issues[1].issue.items[0].links[0].url == "https://example.org/s"
    assert [str(d) for d in r_diagnostics] == [str(d) for d in diagnostics]
    brand = r_series.brand  # printed (by a template) as the model prints
    assert (str(brand), repr(brand)) == (str(series.brand), repr(series.brand))
    assert type(brand).__module__ == type(series.brand).__module__
    assert any("TODO" in str(d) for d in r_diagnostics)  # warnings are kept
    one = cached_load(cache, [cache.issue_path("vol-1-2")])
    assert [i.slug for i in one[1]] == ["vol-1-2"]
    assert [str(d) for d in one[2]] == [str(d) for d in load_workspace(cache, one_path(cache))[2]]


def one_path(workspace):
    return [workspace.issue_path("vol-1-2")]


def test_anything_changed_or_unusual_loads_the_usual_way(cache, space):
    load_workspace(cache)
    assert cached_load(cache) is not None
    twice = [cache.issue_path("vol-1-2"), cache.issue_path("vol-1-2")]
    assert cached_load(cache, twice) is None  # the loader says what that means
    outside = space.write("elsewhere/vol-9-9.yaml", WARNED.replace("number: 2", "number: 9"))
    assert cached_load(cache, [outside]) is None
    space.issue("vol-1-2", WARNED.replace("A headline", "Another headline"))
    assert cached_load(cache) is None  # edited since it was cached
    load_workspace(cache)
    space.issue("vol-1-3", WARNED)  # the same volume and number as vol-1-2
    assert cached_load(cache) is None


def test_records_are_frozen_equal_by_value_and_refuse_pydantic():
    issue = record_class("Issue")
    a, b = issue.__new__(issue), issue.__new__(issue)
    for record in (a, b):
        record.__setstate__({"__dict__": {"volume": 2, "number": 10}})
    assert a == b and hash(a) == hash(b) and a.label == "Vol 2.10"
    assert a != record_class("Link").__new__(record_class("Link"))
    with pytest.raises(AttributeError):
        a.volume = 3
    with pytest.raises(NotPlainData):
        load_records(io.BytesIO(pickle.dumps(pydantic.BaseModel)))  # only pydantic rebuilds it
