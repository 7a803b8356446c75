"""The project as shipped: lint clean, and a wheel (not only -e) gives a working tool."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
import zipfile

from tests.helpers import REPO

UV = [sys.executable, "-m", "uv"]


def test_ruff_lint_and_format():
    paths = [p for p in ("src", "tests", "bench") if (REPO / p).exists()]
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert fmt.returncode == 0, fmt.stdout


def _name(requirement: str) -> str:
    """Return a requirement's project name, normalised (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group()).lower()


def test_the_lock_pins_every_declared_requirement():
    """A dependency added to pyproject.toml without `make lock` would go untested at a pin."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    declared = {
        _name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]
    }
    lock = (REPO / "requirements-test.lock").read_text("utf-8")
    pinned = {_name(line) for line in lock.splitlines() if re.match(r"[A-Za-z0-9]", line)}
    assert all("==" in line for line in lock.splitlines() if re.match(r"[A-Za-z0-9]", line))
    assert declared <= pinned, f"run `make lock`: {sorted(declared - pinned)} not in the lock"


def test_wheel_install_gives_a_working_tool(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*UV, "build", "-q", "--wheel", "-o", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("newsletter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {REPO / "src" / n for n in names}
    shipped = {
        p
        for p in (REPO / "src/newsletter/templates").rglob("*")
        if p.is_file() and p.name != ".gitkeep"
    }
    assert shipped <= packaged, "default templates missing from the wheel"
    env = tmp_path / "env"
    # An environment of its own (no system or outer-venv site-packages, so the test passes
    # inside and outside a venv): the wheel plus its declared dependencies at the locked
    # versions, from uv's cache or the package registry.
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    done = subprocess.run(
        [
            *UV,
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "-c",
            str(REPO / "requirements-test.lock"),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    where = subprocess.run(
        [str(python), "-c", "import newsletter; print(newsletter.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert str(env) in where.stdout
    tool = env / "bin" / "newsletter"
    subprocess.run([str(tool), "init", str(tmp_path / "ws")], check=True, capture_output=True)
    check = subprocess.run(
        [str(tool), "check", "--strict"],
        cwd=tmp_path / "ws",
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    templates = REPO / "src/newsletter/templates"
    for template in shipped:
        assert (tmp_path / "ws/templates" / template.relative_to(templates)).is_file()
    # Then break it as a half-finished install would: one line naming the package, exit 2.
    subprocess.run(
        [*UV, "pip", "uninstall", "-q", "--python", str(python), "pyyaml"],
        check=True,
        capture_output=True,
    )
    for issue in (tmp_path / "ws" / "issues").glob("*.yaml"):  # past check's cache
        issue.write_text(issue.read_text("utf-8") + "# edited\n", encoding="utf-8")
    broken = subprocess.run(
        [str(tool), "check"], cwd=tmp_path / "ws", capture_output=True, text=True, check=False
    )
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert broken.stderr.count("\n") == 1 and "'PyYAML'" in broken.stderr
    assert "pip install newsletter" in broken.stderr
