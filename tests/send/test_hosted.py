"""delivery.unsubscribe: provider: the provider's own unsubscribe link and headers, not ours."""

from __future__ import annotations

import base64
import email
import email.policy
import json
from urllib.parse import parse_qs

import pytest
from sendkit import sample_message
from test_prism import Recorder

from newsletter.errors import SendError
from newsletter.send.job import make_provider
from newsletter.send.providers.base import Batch
from newsletter.send.subscribers import Recipient, read_rows

PERSON = Recipient("ana@example.org", 1, {"email": "ana@example.org", "name": "Ana"})


def provider(sender, **delivery):
    series = sender.series(unsubscribe="provider", **delivery)
    return make_provider(sender.workspace, series, sample_message())


def test_postmark_uses_the_broadcast_streams_link_and_leaves_its_headers_to_it(sender):
    chosen = provider(sender, provider="postmark", message_stream="broadcast")
    (message,) = json.loads(chosen.prepare(Batch("b1", [PERSON])).content)
    assert "{{{ pm:unsubscribe }}}" in message["HtmlBody"]
    assert "Unsubscribe: {{{ pm:unsubscribe }}}" in message["TextBody"]
    assert "token=" not in message["HtmlBody"] + message["TextBody"]
    names = {h["Name"] for h in message.get("Headers", [])}
    assert not names & {"List-Unsubscribe", "List-Unsubscribe-Post"}


def test_mailgun_uses_its_unsubscribe_variable(sender):
    chosen = provider(sender, provider="mailgun", domain="mg.example.org")
    form = parse_qs(chosen.prepare(Batch("b1", [PERSON])).content.decode())
    assert 'href="%unsubscribe_url%"' in form["html"][0]
    assert "%unsubscribe_url%" in form["text"][0]
    assert not any(key.startswith("h:List-Unsubscribe") for key in form)


def test_sendgrid_sends_the_group_and_prism_accepts_it(sender, prism):
    recorder = Recorder()
    delivery = {"provider": "sendgrid", "api_base": prism["sendgrid"], "asm_group_id": 7}
    series = sender.series(unsubscribe="provider", **delivery)
    chosen = make_provider(sender.workspace, series, sample_message(), client=recorder.client)
    batch = Batch("b1", [PERSON])
    chosen.deliver(batch, chosen.prepare(batch))
    recorder.assert_all_valid()  # 0 violations
    ((_, _, sent),) = recorder.exchanges
    data = json.loads(sent)
    assert data["asm"] == {"group_id": 7}
    html = next(c["value"] for c in data["content"] if c["type"] == "text/html")
    assert "<%asm_group_unsubscribe_raw_url%>" in html
    assert "List-Unsubscribe" not in data["personalizations"][0].get("headers", {})


def test_ses_sends_list_management_options(sender):
    chosen = provider(sender, provider="ses", contact_list="Digest", topic="weekly")
    data = json.loads(chosen.prepare(Batch("b1", [PERSON])).content)
    assert data["ListManagementOptions"] == {"ContactListName": "Digest", "TopicName": "weekly"}
    raw = base64.b64decode(data["Content"]["Raw"]["Data"])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["List-Unsubscribe"] is None
    assert "{{amazonSESUnsubscribeUrl}}" in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    "delivery,words",
    [
        ({"provider": "resend"}, "only for broadcasts"),
        ({"provider": "smtp"}, "a mail server hosts no unsubscribe link"),
        ({"provider": "outbox"}, "the outbox hosts no unsubscribe link"),
        ({"provider": "sendgrid"}, "delivery.asm_group_id"),
        ({"provider": "ses"}, "delivery.contact_list"),
    ],
)
def test_refused_clearly_where_the_provider_cannot(sender, delivery, words):
    with pytest.raises(SendError, match=words):
        provider(sender, **delivery)


def test_no_secret_is_needed_when_the_provider_hosts_the_link(sender, monkeypatch):
    from sendkit import write_list

    from newsletter.send.job import SendJob

    monkeypatch.delenv("NEWSLETTER_UNSUBSCRIBE_SECRET")
    series = sender.series(unsubscribe="provider", provider="postmark")
    chosen = make_provider(sender.workspace, series, sample_message())
    path = write_list(sender.root / "list.csv", 1)
    job = SendJob(sender.workspace, series, sample_message(), chosen, path)
    row = next(iter(read_rows(path)))
    assert "unsubscribe_url" not in job.values(row, row.address).values
