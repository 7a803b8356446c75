"""The project as shipped: lint clean, and a wheel (not only -e) gives a working tool."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile

from tests.helpers import REPO


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


def test_wheel_install_gives_a_working_tool(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
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
    # System site-packages give the dependencies; the wheel itself must come from env.
    venv.create(env, with_pip=False, system_site_packages=True)
    python = env / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
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
