"""The suppression list: addresses that are never mailed (unsubscribes, bounces, complaints).

It lives in the state store next to the ledger (newsletter.state), keyed
case-insensitively, and applies to every issue: planning a send marks listed recipients
suppressed. Every process that opens the same state URL shares it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.errors import SendError
from newsletter.send.subscribers import check_address, read_rows
from newsletter.state import Store
from newsletter.state.base import chunks

REASONS = ("unsubscribe", "bounce", "complaint", "manual")


@dataclass
class Added:
    """What adding addresses did: how many were new, and which could not be read."""

    added: int = 0
    known: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (where, why)


def add(store: Store, addresses: Iterable[tuple[str, str]], reason: str) -> Added:
    """Suppress (where, address) pairs; where names the source for messages (file:line)."""
    if reason not in REASONS:
        raise SendError(f"unknown reason '{reason}' (one of: {', '.join(REASONS)})")
    result, now = Added(), time.time()
    store.begin()
    try:
        for part in chunks(addresses, 1000):
            rows = []
            for where, address in part:
                email, why = check_address(address.strip())
                if email is None:
                    result.invalid.append((where, f"'{address}': {why}"))
                    continue
                rows.append((email.lower(), email, reason, now))
            new = store.suppress(rows)
            result.added += new
            result.known += len(rows) - new
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return result


def file_addresses(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (file:line, address) from a CSV with an address column or one address a line."""
    from newsletter.errors import display_path

    try:
        with path.open(encoding="utf-8-sig") as handle:
            first = handle.readline()
    except OSError as exc:
        raise SendError(f"cannot read {display_path(path)}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SendError(f"{display_path(path)} is not UTF-8 text ({exc.reason})") from None
    shown = display_path(path)
    if "@" in first:  # no header: a bare list of addresses
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    yield f"{shown}:{number}", line.strip()
        return
    for row in read_rows(path):
        yield f"{shown}:{row.line}", row.address


def entries(store: Store) -> Iterator[tuple[str, str]]:
    """Yield (address, reason) of every suppressed address, sorted."""
    yield from store.suppressions()
