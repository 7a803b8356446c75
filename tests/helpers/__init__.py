"""Helpers shared by the tests (importable because pytest puts tests/ on sys.path)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Our messages quote the library's explanation after our own words ("'2024-13-01' is not a
# valid date: month must be in 1..12"); that wording changes between releases (Python 3.14
# rewords datetime's), so tests compare our part and only require that a reason follows.
_LIBRARY_REASON = re.compile(r"(is not a valid (?:date|email address)): \S.*$")


def without_library_reason(message: str) -> str:
    """Return the message with the quoted library explanation replaced by '...'."""
    return _LIBRARY_REASON.sub(r"\1: ...", message)
