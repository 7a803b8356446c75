"""Read a subscriber list (CSV) row by row: sniffed delimiter, BOM, header aliases.

The list is streamed, never loaded whole: `read_rows` yields one `Row` per record with
the line it starts on, and `check_address` validates one address (email-validator,
no DNS). Detecting duplicates needs memory that grows with the list, so it is left to
the caller (the ledger does it on disk).
"""

from __future__ import annotations

import csv
import functools
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.errors import Diagnostic, SendError, display_path

# Mailchimp exports "Email Address", "First Name", "Last Name"; others say "e-mail".
ALIASES = {
    "email": "email",
    "e_mail": "email",
    "email_address": "email",
    "e_mail_address": "email",
    "name": "name",
    "full_name": "name",
    "first_name": "first_name",
    "firstname": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
}
SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Recipient:
    """One subscriber to mail: normalised address, name and merge fields."""

    email: str
    line: int = 0
    values: dict[str, str] = field(default_factory=dict)  # every merge field, email included

    @property
    def name(self) -> str:
        return self.values.get("name", "")

    @property
    def key(self) -> str:
        """Return the ledger key: duplicates are found case-insensitively."""
        return self.email.lower()


@dataclass(frozen=True, slots=True)
class Row:
    """One record of the list, as read: raw address and merge fields.

    A malformed record (a quote left open, more fields than the header) carries its
    problem and is never mailed: its fields cannot be trusted to be what they say.
    """

    line: int
    address: str
    values: dict[str, str]
    problem: str = ""


def field_name(header: str) -> str:
    """Return the merge-field name of a column header: 'First Name' -> first_name."""
    name = re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")
    name = ALIASES.get(name, name)
    if name and not name[0].isalpha():
        name = f"f_{name}"
    return name


def _delimiter(header_line: str) -> str:
    # csv.Sniffer guesses wrong on short lists and quoted commas; the header decides.
    return ";" if header_line.count(";") > header_line.count(",") else ","


