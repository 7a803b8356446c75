"""The safe YAML reader: every hostile or broken file gets a located message, never a crash."""

from __future__ import annotations

import os
import re
import threading
import time

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.errors import Severity
from newsletter.loader import validate
from newsletter.model import Issue
from newsletter.source import MAX_BYTES, MAX_VALUES, format_path, parse_yaml, read_yaml
from tests.helpers import without_library_reason
from tests.helpers.workspace import ISSUE, make_workspace


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
    source = parse_yaml("\n".join(lines).encode(), "f.yaml")
    # The file stands for 9**9 values; the budget stops it at MAX_VALUES. The work done is
    # pinned by the values read, not the clock (mutmut's call tracing makes it 10x slower);
    # the generous time bound is only there for a budget that stopped bounding.
    assert time.perf_counter() - started < 60
    assert len(source.values) <= MAX_VALUES
    assert [str(d) for d in source.diagnostics] == [
        # value number MAX_VALUES + 1, depth first (an alias is located at its anchor)
        f"f.yaml:1:14: error: f[0][3][3][7][2][1]: document expands to more than {MAX_VALUES} "
        "values (too many aliases?)"
    ]


def test_recursive_alias_is_refused():
    found = messages(b"a: &x [1, *x]\n")
    assert found and "refers to itself" in found[0]


def test_merge_keys_are_refused():
    found = messages(b"base: &b {x: 1}\nother:\n  <<: *b\n")
    assert found == [
        "f.yaml:3:3: error: other: merge keys (<<) are not supported; write the fields out"
    ]


