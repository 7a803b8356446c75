"""Load pyphen's hyphenation dictionary from a parsed copy kept in the user's cache.

WeasyPrint hyphenates with pyphen, which parses the language's .dic file (4,900
patterns for English) in Python on first use: 60-70 ms of every first PDF, a tenth of a
cold `render --format pdf`. The parsed dictionary is pickled once into the user's cache
folder (cache.py: never the workspace), keyed by pyphen's version and the file's path,
size and time, and loaded from there in 6 ms. It is the object pyphen itself would
build, put where pyphen (and so WeasyPrint) looks for it first.
"""

from __future__ import annotations

import hashlib
import pickle
from contextlib import suppress
from pathlib import Path

from newsletter.cache import cache_root, write_cache_file


def _cache_file(pyphen, path: Path) -> Path | None:
    root = cache_root()
    if root is None:
        return None
    info = path.stat()
    version = getattr(pyphen, "__version__", "")
    key = f"{version}\n{path.resolve()}\n{info.st_size}\n{info.st_mtime_ns}"
    return Path(root, "hyphens", f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pickle")


def load_dictionary(lang: str) -> bool:
    """Put lang's parsed hyphenation dictionary into pyphen's cache; False if pyphen has none."""
    import pyphen

    found = pyphen.language_fallback(lang) if lang else None
    if not found:
        return False
    path = Path(pyphen.LANGUAGES[found])
    if path in pyphen.hdcache:
        return True
    try:
        cached = _cache_file(pyphen, path)
    except OSError:
        cached = None
    if cached is not None:
        with suppress(Exception):  # missing or damaged: parse the dictionary instead
            loaded = pickle.loads(cached.read_bytes())
            if isinstance(loaded, pyphen.HyphDict):
                pyphen.hdcache[path] = loaded
                return True
    parsed = pyphen.hdcache[path] = pyphen.HyphDict(path)
    if cached is not None:
        write_cache_file(cached, pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL))
    return True
