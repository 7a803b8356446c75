"""The warm PDF worker: same bytes as in process, judged by pikepdf and poppler; falls back."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pikepdf
import pikepdf.pdfa
import pytest

from newsletter.render import pdfworker
from newsletter.render.pdf import issue_pdf_job, print_pdf
from tests.render.workspaces import load, sample_copy


def pdfinfo(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    pairs = (line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A worker that exited is reaped by init; until then it is a zombie, not alive.
    with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not alive(pid):
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def worker_pid(root: Path) -> int:
    return int((root / ".newsletter" / pdfworker.PID_FILE).read_text(encoding="utf-8"))


def wait_for_pid(root: Path, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return worker_pid(root)
        except (OSError, ValueError):
            time.sleep(0.02)
    raise AssertionError("no worker wrote its pid file")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Return a sample workspace with workers on; stop any worker it started afterwards."""
    monkeypatch.delenv("NEWSLETTER_PDF_WORKER", raising=False)
    monkeypatch.setenv("NEWSLETTER_PDF_WORKER_IDLE", "60")
    ws = sample_copy(tmp_path / "ws")
    yield ws
    pid_file = ws.root / ".newsletter" / pdfworker.PID_FILE
    if pid_file.exists():
        pid = int(pid_file.read_text(encoding="utf-8"))
        os.kill(pid, signal.SIGTERM)
        assert wait_gone(pid), "the worker ignored SIGTERM"
        assert not pid_file.exists(), "the worker left its pid file behind"


def render_pdf(root: Path, out: Path, *, env: dict[str, str] | None = None) -> Path:
    """Run `newsletter render vol-3-8 --format pdf` as a user would, return the PDF."""
    command = [sys.executable, "-m", "newsletter", "--workspace", str(root)]
    command += ["render", "vol-3-8", "--format", "pdf", "-o", str(out)]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return out / "vol-3-8" / "vol-3-8.pdf"


def assert_archival(path: Path) -> None:
    with pikepdf.open(path) as pdf:
        assert pikepdf.pdfa.check(pdf, "3b").verdict == "pass"
    fields = pdfinfo(path)
    assert fields["Tagged"] == "yes"
    assert fields["Title"] == "US-Japan Alliance Digest Vol 3.8"
    assert fields["Author"] == "Sasakawa USA"


def test_render_command_starts_a_worker_and_prints_the_same_bytes(workspace, tmp_path):
    in_process = render_pdf(workspace.root, tmp_path / "off", env={"NEWSLETTER_PDF_WORKER": "off"})
    assert not (workspace.root / ".newsletter" / pdfworker.PID_FILE).exists()
    first = render_pdf(workspace.root, tmp_path / "first")
    pid = wait_for_pid(workspace.root)
    assert alive(pid)
    second = render_pdf(workspace.root, tmp_path / "second")
    assert worker_pid(workspace.root) == pid, "the second command started another worker"
    assert first.read_bytes() == in_process.read_bytes()
    assert second.read_bytes() == in_process.read_bytes()
    assert_archival(second)


def test_worker_prints_jobs_and_answers_the_errors_in_process_printing_gives(workspace, tmp_path):
    series, loaded = load(workspace, "vol-3-8")
    client = pdfworker.client_for(workspace, "en")
    assert client is not None
    job = issue_pdf_job(workspace, series, loaded, tmp_path / "worker")
    result = client.print(job)
    assert result is not None, "the worker did not print"
    here = issue_pdf_job(workspace, series, loaded, tmp_path / "here")
    assert print_pdf(here) == result  # the same warnings, for the same diagnostics
    assert job.out_path.read_bytes() == here.out_path.read_bytes()
    assert_archival(job.out_path)
    # A folder where the PDF should go: the same RenderError as in process.
    blocked = issue_pdf_job(workspace, series, loaded, tmp_path / "blocked")
    blocked.out_path.mkdir(parents=True)
    with pytest.raises(pdfworker.RenderError, match=r"cannot write .*vol-3-8\.pdf"):
        client.print(blocked)


