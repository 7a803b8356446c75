"""The drafting commands through the CLI: check, schema, new, init, help and version."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from newsletter import __version__
from newsletter.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_check_clean_workspace_exits_0(space):
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "checked 1 issue: 0 errors, 0 warnings" in result.output


def test_check_broken_file_exits_1_with_locations(space):
    space.issue("vol-1-2", "volume: 1\nnumber: 2\ndate: 2024-01-19\nitems:\n  - headline: x\n")
    result = run("check")
    assert result.exit_code == 1
    assert "issues/vol-1-2.yaml:5:5: error: items[0].summary: field required" in result.output


def test_check_named_files_only(space):
    space.issue("vol-1-2", "broken: [\n")
    assert run("check", "issues/vol-1-1.yaml").exit_code == 0
    assert run("check", "issues/vol-1-2.yaml").exit_code == 1


def test_strict_fails_on_warnings(space):
    space.issue(
        "vol-1-1", "volume: 1\nnumber: 1\ndate: 2024-01-05\nitems:\n  - {headline: h, summary: s}\n"
    )
    assert run("check").exit_code == 0
    result = run("check", "--strict")
    assert result.exit_code == 1
    assert "warning: no preheader" in result.output


def test_check_missing_file_is_usage_error(space):
    assert run("check", "issues/nope.yaml").exit_code == 2


def test_no_workspace_is_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("check")
    assert result.exit_code == 2
    assert "no newsletter.yaml here or in any parent folder" in result.output


def test_workspace_found_from_a_subfolder(space, monkeypatch):
    monkeypatch.chdir(space.root / "issues")
    assert run("check").exit_code == 0


def test_workspace_option(space, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("--workspace", str(space.root), "check").exit_code == 0
    assert run("--workspace", str(tmp_path), "check").exit_code == 2


def test_broken_series_exits_1(space):
    space.write("newsletter.yaml", "name: T\n")
    result = run("check")
    assert result.exit_code == 1
    assert "newsletter.yaml:1:1: error: publisher: field required" in result.output


def test_schema_is_draft_2020_12_and_validates_issues(space):
    import jsonschema

    result = run("schema")
    schema = json.loads(result.output)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "volume" in schema["required"]


def test_schema_series_uses_from(space):
    schema = json.loads(run("schema", "--series").output)
    assert "from" in schema["properties"] and "sender" not in schema["properties"]


def test_new_continues_numbering_and_cadence(space):
    result = run("new")
    assert result.exit_code == 0, result.output
    path = space.root / "issues" / "vol-1-2.yaml"
    assert result.output.strip().endswith("vol-1-2.yaml")
    text = path.read_text()
    assert "volume: 1\nnumber: 2\ndate: 2024-01-19\n" in text
    assert text.count("- headline:") == 2  # as many entries as the issue before
    check = run("check", str(path))
    assert check.exit_code == 0
    assert "placeholder 'TODO'" in check.output
    assert run("check", "--strict", str(path)).exit_code == 1


def test_new_uses_series_cadence_and_date_option(space):
    space.write(
        "newsletter.yaml", (space.root / "newsletter.yaml").read_text() + "cadence_days: 7\n"
    )
    run("new")
    assert "date: 2024-01-12" in (space.root / "issues/vol-1-2.yaml").read_text()
    run("new", "--date", "2024-03-01")
    assert "date: 2024-03-01" in (space.root / "issues/vol-1-3.yaml").read_text()


def test_new_volume_starts_at_number_one(space):
    assert run("new", "--volume", "2").exit_code == 0
    assert "volume: 2\nnumber: 1\n" in (space.root / "issues/vol-2-1.yaml").read_text()


def test_new_refuses_to_overwrite(space):
    space.issue("vol-1-2", "# keep me\n")
    result = run("new")
    assert result.exit_code != 0
    assert (space.root / "issues/vol-1-2.yaml").read_text() == "# keep me\n"


def test_new_rejects_bad_date(space):
    assert run("new", "--date", "2024-02-30").exit_code == 2


def test_init_creates_a_working_workspace(tmp_path, monkeypatch):
    target = tmp_path / "fresh"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    for name in (
        "newsletter.yaml",
        "issues/vol-1-1.yaml",
        "schemas/issue.schema.json",
        ".gitignore",
    ):
        assert (target / name).is_file()
    assert (target / "templates").is_dir()
    monkeypatch.chdir(target)
    assert run("check", "--strict").exit_code == 0


def test_init_refuses_to_overwrite(space):
    before = (space.root / "newsletter.yaml").read_text()
    assert run("init", str(space.root)).exit_code != 0
    assert (space.root / "newsletter.yaml").read_text() == before


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_every_command_has_complete_help():
    for name, command in cli.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0
        assert command.help and len(command.help.split()) >= 5, name
        for param in command.params:
            if isinstance(param, __import__("click").Option):
                assert param.help, f"{name} {param.opts} has no help"


def test_unknown_command_is_usage_error():
    assert run("frobnicate").exit_code == 2


def test_module_entry_point_runs(space):
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "check"],
        cwd=space.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content", [b"\x00\x01\x02", b"volume: [\n", b"- a\n- b\n"])
def test_garbage_never_gives_a_traceback(space, content):
    (space.root / "issues" / "vol-1-1.yaml").write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "check"],
        cwd=space.root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.search(r"^issues/vol-1-1\.yaml:\d+:\d+: error: ", result.stderr, re.M)


def test_cli_starts_without_pydantic_or_renderers() -> None:
    """Commands import what they need; `build` forks its PDF workers before pydantic loads."""
    import subprocess
    import sys

    probe = (
        "import sys, newsletter.cli; "
        "print(sorted({'pydantic', 'jinja2', 'weasyprint'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_terminal_escape_sequences_in_echoed_values_are_shown_escaped(space):
    space.issue(
        "vol-1-1",
        'volume: 1\nnumber: 1\ndate: 2024-01-05\n"x\\e[2Jy": 1\n'
        "items:\n  - headline: h\n    summary: s\n",
    )
    result = run("check")
    assert result.exit_code == 1
    assert "\x1b" not in result.output
    assert "unknown field 'x\\x1b[2Jy'" in result.output


def test_credentials_in_api_base_are_masked(space):
    from tests.conftest import SERIES

    space.write("newsletter.yaml", SERIES + "delivery:\n  api_base: http://me:hunter2@x/ y\n")
    result = run("check")
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "http://***@x/ y" in result.output


def test_new_writes_a_draft(space):
    assert run("new").exit_code == 0
    assert "\ndraft: true\n" in (space.root / "issues/vol-1-2.yaml").read_text()


def test_top_level_help_shows_every_summary_whole():
    result = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    listed = result.output.split("Commands:")[1]
    assert "..." not in listed
    for name, command in cli.commands.items():
        line = next(x for x in listed.splitlines() if x.strip().startswith(name + " "))
        assert line.split(None, 1)[1].strip() == command.get_short_help_str(1000)
        assert len(line) <= 80


def test_help_has_readable_metavars_and_marks_required_options():
    assert "--date YYYY-MM-DD" in run("new", "--help").output
    assert "%Y" not in run("new", "--help").output
    sent = run("send", "--help").output
    assert "send (--list FILE | --test ADDR) [OPTIONS] ISSUE" in sent
    assert "[required unless --test]" in sent


def test_status_state_lists_every_state():
    from newsletter.send.ledger import STATES as LEDGER_STATES

    output = run("status", "--help").output
    for state in (*LEDGER_STATES, "inflight"):
        assert state in output


def test_init_creates_images_and_ends_with_the_next_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init", "fresh"])
    assert result.exit_code == 0
    assert (tmp_path / "fresh" / "images").is_dir()
    tail = result.output.strip().splitlines()[-4:]
    assert tail[0].strip() == "cd fresh"
    assert [line.split("#")[0].strip() for line in tail[1:]] == [
        "newsletter check",
        "newsletter preview",
        "newsletter new",
    ]


def test_plurals_are_right():
    from newsletter import ui

    assert [ui.plural(n, "row") for n in (0, 1, 2)] == ["0 rows", "1 row", "2 rows"]
    assert [ui.plural(n, "retry", "retries") for n in (1, 2)] == ["1 retry", "2 retries"]
