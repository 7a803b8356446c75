"""Benchmark the live preview: from a save on disk to the new content in the browser.

    python bench/preview.py [--saves N] [--issue SLUG]

Runs `newsletter preview --port 0` as a process on a copy of the sample workspace,
opens the issue in headless Chromium (Debian package) and saves the issue file N
times, each time with a new first headline. Both ends are read on the page's own
clock (`performance.now()`): just before the save (so the figure includes one
DevTools round trip, a millisecond or so, on the pessimistic side) and in the
iframe's load handler. The figure covers the whole path: noticing the save, loading
and rendering the issue, the server-sent event, the iframe reload and its images.

A new render of the view shown patches the frame's document in place (no reload).
The peer is what an editor pays without the preview: a `newsletter render` process
for the same issue (email HTML only), before any browser reload. Goal: median < 100 ms.

The PDF tab: after the browser saves, the same process is asked for the issue's PDF as
the tab asks for it once told of the new render; the figure runs from the save to the
last byte of the PDF. Goal: under 1 s (WeasyPrint is made ready when the preview starts).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' Chromium launcher: Debian's, off the network
GOAL_MS = 100.0
PDF_GOAL_MS = 1000.0
FIRST_HEADLINE = re.compile(r"(?m)^(\s*- headline: ).*$")
# The new document can be in the frame before its load event: wait for both.
SHOWS = (
    "([marker, loads]) => window.__preview.loads.length > loads && "
    "document.getElementById('frame').contentDocument.body.textContent.includes(marker)"
)


def sample_workspace(folder: Path) -> Path:
    """Copy the sample workspace (the repository root) into folder."""
    folder.mkdir(parents=True)
    for name in ("newsletter.yaml", "issues", "images", "templates"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        elif source.is_file():
            shutil.copy(source, folder / name)
    return folder


def start_preview(workspace: Path, slug: str) -> tuple[subprocess.Popen, str]:
    """Start `newsletter preview` and return the process and the issue's address."""
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "preview", "--port", "0", slug],
        cwd=workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in process.stdout:
        found = re.search(r"previewing at (\S+)", line)
        if found:
            return process, found.group(1)
    raise SystemExit("the preview did not start")


def preview_latencies(workspace: Path, slug: str, saves: int) -> dict[str, list[float]]:
    """Return, per save, the ms from the save to the event and to the new content loaded."""
    import json
    import urllib.request

    from playwright.sync_api import sync_playwright

    from tests.helpers.browser import launch_chromium

    path = workspace / "issues" / f"{slug}.yaml"
    original = path.read_text(encoding="utf-8")
    process, url = start_preview(workspace, slug)
    found: dict[str, list[float]] = {"loaded": [], "event": [], "render": []}
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_function("window.__preview.loads.length > 0", timeout=30_000)
            for n in range(saves + 1):  # the first save warms up and is not counted
                marker = f"Benchmark headline number {n}"
                text = FIRST_HEADLINE.sub(lambda m, k=marker: m.group(1) + k, original, count=1)
                loads = page.evaluate("window.__preview.loads.length")
                saved = page.evaluate("performance.now()")
                path.write_text(text, encoding="utf-8")
                page.wait_for_function(SHOWS, arg=[marker, loads], timeout=30_000)
                shown = page.evaluate("window.__preview.loads.at(-1).t")
                told = page.evaluate("window.__preview.updates.at(-1).t")
                with urllib.request.urlopen(url + "state.json") as response:
                    render_ms = json.load(response)["render_ms"]
                if n:
                    found["loaded"].append(shown - saved)
                    found["event"].append(told - saved)
                    found["render"].append(render_ms)
                time.sleep(0.25)  # an editor does not save faster than this
            found["patched"] = [
                float(bool(load.get("patched")))
                for load in page.evaluate("window.__preview.loads")[1:]
            ]
            browser.close()
        found["pdf"] = pdf_latencies(url, path, original, max(3, saves // 4))
    finally:
        process.terminate()
        process.wait(timeout=30)
        path.write_text(original, encoding="utf-8")
    return found


def pdf_latencies(url: str, path: Path, original: str, saves: int) -> list[float]:
    """Return, per save, the ms from the save to the whole new PDF, as the PDF tab gets it."""
    import json
    import urllib.request

    def generation() -> int:
        with urllib.request.urlopen(url + "state.json") as response:
            return json.load(response)["good_generation"]

    slug = path.stem
    times = []
    for n in range(saves):
        marker = f"PDF headline number {n}"
        before = generation()
        started = time.perf_counter()
        path.write_text(FIRST_HEADLINE.sub(lambda m, k=marker: m.group(1) + k, original, 1))
        while generation() == before:
            time.sleep(0.002)
        with urllib.request.urlopen(f"{url}{slug}.pdf?g={before + 1}") as response:
            assert response.read(5) == b"%PDF-"
            response.read()
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.25)
    return times


def render_command_ms(workspace: Path, slug: str, rounds: int) -> list[float]:
    """Return the wall times of `newsletter render SLUG` (email HTML only) processes."""
    times = []
    out = workspace / "build-bench"
    command = [sys.executable, "-m", "newsletter", "render", slug, "-o", str(out), "-f", "html"]
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=workspace, capture_output=True, text=True, check=False)
        times.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            raise SystemExit(f"newsletter render failed: {done.stderr.strip()}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=20, help="saves to time (default 20)")
    parser.add_argument("--issue", default="vol-2-10", help="sample issue (default vol-2-10)")
    args = parser.parse_args()
    if args.saves < 2:
        parser.error("--saves must be 2 or more")
    with tempfile.TemporaryDirectory(prefix="newsletter-bench-") as scratch:
        workspace = sample_workspace(Path(scratch) / "ws")
        found = preview_latencies(workspace, args.issue, args.saves)
        peer = render_command_ms(workspace, args.issue, max(5, args.saves // 4))
    ours = statistics.median(found["loaded"])
    theirs = statistics.median(peer)
    print(f"preview latency, {args.issue}, {len(found['loaded'])} saves (ms)\n")
    print(f"| {'measure':<52} | {'median':>7} | {'p90':>7} | {'max':>7} |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for name, values in (
        ("save -> new content loaded in the page (preview)", found["loaded"]),
        ("save -> update event received by the page", found["event"]),
        ("  of which: loading and rendering the issue (server)", found["render"]),
        ("save -> whole new PDF (the PDF tab)", found["pdf"]),
        ("peer: `newsletter render` process, no browser reload", peer),
    ):
        p90 = statistics.quantiles(values, n=10, method="inclusive")[-1]
        median = statistics.median(values)
        print(f"| {name:<52} | {median:7.1f} | {p90:7.1f} | {max(values):7.1f} |")
    verdict = "met" if ours < GOAL_MS else "MISSED"
    patched = statistics.mean(found["patched"]) * 100
    print(f"\nsaves shown by patching the frame in place: {patched:.0f}%")
    print(f"peer / preview: {theirs / ours:.1f}x  (> 1: the preview shows a save sooner)")
    print(f"goal: median under {GOAL_MS:.0f} ms: {verdict} ({ours:.0f} ms)")
    pdf = max(found["pdf"])
    verdict = "met" if pdf < PDF_GOAL_MS else "MISSED"
    print(f"goal: PDF tab within {PDF_GOAL_MS:.0f} ms of a save, slowest: {verdict} ({pdf:.0f} ms)")


if __name__ == "__main__":
    main()
