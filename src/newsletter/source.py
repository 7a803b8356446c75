"""Read YAML safely into plain data, remembering where every value stands.

PyYAML's own constructors are unsafe in two ways for a tool that reads files
people edit by hand: they keep the last of two duplicate keys without a word,
and they expand aliases without limit ("billion laughs"). So we compose the
node graph ourselves and build plain dicts, lists and scalars from it, with a
budget on values and depth, a whitelist of tags, and the line and column of
every key and value, so that later stages can point at the exact spot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import Diagnostic, Severity

if TYPE_CHECKING:
    import yaml

    from newsletter.model import Issue

MAX_BYTES = 1024 * 1024  # an issue is a few KB; a megabyte is a mistake, not a newsletter
MAX_VALUES = 100_000  # bounds alias expansion: a billion-laughs file stops here
MAX_DEPTH = 64

YamlPath = tuple[str | int, ...]

_STANDARD = "tag:yaml.org,2002:"
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # all but tab, LF, CR
_SCALAR_TAGS = {_STANDARD + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


@dataclass(frozen=True)
class LoadedIssue:
    """An issue model with the file it came from and the positions of its values.

    Defined here, free of pydantic, so that a cached one unpickles without it (records.py).
    """

    slug: str
    path: Path
    issue: Issue
    source: Source


@dataclass
class Source:
    """Plain data read from a YAML file, with positions and problems found on the way."""

    path: str
    data: Any = None
    values: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    reported: set[YamlPath] = field(default_factory=set)  # paths with an error already
    text: str = ""  # the file's text, to point inside multi-line values
    spans: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)  # text offsets

    def locate(self, path: YamlPath, needle: str, nth: int = 0) -> tuple[int, int]:
        """Return the line and column of the nth needle inside the value at path.

        Block (|, >) and multi-line scalars are folded or unindented when read, so the
        needle is looked up in the file's own text of the value; a needle that is not
        found there (written with escapes) falls back to the value's start.
        """
        span = self.spans.get(path)
        if span is None or not needle:
            return self.position(path)
        start, end = span
        at = start - 1
        for _ in range(nth + 1):
            at = self.text.find(needle, at + 1, end)
            if at < 0:
                return self.position(path)
        before = self.text[:at]
        return before.count("\n") + 1, at - (before.rfind("\n") + 1) + 1

    def error_at(self, path: YamlPath, needle: str, message: str, nth: int = 0) -> None:
        """Record an error at the nth needle inside the value at path."""
        self.reported.add(path)
        self.diagnostics.append(self.diagnostic_at(path, needle, message, nth))

    def diagnostic_at(
        self,
        path: YamlPath,
        needle: str,
        message: str,
        nth: int = 0,
        severity: Severity = Severity.ERROR,
    ) -> Diagnostic:
        """Return a diagnostic at the nth needle inside the value at path."""
        line, column = self.locate(path, needle, nth)
        return Diagnostic(self.path, line, column, message, format_path(path), severity)

    def position(self, path: YamlPath, *, key: bool = False) -> tuple[int, int]:
        """Return the line and column of the value (or key) at path, or of its nearest parent."""
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            prefix = path[:cut]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)

    def error(self, path: YamlPath, message: str, *, key: bool = False) -> None:
        """Record an error located at path."""
        line, column = self.position(path, key=key)
        self.reported.add(path)
        self.diagnostics.append(Diagnostic(self.path, line, column, message, format_path(path)))

    def already_reported(self, path: YamlPath) -> bool:
        """Return True if an error was recorded at path or one of its parents."""
        return any(path[:cut] in self.reported for cut in range(len(path) + 1))

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def format_path(path: YamlPath) -> str:
    """Format ('items', 2, 'summary') as items[2].summary."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Abort(Exception):
    """Stop building: the document is unsafe to read further."""


def read_yaml(path: Path, display: str) -> Source:
    """Read the YAML file at path; display is the name used in messages."""
    source = Source(display)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        source.diagnostics.append(Diagnostic(display, 1, 1, f"cannot read file: {exc.strerror}"))
        return source
    if len(raw) > MAX_BYTES:
        source.diagnostics.append(
            Diagnostic(
                display,
                1,
                1,
                f"file is larger than {MAX_BYTES // 1024} KiB; an issue file should be a few KB",
            )
        )
        return source
    return parse_yaml(raw, display)


