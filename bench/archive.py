"""Benchmark the archive: WeasyPrint against Chromium, incremental against cold builds.

    python bench/archive.py [--rounds N] [--only pdf|build]

Both engines print the same print.html of each sample issue (the repository's
workspace, copied to a temporary folder). WeasyPrint runs as newsletter runs it
(in process, PDF/A-3b, tagged), as `newsletter render --format pdf` (the whole
command: start, load, print HTML, PDF) and as WeasyPrint's own command line
(interpreter start and import included, like Chromium's process start);
Chromium is the Debian package, headless. Medians of N rounds, and the ratio
Chromium / WeasyPrint (> 1: ours is faster). The command is timed three ways:
cold (no PDF worker running: the command starts one, as a user's first PDF
does), warm (the worker of the previous command still running) and with the
worker disabled (NEWSLETTER_PDF_WORKER=off: everything in process).

The build section makes 200 digest issues from vol-2-10, times a cold
`newsletter build` (no site yet: every web page and PDF, in parallel across
cores; median of up to 3), then the median rebuild after editing one issue's
headline (goal: at least 20x faster than cold).

The rebuild500 section makes 500 issues, builds them once, then times a rebuild with
nothing changed (goal: 0.3 s) and after editing one issue (goal: 0.8 s; cold: no PDF
worker yet, and warm), against the same no-op with both caches off (every issue parsed
and validated again).

Wall-clock times: run on a quiet machine. Whether Python may write .pyc files is
printed with the results (a user's machine writes them once).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' Chromium: Debian's, with the offline flags

from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

CHROMIUM_FLAGS = [*CHROMIUM_ARGS, "--no-pdf-header-footer"]

Row = tuple[str, str, float, float, str]  # case, detail, ours (s), peer (s), note


def median_time(
    action: Callable[[], object], rounds: int, before: Callable[[], object] | None = None
) -> float:
    """Return the median wall time of action over rounds, after one warm-up run.

    before runs ahead of each round, untimed (stopping the PDF worker, for cold rounds).
    """
    action()
    times = []
    for _ in range(rounds):
        if before is not None:
            before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stop_worker(root: Path) -> None:
    """Stop the workspace's PDF worker, if one runs, and wait until it is gone."""
    pid_file = root / ".newsletter" / "pdf-worker.pid"
    try:
        pid = int(pid_file.read_text(encoding="utf-8"))
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    while pid_file.exists():
        time.sleep(0.01)


def edit_headline(issue: Path, words) -> None:
    """Change the issue's first headline: every output of the issue changes."""
    text = re.sub(
        r"(?m)^(  - headline: \").*?(\")",
        rf"\g<1>Edited headline {next(words)}\2",
        issue.read_text("utf-8"),
        count=1,
    )
    issue.write_text(text, encoding="utf-8")


def sample_workspace(folder: Path):
    """Copy the sample workspace into folder and return it."""
    from newsletter.workspace import Workspace

    folder.mkdir(parents=True)
    for name in ("newsletter.yaml", "issues", "images"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / name)
    return Workspace(folder)


def pages(pdf: Path) -> int:
    """Return the page count pdfinfo reports."""
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


