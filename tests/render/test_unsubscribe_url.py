"""The example message points its unsubscribe link and header at delivery.unsubscribe_url."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.workspace import SERIES, make_workspace


def test_the_sample_eml_uses_the_configured_unsubscribe_url(tmp_path: Path) -> None:
    series = SERIES + "delivery:\n  unsubscribe_url: https://lists.example.org/unsubscribe/\n"
    root = make_workspace(tmp_path / "ws", series=series)
    out = tmp_path / "out"
    result = run_cli("render", "vol-1-1", "-o", str(out), "--format", "eml", cwd=root)
    assert result.returncode == 0, result.stderr
    raw = (out / "vol-1-1" / "email.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    wanted = "https://lists.example.org/unsubscribe/?token=example-token"
    assert f"<{wanted}>" in str(message["List-Unsubscribe"])
    assert wanted in message.get_body(("html",)).get_content()
    assert "news.example.org/unsubscribe" not in raw.decode("ascii", "replace")
