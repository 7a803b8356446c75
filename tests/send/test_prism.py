"""SendGrid and Resend requests validated by Prism against the providers' own OpenAPI documents.

Prism answers a request that breaks the document with a 4xx naming each problem (in an
`sl-violations` header, or in its problem+json report when the document defines no 4xx);
every request our providers make must come back 2xx without any.
"""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from sendkit import SPECS, sample_message

from newsletter.send.providers.base import Batch, HttpProvider
from newsletter.send.providers.resend import ResendProvider
from newsletter.send.providers.sendgrid import SendGridProvider
from newsletter.send.subscribers import Recipient


class Tee(httpx.SyncByteStream):
    """A request body passed on to the wire as it is (streamed or not), and kept."""

    def __init__(self, stream):
        self.stream, self.sent = stream, bytearray()

    def __iter__(self):
        for chunk in self.stream:
            self.sent += chunk
            yield chunk


class TeeTransport(httpx.HTTPTransport):
    """The real transport, keeping a copy of each request body it writes."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.stream = Tee(request.stream)
        return super().handle_request(request)


class Recorder:
    """An httpx client that keeps every exchange with Prism for the test to inspect.

    Searches (GET) are kept apart in `reads`: the Mail Send document has no search, so a
    send's check for earlier sends of the issue gets a 404 there, as an account without
    the Email Activity add-on gets a 403 from SendGrid.
    """

    def __init__(self):
        self.exchanges: list[tuple[int, str | None, bytes]] = []
        self.reads: list[tuple[int, str | None, str]] = []
        self.client = httpx.Client(
            transport=TeeTransport(), event_hooks={"response": [self.keep]}, timeout=30
        )

    def keep(self, response: httpx.Response) -> None:
        response.read()
        violations = response.headers.get("sl-violations")
        if violations is None and "problem+json" in response.headers.get("content-type", ""):
            # No 4xx in the document: Prism puts the violations in its problem report.
            violations = json.dumps(response.json().get("validation")) or None
        if response.request.method == "GET":
            self.reads.append((response.status_code, violations, str(response.request.url)))
            return
        sent = bytes(response.request.stream.sent)
        self.exchanges.append((response.status_code, violations, sent))

    def assert_all_valid(self) -> None:
        assert self.exchanges, "no request reached Prism"
        for status, violations, _ in self.exchanges:
            assert status < 300 and violations is None, f"{status}: {violations}"


@pytest.mark.parametrize("provider", ["sendgrid", "resend"])
def test_every_request_is_valid_for_the_official_document(sender, prism, provider):
    recorder = Recorder()
    extra = 'odd@example.org,"Ito, ""Ana""",Ünïcode,\n'
    count = 1150 if provider == "sendgrid" else 230  # more than one batch each
    delivery = {"provider": provider, "api_base": prism[provider]}
    _, report, counts = sender.send(count, delivery=delivery, extra=extra, client=recorder.client)
    recorder.assert_all_valid()
    assert counts["sent"] == count + 1 and report.failed == 0
    assert len(recorder.exchanges) == (2 if provider == "sendgrid" else 3)


def test_sendgrid_payload_maps_tokens_to_substitutions(sender, prism):
    recorder = Recorder()
    delivery = {"provider": "sendgrid", "api_base": prism["sendgrid"]}
    sender.send(2, delivery=delivery, client=recorder.client, extra='amp@example.org,"A&B",,\n')
    payload = json.loads(recorder.exchanges[0][2])
    html_part = payload["content"][1]["value"]
    assert "%%name__html%%" in html_part and "%%unsubscribe_url__html%%" in html_part
    last = payload["personalizations"][-1]
    assert last["substitutions"]["%%name__html%%"] == "A&amp;B"
    assert last["substitutions"]["%%name%%"] == "A&B"
    assert last["subject"] == "Test Digest Vol 1.1 for A&B"
    assert last["headers"]["List-Unsubscribe"].startswith("<https://digest.example.org/")


def test_resend_sends_an_idempotency_key(sender, prism):
    recorder = Recorder()
    seen = []
    recorder.client.event_hooks["request"] = [lambda r: seen.append(r.headers)]
    sender.send(
        3, delivery={"provider": "resend", "api_base": prism["resend"]}, client=recorder.client
    )
    assert seen[0]["idempotency-key"].startswith("newsletter-")


class BrokenSendGrid(SendGridProvider):
    """Forgets `from` and sends an empty personalization: the document forbids both."""

    def prepare(self, batch):
        call = super().prepare(batch)
        data = json.loads(call.content)
        del data["from"]
        data["personalizations"][0] = {"subject": "no recipient"}
        return self.json_call(call.url, data)


class BrokenResend(ResendProvider):
    """Sends `to` as a number: the document requires a string or a list of strings."""

    def prepare(self, batch):
        call = super().prepare(batch)
        data = json.loads(call.content)
        data[0]["to"] = 42
        return self.json_call(call.url, data, {"Idempotency-Key": batch.idempotency_key})


@pytest.mark.parametrize("cls,name", [(BrokenSendGrid, "sendgrid"), (BrokenResend, "resend")])
def test_an_invalid_payload_is_refused_by_prism(sender, prism, cls, name):
    recorder = Recorder()
    series = sender.series(provider=name, api_base=prism[name])
    provider: HttpProvider = cls(sample_message(), series.delivery, client=recorder.client)
    recipient = Recipient("a@example.org", 2, {"email": "a@example.org", "name": "A"})
    from newsletter.send.providers.base import Rejected

    with pytest.raises(Rejected) as info:
        provider.deliver(Batch("b1", [recipient]), provider.prepare(Batch("b1", [recipient])))
    ((status, violations, _),) = recorder.exchanges
    assert 400 <= status < 500 and violations, (status, violations)
    assert info.value.status == status


# SHA-256 of the documents in ../shared/provider-specs, the ones the project was given
# (`sha256sum *.yaml` there); a clone anywhere checks its copies against them.
GIVEN = dict(line.split()[::-1] for line in (SPECS / "SHA256SUMS").read_text().splitlines())


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")), ids=lambda path: path.name)
def test_kept_specs_are_the_given_documents(path):
    assert hashlib.sha256(path.read_bytes()).hexdigest() == GIVEN.get(path.name), (
        f"{path.name} differs from the provider document in SHA256SUMS"
    )
