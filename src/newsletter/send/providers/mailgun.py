"""Mailgun: POST /v3/{domain}/messages with recipient-variables, up to 1000 recipients.

https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/batch-sending
The message goes once per call with %recipient.field% placeholders; `recipient-variables`
maps each address to its values, which also makes Mailgun send each recipient their own
message (without it, everyone would see every address in To:). HTML placeholders use an
HTML-escaped copy of each value. The answer carries one id for the whole call; Mailgun has
no idempotency keys, so every message carries its issue and batch as `v:` user variables,
and the Events API (GET /v3/{domain}/events, event=accepted, filtered on user-variables,
up to 300 a page, paged by following `paging.next` until an empty page) says which
recipients it accepted. Mailgun's "event polling" guide trusts a page only once its events
are half an hour old: that is the default settle delay.
Bases: https://api.mailgun.net (US), https://api.eu.mailgun.net (EU).
Suppressions: the domain's bounces, unsubscribes and complaints, each paged by following
`paging.next` until a page is empty. The lists are alphabetical, not by time, so a sync
reads them whole and keeps what is newer than the last one.
"""

from __future__ import annotations

import email.utils
import html
import json
import time
from collections.abc import Iterator

from newsletter.errors import SendError
from newsletter.merge import lookup
from newsletter.render.headers import clean
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
    mailbox,
    retoken,
    token_names,
)

EVENTS_PAGE = 300  # events: "The number of entries to return (300 max)"
KEPT = 30 * 86400  # events are kept up to 30 days (paid plans)

BASES = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}
LISTS = (("bounces", "bounce"), ("unsubscribes", "unsubscribe"), ("complaints", "complaint"))
PAGE = 1000  # "Maximum number of records to return (optional, default: 100, max: 1000)"


def _var(field: str, variant: str = "") -> str:
    return f"%recipient.{field}{'__' + variant if variant else ''}%"


def _one_line(value: str) -> str:
    return clean(value)  # as every header value: no line breaks, no control characters