def read_rows(path: Path) -> Iterator[Row]:
    """Yield each record of a subscriber CSV with the line it starts on.

    A quote left open would make the csv module read every later line into one field
    (and mail those addresses to the row's recipient, in its name). Such a record is
    cut back to its own line, yielded with its problem, and the lines it swallowed are
    read again as rows of their own.
    """
    shown = display_path(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise SendError(f"cannot read the subscriber list {shown}: {exc.strerror}") from None
    with handle:
        try:
            sample = handle.read(SAMPLE_BYTES)
        except UnicodeDecodeError as exc:
            raise SendError(f"{shown} is not UTF-8 text ({exc.reason})") from None
        handle.seek(0)
        lines = _Lines(handle)
        delimiter = _delimiter(sample.split("\n", 1)[0])
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = next(reader, None)
            if not header:
                raise SendError(f"{shown} is empty: it needs a header row with an email column")
            names = [field_name(h) for h in header]
            if "email" not in names:
                raise SendError(
                    "no email column",
                    [
                        Diagnostic(
                            shown,
                            1,
                            1,
                            "no address column: name one 'email', 'e-mail' or 'Email Address' "
                            f"(found: {', '.join(h.strip() for h in header)})",
                        )
                    ],
                )
            address_at, width = names.index("email"), len(names)
            while True:
                lines.taken.clear()
                record = next(reader, None)
                if record is None:
                    return
                line = lines.taken[0][0]
                if not any(cell.strip() for cell in record):
                    continue
                address = record[address_at].strip() if address_at < len(record) else ""
                # Most records are one line of at most the header's fields: nothing to look at.
                if len(lines.taken) > 1 or len(record) > width:
                    problem = _malformed(record, lines, delimiter, width, address_at)
                    if problem:
                        yield Row(line, address, {}, problem)
                        continue
                values = {
                    name: cell.strip()
                    for name, cell in zip(names, record, strict=False)
                    if name and name != "email"
                }
                yield Row(line, address, values)
        except UnicodeDecodeError as exc:
            raise SendError(f"{shown} is not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise SendError(f"{shown}:{lines.number}: unreadable CSV: {exc}") from None


class _Lines:
    """The file's lines, numbered, for the csv reader; lines given back are read again."""

    def __init__(self, handle):
        self.handle = handle
        self.number = 0
        self.again: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []  # the lines of the record being read

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.again:
            item = self.again.popleft()
        else:
            text = next(self.handle)
            self.number += 1
            item = (self.number, text)
        self.taken.append(item)
        return item[1]


_ADDRESS_LIKE = re.compile(r"[^@\s\",;<>]+@[^@\s\",;<>]+\.[^@\s\",;<>]+")


def _malformed(record: list[str], lines: _Lines, delimiter: str, width: int, at: int) -> str:
    """Return why a record cannot be trusted, giving back lines a quote left open swallowed."""
    taken = list(lines.taken)
    opened = f"a quote opened on line {taken[0][0]} is never closed"
    # Fields holding a line break came from quotes, legitimately or from one left open.
    multiline = [cell for cell in record if "\n" in cell or "\r" in cell]
    for index, (_number, text) in enumerate(taken[1:] if multiline else [], start=1):
        cells = next(csv.reader([text], delimiter=delimiter), [])
        address = cells[at].strip() if at < len(cells) else ""
        if _ADDRESS_LIKE.fullmatch(address) and any(address in cell for cell in multiline):
            # A later row's address inside a quoted field: the quote swallowed it.
            lines.again.extendleft(reversed(taken[index:]))
            return f"{opened} (it runs into line {taken[index][0]})"
    # An odd count of quotes: the last was never closed and ran to the end of the file.
    if multiline and sum(text.count('"') for _, text in taken) % 2:
        return f"{opened} (it runs to the end of the file)"
    extra = [cell for cell in record[width:] if cell.strip()]
    if extra:
        return (
            f"{len(record)} fields, the header has {width}: a comma in an unquoted value? "
            "put double quotes around it"
        )
    return ""


def check_address(address: str) -> tuple[str | None, str]:
    """Return (normalised address, '') or (None, why it is invalid); no DNS lookups."""
    if not address:
        return None, "no address"
    # Most addresses are plain ASCII: a strict pattern for the local part and the domain's
    # verdict from email-validator, cached, give its answer at a tenth of the cost (the
    # domain check dominates). Anything else, and every refusal, is email-validator's own.
    local, _, domain = address.rpartition("@")
    if (
        len(address) <= 254
        and len(local) <= 64
        and _PLAIN_LOCAL.fullmatch(local)
        and _PLAIN_DOMAIN.fullmatch(domain)
        and local.lower() not in _mailbox_names()
    ):
        normalized = _plain_domain(domain)
        if normalized is not None:
            return f"{local}@{normalized}", ""
    return _validate(address)


_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@functools.cache
def _mailbox_names() -> frozenset[str]:
    """Return the local parts email-validator lower-cases (postmaster, abuse, ...)."""
    from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

    return frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


@functools.lru_cache(maxsize=1024)
def _plain_domain(domain: str) -> str | None:
    """Return the domain as email-validator normalises it, if that only lower-cases it."""
    email, _ = _validate(f"a@{domain}")
    normalized = email.partition("@")[2] if email else None
    return normalized if normalized == domain.lower() else None


def _validate(address: str) -> tuple[str | None, str]:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address, check_deliverability=False).normalized, ""
    except EmailNotValidError as exc:
        return None, str(exc)


def recipient(row: Row, email: str) -> Recipient:
    """Return the recipient of a valid row, filling name and first/last name from each other."""
    values = dict(row.values)
    first, last = values.get("first_name", ""), values.get("last_name", "")
    if not values.get("name"):
        values["name"] = " ".join(p for p in (first, last) if p)
    elif not first:
        values["first_name"] = values["name"].split()[0]
    values.setdefault("first_name", "")
    values.setdefault("last_name", "")
    values["email"] = email
    return Recipient(email=email, line=row.line, values=values)