def _fake_worker(name: str, reply: bytes) -> socket.socket:
    """Listen on name and answer every request with reply: a broken worker."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(name)
    listener.listen(4)

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):  # a client may hang up first
                conn.recv(1 << 20)
                conn.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    return listener


@pytest.mark.parametrize("reply", [b"", b"not json\n", b'{"failed": "MemoryError"}\n'])
def test_a_broken_worker_falls_back_to_the_same_pdf_in_process(workspace, tmp_path, reply):
    series, loaded = load(workspace, "vol-3-8")
    listener = _fake_worker(pdfworker.socket_name(workspace.root), reply)
    try:
        client = pdfworker.WorkerClient(workspace, "en")
        assert client.running()
        job = issue_pdf_job(workspace, series, loaded, tmp_path / "fallback")
        assert client.print(job) is None
        client.print_anywhere(job)
    finally:
        listener.close()
    here = issue_pdf_job(workspace, series, loaded, tmp_path / "here")
    print_pdf(here)
    assert job.out_path.read_bytes() == here.out_path.read_bytes()
    assert_archival(job.out_path)


def test_render_command_prints_in_process_when_the_worker_is_broken(workspace, tmp_path):
    in_process = render_pdf(workspace.root, tmp_path / "off", env={"NEWSLETTER_PDF_WORKER": "off"})
    listener = _fake_worker(pdfworker.socket_name(workspace.root), b"garbage\n")
    try:
        pdf = render_pdf(workspace.root, tmp_path / "broken")
    finally:
        listener.close()
    assert pdf.read_bytes() == in_process.read_bytes()


def test_client_refuses_a_socket_held_by_another_user(workspace, tmp_path, monkeypatch):
    listener = _fake_worker(pdfworker.socket_name(workspace.root), b"{}\n")
    try:
        client = pdfworker.WorkerClient(workspace, "en")
        assert client.running()
        monkeypatch.setattr(pdfworker, "_peer_uid", lambda conn: os.getuid() + 1)
        assert not client.running()
    finally:
        listener.close()


def test_worker_answers_no_other_user(workspace, tmp_path, monkeypatch):
    series, loaded = load(workspace, "vol-3-8")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(pdfworker.socket_name(workspace.root))
    listener.listen(4)
    monkeypatch.setattr(pdfworker, "_peer_uid", lambda conn: os.getuid() + 1)
    serving = threading.Thread(target=pdfworker._accept_until_idle, args=(listener, "key"))
    monkeypatch.setenv("NEWSLETTER_PDF_WORKER_IDLE", "2")
    serving.start()
    job = issue_pdf_job(workspace, series, loaded, tmp_path / "theirs")
    request = {"key": "key", "job": pdfworker._job_data(job)}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(pdfworker.socket_name(workspace.root))
        try:
            conn.sendall(json.dumps(request).encode() + b"\n")
            answer = conn.recv(100)
        except (BrokenPipeError, ConnectionResetError):  # hung up before reading it
            answer = b""
        assert answer == b""  # hung up on, unanswered
    serving.join()
    listener.close()
    assert not job.out_path.exists()


def test_worker_of_another_version_or_font_set_makes_way(workspace, tmp_path, monkeypatch):
    series, loaded = load(workspace, "vol-3-8")
    old = pdfworker.client_for(workspace, "en")
    assert old is not None and old.print(issue_pdf_job(workspace, series, loaded, tmp_path / "a"))
    old_pid = worker_pid(workspace.root)
    monkeypatch.setattr(pdfworker, "worker_key", lambda: "fonts changed")
    new = pdfworker.WorkerClient(workspace, "en")
    job = issue_pdf_job(workspace, series, loaded, tmp_path / "b")
    assert new.print(job) is not None
    assert wait_gone(old_pid), "the stale worker kept running"
    new_pid = wait_for_pid(workspace.root)
    assert new_pid != old_pid and alive(new_pid)
    assert_archival(job.out_path)


def test_worker_exits_when_idle_and_removes_its_pid_file(workspace, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_PDF_WORKER_IDLE", "0.5")
    client = pdfworker.client_for(workspace, "en")
    assert client is not None
    pid = wait_for_pid(workspace.root)
    assert wait_gone(pid, seconds=30)
    assert not (workspace.root / ".newsletter" / pdfworker.PID_FILE).exists()
    assert not client.running()


def test_disabled_by_environment(workspace, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_PDF_WORKER", "off")
    assert pdfworker.client_for(workspace, "en") is None
    assert not pdfworker.WorkerClient(workspace, "en").running()


def test_one_issue_rebuild_prints_through_the_worker_the_same_bytes(workspace, tmp_path):
    build = [sys.executable, "-m", "newsletter", "--workspace", str(workspace.root), "build"]
    off = {**os.environ, "NEWSLETTER_PDF_WORKER": "off"}
    subprocess.run(build, check=True, capture_output=True, env=off)  # cold: a process pool
    assert not (workspace.root / ".newsletter" / pdfworker.PID_FILE).exists()
    issue = workspace.issues_dir / "vol-2-10.yaml"
    text = issue.read_text("utf-8").replace("Biden-Kishida discuss", "Biden and Kishida weigh")
    issue.write_text(text, "utf-8")
    done = subprocess.run(build, check=True, capture_output=True, text=True)
    assert "built 1 issue, 1 unchanged" in done.stderr
    assert alive(wait_for_pid(workspace.root))  # the rebuild went through a worker
    pdf = workspace.root / "site" / "vol-2-10" / "vol-2-10.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "Biden and Kishida weigh" in text
    forced = tmp_path / "forced"
    subprocess.run([*build, "--force", "-o", str(forced)], check=True, capture_output=True, env=off)
    assert pdf.read_bytes() == (forced / "vol-2-10" / "vol-2-10.pdf").read_bytes()
    assert_archival(forced / "vol-3-8" / "vol-3-8.pdf")
