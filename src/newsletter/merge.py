"""Merge fields (%%first_name%%): the one tokenizer that finds, checks and fills them.

Editors write %%field%% in issues and newsletter.yaml; the rendered message keeps the
tokens, and sending fills them per recipient. Inside a link's address a value must be
URL-encoded for its spot, so rendering rewrites a token there to a spot key:
`https://example.org/p?e=%%email%%` becomes `...?e=%%email__query%%`, whose value is
the address encoded as a query value (`a+b@x` -> `a%2Bb%40x`). A token that is the
whole address (`[unsubscribe](%%unsubscribe_url%%)`) is itself a link and stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import quote

# Case-insensitive on purpose: %%First_Name%% is found, so that the checks can name it.
TOKEN = re.compile(r"%%([A-Za-z][A-Za-z0-9_]*)%%")
BUILTINS = ("email", "name", "first_name", "last_name", "unsubscribe_url")
URL_FIELDS = ("unsubscribe_url",)  # fields whose value is a whole link we made ourselves
SPOTS = ("query", "path")
_SPOT_SUFFIX = re.compile(r"^(.+)__(query|path)$")
_PATH_SAFE = "@+:,;=!$*()~"  # RFC 3986 pchar minus '/', '?', '#', '%' and HTML-special '&'


def token(name: str) -> str:
    """Return the token of a field, e.g. %%unsubscribe_url%%."""
    return f"%%{name}%%"


def tokens(text: str) -> Iterator[tuple[str, int, int]]:
    """Yield (name, start, end) of every token in text."""
    for match in TOKEN.finditer(text):
        yield match.group(1), match.start(), match.end()


def names(text: str) -> set[str]:
    """Return the field names used in text (spot keys reduced to their field)."""
    return {base(name) for name, _, _ in tokens(text)}


def base(key: str) -> str:
    """Return the field of a token key: email__query -> email."""
    match = _SPOT_SUFFIX.match(key)
    return match.group(1) if match else key


def encode(value: str, spot: str) -> str:
    """Return value URL-encoded for a query value or a path segment."""
    return quote(value, safe="" if spot == "query" else _PATH_SAFE)


def lookup(values: Mapping[str, str], key: str) -> str:
    """Return the value of a token key, URL-encoded when the key names a spot in a link."""
    match = _SPOT_SUFFIX.match(key)
    if match and match.group(1) in values:
        return encode(str(values.get(match.group(1)) or ""), match.group(2))
    return str(values.get(key, "") or "")


def fill(template: str, values: Mapping[str, str], escape: Callable[[str], str] | None = None):
    """Replace every token in template by its value (missing fields become empty)."""

    def value(match: re.Match) -> str:
        raw = lookup(values, match.group(1))
        return escape(raw) if escape else raw

    return TOKEN.sub(value, template)


def retoken(template: str, placeholder: Callable[[str], str]) -> str:
    """Rewrite every token by placeholder(key), e.g. into a provider's own syntax."""
    return TOKEN.sub(lambda m: placeholder(m.group(1)), template)


def keys(template: str) -> set[str]:
    """Return the token keys used in a template (spot keys kept)."""
    return {name for name, _, _ in tokens(template)}


def in_url(url: str, normalize: Callable[[str], str] = str) -> str:
    """Return url normalized, each token rewritten to the key of its spot in the address."""
    found = list(tokens(url))
    if not found:
        return normalize(url)
    if len(found) == 1 and found[0][1:] == (0, len(url)):
        return url  # the whole address: the value is a link of its own
    stand_ins = []
    out, last = [], 0
    for index, (name, start, end) in enumerate(found):
        stand_in = f"mergefield{index}x"
        query = any(mark in url[:start] for mark in "?#")
        stand_ins.append((stand_in, token(f"{name}__{'query' if query else 'path'}")))
        out += [url[last:start], stand_in]
        last = end
    out.append(url[last:])
    # Normalize with plain stand-ins: percent-encoding would turn %% into %25%25.
    result = normalize("".join(out))
    for stand_in, key in stand_ins:
        result = result.replace(stand_in, key)
    return result


def as_written(text: str) -> str:
    """Return text with spot keys turned back into the tokens an editor wrote."""
    return TOKEN.sub(lambda m: token(base(m.group(1))), text)


def whole_url_field(url: str) -> str | None:
    """Return the field name if url is nothing but one token, else None."""
    match = TOKEN.fullmatch(url.strip())
    return match.group(1) if match else None


def suggestion(name: str, known: list[str]) -> str:
    """Return "; did you mean 'x'?" for the closest known field, or the list of known ones."""
    import difflib  # only for a misspelled field

    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; known fields: {', '.join(known)}"
