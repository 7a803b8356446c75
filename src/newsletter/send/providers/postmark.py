"""Postmark: POST /email/batch, up to 500 personalised messages per call.

https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails
The batch answers 200 even when single messages fail: each result carries its own
ErrorCode (0 = accepted), in the order of the request. Postmark has no idempotency keys.
"""

from __future__ import annotations

import functools

from newsletter.send.providers.base import (
    Batch,
    HttpCall,
    HttpProvider,
    JsonTemplate,
    Outcome,
    dumps,
    mailbox,
)


class PostmarkProvider(HttpProvider):
    name = "postmark"
    default_base = "https://api.postmarkapp.com"
    max_batch = 500  # "up to 500 messages per API call, and up to 50 MB payload"
    default_rate = 10.0
    credentials = ("POSTMARK_SERVER_TOKEN",)

    @functools.cached_property
    def template(self) -> JsonTemplate:
        """Return one message of the batch as JSON, compiled once."""
        message, parts = self.message, self.compiled
        fixed = {"From": mailbox(message.from_name, message.from_email)}
        if message.reply_to:
            fixed["ReplyTo"] = message.reply_to
        fixed["MessageStream"] = self.settings.message_stream
        # Off unless delivery.tracking asks: never inherit the server's defaults.
        fixed["TrackOpens"] = "opens" in self.settings.tracking
        fixed["TrackLinks"] = "HtmlAndText" if "clicks" in self.settings.tracking else "None"
        item = self.json_message(fixed, ("To", "Subject", "HtmlBody", "TextBody"))
        if parts.headers:
            item.text(',"Headers":[')
            for index, (name, part) in enumerate(parts.headers.items()):
                item.text(("," if index else "") + f'{{"Name":{dumps(name)},"Value":')
                item.part(part).text("}")
            item.text("]")
        return item.text("}").done()

    def prepare(self, batch: Batch) -> HttpCall:
        return self.json_call(f"{self.base}/email/batch", self.json_copies(self.template, batch))

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
