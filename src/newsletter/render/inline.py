"""Inline the email's CSS into style attributes with premailer, its parsed CSS kept between runs.

premailer parses CSS with cssutils: importing cssutils costs about a quarter of a
`newsletter render` (it compiles many regular expressions and imports urllib.request,
http.client and ssl to fetch stylesheets we never fetch), and parsing the template's
rules the first time in a process about a tenth. Both of premailer's uses of cssutils
are pure functions of their text: the rules parsed from a stylesheet, and a
declaration list split into (property, value) pairs. Their results are kept in the
user's cache folder under a fingerprint of the CSS, of premailer's, cssutils' and this
tool's code; on the next run premailer finds them in its own memo, and cssutils is
imported only when something is missing. The output is the same either way: a cache
entry holds exactly what premailer computed, and deleting the folder only costs time.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import types
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_STYLE_TAG = re.compile(r"<style\b")
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>\s*", re.I)
MEMO_FORMAT = b"newsletter-css-memo 1\n"
MAX_PAIRS = 64  # premailer's own memo holds 128 entries: seed half, leave room for the rest
_LOADED: dict[str, dict] = {}  # memo file -> its entries, so a long process reads each once


class Deferred(types.ModuleType):
    """Stand in for a module until one of its attributes is read, then import it for real.

    Unlike importlib.util.LazyLoader it runs prepare(module) once the module is loaded:
    cssutils must be quieted before it parses anything. Two threads racing here both
    import (the import system makes that one module) and both prepare: it is idempotent.
    """

    def __init__(self, name: str, prepare: Callable[[types.ModuleType], None] | None = None):
        super().__init__(name)
        self.__dict__["_prepare"] = prepare
        self.__dict__["_module"] = None

    def __getattr__(self, attribute: str) -> Any:
        module = self.__dict__["_module"]
        if module is None:
            module = self._load()
        return getattr(module, attribute)

    def _load(self) -> types.ModuleType:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        module = importlib.import_module(self.__name__)
        prepare = self.__dict__["_prepare"]
        if prepare is not None:
            prepare(module)
        self.__dict__["_module"] = module
        return module


@contextlib.contextmanager
def deferred(**modules: Callable[[types.ModuleType], None] | None) -> Iterator[None]:
    """Let what is imported inside the block bind stand-ins for modules not yet imported."""
    placed = []
    for name, prepare in modules.items():
        if name not in sys.modules:
            sys.modules[name] = Deferred(name, prepare)
            placed.append(name)
    try:
        yield
    finally:
        for name in placed:  # later importers get the real module, loaded on their import
            if isinstance(sys.modules.get(name), Deferred):
                del sys.modules[name]


def _quiet_cssutils(cssutils: types.ModuleType) -> None:
    import logging

    # cssutils logs every vendor property (mso-*, -webkit-*) as an error; the
    # email needs them, so the log is noise.
    cssutils.log.setLevel(logging.CRITICAL)
    cssutils.ser.prefs.useMinified()  # inlined declarations without spaces: smaller email


def import_premailer():
    """Import premailer's Premailer class, with cssutils and requests imported on first use.

    premailer imports requests only to fetch external stylesheets, which we never allow
    (allow_network=False), and cssutils only to parse CSS, which a warm memo answers.
    """
    if "premailer.premailer" not in sys.modules:
        with deferred(cssutils=_quiet_cssutils, requests=None):
            import premailer.premailer  # noqa: F401
    from premailer import Premailer

    return Premailer


@lru_cache(maxsize=1)
def _memoized_premailer() -> type:
    """Return a Premailer whose parsed stylesheets come from a CssMemo when it has them."""
    Premailer = import_premailer()

    class MemoPremailer(Premailer):
        memo: CssMemo | None = None

        def _parse_style_rules(self, css_body, ruleset_index):
            parse = super()._parse_style_rules
            if self.memo is None:
                return parse(css_body, ruleset_index)
            return self.memo.rules(css_body, ruleset_index, parse)

    return MemoPremailer


@lru_cache(maxsize=1)
def _versions() -> bytes:
    """Describe the code whose results the memo keeps: premailer's, cssutils' and ours.

    By their files' sizes and times, as cache.code_version does ours: importlib.metadata
    would cost more than the memo saves, and reading cssutils.__version__ imports it.
    """
    from importlib.machinery import PathFinder

    from newsletter.cache import code_version

    parts = [code_version()]
    for name in ("premailer", "cssutils", "cachetools"):
        spec = PathFinder.find_spec(name)
        origin = spec.origin if spec is not None else None
        info = os.stat(origin) if origin else None
        parts.append(f"{origin}:{info.st_size}:{info.st_mtime_ns}".encode() if info else b"-")
    return b"\n".join(parts)


class CssMemo:
    """What premailer computed with cssutils for one stylesheet, read from and kept on disk."""

    def __init__(self, folder: str, css: str):
        import hashlib

        digest = hashlib.sha256(_versions() + b"\0" + css.encode()).hexdigest()
        self.path = os.path.join(folder, digest[:32])
        self.key = MEMO_FORMAT + digest.encode() + b"\n"
        self.changed = False
        if self.path not in _LOADED:
            _LOADED[self.path] = self._read() or {"rules": {}, "pairs": {}}
        self.entries = _LOADED[self.path]

    def _read(self) -> dict | None:
        import pickle

        try:
            with open(self.path, "rb") as handle:
                if handle.read(len(self.key)) != self.key:
                    return None
                entries = pickle.load(handle)
        except Exception:  # missing, stale or damaged: premailer computes it again
            return None
        return entries if isinstance(entries, dict) and set(entries) == {"rules", "pairs"} else None

    def rules(self, css: str, index: int, parse: Callable[[str, int], tuple]) -> tuple:
        """Return premailer's (rules, leftover) of a stylesheet, parsing it only if unknown."""
        found = self.entries["rules"].get((css, index))
        if found is None:
            found = parse(css, index)
            # @media rules stay cssutils objects: such a stylesheet is parsed every time
            if not all(isinstance(item, tuple) for item in found[1]):
                return found
            self.entries["rules"][(css, index)] = found
            self.changed = True
        rules, leftover = found
        return list(rules), list(leftover)

    @contextlib.contextmanager
    def pairs(self) -> Iterator[None]:
        """Put the known declaration splits into premailer's memo; keep the new ones after."""
        from premailer.cache import cache

        known = self.entries["pairs"]
        for key, value in known.items():
            if key not in cache:
                with contextlib.suppress(ValueError):  # PREMAILER_CACHE_MAXSIZE=0: no memo
                    cache[key] = value
        yield
        current = {key: value for key, value in list(cache.items()) if _is_pairs(value)}
        if current.keys() - known.keys():
            self.changed = True
            known.update(current)
            if len(known) > MAX_PAIRS:  # keep what this run used (or premailer still holds)
                self.entries["pairs"] = dict(list(current.items())[-MAX_PAIRS:])

    def save(self) -> None:
        """Write the entries if this run added any (readers see the old file or the new)."""
        import pickle

        from newsletter.cache import write_cache_file

        if not self.changed:
            return
        data = pickle.dumps(self.entries, protocol=pickle.HIGHEST_PROTOCOL)
        write_cache_file(self.path, self.key, data, mode=0o700)
        self.changed = False


