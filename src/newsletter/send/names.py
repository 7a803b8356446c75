"""The delivery providers' names, importable without pydantic (the CLI starts faster)."""

from __future__ import annotations

from typing import Literal, get_args

Provider = Literal["outbox", "smtp", "postmark", "sendgrid", "mailgun", "resend", "ses"]
PROVIDERS: tuple[str, ...] = get_args(Provider)
