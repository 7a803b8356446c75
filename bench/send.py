"""Benchmark `newsletter send` of the sample issue vol-2-10 to a local Postmark-shaped server.

    python bench/send.py [--recipients 100000] [--rate 20] [--mime-recipients 20000] [--mime-only]
                         [--store both|sqlite|postgresql]

Every send is a real `python -m newsletter send ... --yes` process, posting to a threaded
HTTP server on 127.0.0.1 in this process that checks and answers each batch as Postmark
documents it (tests/send/provider_fakes.py). Its peak memory is its own high-water mark
(VmHWM in /proc/PID/status, read every 10 ms while it runs): the ru_maxrss that wait4
reports for a child also counts the peak of this process (subprocess starts children with
vfork, and exec records the parent's high-water mark in the child's), so it measured the
bench's own server, not the send.

1. Throughput at zero latency: 100,000 recipients, recipients per second.
   Goal: over 5,000/s. Peer (the ratio's baseline): a bare httpx loop posting the same
   batches, already built, to the same server: the most the server and the wire allow.
2. Memory: peak RSS for 100,000 and for 10,000 recipients. Goal: flat (within 10%).
3. Rate limit: the server allows N requests/s (429 beyond); `--rate N`; achieved calls per
   second at the server as a share of N. Goal: at least 90%.
4. Crash safety: the 100,000 send killed with SIGKILL three times, then resumed, with 10%
   of the server's answers 429 and 10% 500 (the 500s taking nothing): duplicates at the
   server and recipients missing without being reported (goal: 0 and 0), and recipients
   left `unknown` after the resume (goal: 0; the resume reconciles them with the server's
   Messages API, settling after 2 s: this server's index does not lag).
5. The MIME paths, outbox and SMTP (to aiosmtpd and to a sink that is no bottleneck), each
   against its peer (see bench/mime_paths.py, which also runs alone).
6. The PostgreSQL state (a server this bench starts from Debian's binaries, as the tests
   do): 1, 2 and 4 again with NEWSLETTER_DATABASE_URL on it. Goal: throughput within 1.5x
   of SQLite's (ratio >= 0.67), memory flat, 0 duplicates and 0 silent losses.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "send")]

from mime_paths import mime_rows  # noqa: E402
from provider_fakes import PostmarkServer  # noqa: E402
from sendkit import cli_env, sample_workspace, write_list  # noqa: E402

SLUG = "vol-2-10"


class TimedPostmark(PostmarkServer):
    """The Postmark-shaped server, also noting when each accepted call arrived."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.accepted: list[float] = []

    def reset(self) -> None:
        super().reset()
        self.accepted.clear()

    def accept(self, request, body):
        answer = super().accept(request, body)
        with self.lock:
            self.accepted.append(time.monotonic())
        return answer


