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


def model_renderer(workspace, slug):
    """Render parts straight from the model (stand-in until the real renderers land)."""
    import html

    from newsletter.loader import require_issue
    from newsletter.preview.parts import Lazy, Parts

    series, loaded, diagnostics = require_issue(workspace, slug)
    issue = loaded.issue
    heads = "".join(f"<h2>{html.escape(i.headline)}</h2>" for i in issue.items)
    page = (
        "<!doctype html><html><head><meta charset=utf-8><style>"
        "body{margin:0;background:#ffffff;color:#111}"
        ".wrap{max-width:600px;margin:0 auto;padding:24px}"
        "@media (prefers-color-scheme: dark){body{background:#111417!important;color:#eee}}"
        f"</style></head><body><div class=wrap>{heads}</div></body></html>"
    )
    return Parts(
        slug=slug,
        subject=issue.subject or "",
        preheader=issue.preheader or "",
        sender=f"{series.sender.name} <{series.sender.email}>",
        html=page,
        text="\n".join(i.headline for i in issue.items),
        html_bytes=len(page),
        print_html=Lazy(lambda: page),
        pdf=Lazy(lambda: b"%PDF-1.7 stand-in"),
        warnings=tuple(d for d in diagnostics if not d.is_error),
    )
