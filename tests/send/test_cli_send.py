"""`newsletter send`, `status` and `suppress` as real processes on the sample workspace."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sendkit import cli_env, newsletter, sample_workspace, write_list

from newsletter.send.unsubscribe import verify

LIST = """\
\ufeffEmail Address;First Name;Last Name;City
ana@example.org;Ana;Ito;Tokyo
bo@example.org;Bo;;Boston
not-an-address;X;;
ANA@example.org;Ana;Again;
cy@example.org;Cy;Young;
"""


@pytest.fixture
def ws(tmp_path, state_url):
    """The sample workspace; its state in SQLite by default or in newsletter.yaml's PostgreSQL."""
    root = sample_workspace(tmp_path / "ws")
    if state_url.startswith("postgresql"):  # before delivery: sample_workspace rewrites that
        config = root / "newsletter.yaml"
        head, tail = config.read_text("utf-8").split("\ndelivery:", 1)
        state = f"\nstate:\n  database_url: '{state_url}'\n"
        config.write_text(f"{head}{state}\ndelivery:{tail}", encoding="utf-8")
    (root / "subscribers.csv").write_text(LIST, encoding="utf-8")
    return root


def run(ws, *args, **kwargs):
    return newsletter("-w", str(ws), *args, **kwargs)


def status(ws, issue="vol-2-10"):
    done = run(ws, "status", issue, "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    data.pop("sends")  # provenance: tests/send/test_provenance.py
    return data


def test_send_to_the_outbox_reports_the_list_and_personalises(ws):
    done = run(ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), "--yes")
    assert done.returncode == 0, done.stderr
    assert re.search(r"subscribers.csv:4:1: warning: 'not-an-address' skipped", done.stderr)
    assert "subscribers.csv:5:1: warning: 'ANA@example.org' skipped: duplicate of line 2" in (
        done.stderr
    )
    assert "sent 3, failed 0, unknown 0" in done.stderr
    files = sorted(p.name for p in (ws / "outbox" / "vol-2-10").iterdir())
    assert files == ["ana@example.org.eml", "bo@example.org.eml", "cy@example.org.eml"]
    raw = (ws / "outbox" / "vol-2-10" / "ana@example.org.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(message["To"]) == "Ana Ito <ana@example.org>"
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n")[0]  # headers stay plain, not encoded
    urls = re.findall(r"<(https://[^>]+)>", message["List-Unsubscribe"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(urls[0]).query).items()}
    assert urls[0].startswith("https://digest.example.org/unsubscribe/?")
    assert query["email"] == "ana@example.org"
    assert verify("test-unsubscribe-secret", query["list"], "ana@example.org", query["token"])
    assert urls[0] in message.get_body(("plain",)).get_content()
    data = status(ws)
    assert data["issue"] == "vol-2-10" and data["recorded"] is True
    assert data["counts"] == {
        "pending": 0,
        "sent": 3,
        "failed": 0,
        "unknown": 0,
        "suppressed": 0,
        "invalid": 1,
    }
    assert data["unknown_batches"]["total"] == 0 and data["reconciled"] == 0
    again = run(ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), "--yes")
    assert again.returncode == 0 and "to send now: 0" in again.stderr
    assert "sent 0," in again.stderr


def test_status_lists_the_addresses_of_a_state(ws):
    run(ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), "--yes")
    done = run(ws, "status", "vol-2-10", "--state", "sent")
    assert done.stdout.splitlines() == ["ana@example.org", "bo@example.org", "cy@example.org"]
    assert run(ws, "status", "vol-2-10", "--state", "invalid").stdout == "not-an-address\n"
    text = run(ws, "status", "vol-2-10").stdout
    assert re.search(r"sent\s+3", text) and re.search(r"unknown\s+0", text)


def test_suppressed_addresses_are_never_mailed(ws, tmp_path):
    assert run(ws, "suppress", "add", "Bo@Example.org").returncode == 0
    export = tmp_path / "unsubscribed.csv"
    export.write_text("Email Address,Reason\ncy@example.org,left\nbroken@@x,?\n")
    done = run(ws, "suppress", "import", str(export))
    assert done.returncode == 1 and "suppressed 1 new" in done.stderr and "broken@@x" in done.stderr
    listed = run(ws, "suppress", "list").stdout
    assert "Bo@example.org\tmanual" in listed and "cy@example.org\tunsubscribe" in listed
    done = run(ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), "--yes")
    assert done.returncode == 0 and "suppressed: 2 (never mailed)" in done.stderr
    assert [p.name for p in (ws / "outbox" / "vol-2-10").iterdir()] == ["ana@example.org.eml"]
    assert status(ws)["counts"]["suppressed"] == 2


