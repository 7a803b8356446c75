"""Mail headers written by us, from clean values, whatever the Python patch level.

Header values come from the subscriber list (names, merge fields) and the series settings.
The stdlib's `email.headerregistry` parses what it is given: an encoded word in a name
(`=?utf-8?q?Eve=0D=0ABcc:...?=`) is decoded, and on interpreters before 3.11.10 / 3.12.5
(CVE-2024-6923) the generator writes the decoded CR/LF out as new header lines. So nothing
here goes through `email`: each value is cleaned (control characters out, line breaks to a
space), and any word that is not plain ASCII text, or that looks like an encoded word, is
itself written as RFC 2047 encoded words (at most 75 characters each), so that a reader
decodes it back to the literal text. Lines are folded at 78 characters (RFC 5322).
"""

from __future__ import annotations

import base64
import functools
import re
import sys

from newsletter.errors import SendError

# RFC 5322 2.1.1 says 78, RFC 2047 2 says 76 for a line holding encoded words: we fold at 76.
MAX_LINE = 76
MAX_WORD = 75  # RFC 2047 2: an encoded word is at most 75 characters
HARD_LIMIT = 998  # RFC 5322 2.1.1: MUST
CRLF = "\r\n"

# A line break, a tab, or any run of two or more spaces (of any kind) becomes one space, as
# a reader's parser would show it anyway; every other control character is dropped.
_BREAKS = re.compile(r"\s{2,}|[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")
# RFC 5322 atext: what may stand unquoted in a display name.
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
# What RFC 2047 5(3) allows unencoded inside a 'Q' encoded word in a phrase.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTE = [chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in range(256)]
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext
# A dot-atom addr-spec as email-validator leaves it; UTF-8 only for internationalised ones.
_ADDRESS = re.compile(r"[^\s\x00-\x1f\x7f<>()\[\]\\,;:\"@]+@[A-Za-z0-9.-]+")
_URL = re.compile(r"[!-~]+")


class HeaderError(SendError):
    """A value cannot be written into a header (only ever one recipient's problem)."""


def clean(value: str) -> str:
    """Return value on one line: control characters out, line breaks and space runs as one space."""
    return _BREAKS.sub(" ", _CONTROLS.sub("", value)).strip()


def _plain(word: str) -> bool:
    """Return True if word can be written as it is (printable ASCII, no encoded-word look)."""
    return word.isascii() and word.isprintable() and "=?" not in word


def encoded_words(text: str, first: int = MAX_WORD) -> list[str]:
    """Return text as RFC 2047 encoded words in UTF-8, each at most 75 characters.

    first: the room for the first word (it may share its line with the header name).
    Q or B, whichever is shorter; a word never splits a character's bytes.
    """
    data = text.encode("utf-8")
    q_length = sum(len(_Q_BYTE[b]) for b in data)
    b_length = (len(data) + 2) // 3 * 4
    kind = "q" if q_length <= b_length else "b"
    overhead = len("=?utf-8?q??=")
    budget = min(first, MAX_WORD) - overhead
    words, chunk, size = [], [], 0
    for char in text:
        raw = char.encode("utf-8")
        piece = "".join(_Q_BYTE[b] for b in raw) if kind == "q" else raw
        cost = len(piece) if kind == "q" else 0
        if kind == "b":
            size_after = (size + len(raw) + 2) // 3 * 4
            if chunk and size_after > budget:
                words.append(_b_word(chunk))
                chunk, size, budget = [], 0, MAX_WORD - overhead
            chunk.append(raw)
            size += len(raw)
            continue
        if chunk and size + cost > budget:
            words.append(f"=?utf-8?q?{''.join(chunk)}?=")
            chunk, size, budget = [], 0, MAX_WORD - overhead
        chunk.append(piece)
        size += cost
    if chunk:
        words.append(f"=?utf-8?q?{''.join(chunk)}?=" if kind == "q" else _b_word(chunk))
    return words


def _b_word(chunk: list[bytes]) -> str:
    return f"=?utf-8?b?{base64.b64encode(b''.join(chunk)).decode('ascii')}?="


def _text_tokens(text: str, first: int) -> list[str]:
    """Return unstructured text as tokens to join with single spaces (RFC 2047 6.2).

    Runs of words that need encoding are encoded together, the spaces between them inside
    the encoded words: whitespace between two encoded words disappears when decoded.
    """
    tokens: list[str] = []
    run: list[str] = []
    for word in text.split(" "):
        if _plain(word) and len(word) <= HARD_LIMIT - 100:
            if run:
                tokens += encoded_words(" ".join(run), MAX_WORD if tokens else first)
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens += encoded_words(" ".join(run), MAX_WORD if tokens else first)
    return tokens


