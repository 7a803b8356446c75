"""Benchmark email rendering of the sample issue vol-2-10.

    python bench/render.py [--runs N]

1. In process: render_message (Jinja2 -> MJML -> mjml-python -> premailer, plus the
   plain text) and the sample MIME message, as `newsletter render` does per issue.
   Goal: median under 20 ms.
2. Whole process, side by side, runs alternated so each pair sees the same load:
   - `newsletter render vol-2-10 --format html` against the official MJML Node CLI
     (node_modules/.bin/mjml) compiling the same MJML. Goal: at most 0.5x the Node CLI,
     with the caches warm (validated files, compiled templates, premailer's parsed CSS);
     the cold figure (NEWSLETTER_CACHE_DIR=off: nothing reused) is printed beside it.
   - `newsletter --help` against `python -c pass`. Goal: at most 3x.
   - `newsletter check` on the sample workspace. Goal: at most 150 ms (and its ratio to
     `python -c pass`). Both with the load cache warm (the usual case: an editor checks
     again after a save) and cold (NEWSLETTER_CACHE_DIR=off: every file validated).
The commands run with PYTHONDONTWRITEBYTECODE unset, as on a user's machine: Python keeps
the compiled .pyc files of its imports (written by the untimed warm-up run).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run command; return its wall-clock and CPU (user + system) milliseconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True, env=env)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def whole_process(runs: int) -> tuple[dict[str, float], dict[str, float], str]:
    """Return median wall and CPU ms of each whole-process case, and the Node CLI's version."""
    from newsletter.loader import require_issue
    from newsletter.render.email import render_mjml
    from newsletter.workspace import Workspace

    workspace = Workspace(ROOT)
    series, loaded, _ = require_issue(workspace, SLUG)
    newsletter = [sys.executable, "-m", "newsletter"]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{SLUG}.mjml"
        source.write_text(render_mjml(workspace, series, loaded), encoding="utf-8")
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        warm = {**base, "NEWSLETTER_CACHE_DIR": str(Path(tmp) / "cache")}
        cold = {**base, "NEWSLETTER_CACHE_DIR": "off"}
        out = ["-o", str(Path(tmp) / "out")]
        cases = {
            "python -c pass": ([sys.executable, "-c", "pass"], warm),
            "newsletter --help": ([*newsletter, "--help"], warm),
            "newsletter check (cache warm)": ([*newsletter, "check"], warm),
            "newsletter check (cache off)": ([*newsletter, "check"], cold),
            "newsletter render --format html": (
                [*newsletter, "render", SLUG, "--format", "html", *out],
                warm,
            ),
            "newsletter render --format html (cache off)": (
                [*newsletter, "render", SLUG, "--format", "html", *out],
                cold,
            ),
            "node mjml CLI": ([str(MJML_CLI), str(source), "-o", str(Path(tmp) / "n.html")], base),
        }
        version = subprocess.run(
            [str(MJML_CLI), "--version"], capture_output=True, text=True, check=True
        ).stdout.split()
        for command, env in cases.values():  # warm the file cache, the load and help caches
            _timed(command, env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(runs):  # alternate, so every case sees the same machine load
            for name, (command, env) in cases.items():
                times[name].append(_timed(command, env))
    wall = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
    cpu = {name: statistics.median(c for _, c in t) for name, t in times.items()}
    return wall, cpu, " ".join(version[-2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per measurement")
    args = parser.parse_args()
    if not MJML_CLI.exists():
        sys.exit(f"{MJML_CLI} is missing: run `npm ci` (make install-node) first")

    full, html = in_process(max(args.runs, 20))
    ms, cpu, version = whole_process(args.runs)
    python, node = ms["python -c pass"], ms["node mjml CLI"]
    rows = [
        ("in process: html + text + eml", f"{full:.1f} ms", "", "< 20 ms", full < 20),
        ("in process: html only", f"{html:.1f} ms", "", "", None),
        ("process: python -c pass", f"{python:.0f} ms", _cpu(cpu, "python -c pass"), "", None),
        (
            f"process: mjml Node CLI ({version})",
            f"{node:.0f} ms",
            _cpu(cpu, "node mjml CLI"),
            "",
            None,
        ),
    ]
    for name, goal_ms, peer, ratio_goal in (
        ("newsletter --help", None, python, 3.0),
        ("newsletter check (cache warm)", 150, python, None),
        ("newsletter check (cache off)", 150, python, None),
        ("newsletter render --format html", None, node, 0.5),
        ("newsletter render --format html (cache off)", None, node, None),
    ):
        rows.append(
            (f"process: {name}", f"{ms[name]:.0f} ms", _cpu(cpu, name), *_goal(ms[name], goal_ms))
        )
        peer_name = "python -c pass" if peer is python else "node mjml CLI"
        ratio = ms[name] / peer
        rows.append(
            (
                f"  ratio to {peer_name}",
                f"{ratio:.2f}x",
                f"{cpu[name] / cpu[peer_name]:.2f}x",
                f"<= {ratio_goal}x" if ratio_goal else "",
                ratio <= ratio_goal if ratio_goal else None,
            )
        )
    print(
        f"render benchmark, {SLUG}, medians (python {sys.version.split()[0]}; "
        "PYTHONDONTWRITEBYTECODE unset: .pyc files kept)"
    )
    print(f"{'measurement':<52} {'wall':>9} {'CPU':>9}  {'goal':>10}  met")
    print("-" * 90)
    for name, value, cpu_time, goal, met in rows:
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"{name:<52} {value:>9} {cpu_time:>9}  {goal:>10}  {mark}")
    print("wall: median wall-clock time (the goals); CPU: median user+system time of the process")


def _cpu(cpu: dict[str, float], name: str) -> str:
    return f"{cpu[name]:.0f} ms"


def _goal(value: float, goal_ms: float | None) -> tuple[str, bool | None]:
    return (f"<= {goal_ms} ms", value <= goal_ms) if goal_ms else ("", None)


if __name__ == "__main__":
    main()
