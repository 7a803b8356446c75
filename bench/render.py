"""Benchmark email rendering of the sample issue vol-2-10.

    python bench/render.py [--runs N]

1. In process: render_message (Jinja2 -> MJML -> mjml-python -> premailer, plus the
   plain text) and the sample MIME message, as `newsletter render` does per issue.
   Goal: median under 20 ms.
2. Whole process, side by side: `newsletter render vol-2-10 --format html` against
   the official MJML Node CLI (node_modules/.bin/mjml) compiling the same MJML.
   Goal: our whole command faster than the Node CLI alone.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLUG = "vol-2-10"
MJML_CLI = ROOT / "node_modules" / ".bin" / "mjml"


def in_process(runs: int) -> tuple[float, float]:
    """Return the median milliseconds of a full render (html+text+eml) and of HTML alone."""
    from newsletter.loader import require_issue
    from newsletter.render.email import render_email_html
    from newsletter.render.message import render_message
    from newsletter.render.mime import sample_eml
    from newsletter.workspace import Workspace

    workspace = Workspace(ROOT)
    series, loaded, _ = require_issue(workspace, SLUG)

    def full() -> None:
        message = render_message(workspace, series, loaded)
        sample_eml(message, series.base_url)

    def html_only() -> None:
        render_email_html(workspace, series, loaded)

    results = []
    for job in (full, html_only):
        for _ in range(3):  # warm up: template compilation, imports, CSS parse cache
            job()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            job()
            times.append((time.perf_counter() - start) * 1000)
        results.append(statistics.median(times))
    return results[0], results[1]


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return (time.perf_counter() - start) * 1000


def whole_process(runs: int) -> tuple[float, float, str]:
    """Return median ms of `newsletter render --format html` and of the Node mjml CLI."""
    from newsletter.loader import require_issue
    from newsletter.render.email import render_mjml
    from newsletter.workspace import Workspace

    workspace = Workspace(ROOT)
    series, loaded, _ = require_issue(workspace, SLUG)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{SLUG}.mjml"
        source.write_text(render_mjml(workspace, series, loaded), encoding="utf-8")
        ours = [sys.executable, "-m", "newsletter", "render", SLUG, "--format", "html",
                "-o", str(Path(tmp) / "out")]  # fmt: skip
        node = [str(MJML_CLI), str(source), "-o", str(Path(tmp) / "node.html")]
        version = subprocess.run(
            [str(MJML_CLI), "--version"], capture_output=True, text=True, check=True
        ).stdout.split()
        _timed(ours), _timed(node)  # warm the file cache for both
        mine, theirs = [], []
        for _ in range(runs):  # alternate, so both see the same machine load
            mine.append(_timed(ours))
            theirs.append(_timed(node))
    return statistics.median(mine), statistics.median(theirs), " ".join(version[-2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per measurement")
    args = parser.parse_args()
    if not MJML_CLI.exists():
        sys.exit(f"{MJML_CLI} is missing: run `npm ci` (make install-node) first")

    full, html = in_process(max(args.runs, 20))
    ours, node, version = whole_process(args.runs)
    rows = [
        ("in process: html + text + eml", f"{full:.1f} ms", "", "< 20 ms", full < 20),
        ("in process: html only", f"{html:.1f} ms", "", "", None),
        ("process: newsletter render --format html", f"{ours:.0f} ms", "", "", None),
        (f"process: mjml Node CLI ({version})", f"{node:.0f} ms", "", "", None),
        ("ratio node / newsletter (whole process)", f"{node / ours:.2f}x", "", "> 1", ours < node),
    ]
    print(f"render benchmark, {SLUG}, medians (python {sys.version.split()[0]})")
    print(f"{'measurement':<44} {'median':>10}  {'goal':>8}  met")
    print("-" * 72)
    for name, value, _unused, goal, met in rows:
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"{name:<44} {value:>10}  {goal:>8}  {mark}")


if __name__ == "__main__":
    main()
