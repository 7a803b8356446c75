"""SendGrid v3: POST /v3/mail/send, one personalization per recipient, up to 1000 per call.

The HTML and text are sent once per batch; per-recipient values travel as
`substitutions` (https://www.twilio.com/docs/sendgrid/for-developers/sending-email/
substitution-tags). SendGrid substitutes the same tag in every content part, so HTML
tokens get their own tag carrying the HTML-escaped value. Subject and headers are set
per personalization, already filled in. The answer is 202 with one X-Message-Id for the
whole call; SendGrid has no idempotency keys, so every message carries its issue and batch
as `custom_args`, and the Email Activity API (GET /v3/messages, an add-on: without it the
answer is 403 and unknown recipients stay unknown) finds them with the query
`unique_args['key']="value"`, up to 1000 results and no paging: a batch is never larger.
Suppressions are read from the global lists (bounces, spam reports, unsubscribes, invalid
emails: `limit`/`offset` pages of at most 500, `start_time` in epoch seconds) and the
unsubscribe group's list (addresses only).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator

from newsletter.errors import SendError
from newsletter.merge import lookup
from newsletter.send.providers.base import (
    BATCH_KEY,
    ISSUE_KEY,
    Batch,
    Found,
    HttpCall,
    HttpProvider,
    Outcome,
    ProviderError,
    SearchBudget,
    Suppressed,
    retoken,
    token_names,
)

LIMIT = 1000  # "less than or equal to 1000"; the Email Activity API has no paging
# The global suppression lists and what each means to us.
LISTS = (
    ("bounces", "bounce"),
    ("spam_reports", "complaint"),
    ("unsubscribes", "unsubscribe"),
    ("invalid_emails", "invalid"),
)
PAGE = 500  # "The maximum page size for this endpoint is 500 items per page."


def _tag(field: str, variant: str = "") -> str:
    return f"%%{field}{'__' + variant if variant else ''}%%"


class SendGridProvider(HttpProvider):
    name = "sendgrid"
    default_base = "https://api.sendgrid.com"
    max_batch = 1000  # personalizations maxItems: 1000
    default_rate = 10.0
    credentials = ("SENDGRID_API_KEY",)
    searchable = True
    # Email Activity is fed from the event pipeline: a few minutes' margin (undocumented).
    default_settle = 300.0
    # With asm.group_id SendGrid fills this and adds the List-Unsubscribe headers.
    hosted_unsubscribe = "<%asm_group_unsubscribe_raw_url%>"

    @classmethod
    def check_hosted(cls, settings) -> None:
        if settings.asm_group_id is None:
            raise SendError(
                "sendgrid: unsubscribe: provider needs delivery.asm_group_id (the id of an "
                "unsubscribe group, Marketing > Unsubscribe Groups)"
            )

    def prepare(self, batch: Batch) -> HttpCall:
        message = self.message
        text_fields = set(token_names(message.text))
        html_fields = set(token_names(message.html))
        personalizations = []
        tags = {ISSUE_KEY: message.slug, BATCH_KEY: batch.id}
        for recipient in batch.recipients:
            personal = self.personal(recipient)
            to = {"email": personal.to_email}
            if personal.to_name:
                to["name"] = personal.to_name
            item: dict = {"to": [to], "subject": personal.subject}
            values = recipient.values
            substitutions = {_tag(f): str(lookup(values, f) or "") for f in text_fields}
            substitutions.update(
                {_tag(f, "html"): html.escape(str(lookup(values, f) or "")) for f in html_fields}
            )
            if substitutions:
                item["substitutions"] = substitutions
            if personal.headers:
                item["headers"] = personal.headers
            # Per personalization: the document types the message-level custom_args as a
            # string (sendgrid-oai tsg_mail_v3.yaml), the personalization's as an object.
            item["custom_args"] = tags
            personalizations.append(item)
        sender = {"email": message.from_email}
        if message.from_name:
            sender["name"] = message.from_name
        data: dict = {
            "personalizations": personalizations,
            "from": sender,
            "subject": message.subject,  # overridden per personalization; required non-empty
            "content": [
                {"type": "text/plain", "value": message.text},
                {"type": "text/html", "value": retoken(message.html, lambda f: _tag(f, "html"))},
            ],
        }
        if message.reply_to:
            data["reply_to"] = {"email": message.reply_to}
        if self.hosted:
            data["asm"] = {"group_id": self.settings.asm_group_id}
        tracking = self.settings.tracking  # off unless asked: never the account's defaults
        clicks = "clicks" in tracking
        data["tracking_settings"] = {
            "click_tracking": {"enable": clicks, "enable_text": clicks},
            "open_tracking": {"enable": "opens" in tracking},
        }
        return self.json_call(f"{self.base}/v3/mail/send", data)

    def authorize(self, call: HttpCall) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('SENDGRID_API_KEY')}"}

    def error_reason(self, response) -> str:
        try:
            errors = response.json().get("errors") or []
            return "; ".join(
                f"{e.get('field') + ': ' if e.get('field') else ''}{e.get('message', '')}"
                for e in errors
            ) or super().error_reason(response)
        except (ValueError, AttributeError):
            return super().error_reason(response)

    def parse(self, batch: Batch, response) -> list[Outcome]:
        message_id = response.headers.get("x-message-id")
        return [Outcome(r.key, True, message_id) for r in batch.recipients]

    def sync(self, since: float | None) -> Iterator[Suppressed]:
        for name, reason in LISTS:
            offset = 0
            while True:
                params = {"limit": PAGE, "offset": offset}
                if since is not None:
                    params["start_time"] = int(since)
                rows = self.fetch(f"{self.base}/v3/suppression/{name}", params)
                for row in rows:
                    yield Suppressed(row["email"], reason, float(row.get("created") or time.time()))
                if len(rows) < PAGE:
                    break
                offset += PAGE
        group = self.settings.asm_group_id
        if group is not None:  # the group's list has no times: now is when we learnt it
            for address in self.fetch(f"{self.base}/v3/asm/groups/{group}/suppressions"):
                yield Suppressed(address, "unsubscribe", time.time())

    def search(
        self, budget: SearchBudget, *, issue: str, batch=None, since=None
    ) -> Iterator[Found]:
        query = f"unique_args['{ISSUE_KEY}']={_quoted(issue)}"
        if batch is not None:
            query += f" AND unique_args['{BATCH_KEY}']={_quoted(batch)}"
        page = self.read(f"{self.base}/v3/messages", {"query": query, "limit": LIMIT}, budget)
        messages = page.get("messages") or []
        for message in messages:
            address = str(message.get("to_email") or "").lower()
            if address:
                yield Found(address, message.get("msg_id"), batch)
        if len(messages) >= LIMIT and batch is None:
            raise ProviderError(self.name, f"over {LIMIT} messages match; it has no paging")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
