"""Fixtures of the send tests: servers started once per session, a sender per test."""

from __future__ import annotations

import pytest
from provider_fakes import MailgunServer, PostmarkServer, ResendServer, SesServer
from sendkit import Sender, sample_message, start_prism

from newsletter.render.message import RenderedMessage


@pytest.fixture(scope="session")
def prism():
    """Start Prism once per session for SendGrid and for Resend; return their base URLs."""
    started = [start_prism("sendgrid_mail_v3.yaml"), start_prism("resend.yaml")]
    yield {"sendgrid": started[0][1], "resend": started[1][1]}
    for process, _ in started:
        process.terminate()
        process.wait(timeout=10)


def _served(cls, **kwargs):
    """Return a session fixture running one fake provider server."""

    @pytest.fixture(scope="session")
    def fixture():
        server = cls(**kwargs)
        yield server
        server.close()

    return fixture


@pytest.fixture(scope="session")
def prism_activity():
    """Start Prism with SendGrid's Email Activity document (the search of sent messages)."""
    process, url = start_prism("sendgrid_email_activity_v3.yaml")
    yield url
    process.terminate()
    process.wait(timeout=10)


postmark_server = _served(PostmarkServer, inactive={"inactive@example.org"})
mailgun_server = _served(MailgunServer)
ses_server = _served(SesServer)
resend_server = _served(ResendServer)


@pytest.fixture
def postmark(postmark_server):
    postmark_server.reset()
    return postmark_server


@pytest.fixture
def message() -> RenderedMessage:
    return sample_message()


@pytest.fixture
def sender(tmp_path, monkeypatch, state_url) -> Sender:
    """A sender whose state is in each store in turn (NEWSLETTER_DATABASE_URL)."""
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", state_url)
    return Sender(tmp_path / "ws", monkeypatch)
