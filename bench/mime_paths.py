"""The MIME paths of bench/send.py: the outbox and SMTP, each against its peer in the same run.

1. Build alone, in process: microseconds per message of the compiled message
   (render/mime.py) against the stdlib per-recipient build (tests/helpers/mail.py), the way
   every message was built before.
2. Outbox: a whole `newsletter send` process writing one .eml per recipient, recipients per
   second. Goal: >= 2,000/s. Peer: the stdlib per-recipient build writing the same files
   the same way (in this process, no ledger, no start-up: the peer's best case).
3. SMTP: a whole `newsletter send` process to an aiosmtpd sink in its own process, one
   reused connection per worker (2 workers, the default). Goal: as fast as the peer, a bare
   smtplib loop on 2 threads sending the same message, already built, over one connection
   each to the same sink.
Each rate is given for the whole process and for the sending alone (first message to last,
as the files' times or the sink's clock saw them), which is what the peer's rate measures.
"""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from sendkit import free_port, sample_workspace, wait_for_port, write_list

SLUG = "vol-2-10"
SINK = """
import sys, time
from aiosmtpd.controller import Controller

class Counter:
    count, first, last = 0, 0.0, 0.0

    async def handle_DATA(self, server, session, envelope):
        now = time.monotonic()
        Counter.count += 1  # one event loop: no lock needed
        Counter.first = Counter.first or now
        Counter.last = now
        return "250 OK"

controller = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
for line in sys.stdin:  # each line asks for the count and rate so far, then resets them
    rate = (Counter.count - 1) / (Counter.last - Counter.first) if Counter.count > 1 else 0
    print(Counter.count, rate, flush=True)
    Counter.count, Counter.first, Counter.last = 0, 0.0, 0.0
controller.stop()
"""


class Sink:
    """An aiosmtpd server in its own process that counts the messages it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", SINK, str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        wait_for_port(self.port, self.process)

    def take(self) -> tuple[int, float]:
        """Return the messages accepted and their rate (first to last) since the last call."""
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        count, rate = self.process.stdout.readline().split()
        return int(count), float(rate)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _message(root: Path):
    from newsletter.loader import require_issue
    from newsletter.render.message import render_message
    from newsletter.workspace import Workspace

    workspace = Workspace(root)
    series, loaded, _ = require_issue(workspace, SLUG)
    return render_message(workspace, series, loaded)


def _values(i: int) -> dict[str, str]:
    return {
        "email": f"peer{i}@example.org",
        "name": f"Peer {i}",
        "first_name": "Peer",
        "last_name": str(i),
        "unsubscribe_url": f"https://digest.example.org/unsubscribe/?token=t{i}",
    }


def build_times(root: Path, count: int = 2000) -> tuple[float, float]:
    """Return microseconds per message: (compiled message, stdlib build)."""
    from newsletter.render.message import personalize
    from newsletter.render.mime import CompiledMime
    from tests.helpers.mail import to_mime

    message = _message(root)
    compiled = CompiledMime(message)
    people = [_values(i) for i in range(count)]
    started = time.perf_counter()
    for values in people:
        compiled.build(values)
    ours = (time.perf_counter() - started) / count * 1e6
    few = people[: max(1, count // 10)]
    started = time.perf_counter()
    for values in few:
        to_mime(message, personalize(message, values)).as_bytes()
    peer = (time.perf_counter() - started) / len(few) * 1e6
    return ours, peer


def file_rate(folder: Path) -> float:
    """Return files/s from the first .eml written in folder to the last."""
    times = sorted(p.stat().st_mtime for p in folder.glob("*.eml"))
    return (len(times) - 1) / (times[-1] - times[0])


def stdlib_outbox(root: Path, folder: Path, count: int) -> float:
    """Return recipients/s of the stdlib build writing one .eml each, as the outbox does."""
    from newsletter.render.message import personalize
    from newsletter.send.providers.outbox import file_name
    from tests.helpers.mail import to_mime

    message = _message(root)
    folder.mkdir(parents=True)
    for i in range(count):
        values = _values(i)
        path = folder / file_name(values["email"])
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(to_mime(message, personalize(message, values)).as_bytes())
        os.replace(partial, path)
    return file_rate(folder)


def smtplib_loop(root: Path, port: int, count: int, threads: int = 2) -> None:
    """Send count messages with bare smtplib clients, one pre-built message each time."""
    from newsletter.render.mime import CompiledMime

    data = CompiledMime(_message(root)).build(_values(0))
    each = count // threads

    def worker() -> None:
        with smtplib.SMTP("127.0.0.1", port) as server:
            for _ in range(each):
                server.sendmail("digest@example.org", ["peer0@example.org"], data)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


def mime_rows(tmp: Path, count: int, send) -> list[tuple[str, ...]]:
    """Return the table rows of the MIME paths; send(workspace, list, *flags) runs a send."""
    from tests.helpers import REPO

    rows = []
    ours, peer = build_times(REPO)
    rows.append(
        (
            "build one message in process, us (compiled vs stdlib)",
            f"{ours:,.0f}",
            f"{peer:,.0f}",
            f"{peer / ours:.1f}x faster",
            "-",
        )
    )
    people = write_list(tmp / f"mime-list-{count}.csv", count)

    workspace = sample_workspace(tmp / "ws-outbox", provider="outbox")
    seconds, _, code = send(workspace, people, "--rate", "0")
    written = len(list((workspace / "outbox" / SLUG).glob("*.eml")))
    assert code == 0 and written == count, (code, written)
    whole, sending = count / seconds, file_rate(workspace / "outbox" / SLUG)
    peer = stdlib_outbox(REPO, tmp / "peer-outbox", min(count, 3000))
    rows.append(
        (
            f"outbox recipients/s, {count:,}: whole process / sending",
            f"{whole:,.0f} / {sending:,.0f}",
            f"{peer:,.0f}",
            f"{whole / peer:.1f} / {sending / peer:.1f}",
            ">= 2,000/s",
        )
    )

    sink = Sink()
    try:
        smtp = {"host": "127.0.0.1", "port": sink.port, "security": "none"}
        workspace = sample_workspace(tmp / "ws-smtp", provider="smtp", smtp=smtp)
        # No unsubscribe endpoint runs here: skip the probe of it (not part of sending).
        seconds, _, code = send(workspace, people, "--rate", "0", "--no-probe")
        received, sending = sink.take()
        assert code == 0 and received == count, (code, received)
        whole = count / seconds
        smtplib_loop(REPO, sink.port, count)
        received, peer = sink.take()
        assert received == count // 2 * 2, received
    finally:
        sink.close()
    rows.append(
        (
            f"SMTP recipients/s, {count:,} to aiosmtpd: whole process / sending",
            f"{whole:,.0f} / {sending:,.0f}",
            f"{peer:,.0f}",
            f"{whole / peer:.2f} / {sending / peer:.2f}",
            "~1 (as fast as the peer)",
        )
    )
    return rows
