"""Check the machine for what rendering needs (WeasyPrint, Pango, fonts) and what tests use.

Each check says what it found and, when something is missing, how to install it.
Checks marked `needed` fail `newsletter doctor` (exit 1): without them no PDF is written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass

PANGO_MINIMUM = (1, 44)  # WeasyPrint's own minimum
CJK_LANGUAGES = ("ja", "zh-cn", "ko")
THEME_FONTS = ("Liberation Serif", "Liberation Sans")


@dataclass(frozen=True)
class Check:
    """One thing looked for: found or not, with what to do about it."""

    name: str
    ok: bool
    found: str
    fix: str = ""
    needed: bool = True  # needed for the PDF; otherwise it only degrades output or tests


def _run(*args: str) -> str | None:
    """Return a tool's output, or None if it is missing or fails.

    Standard output when there is any (a launcher script may chatter on stderr), else
    standard error, where `pdfinfo -v` and `java -version` print.
    """
    if shutil.which(args[0]) is None:
        return None
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return (done.stdout.strip() or done.stderr.strip()) or None


def check_weasyprint() -> list[Check]:
    """Check WeasyPrint and the Pango it loads."""
    fix_libs = (
        "Debian/Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0; "
        "macOS: brew install pango"
    )
    try:
        import weasyprint
        from weasyprint.text.ffi import pango
    except ImportError as exc:
        return [Check("WeasyPrint", False, f"not installed ({exc})", "pip install weasyprint")]
    except OSError as exc:  # the Python package is there, its C libraries are not
        return [
            Check("WeasyPrint", True, "installed"),
            Check("Pango", False, f"cannot be loaded ({exc})", fix_libs),
        ]
    number = pango.pango_version()
    version = (number // 10000, number // 100 % 100, number % 100)
    shown = ".".join(map(str, version))
    pango_ok = version[:2] >= PANGO_MINIMUM
    minimum = ".".join(map(str, PANGO_MINIMUM))
    return [
        Check("WeasyPrint", True, weasyprint.__version__),
        Check("Pango", pango_ok, shown, "" if pango_ok else f"need {minimum} or later; {fix_libs}"),
    ]


def _families(pattern: str) -> list[str]:
    output = _run("fc-list", pattern, "family")
    if not output:
        return []
    return sorted({line.split(",")[0].strip() for line in output.splitlines() if line.strip()})


def check_fonts() -> list[Check]:
    """Check that fonts exist at all, the print theme's faces, and CJK coverage."""
    if shutil.which("fc-list") is None:
        fix = "apt-get install fontconfig"
        return [Check("fonts", False, "cannot list fonts: fc-list is missing", fix)]
    families = _families(":")
    checks = [
        Check(
            "fonts",
            bool(families),
            f"{len(families)} families" if families else "none",
            "apt-get install fonts-dejavu-core fonts-liberation",
        )
    ]
    theme = [name for name in THEME_FONTS if name in families]
    checks.append(
        Check(
            "print theme fonts",
            len(theme) == len(THEME_FONTS),
            ", ".join(theme) or "none (a fallback face is used)",
            "apt-get install fonts-liberation",
            needed=False,
        )
    )
    for language in CJK_LANGUAGES:
        covering = _families(f":lang={language}")
        checks.append(
            Check(
                f"fonts for '{language}'",
                bool(covering),
                _summary(covering) if covering else "none: such text prints as empty boxes",
                "apt-get install fonts-noto-cjk (macOS: brew install --cask font-noto-sans-cjk)",
                needed=False,
            )
        )
    return checks


def _summary(names: list[str], limit: int = 3) -> str:
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


TOOLS = (  # name, the commands that may provide it (first found wins), how to install it
    (
        "Chromium",
        ("chromium", "chromium-browser", "google-chrome"),
        "--version",
        "apt-get install chromium (browser tests, preview checks, PDF benchmark peer)",
    ),
    (
        "poppler-utils",
        ("pdfinfo",),
        "-v",
        "apt-get install poppler-utils (pdfinfo, pdftotext, pdffonts in the tests)",
    ),
    ("Java", ("java",), "-version", "apt-get install default-jre-headless (Nu HTML Checker)"),
)


def check_tools() -> list[Check]:
    """Check the tools that tests, judges and the benchmark use."""
    found = []
    for name, commands, flag, fix in TOOLS:
        command = next((c for c in commands if shutil.which(c)), None)
        version = _run(command, flag) if command else None
        shown = version.splitlines()[0] if version else "not found"
        found.append(Check(name, bool(version), shown, fix, needed=False))
    return found


def check_pikepdf() -> Check:
    """Check pikepdf with its PDF/A validator (used by the tests)."""
    try:
        import pikepdf
        import pikepdf.pdfa
    except ImportError as exc:
        return Check("pikepdf", False, str(exc), "pip install 'pikepdf[pdfa]'", needed=False)
    return Check("pikepdf", True, pikepdf.__version__, needed=False)


def check_python(version: tuple[int, int, int] | None = None) -> Check:
    """Name a Python whose email package has the header-injection bug, and say it is covered."""
    from newsletter.render.headers import has_header_bug

    version = version or sys.version_info[:3]
    shown = ".".join(map(str, version))
    if not has_header_bug(version):
        return Check("Python", True, f"{shown}: its email package has no known header bug")
    return Check(
        "Python",
        True,
        f"{shown}: its email package has the known header bug CVE-2024-6923 (decoded CR/LF "
        "written into headers; fixed in 3.11.10 and 3.12.5); newsletter writes every header "
        "itself, from cleaned values, so its messages are protected",
    )


def run_checks() -> list[Check]:
    """Run every check, the ones the PDF needs first."""
    return [
        *check_weasyprint(),
        *check_fonts(),
        *check_tools(),
        check_pikepdf(),
        check_python(),
    ]
