"""The sample workspace's README path end to end: send, serve, unsubscribe, sync, send again."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import httpx
import yaml
from provider_fakes import PostmarkServer
from sync_fakes import BASE, PostmarkSync

from tests.serve.servekit import (
    Server,
    env,
    free_port,
    newsletter,
    suppressed,
    unsubscribe_link,
    workspace,
)


class FormAction(HTMLParser):
    """The action of the page's form (what the Unsubscribe button posts to)."""

    action: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "form":
            self.action = dict(attrs)["action"]


def use_postmark(root, url: str) -> None:
    config = root / "newsletter.yaml"
    data = yaml.safe_load(config.read_text("utf-8"))
    data["delivery"].update(provider="postmark", api_base=url, message_stream="broadcast")
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_send_serve_unsubscribe_sync_and_send_again(tmp_path):
    port = free_port()
    root = workspace(tmp_path / "ws", port)
    subscribers = str(root / "subscribers.csv")
    assert newsletter(root, "send", "vol-2-10", "--list", subscribers, "--yes").returncode == 0
    outbox = root / "outbox" / "vol-2-10"
    server = Server(root, port)
    postmark = PostmarkServer()
    provider = PostmarkSync(
        [("ben.carter@example.org", "bounce", BASE), ("chie.sato@example.org", "complaint", BASE)],
        sender=postmark,
    )
    try:
        # A mail client's one-click POST, and a reader's button (GET the page, submit its form).
        one_click = unsubscribe_link(outbox / "ana.ito@example.org.eml")
        answer = httpx.post(one_click, content=b"List-Unsubscribe=One-Click")
        assert answer.status_code == 200
        link = unsubscribe_link(outbox / "emi.tanaka@example.org.eml")
        page = httpx.get(link)
        form = FormAction()
        form.feed(page.text)
        assert httpx.post(f"{server.url}{form.action}").status_code == 200

        use_postmark(root, provider.url)
        credentials = env(POSTMARK_SERVER_TOKEN=PostmarkServer.token)
        done = newsletter(root, "suppress", "sync", environ=credentials)
        assert done.returncode == 0, done.stderr
        assert "postmark: 2 newly suppressed (bounce 1, complaint 1)" in done.stderr

        # Meanwhile Dan unsubscribes at Postmark: the send's own sync brings him in.
        provider.entries.append(("dan.miller@example.org", "unsubscribe", time.time()))
        issue = "vol-3-8"
        done = newsletter(
            root,
            "send",
            issue,
            "--list",
            subscribers,
            "--yes",
            environ=env(POSTMARK_SERVER_TOKEN=PostmarkServer.token),
        )
        assert done.returncode == 0, done.stderr
        assert re.search(r"newly suppressed: 1 \(synced from postmark\)", done.stderr)
        assert re.search(r"suppressed: 5 \(never mailed\)", done.stderr)
        assert postmark.errors == [] and provider.errors == []
        assert set(postmark.received) == {
            "frank.lee@example.org",
            "hana.mori@example.org",
        }
    finally:
        server.stop()
        provider.close()
        postmark.close()
    listed = suppressed(root)
    reasons = {a: (e["reason"], e["source"]) for a, e in listed.items()}
    assert reasons == {
        "ana.ito@example.org": ("unsubscribe", "one-click"),
        "emi.tanaka@example.org": ("unsubscribe", "link"),
        "ben.carter@example.org": ("bounce", "postmark"),
        "chie.sato@example.org": ("complaint", "postmark"),
        "dan.miller@example.org": ("unsubscribe", "postmark"),
        "unsubscribe-probe@newsletter.invalid": ("unsubscribe", "one-click"),  # the probe
    }
    status = newsletter(root, "status", "vol-3-8", "--state", "suppressed").stdout.split()
    assert sorted(status) == sorted(a for a in reasons if not a.endswith(".invalid"))
