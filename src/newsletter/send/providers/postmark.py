"""Postmark: POST /email/batch, up to 500 personalised messages per call.

https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails
The batch answers 200 even when single messages fail: each result carries its own
ErrorCode (0 = accepted), in the order of the request. Postmark has no idempotency keys.
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


class PostmarkProvider(HttpProvider):
    name = "postmark"
    default_base = "https://api.postmarkapp.com"
    max_batch = 500  # "up to 500 messages per API call, and up to 50 MB payload"
    default_rate = 10.0
    credentials = ("POSTMARK_SERVER_TOKEN",)

    def prepare(self, batch: Batch) -> HttpCall:
        message, parts = self.message, self.compiled
        fixed = {"From": mailbox(message.from_name, message.from_email)}
        if message.reply_to:
            fixed["ReplyTo"] = message.reply_to
        fixed["MessageStream"] = self.settings.message_stream
        common = dumps(fixed)[1:-1]  # the same in every message of the batch
        items = []
        for recipient in batch.recipients:
            values = recipient.values
            item = (
                f'{{{common},"To":{dumps(recipient_mailbox(recipient))},'
                f'"Subject":{parts.subject.render(values)},'
                f'"HtmlBody":{parts.html.render(values)},'
                f'"TextBody":{parts.text.render(values)}'
            )
            if parts.headers:
                headers = ",".join(
                    f'{{"Name":{dumps(name)},"Value":{part.render(values)}}}'
                    for name, part in parts.headers.items()
                )
                item += f',"Headers":[{headers}]'
            items.append((item + "}").encode())
        return self.json_call(f"{self.base}/email/batch", b"[" + b",".join(items) + b"]")

    def authorize(self, call: HttpCall) -> dict[str, str]:
        return {"X-Postmark-Server-Token": self.secret("POSTMARK_SERVER_TOKEN")}

    def parse(self, batch: Batch, response) -> list[Outcome]:
        results = response.json()
        if not isinstance(results, list) or len(results) != len(batch.recipients):
            # Accepted (2xx) but unreadable: never guess which ones went out.
            raise ValueError(
                f"postmark answered {len(results)} results for {len(batch.recipients)}"
            )
        outcomes = []
        for recipient, result in zip(batch.recipients, results, strict=True):
            if result.get("ErrorCode", 0) == 0:
                outcomes.append(Outcome(recipient.key, True, result.get("MessageID")))
            else:
                reason = f"{result.get('ErrorCode')}: {result.get('Message', '')}"
                outcomes.append(Outcome(recipient.key, False, reason=reason))
        return outcomes