def test_dry_run_sends_and_records_nothing(ws):
    done = run(ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), "--dry-run")
    assert done.returncode == 0 and "dry run: built 1 request" in done.stderr
    assert not (ws / "outbox").exists()
    assert status(ws)["counts"] == dict.fromkeys(
        ("pending", "sent", "failed", "unknown", "suppressed", "invalid"), 0
    )


def test_confirmation_is_required_without_a_terminal(ws):
    done = run(
        ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), stdin=subprocess.DEVNULL
    )
    assert done.returncode == 2 and "confirm with --yes" in done.stderr
    assert "provider: outbox" in done.stderr and "to send now: 3" in done.stderr
    assert not (ws / "outbox").exists()


@pytest.mark.parametrize("answer", ["n\n", None])
def test_a_declined_send_leaves_no_trace(ws, answer):
    """Declined at the prompt, or refused for want of a terminal: no ledger rows at all."""
    stdin = {"input": answer} if answer else {"stdin": subprocess.DEVNULL}
    done = run(ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), **stdin)
    assert done.returncode in (1, 2) and "to send now: 3" in done.stderr
    assert sum(status(ws)["counts"].values()) == 0
    assert run(ws, "status", "vol-2-10").stdout.strip() == (
        "vol-2-10: not sent (the ledger has no record of it)"
    )
    assert status(ws)["recorded"] is False
    done = run(ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), "--yes")
    assert done.returncode == 0 and "sent 3," in done.stderr  # and a later send is whole


def test_test_send_marks_the_subject_and_leaves_the_ledger(ws):
    done = run(ws, "send", "vol-2-10", "--test", "editor@example.org")
    assert done.returncode == 0, done.stderr
    raw = (ws / "outbox" / "vol-2-10" / "editor@example.org.eml").read_bytes()
    subject = email.message_from_bytes(raw, policy=email.policy.default)["Subject"]
    assert subject == "[TEST] US-Japan Alliance Digest Vol 2.10"
    assert status(ws)["counts"]["sent"] == 0


def test_strict_aborts_before_sending(ws):
    done = run(ws, "send", "vol-2-10", "--list", str(ws / "subscribers.csv"), "--yes", "--strict")
    assert done.returncode == 1 and "--strict" in done.stderr and "line 2" in done.stderr
    assert not (ws / "outbox").exists() and status(ws)["counts"]["pending"] == 0


@pytest.mark.parametrize(
    "args,message",
    [
        ((), "--list FILE"),
        (("--list", "absent.csv"), "absent.csv is not a file"),
        (("--provider", "pigeon", "--list", "subscribers.csv"), "'pigeon' is not one of"),
    ],
)
def test_usage_errors_exit_2(ws, args, message):
    done = run(ws, "send", "vol-2-10", *args, cwd=ws)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_provider_errors_never_show_secrets(ws, postmark):
    sample_workspace(ws, provider="postmark", api_base=postmark.url)
    env = cli_env(POSTMARK_SERVER_TOKEN="secret-token-do-not-print")
    args = ("--list", str(ws / "subscribers.csv"), "--yes", "--no-sync", "--no-probe")
    done = run(ws, "send", "vol-2-10", *args, env=env)
    assert done.returncode == 1 and "POSTMARK_SERVER_TOKEN" in done.stderr
    assert "secret-token-do-not-print" not in done.stdout + done.stderr
    assert "test-unsubscribe-secret" not in done.stdout + done.stderr
    counts = status(ws)["counts"]  # a 401 stops the run: nobody failed, all left to retry
    assert counts["pending"] == 3 and counts["failed"] == counts["sent"] == 0
    missing = {k: v for k, v in env.items() if k != "POSTMARK_SERVER_TOKEN"}
    done = run(ws, "send", "vol-2-10", *args, env=missing)
    assert done.returncode == 1 and "POSTMARK_SERVER_TOKEN" in done.stderr


@pytest.fixture(params=["postmark", "mailgun"])
def provider_server(request):
    """The local Postmark or Mailgun server, reset, with its delivery settings."""
    server = request.getfixturevalue(f"{request.param}_server")
    server.reset()
    delivery = {"provider": request.param, "api_base": server.url}
    if request.param == "mailgun":
        delivery["domain"] = server.domain
    return server, delivery


