"""Keep the text of `newsletter --help`, so asking again costs no click and no command modules.

click and the command modules take about three times as long to import as Python takes
to start. The text depends only on this tool's code and the terminal's width, so it is
kept under a fingerprint of both in the user's cache folder, and written on first use.
"""

from __future__ import annotations

import os
import sys
import zlib

from newsletter.cache import cache_root, code_version, write_cache_file


def _entry() -> str | None:
    root = cache_root()
    if root is None:
        return None
    # click wraps help to the terminal's width, at most 80 columns (see click.formatting).
    width = min(_columns(), 80)
    return os.path.join(root, "help", f"{zlib.crc32(code_version()):08x}-{width}.txt")


def _columns() -> int:
    """Return the terminal's width as shutil.get_terminal_size does, without importing shutil."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def cached_help() -> str | None:
    """Return the group's help text, from the cache or made and kept now; None if caching is off."""
    entry = _entry()
    if entry is None:
        return None
    try:
        with open(entry, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        pass
    from newsletter.cli.base import cli

    context = cli.make_context("newsletter", [], resilient_parsing=True)
    text = context.get_help() + "\n"
    write_cache_file(entry, text.encode("utf-8"))
    return text
