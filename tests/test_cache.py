"""The load cache: an unchanged file is not validated again, and nothing it says goes stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from newsletter import loader
from newsletter.loader import load_workspace
from newsletter.workspace import Workspace

HERO = "image:\n  src: images/hero.png\n  alt: The hero\n  credit: Someone\n"


@pytest.fixture
def cached(space, tmp_path, monkeypatch):
    """Return the workspace with its load cache in tmp_path, counting real validations."""
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[str] = []
    real = loader.validate

    def counting(source, model):
        calls.append(source.path)
        return real(source, model)

    monkeypatch.setattr(loader, "validate", counting)
    space.calls = calls
    return space


def load(space):
    series, issues, diagnostics = load_workspace(Workspace(space.root))
    return series, issues, [str(d) for d in diagnostics]


def test_unchanged_files_are_not_validated_again_and_give_the_same_result(cached):
    first = load(cached)
    assert cached.calls == ["newsletter.yaml", "issues/vol-1-1.yaml"]
    again = load(cached)
    assert cached.calls == ["newsletter.yaml", "issues/vol-1-1.yaml"]  # no new validation
    assert again == first
    assert again[1][0].issue.title == "Test Digest Vol 1.1"


def test_an_edited_issue_is_validated_again(cached):
    load(cached)
    path = cached.root / "issues/vol-1-1.yaml"
    path.write_text(path.read_text().replace("First headline", "New headline"))
    _series, issues, _ = load(cached)
    assert issues[0].issue.items[0].headline == "New headline"
    assert cached.calls.count("issues/vol-1-1.yaml") == 2
    assert cached.calls.count("newsletter.yaml") == 1


def test_changed_settings_reload_every_issue(cached):
    load(cached)
    config = cached.root / "newsletter.yaml"
    config.write_text(config.read_text().replace("name: Test Digest", "name: Other Digest"))
    _series, issues, _ = load(cached)
    assert issues[0].issue.title == "Other Digest Vol 1.1"


def test_a_removed_image_is_reported_though_the_issue_is_unchanged(cached):
    (cached.root / "images").mkdir()
    (cached.root / "images/hero.png").write_bytes(b"\x89PNG")
    path = cached.root / "issues/vol-1-1.yaml"
    path.write_text(path.read_text() + HERO)
    assert load(cached)[2] == []
    (cached.root / "images/hero.png").unlink()
    _series, issues, diagnostics = load(cached)
    assert issues == []
    assert any("image file 'images/hero.png' not found" in d for d in diagnostics)


def test_files_with_errors_are_never_cached(cached):
    cached.issue("vol-1-2", "volume: 1\nnumber: 2\n")
    first = load(cached)[2]
    assert any("vol-1-2.yaml" in d and "error" in d for d in first)
    assert load(cached)[2] == first
    assert cached.calls.count("issues/vol-1-2.yaml") == 2


def test_a_damaged_cache_is_ignored(cached, tmp_path):
    first = load(cached)
    for entry in (tmp_path / "cache").rglob("*"):
        if entry.is_file():
            entry.write_bytes(entry.read_bytes()[:90] + b"garbage")
    assert load(cached) == first
    assert cached.calls.count("issues/vol-1-1.yaml") == 2


def test_caching_off_validates_every_time(cached, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", "off")
    load(cached)
    load(cached)
    assert cached.calls.count("issues/vol-1-1.yaml") == 2


def test_a_cached_check_reports_the_same_without_loading_models(cached, tmp_path):
    cached.issue(
        "vol-1-2",
        "volume: 1\nnumber: 2\ndate: 2024-01-19\nitems:\n  - headline: TODO\n    summary: s\n",
    )
    probe = (
        "import runpy, sys; sys.argv = ['newsletter', 'check']\n"
        "try:\n    runpy.run_module('newsletter', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "import json; print(json.dumps('pydantic' in sys.modules), file=sys.stderr)"
    )
    env = {**os.environ, "NEWSLETTER_CACHE_DIR": str(tmp_path / "cache")}

    def check() -> tuple[list[str], bool]:
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=cached.root, capture_output=True, text=True, env=env
        )
        *lines, loaded = done.stderr.strip().splitlines()
        return lines, json.loads(loaded)

    first, loaded_first = check()
    again, loaded_again = check()
    assert loaded_first and not loaded_again  # the second check read only the summaries
    assert again == first
    assert any("placeholder 'TODO'" in line for line in again)  # warnings come back too
    clash = cached.issue(
        "vol-1-3",
        "volume: 1\nnumber: 2\ndate: 2024-01-20\nitems:\n  - headline: h\n    summary: s\n",
    )
    check()
    clashing, loaded = check()  # two issues share Vol 1.2: the loader works that out
    assert loaded and any("also used by" in line for line in clashing)
    clash.unlink()