def phrase(name: str, first: int = MAX_WORD) -> list[str]:
    """Return a display name (RFC 5322 phrase) as tokens: atoms, a quoted string or words."""
    name = clean(name)
    if not name:
        return []
    words = name.split(" ")
    if all(_ATOM.fullmatch(w) and "=?" not in w for w in words):
        return words
    if _plain(name) and len(name) <= MAX_WORD:
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return encoded_words(name, first)


def _room(name: str) -> int:
    """Return the room left on a header's first line after 'Name: '."""
    return MAX_LINE - len(name) - 2


def fold(name: str, tokens: list[str], separator: str = " ") -> str:
    """Return 'Name: tokens' with CRLF, folded before a token where a line would pass 78."""
    if not _HEADER_NAME.fullmatch(name):
        raise HeaderError(f"'{clean(name)}' is not a header name")
    lines, line = [], f"{name}:"
    for index, token in enumerate(tokens):
        glue = " " if index == 0 else separator
        if index and len(line) + len(glue) + len(token) > MAX_LINE:
            lines.append(line + glue.rstrip(" "))
            line = " " + token
        else:
            line += glue + token
    lines.append(line)
    if max(map(len, lines)) > HARD_LIMIT:
        raise HeaderError(f"{name}: a word is longer than a mail header line may be")
    return CRLF.join(lines) + CRLF


def unstructured(name: str, value: str) -> str:
    """Return an unstructured header (Subject, ...) from any text."""
    return fold(name, _text_tokens(clean(value), _room(name)))


@functools.lru_cache(maxsize=4096)
def ascii_domain(domain: str) -> str:
    """Return a domain in its ASCII (IDNA) form, as every mail system can take it."""
    if domain.isascii():
        return domain
    import idna  # email-validator's own dependency: IDNA 2008 with UTS 46 mapping

    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise HeaderError(f"the domain '{clean(domain)}' has no ASCII form: {exc}") from None


def address(addr: str) -> str:
    """Return an addr-spec for a header or the envelope: domain in ASCII, local part kept.

    A non-ASCII local part stays UTF-8 (RFC 6532): only SMTPUTF8 paths can carry it.
    """
    local, _, domain = addr.rpartition("@")
    spec = f"{local}@{ascii_domain(domain)}"
    if not _ADDRESS.fullmatch(spec) or not spec.isprintable():
        raise HeaderError(f"'{clean(addr)}' cannot be written as a mail address")
    return spec


def needs_smtputf8(addr: str) -> bool:
    """Return True for an internationalised address (non-ASCII before the @)."""
    return not addr.rpartition("@")[0].isascii()


def mailbox(name: str, display: str, addr: str) -> str:
    """Return a 'Name <addr>' header (To, From) with the name encoded as needed."""
    spec = address(addr)
    words = phrase(display, _room(name))
    if not words:
        return fold(name, [spec])
    return fold(name, [*words, f"<{spec}>"])


def url_list(name: str, value: str) -> str:
    """Return a header listing <URL>s (List-Unsubscribe): never encoded, folded at commas."""
    # An empty <> (a merge field without a value) is left out rather than written.
    items = [clean(item) for item in value.split(",") if clean(item) not in ("", "<>")]
    for item in items:
        if not (item.startswith("<") and item.endswith(">") and _URL.fullmatch(item[1:-1])):
            raise HeaderError(f"{name}: '{item}' is not a <URL>")
        if "<" in item[1:-1] or ">" in item[1:-1]:
            raise HeaderError(f"{name}: '{item}' is not a <URL>")
    return fold(name, items, separator=", ")


def list_id(name: str, value: str) -> str:
    """Return a List-Id header: 'phrase <id>' (RFC 2919)."""
    label, _, ident = clean(value).rpartition("<")
    ident = ident.rstrip(">")
    if not _URL.fullmatch(ident) or "<" in ident or ">" in ident:
        raise HeaderError(f"{name}: '{clean(value)}' is not 'Name <list.id>'")
    return fold(name, [*phrase(label, _room(name)), f"<{ident}>"])


# Headers whose values hold URLs or addresses: encoding them would break them.
STRUCTURED = {
    "list-id": list_id,
    **{
        f"list-{kind}": url_list  # RFC 2369: each a list of <URL>s
        for kind in ("unsubscribe", "subscribe", "help", "post", "owner", "archive")
    },
}


def header(name: str, value: str) -> str:
    """Return any header, by the rules of its kind."""
    return STRUCTURED.get(name.lower(), unstructured)(name, value)


def has_header_bug(version: tuple[int, int, int] | None = None) -> bool:
    """Return True if this Python's email generator writes decoded CR/LF (CVE-2024-6923)."""
    major, minor, micro = version or sys.version_info[:3]
    fixed = {(3, 8): 20, (3, 9): 20, (3, 10): 15, (3, 11): 10, (3, 12): 5}
    if (major, minor) >= (3, 13):
        return False
    return micro < fixed.get((major, minor), 10**6)
