"""Delivery providers, one module each; `get(name)` returns a provider class by name."""

from __future__ import annotations

from importlib import import_module

from newsletter.send.providers.base import Provider

MODULES = {
    "outbox": ("outbox", "OutboxProvider"),
    "smtp": ("smtp", "SmtpProvider"),
    "postmark": ("postmark", "PostmarkProvider"),
    "sendgrid": ("sendgrid", "SendGridProvider"),
    "mailgun": ("mailgun", "MailgunProvider"),
    "resend": ("resend", "ResendProvider"),
    "ses": ("ses", "SesProvider"),
}


def get(name: str) -> type[Provider]:
    """Return the provider class registered under name."""
    module, cls = MODULES[name]
    return getattr(import_module(f"newsletter.send.providers.{module}"), cls)
