"""A warm PDF printer: one process per user and workspace keeps WeasyPrint loaded between commands.

Importing WeasyPrint and loading its fonts costs about 0.5 s of CPU, more than printing
an issue; paid by every `render --format pdf` and one-issue `build`, it made the command
slower than Chromium's --print-to-pdf. The first command that prints a PDF starts this
worker, detached, and the commands after it hand their print jobs to it.

- It listens on an abstract Unix socket named after the user id and the workspace, and
  answers only processes of its own user (SO_PEERCRED); the client likewise refuses a
  socket held by another user, which could otherwise read the print HTML.
- It exits after NEWSLETTER_PDF_WORKER_IDLE seconds without a job (default 600), and at
  once when a job comes from a different package version, WeasyPrint or font set.
- It is never needed for correctness: if it is absent, disabled (NEWSLETTER_PDF_WORKER=off)
  or fails, the PDF is printed in process, with the same code and the same bytes.
- Its pid is in .newsletter/pdf-worker.pid: `kill` it to stop it now.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import RenderError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from newsletter.render.pdf import PdfJob, PdfResult
    from newsletter.workspace import Workspace

ENABLE_VARIABLE = "NEWSLETTER_PDF_WORKER"
IDLE_VARIABLE = "NEWSLETTER_PDF_WORKER_IDLE"
IDLE_SECONDS = 600.0
PID_FILE = "pdf-worker.pid"
# A job is one issue; the largest sample prints in under a second. Past this, the worker
# is presumed stuck and the PDF is printed in process instead.
REPLY_TIMEOUT = 120.0
START_TIMEOUT = 5.0  # a new worker binds its socket before importing anything heavy
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")
_FONT_CONFIGS = ("/etc/fonts", "~/.config/fontconfig")

_client: WorkerClient | None = None


def enabled() -> bool:
    """Return whether commands may use a PDF worker (Linux only: abstract sockets)."""
    value = os.environ.get(ENABLE_VARIABLE, "").strip().lower()
    return sys.platform.startswith("linux") and value not in {"0", "off", "no", "false"}


def socket_name(root: Path) -> str:
    """Return the abstract socket name of the worker of this user and workspace."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:20]
    return f"\0newsletter-pdf-worker-{os.getuid()}-{digest}"


def _tree_stamps(folder: Path) -> list[str]:
    # fontconfig notices new fonts by folder times; so does this.
    stamps = []
    for path, dirs, _files in os.walk(folder):
        dirs.sort()
        with_time = os.stat(path).st_mtime_ns
        stamps.append(f"{path}:{with_time}")
    return stamps


