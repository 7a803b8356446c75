"""JSON batch bodies: the message compiled once per issue, filled per recipient, streamed.

A batch of 500 personalised copies of a 30 kB email is 15-25 MB of JSON. Building it as one
string, then bytes, then joining the items held several copies per batch in flight (over
200 MB at four batches) and spent most of the send copying. Here the static text of the
message is JSON-escaped and UTF-8-encoded once (`JsonTemplate`); a batch keeps only each
recipient's few filled-in values (`template.fill`), and its body (`JsonArray`) writes one
item at a time as the request goes out, any number of times (retries), its length known
in advance. The bytes equal dumps() of the personalised messages (the tests hold it to that).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from json.encoder import encode_basestring  # the C encoder: '"..."', non-ASCII kept
from typing import Any

from newsletter.merge import TOKEN, lookup

Escape = Callable[[str], str] | None


def dumps(value: Any) -> str:
    """Return compact JSON (UTF-8 kept as is, as every provider accepts)."""
    if type(value) is str:  # the common case, without building an encoder per call
        return encode_basestring(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class JsonPart:
    """A message part (subject, body, header) split at its tokens, escaped as JSON once."""

    def __init__(self, template: str, escape: Escape = None):
        pieces = TOKEN.split(template)  # static, name, static, name, ..., static
        self.static = [dumps(piece)[1:-1] for piece in pieces[0::2]]
        self.names = pieces[1::2]
        self.escape = escape


class JsonTemplate:
    """JSON text with per-recipient slots: static text as bytes once, slots filled per copy."""

    def __init__(self) -> None:
        self.static: list[bytes] = []  # one more than slots once done()
        self.slots: list[tuple[str, Escape]] = []
        self._text: list[str] = []

    def text(self, literal: str) -> JsonTemplate:
        """Append JSON text as it is."""
        self._text.append(literal)
        return self

    def value(self, key: str) -> JsonTemplate:
        """Append a JSON string holding values[key] as it is."""
        return self.text('"')._slot(key, None).text('"')

    def part(self, part: JsonPart) -> JsonTemplate:
        """Append a JSON string of a message part, its tokens filled (and escaped) per copy."""
        self.text('"' + part.static[0])
        for name, static in zip(part.names, part.static[1:], strict=True):
            self._slot(name, part.escape).text(static)
        return self.text('"')

    def _slot(self, key: str, escape: Escape) -> JsonTemplate:
        self.static.append("".join(self._text).encode())
        self._text = []
        self.slots.append((key, escape))
        return self

    def done(self) -> JsonTemplate:
        """Close the template: no more text or slots."""
        self.static.append("".join(self._text).encode())
        self._text = []
        self.fixed = sum(map(len, self.static))
        return self

    def fill(self, values: Mapping[str, str]) -> list[bytes]:
        """Return one copy's slot values, escaped for their part and as JSON, as UTF-8."""
        filled: list[bytes] = []
        seen: dict[tuple[str, Escape], bytes] = {}
        for slot in self.slots:
            piece = seen.get(slot)
            if piece is None:
                key, escape = slot
                raw = lookup(values, key)
                text = encode_basestring(escape(raw) if escape else raw)
                piece = seen[slot] = text[1:-1].encode()
            filled.append(piece)
        return filled

    def join(self, filled: list[bytes], prefix: bytes = b"") -> bytes:
        """Return one copy's JSON text: the static text with the filled slots in between."""
        parts: list[bytes] = [b""] * (2 * len(filled) + 1)
        parts[0::2] = self.static
        parts[1::2] = filled
        parts[0] = prefix + parts[0]
        return b"".join(parts)

    def size(self, filled: list[bytes]) -> int:
        """Return the length in bytes of one copy's JSON text."""
        return self.fixed + sum(map(len, filled))


class JsonArray:
    """A JSON array of copies of one template: written copy by copy, as often as needed."""

    def __init__(self, template: JsonTemplate, copies: list[list[bytes]]):
        self.template = template
        self.copies = copies
        commas = max(len(copies) - 1, 0)
        self.length = 2 + commas + sum(template.size(filled) for filled in copies)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        # One chunk per copy: one write each, and never the whole batch in memory at once.
        join, prefix = self.template.join, b"["
        for filled in self.copies:
            yield join(filled, prefix)
            prefix = b","
        yield b"[]" if not self.copies else b"]"

    def __bytes__(self) -> bytes:
        return b"".join(self)
