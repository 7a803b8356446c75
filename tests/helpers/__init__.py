"""Helpers shared by the tests (importable because pytest puts tests/ on sys.path)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Our messages quote the library's explanation after our own words ("expected YYYY-MM-DD, ...;
# got '2024-13-01' (month must be in 1..12)", "'x' is not a valid email address: An email
# address must have an @-sign."); that wording changes between releases (Python 3.14
# rewords datetime's), so tests compare our part and only require that a reason follows.
_LIBRARY_REASONS = [
    (re.compile(r"(; got '[^']*') \(\S.*\)$"), r"\1 (...)"),
    (re.compile(r"(is not a valid [\w ]+): \S.*$"), r"\1: ..."),
]


def without_library_reason(message: str) -> str:
    """Return the message with the quoted library explanation replaced by '...'."""
    for pattern, replacement in _LIBRARY_REASONS:
        message = pattern.sub(replacement, message)
    return message