class MailgunProvider(HttpProvider):
    name = "mailgun"
    max_batch = 1000  # "maximum number of recipients allowed for Batch Sending is 1,000"
    default_rate = 10.0
    credentials = ("MAILGUN_API_KEY",)
    searchable = True
    default_settle = 1800.0  # "older than the threshold age (e.g. half an hour)"
    # "Mailgun supports internationalized email addresses ... Outgoing Messages (HTTP API)"
    # https://documentation.mailgun.com/docs/mailgun/user-manual/internationalization
    eai = True
    # Filled when the domain's unsubscribe tracking is on; Mailgun then adds the
    # List-Unsubscribe headers and keeps the unsubscribes list that sync reads.
    hosted_unsubscribe = "%unsubscribe_url%"

    @property
    def default_base(self) -> str:  # type: ignore[override]
        region = (self.settings.region or "us").lower()
        if region not in BASES:
            raise SendError(f"mailgun: region must be us or eu, not '{self.settings.region}'")
        return BASES[region]

    @property
    def domain(self) -> str:
        if not self.settings.domain:
            raise SendError("mailgun: set delivery.domain (your sending domain) in newsletter.yaml")
        return self.settings.domain

    def prepare(self, batch: Batch) -> HttpCall:
        from urllib.parse import quote, urlencode

        domain = self.domain
        message = self.message
        text_fields, html_fields = token_names(message.text), token_names(message.html)
        line_fields = token_names(message.subject).union(
            *(token_names(v) for v in message.headers.values())
        )
        variables = {}
        for recipient in batch.recipients:
            values = {f: str(v or "") for f, v in recipient.values.items()}
            mine = {f: lookup(values, f) for f in text_fields}
            mine.update({f"{f}__html": html.escape(lookup(values, f)) for f in html_fields})
            mine.update({f"{f}__line": _one_line(lookup(values, f)) for f in line_fields})
            variables[recipient.email] = mine
        fields: list[tuple[str, str]] = [
            ("from", mailbox(message.from_name, message.from_email)),
            *(("to", mailbox(_one_line(r.name), r.email)) for r in batch.recipients),
            ("subject", retoken(message.subject, lambda f: _var(f, "line"))),
            ("text", retoken(message.text, _var)),
            ("html", retoken(message.html, lambda f: _var(f, "html"))),
            ("recipient-variables", json.dumps(variables, ensure_ascii=False)),
            (f"v:{ISSUE_KEY}", message.slug),
            (f"v:{BATCH_KEY}", batch.id),
        ]
        if message.reply_to:
            fields.append(("h:Reply-To", message.reply_to))
        fields.extend(self.tracking_fields())
        for name, value in message.headers.items():
            # Mailgun documents %recipient.x% for subject and bodies; headers: see README.
            fields.append((f"h:{name}", retoken(value, lambda f: _var(f, "line"))))
        body = urlencode(fields, quote_via=quote).encode()
        return HttpCall(
            f"{self.base}/v3/{quote(domain)}/messages",
            body,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )

    def tracking_fields(self) -> list[tuple[str, str]]:
        """Return the o:tracking options: off unless delivery.tracking asks (never the domain's)."""
        tracking = self.settings.tracking
        opens, clicks = "opens" in tracking, "clicks" in tracking
        return [
            ("o:tracking", "yes" if opens or clicks else "no"),
            ("o:tracking-clicks", "yes" if clicks else "no"),
            ("o:tracking-opens", "yes" if opens else "no"),
        ]

    def authorize(self, call: HttpCall) -> dict[str, str]:
        import base64

        token = base64.b64encode(f"api:{self.secret('MAILGUN_API_KEY')}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def parse(self, batch: Batch, response) -> list[Outcome]:
        message_id = response.json().get("id")
        return [Outcome(r.key, True, message_id) for r in batch.recipients]

    def search(
        self, budget: SearchBudget, *, issue: str, batch=None, since=None
    ) -> Iterator[Found]:
        from urllib.parse import quote

        wanted = {ISSUE_KEY: issue, **({BATCH_KEY: batch} if batch else {})}
        begin = (since if since is not None else time.time() - KEPT) - 60
        url = f"{self.base}/v3/{quote(self.domain)}/events"
        params: dict | None = {
            "event": "accepted",
            "user-variables": json.dumps(wanted, separators=(",", ":")),
            "begin": f"{begin:.0f}",
            "ascending": "yes",
            "limit": EVENTS_PAGE,
        }
        while True:
            page = self.read(url, params, budget)
            items = page.get("items") or []
            for event in items:
                variables = event.get("user-variables") or {}
                if any(variables.get(k) != v for k, v in wanted.items()):
                    continue  # never trust a filter we did not ask for precisely
                headers = (event.get("message") or {}).get("headers") or {}
                recipient = str(event.get("recipient") or "").lower()
                if recipient:
                    yield Found(recipient, headers.get("message-id"), variables.get(BATCH_KEY))
            url, params = (page.get("paging") or {}).get("next"), None
            if not items or not url:
                return
            if not url.startswith(self.base + "/"):  # the key goes with it: only to Mailgun
                raise ProviderError(self.name, f"paging.next points elsewhere: {url[:80]}")

    def sync(self, since: float | None) -> Iterator[Suppressed]:
        from urllib.parse import quote

        domain = self.domain
        for name, reason in LISTS:
            url, params = f"{self.base}/v3/{quote(domain)}/{name}", {"limit": PAGE}
            while True:
                data = self.fetch(url, params)
                items = data.get("items") or []
                for item in items:
                    when = email.utils.parsedate_to_datetime(item["created_at"]).timestamp()
                    if since is None or when >= since:
                        yield Suppressed(item["address"], reason, when)
                following = (data.get("paging") or {}).get("next")
                # The next page is at the same API: never send our key anywhere else.
                if not items or not following or not following.startswith(f"{self.base}/"):
                    break
                url, params = following, None