def parse_yaml(raw: bytes, display: str) -> Source:
    """Parse YAML bytes into a Source."""
    source = Source(display)
    text = _decode(raw, source)
    if text is None or not _no_tab_indentation(text, source):
        return source
    # Imported here: a file whose load is cached (see cache.py) needs no parser.
    import yaml

    try:
        loader = _loader_class()(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        from newsletter.slips import syntax_diagnostic  # imports yaml: only once it is loaded

        source.diagnostics.append(syntax_diagnostic(exc, text, display))
        return source
    except yaml.reader.ReaderError as exc:
        line, column = _line_col(text, exc.position)
        # the error holds the character's code (7): show the character as Python writes it
        source.diagnostics.append(
            Diagnostic(
                display, line, column, f"character {chr(exc.character)!a} is not allowed in YAML"
            )
        )
        return source
    except RecursionError:
        source.diagnostics.append(Diagnostic(display, 1, 1, "YAML nesting is too deep"))
        return source
    if node is None:
        source.diagnostics.append(Diagnostic(display, 1, 1, "file is empty: expected fields"))
        return source
    source.text = text
    builder = _Builder(source, loader)
    try:
        source.data = builder.build(node, (), 0, frozenset())
    except _Abort:
        source.data = None
    return source


def _decode(raw: bytes, source: Source) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        source.diagnostics.append(
            Diagnostic(
                source.path,
                line,
                column,
                f"byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8",
            )
        )
        return None


def _no_tab_indentation(text: str, source: Source) -> bool:
    """Report every line indented with a tab; YAML allows only spaces there."""
    clean = True
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            source.diagnostics.append(
                Diagnostic(
                    source.path,
                    number,
                    indent.index("\t") + 1,
                    "tab character in indentation: YAML indents with spaces only; "
                    "replace the tab with spaces",
                )
            )
            clean = False
    return clean


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


@lru_cache(maxsize=1)
def _loader_class() -> type:
    """Return a safe loader used only to scan, parse, compose and construct scalars."""
    import yaml

    # libyaml parses several times faster than PyYAML's pure-Python scanner and gives the
    # same nodes and marks; PyYAML built without it still works, only slower.
    return type("_Loader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})


class _Builder:
    """Turn a composed node graph into plain data within budgets."""

    def __init__(self, source: Source, loader: yaml.BaseLoader):
        import yaml

        self.yaml = yaml
        self.source = source
        self.loader = loader
        self.count = 0

    def fail(self, node: yaml.Node, path: YamlPath, message: str) -> None:
        mark = node.start_mark
        self.source.reported.add(path)
        self.source.diagnostics.append(
            Diagnostic(self.source.path, mark.line + 1, mark.column + 1, message, format_path(path))
        )

    def build(self, node: yaml.Node, path: YamlPath, depth: int, open_nodes: frozenset) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            self.fail(
                node, path, f"document expands to more than {MAX_VALUES} values (too many aliases?)"
            )
            raise _Abort
        if depth > MAX_DEPTH:
            self.fail(node, path, f"nesting deeper than {MAX_DEPTH} levels")
            raise _Abort
        if id(node) in open_nodes:
            self.fail(node, path, "alias refers to itself")
            raise _Abort
        self.source.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, self.yaml.MappingNode):
            return self.build_mapping(node, path, depth, open_nodes | {id(node)})
        if isinstance(node, self.yaml.SequenceNode):
            if node.tag != _STANDARD + "seq":
                self.fail(node, path, f"tag {_short(node.tag)} is not allowed")
                return None
            inner = open_nodes | {id(node)}
            return [
                self.build(item, (*path, i), depth + 1, inner) for i, item in enumerate(node.value)
            ]
        return self.build_scalar(node, path)

    def build_mapping(self, node, path, depth, open_nodes) -> dict | None:
        if node.tag != _STANDARD + "map":
            self.fail(node, path, f"tag {_short(node.tag)} is not allowed")
            return None
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _STANDARD + "merge":
                self.fail(key_node, path, "merge keys (<<) are not supported; write the fields out")
                continue
            if not isinstance(key_node, self.yaml.ScalarNode) or key_node.tag != _STANDARD + "str":
                self.fail(key_node, path, "keys must be plain words, e.g. 'title'")
                continue
            key = key_node.value
            child = (*path, key)
            if key in first_seen:
                self.fail(
                    key_node,
                    child,
                    f"duplicate key '{key}' (first given on line "
                    f"{first_seen[key]}); remove one of them",
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            self.source.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, child, depth + 1, open_nodes)
        return result

    def build_scalar(self, node: yaml.ScalarNode, path: YamlPath) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.fail(
                node,
                path,
                f"tag {_short(node.tag)} is not allowed; only plain YAML values are read",
            )
            return None
        self.source.spans[path] = (node.start_mark.index, node.end_mark.index)
        try:
            value = self.loader.construct_object(node)
        except (ValueError, OverflowError, self.yaml.constructor.ConstructorError) as exc:
            kind = node.tag.removeprefix(_STANDARD)
            if kind == "timestamp":
                self.fail(
                    node, path, f"expected YYYY-MM-DD, e.g. 2024-06-01; got '{node.value}' ({exc})"
                )
            else:
                self.fail(node, path, f"'{node.value}' is not a valid {kind}: {exc}")
            return None
        if isinstance(value, str) and (found := CONTROL.search(value)):
            # YAML refuses these characters raw but makes them from escapes ("\e", "\a"):
            # no text needs them, and HTML, MJML and PDF break on them later, unlocated.
            self.fail(node, path, f"control character {found.group()!a} is not allowed in text")
            return None
        return value


def _short(tag: str) -> str:
    return "!!" + tag.removeprefix(_STANDARD) if tag.startswith(_STANDARD) else tag
