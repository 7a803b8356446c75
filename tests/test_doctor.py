"""`newsletter doctor` run as a process on this machine, and with fonts or tools taken away."""

from __future__ import annotations

import os
import subprocess
import sys

import weasyprint


def doctor(env_changes: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_changes or {})}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", "doctor"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def line_of(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.split()[1:2] == name.split()[:1])


def test_a_complete_machine_passes_and_names_versions():
    done = doctor()
    assert done.returncode == 0, done.stdout + done.stderr
    assert line_of(done.stdout, "WeasyPrint").split()[-1] == weasyprint.__version__
    assert line_of(done.stdout, "Pango").startswith("ok")
    ja = next(line for line in done.stdout.splitlines() if "fonts for 'ja'" in line)
    assert ja.startswith("ok") and "CJK" in ja
    for tool in ("Chromium", "poppler-utils", "pikepdf"):
        assert line_of(done.stdout, tool).startswith("ok"), tool


def test_no_fonts_fails_and_says_what_to_install(tmp_path):
    config = tmp_path / "fonts.conf"
    config.write_text(
        f"<?xml version='1.0'?><fontconfig><dir>{tmp_path / 'none'}</dir>"
        f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    done = doctor({"FONTCONFIG_FILE": str(config)})
    assert done.returncode == 1
    fonts = done.stdout.splitlines()
    assert any(line.startswith("MISSING") and " fonts " in line for line in fonts)
    assert "install: apt-get install fonts-noto-cjk" in done.stdout
    assert "cannot write PDFs: missing fonts" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_tools_are_reported_with_how_to_install_them(tmp_path):
    (tmp_path / "bin").mkdir()
    done = doctor({"PATH": str(tmp_path / "bin")})
    assert done.returncode == 1  # fc-list is gone, so fonts cannot be found
    assert "cannot list fonts: fc-list is missing" in done.stdout
    for fix in ("apt-get install chromium", "apt-get install poppler-utils"):
        assert fix in done.stdout
    assert line_of(done.stdout, "Chromium").startswith("warning")


def test_names_the_python_and_its_header_bug():
    from newsletter.render.headers import has_header_bug

    done = doctor()
    line = line_of(done.stdout, "Python")
    assert line.startswith("ok") and ".".join(map(str, sys.version_info[:3])) in line
    assert ("CVE-2024-6923" in line) == has_header_bug()
