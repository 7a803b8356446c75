"""The safe YAML reader: every hostile or broken file gets a located message, never a crash."""

from __future__ import annotations

import re
import time

import pytest

from newsletter.source import MAX_BYTES, format_path, parse_yaml, read_yaml
from tests.helpers import without_library_reason
from tests.helpers.cli import run_cli
from tests.helpers.workspace import make_workspace


def messages(raw: bytes) -> list[str]:
    return [str(d) for d in parse_yaml(raw, "f.yaml").diagnostics]


def test_plain_values_and_positions():
    source = parse_yaml(b"a: 1\nb:\n  - x: yes\n    y: 2024-01-02\n", "f.yaml")
    assert source.ok
    assert source.data == {"a": 1, "b": [{"x": True, "y": __import__("datetime").date(2024, 1, 2)}]}
    assert source.values[("b", 0, "y")] == (4, 8)
    assert source.keys[("b", 0, "y")] == (4, 5)


def test_duplicate_keys_are_errors_with_both_lines():
    found = messages(b"title: one\nvolume: 1\ntitle: two\n")
    assert found == [
        "f.yaml:3:1: error: title: duplicate key 'title' (first given on line 1); "
        "remove one of them"
    ]


def test_every_duplicate_is_reported():
    found = messages(b"a: 1\na: 2\nb:\n  c: 1\n  c: 2\n")
    assert [m.split(": error")[0] for m in found] == ["f.yaml:2:1", "f.yaml:5:3"]


def test_tab_indentation_names_the_tab():
    assert messages(b"items:\n\t- a\n") == [
        "f.yaml:2:1: error: tab character in indentation: YAML indents with spaces only; "
        "replace the tab with spaces"
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"a: !!python/object/apply:os.system ['echo hi']\n",
        b"a: !!python/name:os.system\n",
        b"!!python/object:__main__.X {a: 1}\n",
        b"a: !custom 1\n",
        b"a: !!binary aGVsbG8=\n",
    ],
)
def test_non_plain_tags_are_refused(raw):
    found = messages(raw)
    assert found and "is not allowed" in found[0]


def test_python_tag_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    raw = f"a: !!python/object/apply:os.system ['touch {marker}']\n".encode()
    parse_yaml(raw, "f.yaml")
    assert not marker.exists()


def test_alias_bomb_stops_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    started = time.perf_counter()
    found = messages("\n".join(lines).encode())
    assert time.perf_counter() - started < 5
    assert len(found) == 1 and "expands to more than" in found[0]


def test_recursive_alias_is_refused():
    found = messages(b"a: &x [1, *x]\n")
    assert found and "refers to itself" in found[0]


def test_merge_keys_are_refused():
    found = messages(b"base: &b {x: 1}\nother:\n  <<: *b\n")
    assert found == [
        "f.yaml:3:3: error: other: merge keys (<<) are not supported; write the fields out"
    ]


@pytest.mark.parametrize("depth", [100, 5000])
def test_deep_nesting_is_refused(tmp_path, depth):
    """One located error and exit 1, whichever part words it (our reader or PyYAML's parser)."""
    raw = b"a: " + b"[" * depth + b"]" * depth + b"\n"
    [diagnostic] = parse_yaml(raw, "f.yaml").diagnostics
    assert diagnostic.is_error and diagnostic.line == 1 and 1 <= diagnostic.column <= len(raw)
    root = make_workspace(tmp_path / "ws", files={"issues/vol-1-2.yaml": raw})
    result = run_cli("check", "issues/vol-1-2.yaml", cwd=root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and re.match(r"issues/vol-1-2\.yaml:1:\d+: error: \S", errors[0])


def test_non_utf8_byte_is_located():
    assert messages(b"title: caf" + b"\xe9\n") == [
        "f.yaml:1:11: error: byte 0xe9 is not UTF-8; save the file as UTF-8"
    ]


def test_utf8_bom_is_accepted():
    source = parse_yaml(b"\xef\xbb\xbftitle: x\n", "f.yaml")
    assert source.ok and source.data == {"title": "x"}


@pytest.mark.parametrize("raw", [b"", b"\n\n", b"# only a comment\n"])
def test_empty_file(raw):
    assert messages(raw) == ["f.yaml:1:1: error: file is empty: expected fields"]


def test_syntax_error_is_located():
    found = messages(b"a: 1\nb: [1, 2\nc: 3\n")
    assert len(found) == 1 and found[0].startswith("f.yaml:") and "YAML syntax" in found[0]


def test_impossible_date():
    assert [without_library_reason(m) for m in messages(b"date: 2024-02-30\n")] == [
        "f.yaml:1:7: error: date: expected YYYY-MM-DD, e.g. 2024-06-01; got '2024-02-30' (...)"
    ]


def test_control_character_is_located():
    found = messages(b"a: 1\nb: x\x07y\n")
    assert found and found[0].startswith("f.yaml:2:5: error:")


def test_two_documents_are_refused():
    found = messages(b"a: 1\n---\nb: 2\n")
    assert found and "YAML syntax" in found[0]


def test_large_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (MAX_BYTES + 10) + b"\n")
    found = [str(d) for d in read_yaml(path, "big.yaml").diagnostics]
    assert found == [
        "big.yaml:1:1: error: file is larger than 1024 KiB; an issue file should be a few KB"
    ]


def test_unreadable_file(tmp_path):
    found = read_yaml(tmp_path / "missing.yaml", "missing.yaml").diagnostics
    assert found and found[0].message.startswith("cannot read file")


def test_non_string_keys_are_refused():
    found = messages(b"1: a\n")
    assert found == ["f.yaml:1:1: error: keys must be plain words, e.g. 'title'"]


def test_format_path():
    assert format_path(("items", 2, "summary")) == "items[2].summary"
    assert format_path(()) == ""


@pytest.mark.parametrize("depth", [65, 100, 500])
def test_nesting_past_our_limit_but_within_the_parsers_is_ours_to_refuse(depth):
    # libyaml refuses nesting from about 1,000 levels on with its own words; between our
    # limit (64) and that, only our check stands between the editor and a deep structure.
    found = messages(b"a: " + b"[" * depth + b"]" * depth + b"\n")
    assert len(found) == 1
    assert found[0].startswith("f.yaml:1:") and ": error: " in found[0]
    assert "64 levels" in found[0]


def test_nesting_at_our_limit_is_accepted():
    source = parse_yaml(b"a: " + b"[" * 64 + b"]" * 64 + b"\n", "f.yaml")
    assert source.ok, [str(d) for d in source.diagnostics]


@pytest.mark.parametrize("escape", ["\\e", "\\a", "\\v", "\\f", "\\0", "\\x7f", "\\x85"])
def test_escaped_control_characters_are_located_errors(escape):
    raw = f'title: ok\nsubject: "Hello {escape} world"\n'.encode()
    [message] = messages(raw)
    assert message.startswith("f.yaml:2:10: error: subject: control character ")


def test_tab_and_line_breaks_written_as_escapes_are_text():
    assert messages(b'a: "one\\ttwo\\nthree\\r"\n') == []
