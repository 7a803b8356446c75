"""Postmark: POST /email/batch, up to 500 personalised messages per call.

https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails
The batch answers 200 even when single messages fail: each result carries its own
ErrorCode (0 = accepted), in the order of the request. Postmark has no idempotency keys.
Suppressions come from the message stream's dump
(https://postmarkapp.com/developer/api/suppressions-api): one answer, no paging, filtered
by day.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from urllib.parse import quote

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

# SuppressionReason -> ours; ManualSuppression depends on who made it (see _reason).
REASONS = {"HardBounce": "bounce", "SpamComplaint": "complaint"}


class PostmarkProvider(HttpProvider):
    name = "postmark"
    default_base = "https://api.postmarkapp.com"
    max_batch = 500  # "up to 500 messages per API call, and up to 50 MB payload"
    default_rate = 10.0
    credentials = ("POSTMARK_SERVER_TOKEN",)
    # A Broadcast stream with "Unsubscribe handling" on fills this and adds the
    # List-Unsubscribe headers (postmarkapp.com/support/article/1136).
    hosted_unsubscribe = "{{{ pm:unsubscribe }}}"

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

    def sync(self, since: float | None) -> Iterator[Suppressed]:
        stream = quote(self.settings.message_stream, safe="")
        params = {}
        if since is not None:  # fromdate is a day (inclusive): re-reading a day is harmless
            params["fromdate"] = dt.datetime.fromtimestamp(since, dt.UTC).date().isoformat()
        data = self.fetch(f"{self.base}/message-streams/{stream}/suppressions/dump", params)
        for row in data.get("Suppressions") or []:
            when = dt.datetime.fromisoformat(row["CreatedAt"]).timestamp()
            yield Suppressed(row["EmailAddress"], _reason(row), when)


def _reason(row: dict) -> str:
    """Return our reason: a ManualSuppression by the Recipient is their unsubscribe."""
    if row.get("SuppressionReason") in REASONS:
        return REASONS[row["SuppressionReason"]]
    return "unsubscribe" if row.get("Origin") == "Recipient" else "manual"
