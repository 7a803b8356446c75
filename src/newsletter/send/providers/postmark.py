"""Postmark: POST /email/batch, up to 500 personalised messages per call.

https://postmarkapp.com/developer/user-guide/send-email-with-api/batch-emails
The batch answers 200 even when single messages fail: each result carries its own
ErrorCode (0 = accepted), in the order of the request. Postmark has no idempotency keys,
so every message carries its issue and batch as Metadata, and the Messages API
(GET /messages/outbound, https://postmarkapp.com/developer/api/messages-api) says which
ones it accepted: filtered by metadata_<key> and message stream, up to 500 a page, paged
with offset (count + offset at most 10,000). Suppressions come from the message stream's
dump (https://postmarkapp.com/developer/api/suppressions-api): one answer, no paging,
filtered by day.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from urllib.parse import quote

from newsletter.send.providers.base import (
    BATCH_KEY,
    BATCH_SLOT,
    ISSUE_KEY,
    Batch,
    Found,
    HttpCall,
    HttpProvider,
    JsonTemplate,
    Outcome,
    ProviderError,
    SearchBudget,
    Suppressed,
    dumps,
    mailbox,
)

PAGE = 500  # "Max 500"
WINDOW = 10_000  # "Count + Offset cannot exceed 10,000 messages"
# SuppressionReason -> ours; ManualSuppression depends on who made it (see _reason).
REASONS = {"HardBounce": "bounce", "SpamComplaint": "complaint"}


class PostmarkProvider(HttpProvider):
    name = "postmark"
    default_base = "https://api.postmarkapp.com"
    max_batch = 500  # "up to 500 messages per API call, and up to 50 MB payload"
    default_rate = 10.0
    credentials = ("POSTMARK_SERVER_TOKEN",)
    searchable = True
    # Postmark documents no indexing delay for its Messages API; a minute is our margin.
    default_settle = 60.0
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
        item.text(f',"Metadata":{{{dumps(ISSUE_KEY)}:{dumps(message.slug)},{dumps(BATCH_KEY)}:')
        item.value(BATCH_SLOT).text("}")
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

    def search(
        self, budget: SearchBudget, *, issue: str, batch=None, since=None
    ) -> Iterator[Found]:
        params = {
            "messagestream": self.settings.message_stream,
            f"metadata_{ISSUE_KEY}": issue,
            "count": PAGE,
        }
        if batch is not None:
            params[f"metadata_{BATCH_KEY}"] = batch
        offset = 0
        while True:
            page = self.read(f"{self.base}/messages/outbound", {**params, "offset": offset}, budget)
            messages = page.get("Messages") or []
            total = int(page.get("TotalCount") or 0)
            for message in messages:
                found = message.get("Metadata") or {}
                for address in message.get("Recipients") or []:
                    yield Found(address.lower(), message.get("MessageID"), found.get(BATCH_KEY))
            offset += len(messages)
            if not messages or offset >= total:
                return
            if offset + PAGE > WINDOW:
                raise ProviderError(
                    self.name, f"{total} messages match; its search pages through {WINDOW} only"
                )

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