def _is_pairs(value: object) -> bool:
    """Return True for csstext_to_pairs' result: a list of (name, value) strings."""
    return isinstance(value, list) and all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair)
        for pair in value
    )


def _memo_folder() -> str | None:
    from newsletter.cache import cache_root

    root = cache_root()
    return os.path.join(root, "css") if root is not None else None


def inline_css(html: str, css: str) -> str:
    """Inline css into the HTML's style attributes, leaving its own <style> blocks as they are."""
    if not css.strip():
        return html
    folder = _memo_folder()
    memo = CssMemo(folder, css) if folder is not None else None
    marked = _STYLE_TAG.sub('<style data-premailer="ignore"', html)
    premailer = _memoized_premailer()(
        css_text=css,
        keep_style_tags=False,
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
        allow_network=False,
        allow_loading_external_files=False,
        disable_link_rewrites=True,
        # width/height/align/bgcolor attributes copied from CSS would be invalid
        # on the div and p elements they land on; MJML already sets the ones Outlook needs.
        disable_basic_attributes=["align", "valign", "bgcolor", "width", "height"],
        align_floating_images=False,
    )
    premailer.memo = memo
    # premailer drops a lowercase doctype (it compares it with lxml's uppercase one),
    # and leaves its marker on the <style> blocks it skips (media-specific, Outlook-only).
    with memo.pairs() if memo is not None else contextlib.nullcontext():
        body = premailer.transform(_DOCTYPE.sub("", marked, count=1))
    if memo is not None:
        memo.save()
    return "<!doctype html>\n" + body.replace(' data-premailer="ignore"', "")