def worker_key() -> str:
    """Return what a worker must share with a client: code versions, fonts, font settings."""
    import importlib.util

    import newsletter

    parts = [newsletter.__version__, sys.executable, sys.version]
    for module in ("newsletter.render.pdf", "weasyprint", "pydyf", "fontTools"):
        spec = importlib.util.find_spec(module)
        origin = spec.origin if spec and spec.origin else ""
        stamp = os.stat(origin).st_mtime_ns if origin else 0
        parts.append(f"{module}:{origin}:{stamp}")
    for folder in (*_FONT_DIRS, *_FONT_CONFIGS):
        path = Path(folder).expanduser()
        if path.is_dir():
            parts.extend(_tree_stamps(path))
    for variable in ("FONTCONFIG_FILE", "FONTCONFIG_PATH", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        parts.append(f"{variable}={os.environ.get(variable, '')}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _read_line(conn: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


class WorkerClient:
    """Hand print jobs to the workspace's PDF worker, starting it when none answers."""

    def __init__(self, workspace: Workspace, lang: str):
        self.workspace = workspace
        self.lang = lang
        self.name = socket_name(workspace.root)
        self.key = worker_key()
        self.failed = False  # after one failure, print in process for the rest of the command

    def running(self) -> bool:
        """Return whether a worker of this user answers on the socket."""
        try:
            self._connect(timeout=0.5).close()
        except OSError:
            return False
        return True

    def start(self) -> None:
        """Start a detached worker (it exits by itself if one is already listening)."""
        command = [sys.executable, "-m", "newsletter.render.pdfworker", self.key, self.lang]
        command.append(str(self.workspace.root.resolve()))
        pid = os.fork()
        if pid == 0:  # the child forks the worker and leaves: no zombie, no tie to us
            try:
                os.setsid()
                if os.fork() == 0:
                    os.chdir("/")  # hold no folder busy
                    null = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(null, fd)
                    os.execv(sys.executable, command)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)

    def _connect(self, timeout: float) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(timeout)
        try:
            conn.connect(self.name)
            if _peer_uid(conn) != os.getuid():  # someone else took the name: never send
                raise ConnectionRefusedError("the PDF worker socket belongs to another user")
        except OSError:
            conn.close()
            raise
        return conn

    def _connect_waiting(self) -> socket.socket:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                return self._connect(timeout=1.0)
            except (ConnectionRefusedError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def print(self, job: PdfJob) -> PdfResult | None:
        """Print job in the worker; None if no worker could (the caller prints in process)."""
        if self.failed:
            return None
        for _attempt in range(2):
            try:
                reply = self._ask(job)
            except (OSError, ValueError):
                break
            if reply.get("stale"):  # an older worker: it has left; start ours
                try:
                    self.start()
                except OSError:
                    break
                continue
            if "error" in reply:
                raise RenderError(str(reply["error"]))
            if "messages" in reply:
                from newsletter.render.pdf import PdfResult

                return PdfResult(list(reply["messages"]), list(reply["refused"]))
            break
        self.failed = True
        return None

    def print_anywhere(self, job: PdfJob) -> PdfResult:
        """Print job in the worker, or in process if the worker cannot."""
        from newsletter.render.pdf import print_pdf

        return self.print(job) or print_pdf(job)

    def _ask(self, job: PdfJob) -> dict:
        request = {"key": self.key, "job": _job_data(job)}
        with self._connect_waiting() as conn:
            conn.settimeout(REPLY_TIMEOUT)
            conn.sendall(json.dumps(request).encode() + b"\n")
            reply = json.loads(_read_line(conn))
        if not isinstance(reply, dict):
            raise ValueError("malformed reply")
        return reply


def _job_data(job: PdfJob) -> dict:
    data = asdict(job)
    for name in ("out_path", "root", "base_url"):
        data[name] = str(Path(data[name]).absolute())
    data["keywords"] = list(job.keywords)
    return data


def _job_from(data: dict) -> PdfJob:
    from newsletter.render.pdf import PdfJob

    values = {f.name: data[f.name] for f in fields(PdfJob)}
    for name in ("out_path", "root", "base_url"):
        values[name] = Path(values[name])
    values["keywords"] = tuple(values["keywords"])
    return PdfJob(**values)


@contextmanager
def printing(workspace: Workspace, lang: str) -> Iterator[WorkerClient | None]:
    """Route this process's PDFs to the workspace's worker, starting it now if none answers.

    Starting it before the issues load lets its import run on the other core meanwhile.
    With workers disabled (or unable to start), WeasyPrint loads in a thread instead.
    """
    global _client
    _client = client_for(workspace, lang)
    if _client is None:
        from newsletter.render.pdf import start_warm_up

        start_warm_up(lang)
    try:
        yield _client
    finally:
        _client = None


def client_for(workspace: Workspace, lang: str) -> WorkerClient | None:
    """Return a client of the workspace's worker, starting one; None when disabled."""
    if not enabled():
        return None
    client = WorkerClient(workspace, lang)
    if not client.running():
        try:
            client.start()
        except OSError:
            return None
    return client


def current() -> WorkerClient | None:
    """Return the worker this process prints through, while a command prints through one."""
    return _client


# The worker side.


def serve(key: str, lang: str, root: Path) -> None:
    """Listen for print jobs until idle; exit when a job needs another version or font set."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(socket_name(root))
    except OSError:
        return  # a worker is listening already
    listener.listen(16)
    # `kill` (SIGTERM) then runs the clean-up below: the pid file goes with the worker.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pid_file = root / ".newsletter" / PID_FILE
    try:
        pid_file.parent.mkdir(exist_ok=True)
        pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
    except OSError:
        pid_file = None
    try:
        from newsletter.render.pdf import warm_up

        # Jobs wait in the backlog meanwhile. Laying out a line to load the fonts only
        # helps while no job waits: the first job would load them just the same.
        warm_up(lang, fonts=not _waiting(listener))
        _accept_until_idle(listener, key)
    finally:
        listener.close()
        if pid_file is not None:
            with suppress(OSError):
                if pid_file.read_text(encoding="utf-8").strip() == str(os.getpid()):
                    pid_file.unlink()


def _waiting(listener: socket.socket) -> bool:
    """Return whether a client waits to be accepted."""
    import select

    return bool(select.select([listener], [], [], 0)[0])


def _idle_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get(IDLE_VARIABLE, IDLE_SECONDS)))
    except ValueError:
        return IDLE_SECONDS


def _accept_until_idle(listener: socket.socket, key: str) -> None:
    listener.settimeout(_idle_seconds())
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            return
        with conn:
            if _peer_uid(conn) != os.getuid():
                continue  # another user's process: no answer at all
            if not _answer(conn, listener, key):
                return


def _answer(conn: socket.socket, listener: socket.socket, key: str) -> bool:
    """Answer one request; return False when this worker must exit."""
    from newsletter.render.pdf import print_pdf

    conn.settimeout(REPLY_TIMEOUT)
    try:
        request = json.loads(_read_line(conn))
        if request.get("key") != key:
            listener.close()  # free the name before answering, for the new worker
            conn.sendall(b'{"stale": true}\n')
            return False
        job = _job_from(request["job"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return True
    try:
        result = print_pdf(job)
        reply = {"messages": result.messages, "refused": result.refused}
    except RenderError as exc:
        reply = {"error": exc.message}
    except Exception as exc:  # the client prints in process and reports it there
        reply = {"failed": f"{type(exc).__name__}: {exc}"}
    with suppress(OSError):
        conn.sendall(json.dumps(reply).encode() + b"\n")
    return True


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