@pytest.mark.parametrize("depth", [100, 5000])
def test_deep_nesting_is_refused(tmp_path, monkeypatch, depth):
    """One located error and exit 1, whichever part words it (our reader or PyYAML's parser)."""
    raw = b"a: " + b"[" * depth + b"]" * depth + b"\n"
    [diagnostic] = parse_yaml(raw, "f.yaml").diagnostics
    assert diagnostic.is_error and diagnostic.line == 1 and 1 <= diagnostic.column <= len(raw)
    root = make_workspace(tmp_path / "ws", files={"issues/vol-1-2.yaml": raw})
    # In-process: `make mutation` runs this test against mutated code, which a child
    # process started in the workspace cannot load.
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["check", "issues/vol-1-2.yaml"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr
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


# -- positions: what the editor's file:line:col points at ----------------------------------

BLOCK = b"""\
# the summary's second link is the bad one
title: two
summary: |
  one two
  three two
tags: [x, y]
"""


def test_a_needle_is_located_on_its_own_line_inside_a_block_value():
    source = parse_yaml(BLOCK, "f.yaml")
    assert source.locate(("summary",), "two") == (4, 7)
    assert source.locate(("summary",), "two", nth=1) == (5, 9)
    # the key `title: two` above is outside the value: never found there
    assert source.locate(("summary",), "one") == (4, 3)


def test_a_needle_is_looked_up_from_the_first_character_of_the_value_and_no_earlier():
    source = parse_yaml(b"a: 1\npair: ab ab\nrow: xxx\n", "f.yaml")
    assert source.locate(("pair",), "ab") == (2, 7)
    assert source.locate(("pair",), "ab", nth=1) == (2, 10)
    assert source.locate(("row",), "xx", nth=1) == (3, 7)  # overlapping: the next character
    assert source.locate(("pair",), " ab") == (2, 9)  # the space before the value is not in it


def test_a_needle_not_in_the_value_falls_back_to_the_value_start():
    source = parse_yaml(BLOCK, "f.yaml")
    assert source.locate(("summary",), "two", nth=2) == (3, 10)  # only two of them
    assert source.locate(("summary",), "tags") == (3, 10)  # after the value's end
    assert source.locate(("summary",), "") == (3, 10)
    assert source.locate(("tags",), "x") == (6, 7)  # a list has no text of its own
    assert source.locate(("tags", 1), "y") == (6, 11)


def test_error_at_reports_the_needle_with_the_field_and_marks_it_reported():
    source = parse_yaml(BLOCK, "f.yaml")
    source.error_at(("summary",), "two", "bad two", nth=1)
    assert [str(d) for d in source.diagnostics] == ["f.yaml:5:9: error: summary: bad two"]
    assert source.already_reported(("summary",)) and not source.ok


def test_diagnostic_at_carries_its_severity_and_records_nothing():
    source = parse_yaml(BLOCK, "f.yaml")
    found = source.diagnostic_at(("summary",), "three", "a warning", severity=Severity.WARNING)
    assert str(found) == "f.yaml:5:3: warning: summary: a warning"
    assert str(source.diagnostic_at(("title",), "two", "x")) == "f.yaml:2:8: error: title: x"
    assert source.diagnostics == [] and source.reported == set()


def test_position_of_a_value_a_key_and_the_nearest_parent():
    source = parse_yaml(b"# a comment first\na: 1\nb:\n  - x: yes\n    y: 2\n", "f.yaml")
    assert source.position(("b", 0, "y")) == (5, 8)
    assert source.position(("b", 0, "y"), key=True) == (5, 5)
    assert source.position(("b", 0, "missing")) == (4, 5)  # the mapping that lacks it
    assert source.position(("b", 0, "missing"), key=True) == (4, 5)
    assert source.position(("b", 0), key=True) == (4, 5)  # a list item has no key
    assert source.position(("nothing", "here")) == (2, 1)  # the document
    assert parse_yaml(b"a: [", "f.yaml").position(("a",)) == (1, 1)  # nothing read


def test_error_is_located_at_the_value_or_the_key_with_its_field():
    source = parse_yaml(b"a: 1\nb:\n  c:   2\n", "f.yaml")
    source.error(("b", "c"), "at the value")
    source.error(("b", "c"), "at the key", key=True)
    assert [str(d) for d in source.diagnostics] == [
        "f.yaml:3:8: error: b.c: at the value",
        "f.yaml:3:3: error: b.c: at the key",
    ]


def test_already_reported_covers_the_path_and_what_is_inside_it():
    source = parse_yaml(b"a: 1\n", "f.yaml")
    source.error(("b", 0), "x")
    assert source.already_reported(("b", 0)) and source.already_reported(("b", 0, "c"))
    assert not source.already_reported(("b",)) and not source.already_reported(("b", 1))
    assert not source.already_reported(())


def test_errors_from_the_reader_are_not_reported_again_by_the_model():
    raw = ISSUE.replace("number: 1", "number: !!binary aGVsbG8=").encode()
    source = parse_yaml(raw, "f.yaml")
    validate(source, Issue)
    assert [str(d) for d in source.diagnostics] == [
        "f.yaml:2:9: error: number: tag !!binary is not allowed; only plain YAML values are read"
    ]


def test_a_bad_link_in_a_block_summary_is_located_on_its_line():
    raw = ISSUE.replace(
        "    summary: One paragraph with a [link](https://example.org/a).\n",
        "    summary: |\n      A [good](https://example.org/a) link\n"
        "      and a [bad one](javascript:alert(1)) below it.\n",
    ).encode()
    source = parse_yaml(raw, "f.yaml")
    validate(source, Issue)
    assert [str(d) for d in source.diagnostics] == [
        "f.yaml:9:23: error: items[0].summary: link 'javascript:alert(1)' must start with "
        "http://, https:// or mailto:"
    ]


# -- the reader's own errors, as the editor reads them ---------------------------------------


def test_non_utf8_byte_on_a_later_line_is_located():
    assert messages(b"a: 1\nb: 2\nc: caf\xe9\n") == [
        "f.yaml:3:7: error: byte 0xe9 is not UTF-8; save the file as UTF-8"
    ]


@pytest.mark.parametrize("libyaml", [True, False])
def test_raw_control_character_on_a_later_line_is_located_and_named(monkeypatch, libyaml):
    if not libyaml:  # PyYAML's own reader, as where PyYAML is built without libyaml
        import yaml

        import newsletter.source

        monkeypatch.setattr(newsletter.source, "_loader_class", lambda: yaml.SafeLoader)
    assert messages(b"a: 1\nb: 2\nc: x\x07y\n") == [
        "f.yaml:3:5: error: character '\\x07' is not allowed in YAML"
    ]


def test_utf8_bom_then_a_tab_indented_line_is_the_tab_error():
    assert messages(b"\xef\xbb\xbf\t- a\n") == [
        "f.yaml:1:1: error: tab character in indentation: YAML indents with spaces only; "
        "replace the tab with spaces"
    ]


def test_the_first_tab_of_the_indentation_is_named():
    [message] = messages(b"a:\n  \t \t- a\n")
    assert message.startswith("f.yaml:2:3: error: tab character in indentation")


def test_a_tab_inside_a_value_is_text():
    source = parse_yaml(b"a: x\ty\n", "f.yaml")
    assert source.ok and source.data == {"a": "x\ty"}


def test_without_libyaml_deep_nesting_is_one_located_error(monkeypatch):
    # PyYAML built without libyaml composes in Python, which runs out of stack first.
    import yaml

    import newsletter.source

    monkeypatch.setattr(newsletter.source, "_loader_class", lambda: yaml.SafeLoader)
    assert messages(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n") == [
        "f.yaml:1:1: error: YAML nesting is too deep"
    ]


def test_a_mapping_that_contains_itself_is_refused():
    assert messages(b"a: &x {b: *x}\n") == ["f.yaml:1:4: error: a.b: alias refers to itself"]


def test_every_key_after_a_refused_one_is_still_read():
    source = parse_yaml(b"1: a\n2: b\nbase: &b {x: 1}\nother:\n  <<: *b\n  y: 2\nz: 3\n", "f.yaml")
    assert [str(d) for d in source.diagnostics] == [
        "f.yaml:1:1: error: keys must be plain words, e.g. 'title'",
        "f.yaml:2:1: error: keys must be plain words, e.g. 'title'",
        "f.yaml:5:3: error: other: merge keys (<<) are not supported; write the fields out",
    ]
    assert source.data == {"base": {"x": 1}, "other": {"y": 2}, "z": 3}


def test_refused_tags_are_named_as_written():
    assert messages(b"a: !!binary aGVsbG8=\nb: !custom 1\nc: !!python/name:os.system\n") == [
        "f.yaml:1:4: error: a: tag !!binary is not allowed; only plain YAML values are read",
        "f.yaml:2:4: error: b: tag !custom is not allowed; only plain YAML values are read",
        "f.yaml:3:4: error: c: tag !!python/name:os.system is not allowed; "
        "only plain YAML values are read",
    ]
    assert messages(b"a: !!set {x}\nb: !!omap [x: 1]\n") == [
        "f.yaml:1:4: error: a: tag !!set is not allowed",
        "f.yaml:2:4: error: b: tag !!omap is not allowed",
    ]


def test_a_value_its_tag_cannot_read_is_located_with_its_field():
    source = parse_yaml(b"a: 1\nb:\n  c: !!int abc\n", "f.yaml")
    [message] = [str(d) for d in source.diagnostics]
    assert message.startswith("f.yaml:3:6: error: b.c: 'abc' is not a valid int: ")
    assert source.already_reported(("b", "c")) and source.data == {"a": 1, "b": {"c": None}}


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (MAX_BYTES - 4) + b"\n")
    source = read_yaml(path, "big.yaml")
    assert source.ok and len(source.data["a"]) == MAX_BYTES - 4


def test_an_unreadable_file_is_named_as_displayed(tmp_path):
    source = read_yaml(tmp_path, "issues/vol-1-1.yaml")  # a folder
    found = source.diagnostics
    assert source.path == "issues/vol-1-1.yaml" and source.data is None
    assert [str(d) for d in found] == [
        "issues/vol-1-1.yaml:1:1: error: cannot read file: Is a directory"
    ]


def test_a_file_that_never_ends_is_refused_after_the_limit(tmp_path):
    """A pipe (or a device) is read up to the limit, not to an end that never comes."""
    fifo = tmp_path / "endless.yaml"
    os.mkfifo(fifo)
    done = threading.Event()
    still_open = []

    def writer():
        with open(fifo, "wb") as pipe:
            pipe.write(b"a: " + b"x" * (MAX_BYTES + 10))
            still_open.append(not done.wait(timeout=20))  # False once the reader is done

    thread = threading.Thread(target=writer)
    thread.start()
    found = [str(d) for d in read_yaml(fifo, "endless.yaml").diagnostics]
    done.set()
    thread.join()
    assert still_open == [False]
    assert found == [
        "endless.yaml:1:1: error: file is larger than 1024 KiB; an issue file should be a few KB"
    ]
