"""Start-up: help and version load nothing heavy; a command loads only its own module."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from newsletter import __version__
from newsletter.cli import cli
from newsletter.cli.base import COMMAND_MODULES

HEAVY = ("pydantic", "jinja2", "weasyprint", "premailer", "mjml", "markdown_it", "rich", "yaml")
LOADED = """
import json, runpy, sys
sys.argv = ["newsletter", *sys.argv[1:]]
try:
    runpy.run_module("newsletter", run_name="__main__")
except SystemExit:
    pass
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def run_tool(cwd, cache, *args: str) -> tuple[str, set[str]]:
    """Run `newsletter ARGS` in a fresh interpreter; return its output and top-level modules."""
    env = {**os.environ, "NEWSLETTER_CACHE_DIR": str(cache), "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-c", LOADED, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    output, _, modules = done.stderr.rpartition("\nMODULES ")
    return done.stdout + output, set(json.loads(modules))


@pytest.mark.parametrize("flag", ["--help", "-h", "--version", "-V"])
def test_help_and_version_import_no_pydantic_nor_renderers(tmp_path, flag):
    for _ in range(2):  # the first run writes the help cache, the second reads it
        output, modules = run_tool(tmp_path, tmp_path / "cache", flag)
        assert "newsletter" in output
        assert modules.isdisjoint(HEAVY), modules & set(HEAVY)
    assert "click" not in modules  # answered from the cache, or needing no click at all


def test_cached_help_is_clicks_help(tmp_path):
    first, _ = run_tool(tmp_path, tmp_path / "cache", "--help")
    second, _ = run_tool(tmp_path, tmp_path / "cache", "--help")
    uncached, modules = run_tool(tmp_path, "off", "--help")
    assert "click" in modules  # caching off: click itself answered
    assert first == second == uncached
    assert uncached.startswith("Usage: newsletter [OPTIONS] COMMAND")
    for name in COMMAND_MODULES:
        assert f"\n  {name} " in uncached


def test_version_says_the_version(tmp_path):
    output, _ = run_tool(tmp_path, tmp_path / "cache", "--version")
    assert output == f"newsletter, version {__version__}\n"


def test_check_loads_no_renderer_and_a_cached_check_no_parser(space, tmp_path):
    cache = tmp_path / "cache"
    first, modules = run_tool(space.root, cache, "check")
    assert "checked 1 issue: 0 errors, 0 warnings" in first
    assert modules.isdisjoint({"jinja2", "weasyprint", "premailer", "mjml", "rich"})
    again, modules = run_tool(space.root, cache, "check")
    assert again == first
    assert modules.isdisjoint({"yaml", "email_validator", "markdown_it", "rich", "jinja2"})


def test_a_warm_render_imports_no_pydantic_nor_yaml_nor_cssutils(space, tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    run_tool(space.root, cache, "check")  # an editor checks, then renders
    first, modules = run_tool(space.root, cache, "render", "--format", "html", "-o", str(out))
    html = (out / "vol-1-1" / "email.html").read_bytes()
    cold, _ = run_tool(space.root, "off", "render", "--format", "html", "-o", str(out))
    assert (out / "vol-1-1" / "email.html").read_bytes() == html
    again, modules = run_tool(space.root, cache, "render", "--format", "html", "-o", str(out))
    assert first == cold == again and "rendered 1 issue (html)" in again
    assert (out / "vol-1-1" / "email.html").read_bytes() == html
    # premailer still inlines: its parsed CSS comes from the cache (render/inline.py)
    assert "premailer" in modules
    spared = {"pydantic", "yaml", "cssutils", "email_validator", "requests", "ssl", "http"}
    assert modules.isdisjoint(spared), modules & spared


def test_every_command_is_in_the_table_of_modules():
    for name, command in cli.commands.items():
        module = command.callback.__module__ if command.callback else ""
        if isinstance(command, type(cli)) or not command.callback:
            module = next(iter(command.commands.values())).callback.__module__
        assert COMMAND_MODULES.get(name) == module.rsplit(".", 1)[-1], name