def peak_rss(pid: int) -> float:
    """Return a running process's own peak RSS so far in MB (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def send(workspace: Path, subscribers: Path, *extra: str, kill_when=None, env=None):
    """Run one send process; return (seconds, peak RSS in MB, exit code).

    kill_when: a function that returns True when the process is to be killed with SIGKILL.
    """
    command = [
        sys.executable,
        "-m",
        "newsletter",
        "-w",
        str(workspace),
        "send",
        SLUG,
        "--list",
        str(subscribers),
        "--yes",
        "--no-sync",  # the local server is no provider's suppression API
        "--no-probe",  # nor is there a `newsletter serve` at the sample's unsubscribe URL
        *extra,
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=cli_env(**(env or {})), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if kill_when is not None:

        def watch() -> None:
            while process.poll() is None:
                if kill_when():
                    _kill(process.pid)
                    return
                time.sleep(0.005)

        threading.Thread(target=watch, daemon=True).start()
    peak, ended = [0.0], threading.Event()

    def measure() -> None:  # VmHWM only grows: the last reading is the peak (to 10 ms)
        while not ended.wait(0.01):  # (never poll(): it could reap the child before wait4)
            peak[0] = max(peak[0], peak_rss(process.pid))

    measuring = threading.Thread(target=measure, daemon=True)
    measuring.start()
    _, status, _ = os.wait4(process.pid, 0)
    ended.set()
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    measuring.join()
    return elapsed, peak[0], process.returncode


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def baseline(server: TimedPostmark, workspace: Path, count: int) -> float:
    """Return recipients/s of a bare httpx loop posting pre-built batches of 500."""
    import httpx

    from newsletter.loader import require_issue
    from newsletter.render.message import render_message
    from newsletter.send.providers.base import Batch
    from newsletter.send.providers.postmark import PostmarkProvider
    from newsletter.send.subscribers import Recipient
    from newsletter.workspace import Workspace

    ws = Workspace(workspace)
    series, loaded, _ = require_issue(ws, SLUG)
    message = render_message(ws, series, loaded)
    provider = PostmarkProvider(message, series.delivery)
    people = [
        Recipient(
            f"peer{i}@example.org",
            i,
            {
                "email": f"peer{i}@example.org",
                "name": "Peer",
                "unsubscribe_url": "https://example.org/u",
            },
        )
        for i in range(500)
    ]
    call = provider.prepare(Batch("peer", people))
    headers = {
        "X-Postmark-Server-Token": server.token,
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    calls = count // 500
    done = threading.Semaphore(0)

    def worker(n: int) -> None:
        with httpx.Client(timeout=60) as client:
            for _ in range(n):
                client.post(call.url, content=call.content, headers=headers).raise_for_status()
        done.release()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(calls // 4,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in threads:
        done.acquire()
    return (calls // 4 * 4 * 500) / (time.monotonic() - started)


def throughput(server, workspace, lists, big, small, state, tag):
    """Send to both lists, each with a fresh state (state() gives its environment).

    Return {n: (seconds, peak RSS MB)}.
    """
    results = {}
    for n in (big, small):
        server.reset()
        ws = workspace(f"ws-{tag}-{n}")
        seconds, peak, code = send(ws, lists[n], "--rate", "0", env=state())
        assert code == 0 and len(server.received) == n, (code, len(server.received))
        assert max(server.received.values()) == 1 and not server.errors
        results[n] = (seconds, peak)
    return results


def memory_row(results, big, small, tag):
    growth = results[big][1] / results[small][1]
    return (
        f"peak RSS MB, {big:,} vs {small:,}{tag}",
        f"{results[big][1]:.0f} vs {results[small][1]:.0f}",
        "-",
        f"{growth:.2f}",
        "flat (< 1.10)",
    )


def kill_and_resume(server, ws, subscribers, big, env, tag):
    """Kill the send three times mid-run (10% 429s, 10% 500s), resume; return table rows."""
    server.reset()
    server.chaos = [("429", 0.1), ("500", 0.1)]
    for share in (0.15, 0.45, 0.75):  # mid-run, at a random point near each share
        at = int(big * (share + random.uniform(0, 0.05)))
        send(
            ws,
            subscribers,
            "--rate",
            "0",
            kill_when=lambda at=at: sum(server.received.values()) >= at,
            env=env,
        )
    _, _, code = send(ws, subscribers, "--rate", "0", env=env)
    server.chaos = []
    command = [sys.executable, "-m", "newsletter", "-w", str(ws), "status", SLUG]
    status = subprocess.run(
        [*command, "--state", "unknown"],
        capture_output=True,
        text=True,
        check=True,
        env=cli_env(**(env or {})),
    )
    unknown = set(status.stdout.split())
    duplicates = sum(v - 1 for v in server.received.values())
    everyone = {f"user{i}@example.org" for i in range(big)}
    silent = len(everyone - set(server.received) - unknown)
    return [
        (
            f"kill -9 x3 + resume, {big:,}, 10% 429 + 10% 500: duplicates / silent losses{tag}",
            f"{duplicates} / {silent}",
            "-",
            "-",
            "0 / 0",
        ),
        (
            f"  ... recipients left unknown after the resume (its exit code){tag}",
            f"{len(unknown)} ({code})",
            "-",
            "-",
            "0 (0)",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20.0, help="the server's limit, calls/s")
    parser.add_argument(
        "--store",
        choices=("both", "sqlite", "postgresql"),
        default="both",
        help="the state store(s) to measure",
    )
    parser.add_argument("--mime-recipients", type=int, default=20_000, help="outbox and SMTP")
    parser.add_argument("--mime-only", action="store_true", help="only the outbox and SMTP")
    args = parser.parse_args()
    big, small = args.recipients, args.recipients // 10
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.store != "postgresql":
            rows += mime_rows(tmp, args.mime_recipients, send)
        if args.mime_only:
            return print_table(rows)
        server = TimedPostmark()
        lists = {n: write_list(tmp / f"list-{n}.csv", n) for n in (big, small)}

        def workspace(name: str, **delivery) -> Path:
            return sample_workspace(
                tmp / name, provider="postmark", api_base=server.url, **delivery
            )

        sqlite = None
        if args.store != "postgresql":
            # 1 + 2: throughput and memory.
            sqlite = throughput(server, workspace, lists, big, small, dict, "sqlite")
            server.reset()
            peer = baseline(server, workspace("ws-peer"), big)
            ours = big / sqlite[big][0]
            rows.append(
                (
                    f"recipients/s, {big:,} (whole process)",
                    f"{ours:,.0f}",
                    f"{peer:,.0f}",
                    f"{ours / peer:.2f}",
                    "> 5,000/s",
                )
            )
            rows.append(memory_row(sqlite, big, small, ""))

            # 3: a rate-limited server.
            server.reset()
            server.rate_limit, server.burst, server.tokens = args.rate, 2.0, 1.0
            ws = workspace("ws-rate", batch_size=max(1, int(small / (args.rate * 10))))
            send(ws, lists[small], "--rate", f"{args.rate:g}")
            server.rate_limit = None
            accepted = sorted(server.accepted)
            achieved = (len(accepted) - 1) / (accepted[-1] - accepted[0])
            rows.append(
                (
                    f"calls/s at a server allowing {args.rate:g}/s ({len(accepted)} calls)",
                    f"{achieved:.1f}",
                    f"{args.rate:g}",
                    f"{achieved / args.rate:.1%}",
                    ">= 90%",
                )
            )
            rows.append(("429s from the limited server", str(server.limited), "-", "-", "few"))

            # 4: kill -9 three times, then resume.
            ws = workspace("ws-kill", reconcile_settle=2)
            rows.extend(kill_and_resume(server, ws, lists[big], big, None, ""))

        if args.store != "sqlite":
            # 6: the same on PostgreSQL, each run in a schema of its own.
            from tests.helpers.postgres import PostgresServer

            postgres = PostgresServer()
            try:

                def schema():
                    return {"NEWSLETTER_DATABASE_URL": postgres.schema()}

                pg = throughput(server, workspace, lists, big, small, schema, "pg")
                ours = big / pg[big][0]
                peer = big / sqlite[big][0] if sqlite else None
                rows.append(
                    (
                        f"recipients/s, {big:,}, PostgreSQL state (peer: SQLite)",
                        f"{ours:,.0f}",
                        f"{peer:,.0f}" if peer else "-",
                        f"{ours / peer:.2f}" if peer else "-",
                        ">= 0.67 (within 1.5x)",
                    )
                )
                rows.append(memory_row(pg, big, small, ", PostgreSQL"))
                ws = workspace("ws-kill-pg", reconcile_settle=2)
                rows.extend(kill_and_resume(server, ws, lists[big], big, schema(), ", PostgreSQL"))
            finally:
                postgres.stop()
        server.close()

    print_table(rows)


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Print the measures as a table, with what the peers are."""
    header = ("measure", "newsletter", "peer", "ratio", "goal")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(5)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(
        "(peers: API, a bare httpx loop, 4 threads, posting pre-built batches of 500; outbox, "
        "the stdlib per-recipient build writing the same files; SMTP, bare smtplib on 2 "
        "threads sending a pre-built message to the same sink (aiosmtpd, or the bench's bulk "
        f"sink); PostgreSQL state, the same send on SQLite; "
        f"machine: {os.cpu_count()} cores; "
        f"bench RSS {resource.getrusage(0).ru_maxrss // 1024} MB)"
    )


if __name__ == "__main__":
    main()
