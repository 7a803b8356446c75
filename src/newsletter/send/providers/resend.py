"""Resend: POST /emails/batch, up to 100 personalised messages per call, idempotent.

https://resend.com/docs/api-reference/emails/send-batch-emails
The Idempotency-Key header (kept for 24 hours) makes Resend drop a repeated batch, so a
batch left in flight by a crash is resent automatically with the same key. The default
(strict) validation accepts or refuses the whole batch; ids come back in request order.
"""

from __future__ import annotations

from newsletter.send.providers.base import (
    Batch,
    HttpCall,
    HttpProvider,
    Outcome,
    dumps,
    mailbox,
    recipient_mailbox,
)


class ResendProvider(HttpProvider):
    name = "resend"
    default_base = "https://api.resend.com"
    max_batch = 100  # "Trigger up to 100 batch emails at once."
    default_rate = 2.0  # Resend's default team limit: 2 requests per second
    default_concurrency = 2
    idempotent = True
    credentials = ("RESEND_API_KEY",)

    def prepare(self, batch: Batch) -> HttpCall:
        message, parts = self.message, self.compiled
        fixed = {"from": mailbox(message.from_name, message.from_email)}
        if message.reply_to:
            fixed["reply_to"] = message.reply_to
        common = dumps(fixed)[1:-1]
        emails = []
        for recipient in batch.recipients:
            values = recipient.values
            item = (
                f'{{{common},"to":[{dumps(recipient_mailbox(recipient))}],'
                f'"subject":{parts.subject.render(values)},'
                f'"html":{parts.html.render(values)},"text":{parts.text.render(values)}'
            )
            if parts.headers:
                headers = ",".join(
                    f"{dumps(name)}:{part.render(values)}" for name, part in parts.headers.items()
                )
                item += f',"headers":{{{headers}}}'
            emails.append((item + "}").encode())
        return self.json_call(
            f"{self.base}/emails/batch",
            b"[" + b",".join(emails) + b"]",
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
