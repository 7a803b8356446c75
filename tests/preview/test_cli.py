"""`newsletter preview` as a process: address, issue list, warnings, errors, clean Ctrl-C."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import pytest

from tests.preview.support import get

URL = re.compile(r"previewing at (http://\S+)")


def start(*args: str) -> tuple[subprocess.Popen, str, list[str]]:
    """Start the preview; return the process, its address and what it printed before it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "preview", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        found = URL.search(line)
        if found:
            return process, found.group(1), lines
    process.wait(timeout=30)
    raise AssertionError(f"no address printed: {lines} {process.stderr.read()}")


def stop(process: subprocess.Popen, signum=signal.SIGINT) -> str:
    """Interrupt the preview and return its standard error; it must end cleanly."""
    process.send_signal(signum)
    _out, err = process.communicate(timeout=30)
    assert process.returncode in (0, 130), err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serves_the_issue_and_stops_cleanly(space, signum):
    process, url, _ = start("vol-1-1")
    try:
        assert url.endswith("/issues/vol-1-1/")
        assert url.startswith("http://127.0.0.1:")
        status, _headers, body = get(url + "text.txt")
        assert status == 200
        assert b"First headline" in body
    finally:
        err = stop(process, signum)
    assert "vol-1-1: rendered in" in err
    assert "preview stopped" in err


def test_without_issue_lists_them_here_and_on_the_page(space):
    space.issue("vol-1-2", "volume: 1\nnumber: 2\ndate: 2024-01-19\n")
    process, url, lines = start()
    try:
        printed = "".join(lines)
        assert re.search(
            r"vol-1-1\s+Vol 1\.1\s+2024-01-05\s+Test Digest Vol 1\.1\s+\(ok\)", printed
        )
        assert re.search(r"vol-1-2\s+.*\(1 error\)", printed)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        status, _headers, body = get(url)
        assert status == 200
        assert b'href="/issues/vol-1-1/"' in body
        assert b'href="/issues/vol-1-2/"' in body
    finally:
        stop(process)


def test_another_host_prints_a_warning(space):
    process, url, _ = start("--host", "0.0.0.0", "vol-1-1")
    try:
        port = url.split(":")[2].split("/")[0]
        assert get(f"http://127.0.0.1:{port}/issues/vol-1-1/text.txt")[0] == 200
    finally:
        err = stop(process)
    assert "warning: serving on 0.0.0.0" in err


def test_an_unknown_issue_is_a_usage_error(space):
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "preview", "--port", "0", "vol-9-9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no issue 'vol-9-9'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_says_what_to_do(space):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "newsletter", "preview", "--port", str(port), "vol-1-1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "pass --port 0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopped_as_soon_as_the_address_is_out_it_still_stops_cleanly(space, signum):
    # A script (or an impatient editor) may stop the preview while it is still warming up.
    process, _url, _ = start("vol-1-1")
    err = stop(process, signum)
    assert "preview stopped" in err
