"""Resend: POST /emails/batch, up to 100 personalised messages per call, idempotent.

https://resend.com/docs/api-reference/emails/send-batch-emails
The Idempotency-Key header (kept for 24 hours) makes Resend drop a repeated batch, so a
batch left in flight by a crash is resent automatically with the same key. The default
(strict) validation accepts or refuses the whole batch; ids come back in request order.
Suppressions: contacts whose `unsubscribed` flag is set (GET /contacts, pages of 100
followed by `after` while `has_more`); the flag carries no time, so a sync reads them all.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator

from newsletter.send.providers.base import (
    Batch,
    HttpCall,
    HttpProvider,
    JsonTemplate,
    Outcome,
    Suppressed,
    dumps,
    mailbox,
)


class ResendProvider(HttpProvider):
    name = "resend"
    default_base = "https://api.resend.com"
    max_batch = 100  # "Trigger up to 100 batch emails at once."
    default_rate = 2.0  # Resend's default team limit: 2 requests per second
    default_concurrency = 2
    idempotent = True
    credentials = ("RESEND_API_KEY",)
    hosted_refusal = (
        "resend hosts unsubscribe links only for broadcasts, not for the batch emails "
        "newsletter sends: use unsubscribe: self and 'newsletter serve'"
    )

    @functools.cached_property
    def template(self) -> JsonTemplate:
        """Return one email of the batch as JSON, compiled once."""
        message, parts = self.message, self.compiled
        fixed = {"from": mailbox(message.from_name, message.from_email)}
        if message.reply_to:
            fixed["reply_to"] = message.reply_to
        item = self.json_message(fixed, ("to", "subject", "html", "text"), to_list=True)
        if parts.headers:
            item.text(',"headers":{')
            for index, (name, part) in enumerate(parts.headers.items()):
                item.text(("," if index else "") + f"{dumps(name)}:").part(part)
            item.text("}")
        return item.text("}").done()

    def prepare(self, batch: Batch) -> HttpCall:
        return self.json_call(
            f"{self.base}/emails/batch",
            self.json_copies(self.template, batch),
            {"Idempotency-Key": batch.idempotency_key},
        )

    def authorize(self, call: HttpCall) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('RESEND_API_KEY')}"}

    def parse(self, batch: Batch, response) -> list[Outcome]:
        data = response.json().get("data") or []
        ids = [item.get("id") if isinstance(item, dict) else None for item in data]
        if len(ids) != len(batch.recipients):
            ids = [None] * len(batch.recipients)  # accepted as a whole; ids unreadable
        return [Outcome(r.key, True, mid) for r, mid in zip(batch.recipients, ids, strict=True)]

    def sync(self, since: float | None) -> Iterator[Suppressed]:
        params = {"limit": 100}
        while True:
            data = self.fetch(f"{self.base}/contacts", params)
            contacts = data.get("data") or []
            for contact in contacts:
                if contact.get("unsubscribed"):
                    yield Suppressed(contact["email"], "unsubscribe", time.time())
            if not contacts or not data.get("has_more"):
                return
            params = {"limit": 100, "after": contacts[-1]["id"]}
