"""Headless Chromium for browser tests: the Debian package, driven by Playwright.

Never `playwright install`: the browser is the system's /usr/bin/chromium, started
with the flags that keep it off the network (see ../shared/JUDGES.md).
"""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    """Launch the system Chromium headless with the offline flags; return the Browser."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