def bench_pdf(rounds: int, scratch: Path) -> list[Row]:
    """Time WeasyPrint (in process and CLI) and Chromium printing the same print.html."""
    from newsletter.loader import require_issue
    from newsletter.render.pdf import write_pdf
    from newsletter.render.print import write_print

    chromium = CHROMIUM
    if not Path(chromium).is_file():
        sys.exit("chromium is missing: apt-get install chromium (see 'newsletter doctor')")
    workspace = sample_workspace(scratch / "ws")
    rows: list[Row] = []
    for slug in ("vol-2-10", "vol-3-8"):
        series, loaded, _ = require_issue(workspace, slug)
        html_path, _ = write_print(workspace, series, loaded, workspace.build_dir)
        html = html_path.read_text(encoding="utf-8")
        ours_pdf = scratch / f"{slug}-weasyprint.pdf"
        cli_pdf = scratch / f"{slug}-weasyprint-cli.pdf"
        peer_pdf = scratch / f"{slug}-chromium.pdf"
        profile = scratch / f"profile-{slug}"

        def ours(html=html, series=series, loaded=loaded, out=ours_pdf, base=html_path.parent):
            write_pdf(html, workspace, series, loaded, out, base_url=base)

        def weasy_cli(src=html_path, out=cli_pdf):
            subprocess.run(
                [sys.executable, "-m", "weasyprint", "-q", "--pdf-variant", "pdf/a-3b",
                 "--pdf-tags", str(src), str(out)],
                check=True,
            )  # fmt: skip

        def peer(src=html_path, out=peer_pdf, profile=profile):
            subprocess.run(
                [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                 f"--print-to-pdf={out}", src.as_uri()],
                check=True, capture_output=True,
            )  # fmt: skip

        def newsletter_cli(slug=slug, out=scratch / f"cli-{slug}", env=None):
            subprocess.run(
                [sys.executable, "-m", "newsletter", "--workspace", str(workspace.root),
                 "render", slug, "--format", "pdf", "-o", str(out)],
                check=True, capture_output=True, env=env,
            )  # fmt: skip

        def in_process_cli(command=newsletter_cli):
            command(env={**os.environ, "NEWSLETTER_PDF_WORKER": "off"})

        inproc = median_time(ours, rounds)
        cold = median_time(newsletter_cli, rounds, before=lambda: stop_worker(workspace.root))
        warm = median_time(newsletter_cli, rounds)
        stop_worker(workspace.root)
        no_worker = median_time(in_process_cli, rounds)
        cli = median_time(weasy_cli, rounds)
        chrome = median_time(peer, rounds)
        size = f"{pages(ours_pdf)} vs {pages(peer_pdf)} pages"
        command = "newsletter render --format pdf"
        rows.append((slug, "in process", inproc, chrome, size))
        rows.append((slug, f"{command}, cold (starts the PDF worker)", cold, chrome, size))
        rows.append((slug, f"{command}, repeated (warm PDF worker)", warm, chrome, size))
        rows.append((slug, f"{command}, NEWSLETTER_PDF_WORKER=off", no_worker, chrome, size))
        rows.append((slug, "weasyprint command line", cli, chrome, size))
    return rows


def archive_of(folder: Path, count: int):
    """Return a workspace with count digest issues made from vol-2-10 (25 per volume)."""
    import datetime as dt

    workspace = sample_workspace(folder)
    template = (workspace.issues_dir / "vol-2-10.yaml").read_text(encoding="utf-8")
    for path in workspace.issue_paths():
        path.unlink()
    day = dt.date(2020, 1, 3)
    for i in range(count):
        volume, number = divmod(i, 25)
        text = re.sub(r"(?m)^volume: .*$", f"volume: {volume + 1}", template)
        text = re.sub(r"(?m)^number: .*$", f"number: {number + 1}", text)
        text = re.sub(r"(?m)^date: .*$", f"date: {day + dt.timedelta(days=14 * i)}", text)
        (workspace.issues_dir / f"vol-{volume + 1}-{number + 1}.yaml").write_text(text, "utf-8")
    return workspace


def bench_build(rounds: int, scratch: Path) -> list[Row]:
    """Time a cold `newsletter build` of 200 issues against rebuilding after editing one."""
    count = 200
    workspace = archive_of(scratch / "archive", count)
    command = [sys.executable, "-m", "newsletter", "--workspace", str(workspace.root), "build"]

    def build() -> None:
        subprocess.run(command, check=True, capture_output=True)

    def cold_build() -> None:
        shutil.rmtree(workspace.root / "site", ignore_errors=True)
        build()

    # Cold builds take half a minute each: three, for a median that one slow run can't skew.
    times = []
    for _ in range(min(rounds, 3)):
        start = time.perf_counter()
        cold_build()
        times.append(time.perf_counter() - start)
    cold = statistics.median(times)
    edited = workspace.issues_dir / "vol-3-7.yaml"
    words = iter(range(10**6))

    def edit_and_build() -> None:
        edit_headline(edited, words)
        build()

    incremental = median_time(edit_and_build, rounds)
    noop = median_time(build, rounds)
    stop_worker(workspace.root)
    return [
        (f"{count} issues", "rebuild after editing one", incremental, cold, "peer: cold build"),
        (f"{count} issues", "rebuild, nothing changed", noop, cold, "peer: cold build"),
    ]


