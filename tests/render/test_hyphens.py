"""The hyphenation dictionary parsed once per user: the same breaks, from the cache or not."""

from __future__ import annotations

import pytest

pyphen = pytest.importorskip("pyphen")  # a dependency of WeasyPrint: always installed

from newsletter.render.hyphens import load_dictionary  # noqa: E402

WORDS = ["hyphenation", "transpacific", "interoperability", "Bundesverfassungsgericht"]


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """Give each test an empty pyphen cache and a cache folder of its own."""
    monkeypatch.setattr(pyphen, "hdcache", {})
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def breaks(lang: str) -> list[str]:
    return [pyphen.Pyphen(lang=lang).inserted(word) for word in WORDS]


@pytest.mark.parametrize("lang", ["en", "de", "ja-JP-x-unknown"])
def test_cached_dictionary_breaks_words_as_a_freshly_parsed_one(fresh, monkeypatch, lang):
    parsed = breaks(lang) if pyphen.language_fallback(lang) else None
    monkeypatch.setattr(pyphen, "hdcache", {})
    assert load_dictionary(lang) is (parsed is not None)
    if parsed is None:
        assert not fresh.exists()  # no dictionary for the language: nothing to keep
        return
    stored = list(fresh.rglob("*.pickle"))
    assert len(stored) == 1
    monkeypatch.setattr(pyphen, "hdcache", {})

    def no_parsing(*args, **kwargs):
        raise AssertionError("the dictionary was parsed again")

    monkeypatch.setattr(pyphen.HyphDict, "__init__", no_parsing)  # the second load must not
    assert load_dictionary(lang) is True
    assert breaks(lang) == parsed


def test_a_damaged_cache_file_is_parsed_again_and_replaced(fresh, monkeypatch):
    load_dictionary("en")
    parsed = breaks("en")
    (stored,) = fresh.rglob("*.pickle")
    stored.write_bytes(b"not a pickle")
    monkeypatch.setattr(pyphen, "hdcache", {})
    assert load_dictionary("en") is True
    assert breaks("en") == parsed
    assert stored.read_bytes() != b"not a pickle"


def test_caching_off_writes_nothing(fresh, monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_dictionary("en") is True
    assert breaks("en")[0].count("-") >= 2  # hyphenated: the dictionary is loaded
    assert not (tmp_path / "xdg").exists() and not fresh.exists()
