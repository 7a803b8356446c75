"""Benchmark the MIME paths of `newsletter send`: the outbox and SMTP, each against its peer.

    python bench/mime_paths.py [--recipients 20000]     (bench/send.py runs it first)

1. Build alone, in process: microseconds per message of the compiled message
   (render/mime.py) against the stdlib per-recipient build (tests/helpers/mail.py), the way
   every message was built before.
2. Outbox: a whole `newsletter send` process writing one .eml per recipient, recipients per
   second. Goal: >= 2,000/s. Peer: the stdlib per-recipient build writing the same files
   the same way (in this process, no ledger, no start-up: the peer's best case).
3. SMTP: a whole `newsletter send` process to a sink in its own process, one reused
   connection per worker (2 workers, the default). Goal: as fast as the peer, a bare
   smtplib loop on 2 threads sending the same message, already built, over one connection
   each to the same sink. Two sinks:
   - aiosmtpd (the issue's): it reads DATA line by line in pure-Python asyncio, about
     1.7 ms of its CPU for this 35 kB, 600-line message, so it absorbs at most about 600
     messages/s on a whole core, whoever sends. Its CPU per message is printed with the
     ceiling that makes, for our messages and for the peer's.
   - bulk: a minimal asyncio SMTP sink in this file that finds the end of DATA with one
     bytes.find per chunk received and announces PIPELINING (as Postfix and Exim do):
     it costs tens of microseconds a message, so the sender is what is measured. Goal:
     >= 2,000/s here too.
Each rate is given for the whole process and for the sending alone (first message to last,
as the files' times or the sink's clock saw them), which is what the peer's rate measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH.parent / "tests" / "send"), str(BENCH)]

from sendkit import free_port, sample_workspace, wait_for_port, write_list  # noqa: E402

SLUG = "vol-2-10"
SINKS = ("aiosmtpd", "bulk")


class Counter:
    """The messages a sink accepted, and when the first and the last arrived."""

    count, first, last = 0, 0.0, 0.0

    @classmethod
    def accepted(cls) -> None:
        now = time.monotonic()
        cls.count += 1  # one event loop: no lock needed
        cls.first = cls.first or now
        cls.last = now

    @classmethod
    def take(cls) -> str:
        rate = (cls.count - 1) / (cls.last - cls.first) if cls.count > 1 else 0
        line = f"{cls.count} {rate}"
        cls.count, cls.first, cls.last = 0, 0.0, 0.0
        return line


class AiosmtpdHandler:
    async def handle_DATA(self, server, session, envelope):
        Counter.accepted()
        return "250 OK"


EHLO = b"250-127.0.0.1\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 33554432\r\n"


class BulkSmtp(asyncio.Protocol):
    """An SMTP sink that takes each DATA whole: one find of CRLF.CRLF per chunk received.

    It accepts every command and every message, and answers pipelined commands together.
    """

    def connection_made(self, transport) -> None:
        self.transport, self.buffer = transport, bytearray()
        self.in_data, self.scanned = False, 0
        transport.write(b"220 127.0.0.1 ESMTP bulk sink\r\n")

    def data_received(self, data: bytes) -> None:
        buffer, replies = self.buffer, []
        buffer += data
        while buffer:
            if self.in_data:  # the buffer starts where the message does
                if buffer.startswith(b".\r\n"):  # an empty message
                    size = 3
                else:
                    end = buffer.find(b"\r\n.\r\n", self.scanned)
                    if end < 0:  # the next chunk starts the search where this one ended
                        self.scanned = max(len(buffer) - 4, 0)
                        break
                    size = end + 5
                del buffer[:size]
                self.in_data, self.scanned = False, 0
                Counter.accepted()
                replies.append(b"250 2.0.0 OK\r\n")
                continue
            end = buffer.find(b"\r\n")
            if end < 0:
                break
            verb = bytes(buffer[:4]).upper()
            del buffer[: end + 2]
            if verb == b"EHLO":
                replies.append(EHLO)
            elif verb == b"DATA":
                self.in_data = True
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"".join(replies) + b"221 Bye\r\n")
                self.transport.close()
                return
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                replies.append(b"250 OK\r\n")
        if replies:
            self.transport.write(b"".join(replies))


def serve(kind: str, port: int) -> None:
    """Run a sink on 127.0.0.1:port; each line on stdin asks for its count, rate and CPU."""
    if kind == "aiosmtpd":
        from aiosmtpd.controller import Controller

        controller = Controller(AiosmtpdHandler(), hostname="127.0.0.1", port=port)
        controller.start()
        stop = controller.stop
    else:
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(loop.create_server(BulkSmtp, "127.0.0.1", port))
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        def stop() -> None:
            server.close()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    cpu = time.process_time()
    for _ in sys.stdin:  # the counts are read after the sending is over
        now = time.process_time()
        print(Counter.take(), now - cpu, flush=True)
        cpu = now
    stop()


class Sink:
    """A sink (aiosmtpd or bulk) in its own process that counts the messages it accepts."""

    def __init__(self, kind: str) -> None:
        self.port = free_port()
        code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import mime_paths; "
        code += f"mime_paths.serve({kind!r}, {self.port})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        wait_for_port(self.port, self.process)
        self.take()  # its start-up's CPU is not a message's

    def take(self) -> tuple[int, float, float]:
        """Return the messages accepted, their rate (first to last) and the sink's CPU
        seconds, since the last call."""
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        count, rate, cpu = self.process.stdout.readline().split()
        return int(count), float(rate), float(cpu)

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

    for kind in SINKS:
        rows += smtp_rows(tmp / kind, kind, people, count, send)
    return rows


def smtp_rows(tmp: Path, kind: str, people: Path, count: int, send) -> list[tuple[str, ...]]:
    """Return the rows of a whole SMTP send and of the peer, to one sink of this kind."""
    from tests.helpers import REPO

    sink = Sink(kind)
    try:
        smtp = {"host": "127.0.0.1", "port": sink.port, "security": "none"}
        workspace = sample_workspace(tmp / "ws-smtp", provider="smtp", smtp=smtp)
        # No unsubscribe endpoint runs here: skip the probe of it (not part of sending).
        seconds, _, code = send(workspace, people, "--rate", "0", "--no-probe")
        received, sending, cpu = sink.take()
        assert code == 0 and received == count, (code, received)
        whole, sink_cpu = count / seconds, cpu / count
        smtplib_loop(REPO, sink.port, count)
        received, peer, cpu = sink.take()
        assert received == count // 2 * 2, received
        peer_cpu = cpu / received
    finally:
        sink.close()
    goal = "~1 (as fast as the peer)" if kind == "aiosmtpd" else ">= 2,000/s"
    return [
        (
            f"SMTP recipients/s, {count:,} to {kind}: whole process / sending",
            f"{whole:,.0f} / {sending:,.0f}",
            f"{peer:,.0f}",
            f"{whole / peer:.2f} / {sending / peer:.2f}",
            goal,
        ),
        (
            f"  ... {kind}'s CPU per message, us (its ceiling on one core, messages/s)",
            f"{sink_cpu * 1e6:,.0f} ({1 / sink_cpu:,.0f})",
            f"{peer_cpu * 1e6:,.0f} ({1 / peer_cpu:,.0f})",
            "-",
            "-",
        ),
    ]


def main() -> None:
    from send import print_table, send  # the process runner, shared with bench/send.py

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print_table(mime_rows(Path(tmp), args.recipients, send))


if __name__ == "__main__":
    main()
