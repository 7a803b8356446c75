"""Inlining with premailer: its parsed CSS kept between runs changes nothing in the email."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from newsletter.render import inline
from newsletter.render.inline import CssMemo, Deferred

HTML = (
    "<!doctype html><html><head><style>@media (max-width:400px){p{color:red!important}}</style>"
    '</head><body><p class="x" style="margin:0">A <a href="#">link</a></p><h2>Title</h2>'
    "</body></html>"
)
CSS = ".x { color: #123456; mso-line-height-rule: exactly } a { color: blue !important } h2 {}"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path / "cache"))
    inline._LOADED.clear()  # what this process read before came from another folder
    yield tmp_path / "cache" / "css"
    inline._LOADED.clear()


def _fresh_process_inline(cache_dir: str, cwd) -> str:
    """Inline CSS in a new interpreter (no memo in memory); return the HTML."""
    code = (
        "import sys; from newsletter.render.inline import inline_css;"
        f"sys.stdout.write(inline_css({HTML!r}, {CSS!r}));"
        "sys.stderr.write(str('cssutils' in sys.modules))"
    )
    env = {"NEWSLETTER_CACHE_DIR": cache_dir, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=cwd
    )
    return done.stdout + "|cssutils loaded: " + done.stderr


def test_the_memo_gives_the_same_email_and_spares_cssutils(tmp_path):
    cache = str(tmp_path / "cache")
    off = _fresh_process_inline("off", tmp_path)
    first = _fresh_process_inline(cache, tmp_path)
    second = _fresh_process_inline(cache, tmp_path)
    html, _, loaded = off.rpartition("|")
    assert loaded == "cssutils loaded: True"
    assert first == off  # computing and storing the memo changes nothing either
    assert second == f"{html}|cssutils loaded: False"
    assert 'style="color:#123456; mso-line-height-rule:exactly; margin:0"' in html
    assert "color:blue !important" in html
    assert "@media (max-width:400px)" in html  # MJML's own <style> blocks are left alone
    assert not (tmp_path / "off").exists()


def test_caching_off_writes_no_memo(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", "off")
    monkeypatch.chdir(tmp_path)
    assert "color:#123456" in inline.inline_css(HTML, CSS)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_or_stale_memo_is_computed_again(tmp_path):
    cache = tmp_path / "cache"
    good = _fresh_process_inline(str(cache), tmp_path)
    [entry] = (cache / "css").iterdir()
    for damage in (b"garbage", entry.read_bytes()[:60], b""):
        entry.write_bytes(damage)
        assert _fresh_process_inline(str(cache), tmp_path) == good
        assert entry.read_bytes().startswith(inline.MEMO_FORMAT)  # rewritten whole


def test_each_stylesheet_has_its_own_entry(cache):
    inline.inline_css(HTML, CSS)
    inline.inline_css(HTML, CSS.replace("#123456", "#654321"))
    assert len(list(cache.iterdir())) == 2


def test_rules_are_parsed_once_and_media_rules_never_kept(cache):
    calls = []

    def parse(css, index):
        calls.append(css)
        return [((0, 0, 1, 0, index, 0), ".x", "color:red")], [("a:hover", "color:blue")]

    memo = CssMemo(str(cache), "css")
    first = memo.rules("css", 0, parse)
    memo.save()
    inline._LOADED.clear()
    again = CssMemo(str(cache), "css").rules("css", 0, parse)
    assert first == again and calls == ["css"]

    media = object()  # a cssutils rule object: not data, so not kept
    memo = CssMemo(str(cache), "other")
    assert memo.rules("other", 0, lambda css, index: ([], [media])) == ([], [media])
    assert not memo.changed


def test_premailers_memo_is_seeded_and_harvested(cache):
    from premailer.cache import cache as premailer_memo
    from premailer.merge_style import csstext_to_pairs

    memo = CssMemo(str(cache), "css")
    with memo.pairs():
        pairs = csstext_to_pairs("color: red; margin: 0", validate=False)
    assert memo.changed
    assert pairs in memo.entries["pairs"].values()
    memo.save()
    premailer_memo.clear()
    inline._LOADED.clear()
    with CssMemo(str(cache), "css").pairs():
        key = csstext_to_pairs.cache_key("color: red; margin: 0", validate=False)
        assert premailer_memo[key] == pairs


def test_a_deferred_module_loads_and_prepares_on_first_use(monkeypatch):
    prepared = []
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    with inline.deferred(colorsys=prepared.append):
        import colorsys
    assert isinstance(colorsys, Deferred) and "colorsys" not in sys.modules
    assert prepared == []
    assert colorsys.rgb_to_hsv(1, 0, 0) == (0, 1, 1)
    assert [type(m) for m in prepared] == [types.ModuleType]
    assert sys.modules["colorsys"] is prepared[0]
