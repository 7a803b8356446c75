"""Local servers for `suppress sync`, built from each provider's documented list answers.

Each serves one account's suppressions (bounces, complaints, unsubscribes) in the shape
its documentation shows, paged as documented, checks authentication, and can answer the
first request with a 429 (Retry-After) to exercise retries. They bind 127.0.0.1 only.

- Postmark  GET /message-streams/{stream}/suppressions/dump?fromdate=YYYY-MM-DD
            {"Suppressions": [{"EmailAddress", "SuppressionReason", "Origin", "CreatedAt"}]}
            (https://postmarkapp.com/developer/api/suppressions-api; no paging)
- Mailgun   GET /v3/{domain}/{bounces|unsubscribes|complaints}?limit=N
            {"items": [{"address", "created_at": RFC 2822, ...}], "paging": {"next", ...}};
            alphabetical, the page after the last is empty (documentation.mailgun.com,
            Suppressions)
- SES v2    GET /v2/email/suppression/addresses?StartDate&PageSize&NextToken (SigV4)
            {"SuppressedDestinationSummaries": [{"EmailAddress", "Reason", "LastUpdateTime"}],
             "NextToken"} (API_ListSuppressedDestinations)
- Resend    GET /contacts?limit&after
            {"object": "list", "has_more", "data": [{"id", "email", "unsubscribed", ...}]}
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

from provider_fakes import LocalServer, MailgunServer, PostmarkServer, ResendServer, SesServer

DAY = 86400.0
BASE = 1_760_000_000.0  # 2025-10-09: the accounts' entries are dated from here on


class SyncServer(LocalServer):
    """A GET-only fake: `entries` are (address, reason, epoch) with reason our own word."""

    def __init__(self, entries: list[tuple[str, str, float]], sender=None):
        """sender: a provider_fakes server that takes this API's sends (POSTs), if any."""
        self.entries = entries
        self.sender = sender
        self.requests: list[str] = []  # paths with query, in order
        self.errors: list[str] = []
        self.throttle_first = False  # answer the first request 429, Retry-After: 1
        self.lock = threading.Lock()
        # POSTs go to the sending API's fake, which is given later for some tests.
        self.serve(on_get=self.handle, on_post=lambda request: self.sender.handle(request))

    def handle(self, request) -> None:
        with self.lock:
            self.requests.append(request.path)
            throttle, self.throttle_first = self.throttle_first, False
        if throttle:
            self.reply(request, 429, {"message": "slow down"}, {"Retry-After": "1"})
            return
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        problem = self.check(request, parts.path, query)
        if problem and self.sender is not None and not problem.startswith("auth"):
            self.sender.handle_search(request)  # the sending API's search of sent messages
            return
        if problem:
            with self.lock:
                self.errors.append(problem)
            self.reply(request, 401 if "auth" in problem else 404, {"message": problem})
            return
        self.reply(request, 200, self.answer(parts.path, query))

    def reply(self, request, status: int, data, headers: dict | None = None) -> None:
        content = json.dumps(data).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(content)

    def check(self, request, path: str, query: dict) -> str | None:
        raise NotImplementedError

    def answer(self, path: str, query: dict):
        raise NotImplementedError


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone(dt.timedelta(hours=-5))).isoformat()


POSTMARK_REASONS = {
    "bounce": "HardBounce",
    "complaint": "SpamComplaint",
    "unsubscribe": "ManualSuppression",
}
MAILGUN_LISTS = {"bounces": "bounce", "unsubscribes": "unsubscribe", "complaints": "complaint"}
SES_REASONS = {"bounce": "BOUNCE", "complaint": "COMPLAINT"}


class PostmarkSync(SyncServer):
    stream = "broadcast"

    def check(self, request, path, query):
        if request.headers.get("X-Postmark-Server-Token") != PostmarkServer.token:
            return "auth: server token"
        if path != f"/message-streams/{self.stream}/suppressions/dump":
            return f"path {path}"
        return None

    def answer(self, path, query):
        since = query.get("fromdate")
        rows = []
        for address, reason, when in self.entries:
            if since and dt.datetime.fromtimestamp(when, dt.UTC).date().isoformat() < since:
                continue
            rows.append(
                {
                    "EmailAddress": address,
                    "SuppressionReason": POSTMARK_REASONS[reason],
                    "Origin": "Recipient",
                    "CreatedAt": iso(when),
                }
            )
        return {"Suppressions": rows}


class MailgunSync(SyncServer):
    domain = "mg.example.org"

    def check(self, request, path, query):
        expected = base64.b64encode(f"api:{MailgunServer.key}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return "auth: basic api:KEY"
        kind = path.rsplit("/", 1)[-1]
        if path != f"/v3/{self.domain}/{kind}" or kind not in MAILGUN_LISTS:
            return f"path {path}"
        return None

    def answer(self, path, query):
        kind = path.rsplit("/", 1)[-1]
        limit = int(query.get("limit", 100))
        rows = sorted(
            (address, when)
            for address, reason, when in self.entries
            if reason == MAILGUN_LISTS[kind]
        )
        if query.get("page") == "next":
            rows = [r for r in rows if r[0] > query.get("address", "")]
        page = rows[:limit]
        items = []
        for address, when in page:
            item = {"address": address, "created_at": email.utils.formatdate(when, usegmt=True)}
            if kind == "bounces":
                item.update(code="550", error="No such mailbox")
            if kind == "unsubscribes":
                item["tags"] = ["*"]
            items.append(item)
        here = f"{self.url}{path}"
        after = page[-1][0] if page else query.get("address", "")
        return {
            "items": items,
            "paging": {
                "first": f"{here}?{urlencode({'limit': limit})}",
                "next": f"{here}?{urlencode({'page': 'next', 'address': after, 'limit': limit})}",
                "previous": f"{here}?{urlencode({'page': 'previous', 'limit': limit})}",
                "last": f"{here}?{urlencode({'page': 'last', 'limit': limit})}",
            },
        }


class SesSync(SyncServer):
    def check(self, request, path, query):
        if path != "/v2/email/suppression/addresses":
            return f"path {path}"
        try:
            SesServer.check_signature(SesServer, request, b"", "GET")
        except Exception as exc:
            return f"auth: {exc!r}"
        return None

    def answer(self, path, query):
        size = int(query.get("PageSize", 1000))
        start = query.get("StartDate")
        since = dt.datetime.fromisoformat(start).timestamp() if start else 0.0
        rows = [
            {"EmailAddress": a, "Reason": SES_REASONS[r], "LastUpdateTime": when}
            for a, r, when in self.entries
            if r in SES_REASONS and when >= since
        ]
        offset = int(query.get("NextToken", "0"))
        answer = {"SuppressedDestinationSummaries": rows[offset : offset + size]}
        if offset + size < len(rows):
            answer["NextToken"] = str(offset + size)
        return answer


class ResendSync(SyncServer):
    def check(self, request, path, query):
        if request.headers.get("Authorization") != f"Bearer {ResendServer.key}":
            return "auth: bearer key"
        return None if path == "/contacts" else f"path {path}"

    def answer(self, path, query):
        limit = int(query.get("limit", 10))
        contacts = [
            {
                "id": f"id-{i:04d}",
                "email": address,
                "first_name": "",
                "last_name": "",
                "created_at": "2023-10-06 23:47:56.678+00",
                "unsubscribed": reason == "unsubscribe",
            }
            for i, (address, reason, _) in enumerate(self.entries)
        ]
        after = query.get("after")
        if after:
            contacts = [c for c in contacts if c["id"] > after]
        return {"object": "list", "has_more": len(contacts) > limit, "data": contacts[:limit]}