def test_kill_9_mid_run_then_resume_leaves_nobody_unknown(ws, provider_server, tmp_path):
    """Kill a real send three times mid-run with 10% 429s and 10% 500s; resume once."""
    server, delivery = provider_server
    total = 3000
    sample_workspace(ws, **delivery, batch_size=50, concurrency=2, reconcile_settle=0.5)
    subscribers = write_list(tmp_path / "big.csv", total)
    server.delay = 0.05  # ~60 requests in a few seconds per run: time to be killed mid-way
    server.chaos = [("429", 0.1), ("500", 0.1)]
    server.index_lag = 0.2  # the search sees a message only a moment after it was taken
    command = [
        sys.executable,
        "-m",
        "newsletter",
        "-w",
        str(ws),
        "send",
        "vol-2-10",
        "--list",
        str(subscribers),
        "--yes",
        "--no-sync",  # sync and probe are tested in test_sync*
        "--no-probe",
    ]
    kills = 0
    for threshold in (400, 1200, 2000):
        process = subprocess.Popen(
            command, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 90
        while sum(server.received.values()) < threshold and time.monotonic() < deadline:
            time.sleep(0.01)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
    assert kills == 3 and sum(server.received.values()) < total
    final = subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=300)
    counts = status(ws)["counts"]
    sent = set(run(ws, "status", "vol-2-10", "--state", "sent").stdout.split())
    everyone = {f"user{i}@example.org" for i in range(total)}
    assert max(server.received.values()) == 1, "a recipient was mailed twice"
    assert set(server.received) == everyone, "a recipient was never mailed"
    assert sent == everyone and counts["unknown"] == 0 and counts["pending"] == 0
    assert final.returncode == 0, final.stderr
    assert "unknown 0" in final.stderr and not server.errors


def test_a_lost_ledger_is_noticed_then_rebuilt_from_the_provider(ws, postmark, tmp_path):
    import shutil

    sample_workspace(ws, provider="postmark", api_base=postmark.url, reconcile_settle=0.2)
    subscribers = write_list(tmp_path / "list.csv", 300)
    args = ("send", "vol-2-10", "--list", str(subscribers), "--yes", "--no-sync", "--no-probe")
    assert run(ws, *args).returncode == 0 and len(postmark.received) == 300
    shutil.rmtree(ws / ".newsletter")  # "to clear its cache", or a fresh clone
    done = run(ws, *args)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "postmark already has 300 messages of vol-2-10" in done.stderr
    assert "--reconcile" in done.stderr and "nothing was sent" in done.stderr
    assert sum(postmark.received.values()) == 300  # 0 new messages
    assert status(ws)["recorded"] is False
    write_list(subscribers, 310)  # ten more subscribed meanwhile
    done = run(ws, *args, "--reconcile")
    assert done.returncode == 0, done.stderr
    assert "rebuilt: 300 found at postmark" in done.stderr and "sent 10," in done.stderr
    assert sum(postmark.received.values()) == 310 and max(postmark.received.values()) == 1
    assert status(ws)["counts"]["sent"] == 310 and status(ws)["reconciled"] == 300


def test_provider_names_match_the_provider_modules() -> None:
    from newsletter.send.names import PROVIDERS
    from newsletter.send.providers import MODULES

    assert tuple(MODULES) == PROVIDERS


def test_an_unclosed_quote_is_reported_and_skipped_never_swallowing_rows(ws):
    from tests.send.test_subscribers import UNCLOSED

    (ws / "broken.csv").write_text(UNCLOSED, encoding="utf-8")
    done = run(ws, "send", "vol-2-10", "--list", str(ws / "broken.csv"), "--yes")
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"broken\.csv:2:1: warning: 'ana@example\.org' skipped: .*never closed", done.stderr
    )
    assert "4 rows" in done.stderr and "sent 3," in done.stderr
    outbox = ws / "outbox" / "vol-2-10"
    assert sorted(p.name.split("@")[0] for p in outbox.iterdir()) == ["bo", "cy", "di"]
    for path in outbox.iterdir():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert len(message["To"].addresses) == 1
        assert "@" not in message["To"].addresses[0].display_name
    assert status(ws)["counts"]["invalid"] == 1
    strict = run(ws, "send", "vol-3-8", "--list", str(ws / "broken.csv"), "--yes", "--strict")
    assert strict.returncode == 1 and "broken.csv:2:1: error:" in strict.stderr
    assert not (ws / "outbox" / "vol-3-8").exists()


def test_addresses_alike_once_made_file_names_get_a_file_each(ws):
    (ws / "alike.csv").write_text("email\na&b@example.org\na_b@example.org\n", encoding="utf-8")
    done = run(ws, "send", "vol-2-10", "--list", str(ws / "alike.csv"), "--yes")
    assert done.returncode == 0, done.stderr
    assert "sent 2," in done.stderr
    files = list((ws / "outbox" / "vol-2-10").glob("*.eml"))
    assert len(files) == 2
    recipients = set()
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients.add(message["To"].addresses[0].addr_spec)
    assert recipients == {"a&b@example.org", "a_b@example.org"}
