"""A broken installation (a required package missing) says so in one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.workspace import make_workspace

# Runs the CLI as `newsletter ARGS` with one top-level module made unimportable, as if its
# package had never been installed (the finder answers before the real ones can).
HIDING_LAUNCHER = textwrap.dedent(
    """
    import importlib.abc
    import sys

    hidden = sys.argv[1]

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == hidden:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    sys.argv = ["newsletter", *sys.argv[2:]]
    from newsletter.launcher import main

    main()
    """
)


def run_without(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI with `module` missing; return the finished process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    # Coloured output even into this pipe: the printer then needs rich, as on a terminal.
    env["FORCE_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-c", HIDING_LAUNCHER, module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess[str], package: str) -> None:
    """Assert the user got exit 2 and one line naming the package and how to reinstall."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"'{package}'" in lines[0]
    assert "pip install newsletter" in lines[0] and "make demo" in lines[0]


@pytest.mark.parametrize(
    "module,package",
    [
        ("click", "click"),  # missing before the CLI exists at all
        ("rich", "rich"),  # the error printer itself
        ("yaml", "PyYAML"),
        ("pydantic", "pydantic"),
        ("email_validator", "email-validator"),
        ("markdown_it", "markdown-it-py"),
    ],
)
def test_check_without_a_required_package(tmp_path, module, package):
    root = make_workspace(tmp_path / "ws")  # fresh: nothing cached, every file is read
    assert_one_line_naming(run_without(module, "check", cwd=root), package)


def test_missing_error_printer_while_reporting_problems(tmp_path):
    """A workspace with an error: the handler that prints it needs rich, which is missing."""
    root = make_workspace(tmp_path / "ws", {"vol-1-1": "volume: 0\n"})
    assert_one_line_naming(run_without("rich", "check", cwd=root), "rich")


def test_render_without_the_mjml_compiler(tmp_path):
    root = make_workspace(tmp_path / "ws")
    result = run_without(
        "mjml", "render", "-o", str(tmp_path / "out"), "--format", "html", cwd=root
    )
    assert_one_line_naming(result, "mjml-python")
    assert not (tmp_path / "out" / "vol-1-1" / "email.html").exists()


def test_a_complete_installation_is_not_reported(tmp_path):
    root = make_workspace(tmp_path / "ws")
    result = run_without("no_such_module_at_all", "check", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "incomplete" not in result.stderr
