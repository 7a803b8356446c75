"""Open and click tracking is off in every payload unless delivery.tracking asks for it."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from sendkit import sample_message

from newsletter.send.job import make_provider
from newsletter.send.providers.base import Batch
from newsletter.send.subscribers import Recipient


def payload(sender, provider: str, tracking: list[str]):
    series = sender.series(provider=provider, domain="mg.example.org", tracking=tracking)
    chosen = make_provider(sender.workspace, series, sample_message())
    person = Recipient("ana@example.org", 1, {"email": "ana@example.org", "name": "Ana"})
    call = chosen.prepare(Batch("b1", [person]))
    if provider == "mailgun":
        return parse_qs(call.content.decode())
    return json.loads(call.content)


@pytest.mark.parametrize(
    "tracking,opens,clicks",
    [([], False, False), (["opens"], True, False), (["opens", "clicks"], True, True)],
)
def test_postmark(sender, tracking, opens, clicks):
    (message,) = payload(sender, "postmark", tracking)
    assert message["TrackOpens"] is opens
    assert message["TrackLinks"] == ("HtmlAndText" if clicks else "None")


@pytest.mark.parametrize("tracking,opens,clicks", [([], False, False), (["clicks"], False, True)])
def test_sendgrid(sender, tracking, opens, clicks):
    settings = payload(sender, "sendgrid", tracking)["tracking_settings"]
    assert settings["open_tracking"] == {"enable": opens}
    assert settings["click_tracking"] == {"enable": clicks, "enable_text": clicks}


@pytest.mark.parametrize(
    "tracking,expected",
    [
        ([], ("no", "no", "no")),
        (["opens"], ("yes", "no", "yes")),
        (["clicks"], ("yes", "yes", "no")),
    ],
)
def test_mailgun(sender, tracking, expected):
    form = payload(sender, "mailgun", tracking)
    got = tuple(form[k][0] for k in ("o:tracking", "o:tracking-clicks", "o:tracking-opens"))
    assert got == expected
