"""Run the command line as a real process, the way users do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.workspace import REPO


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m newsletter ARGS`; return the finished process (never raises on failure)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_PDF_WORKER"] = "off"  # a test run leaves no detached PDF worker behind
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
