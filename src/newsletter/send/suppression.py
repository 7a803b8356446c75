"""The suppression list: addresses that are never mailed (unsubscribes, bounces, complaints).

It lives in the state store next to the ledger (newsletter.state), keyed
case-insensitively, and applies to every issue: planning a send marks listed recipients
suppressed. Every process that opens the same state URL shares it. Each entry says why
(reason), where it came from (source: `one-click` or `link` from `newsletter serve`, a
provider's name from `suppress sync`, `manual` or `import` from the command line), when
(the provider's own time where it has one) and for which list. The first entry of an
address wins: repeating an unsubscribe, or syncing it again, changes nothing.
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

REASONS = ("unsubscribe", "bounce", "complaint", "invalid", "manual")


@dataclass(frozen=True, slots=True)
class Entry:
    """One suppressed address, as `suppress list` shows it."""

    address: str
    reason: str
    source: str
    added: float
    list: str | None


@dataclass
class Added:
    """What adding addresses did: how many were new, and which could not be read."""

    added: int = 0
    known: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (where, why)


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise SendError(f"unknown reason '{reason}' (one of: {', '.join(REASONS)})")


def add(
    store: Store,
    addresses: Iterable[tuple[str, str]],
    reason: str,
    source: str = "manual",
    list_id: str | None = None,
) -> Added:
    """Suppress (where, address) pairs; where names the source for messages (file:line)."""
    _check_reason(reason)
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
                rows.append((email.lower(), email, reason, now, source, list_id))
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


def record(store: Store, email: str, reason: str, source: str, list_id: str | None) -> bool:
    """Suppress one checked address, on disk before returning; return True if it is new."""
    _check_reason(reason)
    row = (email.lower(), email, reason, time.time(), source, list_id)
    return store.suppress([row], durable=True) == 1


def record_many(
    store: Store, found: Iterable[tuple[str, str, float]], source: str
) -> dict[str, int]:
    """Suppress (address, reason, time) triples from a provider; return new ones by reason."""
    by_reason: dict[str, list[tuple]] = {}
    for address, reason, when in found:
        _check_reason(reason)
        email, _ = check_address(address.strip())
        if email is None:  # a provider may hold addresses we would never send to
            continue
        by_reason.setdefault(reason, []).append((email.lower(), email, reason, when, source, None))
    new: dict[str, int] = {}
    store.begin()
    try:
        for reason, rows in by_reason.items():
            added = sum(store.suppress(part) for part in chunks(rows, 1000))
            if added:
                new[reason] = added
        store.commit()
    except BaseException:
        store.rollback()
        raise
    return new


def entries(store: Store) -> Iterator[Entry]:
    """Yield every suppressed address, sorted."""
    for row in store.suppressions():
        yield Entry(*row)
