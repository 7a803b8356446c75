"""Helpers of the preview tests: save like an editor, talk HTTP to the preview."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request


def save(path, text: str) -> None:
    """Save a file as an editor does, making sure its modification time moves."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:  # coarse clocks: make the save visible
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Return status, headers and body of a GET to the preview (errors included)."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