def bench_rebuild_500(rounds: int, scratch: Path) -> list[Row]:
    """Time no-op and one-issue rebuilds of 500 issues against re-validating every issue."""
    count = 500
    workspace = archive_of(scratch / "archive500", count)
    cache = scratch / "load-cache"
    command = [sys.executable, "-m", "newsletter", "--workspace", str(workspace.root), "build"]
    cached = {**os.environ, "NEWSLETTER_CACHE_DIR": str(cache)}
    uncached = {**os.environ, "NEWSLETTER_CACHE_DIR": "off"}
    subprocess.run(command, check=True, capture_output=True, env=cached)  # the cold build
    record = workspace.root / "site" / ".build-inputs.json"

    def noop() -> None:
        subprocess.run(command, check=True, capture_output=True, env=cached)

    def revalidate() -> None:
        # Today's no-op without either cache: every issue parsed and validated again.
        record.unlink(missing_ok=True)
        subprocess.run(command, check=True, capture_output=True, env=uncached)

    edited = workspace.issues_dir / "vol-7-7.yaml"
    words = iter(range(10**6))

    def edit_one() -> None:
        edit_headline(edited, words)
        subprocess.run(command, check=True, capture_output=True, env=cached)

    peer = median_time(revalidate, rounds)
    ours = median_time(noop, rounds)
    cold = median_time(edit_one, rounds, before=lambda: stop_worker(workspace.root))
    warm = median_time(edit_one, rounds)
    stop_worker(workspace.root)
    peer_note = "peer: the same no-op validating every issue"
    one = "rebuild after editing one (goal <= 0.8 s)"
    return [
        (f"{count} issues", "rebuild, nothing changed (goal <= 0.3 s)", ours, peer, peer_note),
        (f"{count} issues", f"{one}, cold (starts the PDF worker)", cold, peer, peer_note),
        (f"{count} issues", f"{one}, repeated (warm PDF worker)", warm, peer, peer_note),
    ]


SECTIONS: dict[str, tuple[str, Callable[[int, Path], list[Row]]]] = {
    "pdf": ("PDF: WeasyPrint vs Chromium --print-to-pdf (same print.html)", bench_pdf),
    "build": (
        "Build: incremental rebuild vs cold build of the archive (whole process)",
        bench_build,
    ),
    "rebuild500": (
        "Build: no-op and one-issue rebuilds of 500 issues (whole process; one cold build first)",
        bench_rebuild_500,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per case (median)")
    parser.add_argument(
        "--only", choices=sorted(SECTIONS), action="append", help="run only this section"
    )
    args = parser.parse_args()
    pyc = "not written" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "written"
    print(f"Wall-clock seconds; .pyc files {pyc} (PYTHONDONTWRITEBYTECODE)")
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        for name in args.only or list(SECTIONS):
            title, section = SECTIONS[name]
            rows = section(args.rounds, Path(tmp))
            print(f"\n{title}, median of {args.rounds}")
            print("| case | ours | ours (s) | peer (s) | peer/ours | note |")
            print("|---|---|---:|---:|---:|---|")
            for case, detail, ours, peer, note in rows:
                print(
                    f"| {case} | {detail} | {ours:.3f} | {peer:.3f} | {peer / ours:.2f}x | {note} |"
                )


if __name__ == "__main__":
    main()
