"""Local provider servers built from the documented request and response shapes.

Postmark, Mailgun and SES publish no OpenAPI document to serve with Prism, so these check
what their docs require of a request (path, authentication, fields, limits) and answer as
documented. Each records the recipients it accepted, so tests count duplicates and losses,
and can be told to misbehave: `faults` is a list of actions for the next requests
("429", "500", "drop" = close without answering, "lost" = accept, then drop the answer,
"502-after" = accept, then answer 502 as a gateway would, ("slow", seconds)); `chaos`
draws such actions at random for every send ([("429", 0.1), ("500", 0.1)]).
Postmark and Mailgun also answer their documented searches of accepted messages (GET),
paged as documented, from an index that shows a message only `index_lag` seconds after
it was accepted, as the providers' own indexes lag. They bind 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import collections
import email
import email.policy
import json
import random
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class ShapeError(Exception):
    """The request does not have the documented shape."""


class Unauthorized(Exception):
    """The request's credentials are wrong or missing."""


def require_auth(condition: bool) -> None:
    if not condition:
        raise Unauthorized


class QuietServer(ThreadingHTTPServer):
    """A server that does not print the broken pipes our dropped connections cause."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 on a free port, which a fake serves from."""

    def serve(self, on_get, on_post) -> None:
        """Start answering GETs with on_get(request) and POSTs with on_post(request)."""

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                on_get(self)

            def do_POST(self):
                on_post(self)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeProvider(LocalServer):
    """A threaded HTTP server on 127.0.0.1 with fault injection and a record of recipients."""

    # The documented answers each fake gives, as (status, JSON body or text, headers);
    # every subclass replaces them with its provider's own, citing where they are documented.
    # A bad request's body gets the shape problem through str.format(problem=...).
    bad_credentials: tuple = (401, {"message": "unauthorized"}, {})
    throttled: tuple = (429, {"message": "too many requests"}, {"Retry-After": "1"})
    bad_request: tuple = (400, {"message": "{problem}"}, {})
    server_error: tuple = (500, {"message": "internal server error"}, {})

    def __init__(self, rate_limit: float | None = None):
        self.received: collections.Counter[str] = collections.Counter()
        self.requests = 0
        self.errors: list[str] = []  # shape violations: tests assert this stays empty
        self.faults: list = []
        self.lock = threading.Lock()
        self.rate_limit = rate_limit
        self.burst: float | None = None  # calls allowed at once (default: one second's worth)
        self.tokens = rate_limit or 0.0
        self.refilled = time.monotonic()
        self.limited = 0
        self.delay = 0.0  # seconds before every answer (a provider far away)
        self.generation = 0  # bumped by reset(): late answers of an earlier test are ignored
        self.chaos: list[tuple[str, float]] = []  # (fault, probability) drawn per send
        self.index: list[dict] = []  # accepted messages, as the search sees them
        self.index_lag = 0.0  # seconds before an accepted message shows in the search
        self.searches = 0
        self.local = threading.local()
        self.serve(on_get=self.handle_search, on_post=self.handle)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.requests = 0
            self.errors.clear()
            self.faults.clear()
            self.limited = 0
            self.delay = 0.0
            self.generation += 1
            self.chaos = []
            self.index = []
            self.index_lag = 0.0
            self.searches = 0

    def _take_token(self) -> bool:
        if not self.rate_limit:
            return True
        now = time.monotonic()
        capacity = self.burst or self.rate_limit
        self.tokens = min(capacity, self.tokens + (now - self.refilled) * self.rate_limit)
        self.refilled = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", 0))
        body = request.rfile.read(length)
        self.local.generation = self.generation
        with self.lock:
            self.requests += 1
            fault = self.faults.pop(0) if self.faults else self._draw()
            allowed = self._take_token()
            if not allowed:
                self.limited += 1
        if self.delay:
            time.sleep(self.delay)
        if fault == "drop":
            request.close_connection = True
            request.connection.shutdown(2)
            return
        if isinstance(fault, tuple) and fault[0] == "slow":
            time.sleep(fault[1])
        if fault == "429" or not allowed:
            self.reply(request, *self.throttled)
            return
        if fault == "500":
            self.reply(request, *self.server_error)
            return
        try:
            status, answer, headers = self.accept(request, body)
        except Unauthorized:
            self.reply(request, *self.bad_credentials)
            return
        except ShapeError as exc:
            with self.lock:
                self.errors.append(str(exc))
            status, answer, headers = self.bad_request
            self.reply(request, status, _fill(answer, str(exc)), headers)
            return
        if fault == "lost":  # the provider took it, but the answer never arrives
            request.close_connection = True
            request.connection.shutdown(2)
            return
        if fault == "502-after":  # taken, then a gateway between us answers 502
            self.reply(request, 502, {"Message": "Bad Gateway"})
            return
        self.reply(request, status, answer, headers)

    def _draw(self):
        roll = random.random()
        for fault, probability in self.chaos:
            if roll < probability:
                return fault
            roll -= probability
        return None

    def remember(self, address: str, message_id: str, variables: dict, **more) -> None:
        """Put an accepted message in the search index (visible after index_lag)."""
        with self.lock:
            if self.local.generation == self.generation:
                self.index.append(
                    {
                        "address": address,
                        "id": message_id,
                        "variables": dict(variables),
                        "at": time.time(),
                        "visible": time.monotonic() + self.index_lag,
                        **more,
                    }
                )

    def visible(self) -> list[dict]:
        now = time.monotonic()
        with self.lock:
            return [m for m in self.index if m["visible"] <= now]

    def handle_search(self, request: BaseHTTPRequestHandler) -> None:
        self.local.generation = self.generation
        url = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with self.lock:
            self.searches += 1
        try:
            status, answer = self.search(request, url.path, query)
        except Unauthorized:
            self.reply(request, *self.bad_credentials)
            return
        except ShapeError as exc:
            with self.lock:
                self.errors.append(f"search: {exc}")
            self.reply(request, 422, {"ErrorCode": 300, "Message": str(exc)})
            return
        self.reply(request, status, answer)

    def search(self, request, path: str, query: dict):
        return 404, {"Message": "no search here"}

    def reply(self, request, status: int, data, headers: dict | None = None) -> None:
        text = isinstance(data, str)
        content = data.encode() if text else json.dumps(data).encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/plain" if text else "application/json")
        request.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(content)

    def record(self, addresses) -> None:
        with self.lock:
            if self.local.generation == self.generation:
                self.received.update(a.lower() for a in addresses)

    def accept(self, request, body: bytes):
        raise NotImplementedError


def _fill(answer, problem: str):
    """Return a documented error body with the shape problem written into it."""
    if isinstance(answer, str):
        return answer.format(problem=problem)
    return {k: _fill(v, problem) if isinstance(v, str) else v for k, v in answer.items()}


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ShapeError(message)


def address_of(mailbox: str) -> str:
    """Return the address in 'Name <address>' or a bare address."""
    return email.utils.parseaddr(mailbox)[1]


class PostmarkServer(FakeProvider):
    """POST /email/batch as documented at postmarkapp.com (batch emails, up to 500)."""

    token = "postmark-test-token"
    # postmarkapp.com/developer/api/overview#response-codes: 401 for a wrong or missing
    # token, with API error code 10 ("Bad or missing API token"); 422 with the error code
    # of the problem (300: "Invalid email request"); 429 when rate limited; 500 on their side.
    bad_credentials = (
        401,
        {
            "ErrorCode": 10,
            "Message": "The Server Token you provided in the X-Postmark-Server-Token "
            "request header was invalid. Please verify that you are using a valid token.",
        },
        {},
    )
    bad_request = (422, {"ErrorCode": 300, "Message": "Invalid email request: {problem}"}, {})
    throttled = (429, {"ErrorCode": 429, "Message": "Rate limit exceeded"}, {"Retry-After": "1"})
    server_error = (500, {"ErrorCode": 500, "Message": "Internal Server Error"}, {})

    def __init__(self, *args, inactive: set[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.inactive = inactive or set()

    def accept(self, request, body):
        require(request.path == "/email/batch", f"path {request.path}")
        require_auth(request.headers.get("X-Postmark-Server-Token") == self.token)
        require("application/json" in request.headers.get("Accept", ""), "Accept header")
        require("application/json" in request.headers.get("Content-Type", ""), "Content-Type")
        messages = json.loads(body)
        require(isinstance(messages, list) and 0 < len(messages) <= 500, "1 to 500 messages")
        results = []
        for message in messages:
            for key in ("From", "To", "Subject", "MessageStream"):
                require(isinstance(message.get(key), str) and message[key], f"{key} missing")
            require(bool(message.get("HtmlBody") or message.get("TextBody")), "a body")
            require("%%" not in message["Subject"] + message.get("HtmlBody", ""), "token left")
            for header in message.get("Headers", []):
                require(set(header) == {"Name", "Value"}, f"header {header}")
            to = address_of(message["To"])
            if to.lower() in self.inactive:  # documented: ErrorCode 406, inactive recipient
                results.append(
                    {
                        "ErrorCode": 406,
                        "Message": "You tried to send to a recipient "
                        "that has been marked as inactive.",
                        "To": message["To"],
                    }
                )
                continue
            self.record([to])
            message_id = str(uuid.uuid4())
            metadata = message.get("Metadata") or {}
            require(isinstance(metadata, dict), "Metadata is an object")
            for key, value in metadata.items():  # documented limits of custom metadata
                require(len(key) <= 20 and len(str(value)) <= 80, f"Metadata {key} too long")
            self.remember(
                to.lower(),
                message_id,
                metadata,
                stream=message["MessageStream"],
                tag=message.get("Tag", ""),
                mailbox=message["To"],
            )
            results.append(
                {
                    "ErrorCode": 0,
                    "Message": "OK",
                    "MessageID": message_id,
                    "SubmittedAt": "2024-01-15T12:01:05.1794748-05:00",
                    "To": message["To"],
                }
            )
        return 200, results, {}

    def search(self, request, path, query):
        """GET /messages/outbound: count (max 500) and offset required, newest first."""
        require(path == "/messages/outbound", f"search path {path}")
        require_auth(request.headers.get("X-Postmark-Server-Token") == self.token)
        require("application/json" in request.headers.get("Accept", ""), "Accept header")
        require(query.get("count", "").isdigit() and query.get("offset", "").isdigit(), "paging")
        count, offset = int(query["count"]), int(query["offset"])
        require(1 <= count <= 500 and count + offset <= 10_000, "count 1-500, count+offset 10000")
        metadata = {k[len("metadata_") :]: v for k, v in query.items() if k.startswith("metadata_")}
        found = [
            m
            for m in self.visible()
            if all(str(m["variables"].get(k)) == v for k, v in metadata.items())
            and query.get("messagestream", m["stream"]) == m["stream"]
            and query.get("recipient", m["address"]).lower() == m["address"]
            and query.get("tag", m["tag"]) == m["tag"]
        ]
        found.sort(key=lambda m: -m["at"])
        page = [
            {
                "Tag": m["tag"],
                "MessageID": m["id"],
                "MessageStream": m["stream"],
                "To": [{"Email": m["address"], "Name": None}],
                "Cc": [],
                "Bcc": [],
                "Recipients": [m["address"]],
                "ReceivedAt": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(m["at"])),
                "Status": "Sent",
                "Metadata": m["variables"],
                "Sandboxed": False,
            }
            for m in found[offset : offset + count]
        ]
        return 200, {"TotalCount": len(found), "Messages": page}


class MailgunServer(FakeProvider):
    """POST /v3/{domain}/messages with recipient-variables (documentation.mailgun.com)."""

    key = "mailgun-test-key"
    # documentation.mailgun.com, "API Response Codes": 200 {"id", "message"}; 400 with a
    # JSON "message" for a bad request; 401 "Forbidden" (plain text) for a wrong API key;
    # 429 when too many requests; 500 on Mailgun's side.
    bad_credentials = (401, "Forbidden", {})
    bad_request = (400, {"message": "{problem}"}, {})
    throttled = (429, {"message": "Too many requests"}, {"Retry-After": "1"})
    server_error = (500, {"message": "Internal Server Error"}, {})

    def __init__(self, domain: str = "mg.example.org", **kwargs):
        super().__init__(**kwargs)
        self.domain = domain
        self.bodies: list[dict] = []

    def accept(self, request, body):
        require(request.path == f"/v3/{self.domain}/messages", f"path {request.path}")
        expected = base64.b64encode(f"api:{self.key}".encode()).decode()
        require_auth(request.headers.get("Authorization") == f"Basic {expected}")
        kind = request.headers.get("Content-Type", "")
        require(kind.startswith("application/x-www-form-urlencoded"), f"form body, not {kind}")
        form = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)
        for key in ("from", "to", "subject", "recipient-variables"):
            require(key in form, f"{key} missing")
        require(bool(form.get("html") or form.get("text")), "html or text")
        to = [address_of(t) for t in form["to"]]
        require(len(to) <= 1000, "at most 1000 recipients")
        variables = json.loads(form["recipient-variables"][0])
        require(set(variables) == set(to), "recipient-variables must cover every to")
        self.bodies.append({k: v[0] if len(v) == 1 else v for k, v in form.items()})
        self.record(to)
        message_id = f"{uuid.uuid4()}@{self.domain}"
        variables = {k[2:]: v[0] for k, v in form.items() if k.startswith("v:")}
        for address in to:
            self.remember(address.lower(), message_id, variables)
        return 200, {"id": f"<{message_id}>", "message": "Queued. Thank you."}, {}

    def search(self, request, path, query):
        """GET /v3/{domain}/events, and the paging.next URLs it hands out."""
        expected = base64.b64encode(f"api:{self.key}".encode()).decode()
        require_auth(request.headers.get("Authorization") == f"Basic {expected}")
        prefix = f"/v3/{self.domain}/events"
        require(path.startswith(prefix), f"search path {path}")
        if path != prefix:  # a page URL: the query is in its token
            query = json.loads(base64.urlsafe_b64decode(path[len(prefix) + 1 :]))
        require("begin" in query, "a time range: begin")
        require(query.get("ascending") in ("yes", "no") or "end" in query, "ascending or end")
        limit = int(query.get("limit", 100))
        require(1 <= limit <= 300, "limit 300 max")
        wanted = json.loads(query.get("user-variables", "{}"))
        begin, offset = float(query["begin"]), int(query.get("offset", 0))
        found = [
            m
            for m in self.visible()
            if m["at"] >= begin
            and query.get("event", "accepted") == "accepted"
            and all(m["variables"].get(k) == v for k, v in wanted.items())
            and query.get("recipient", m["address"]).lower() == m["address"]
        ]
        found.sort(key=lambda m: m["at"], reverse=query.get("ascending") == "no")
        items = [
            {
                "event": "accepted",
                "id": uuid.uuid4().hex,
                "timestamp": m["at"],
                "recipient": m["address"],
                "message": {"headers": {"message-id": m["id"], "to": m["address"]}},
                "user-variables": m["variables"],
            }
            for m in found[offset : offset + limit]
        ]
        token = base64.urlsafe_b64encode(
            json.dumps({**query, "offset": offset + len(items)}).encode()
        ).decode()
        base = f"http://{request.headers['Host']}{prefix}"
        paging = {"next": f"{base}/{token}", "previous": f"{base}/{token}", "first": base}
        return 200, {"items": items, "paging": paging}


class SesServer(FakeProvider):
    """SES v2 SendEmail: POST /v2/email/outbound-emails, SigV4-signed (checked), Raw content."""

    access_key, secret_key, region = "AKIDEXAMPLE", "ses-test-secret", "eu-west-1"
    # docs.aws.amazon.com/ses/latest/APIReference-V2 "Common Errors" and SendEmail "Errors":
    # a JSON {"message"} with the error's name in x-amzn-ErrorType; 403 for a signature
    # that does not match or an unknown key, 400 BadRequestException, 429
    # TooManyRequestsException, 500 InternalFailure.
    bad_credentials = (
        403,
        {"message": "The request signature we calculated does not match the signature you "
         "provided. Check your AWS Secret Access Key and signing method."},
        {"x-amzn-ErrorType": "SignatureDoesNotMatch"},
    )  # fmt: skip
    bad_request = (400, {"message": "{problem}"}, {"x-amzn-ErrorType": "BadRequestException"})
    throttled = (
        429,
        {"message": "Too Many Requests"},
        {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "1"},
    )
    server_error = (500, {"message": "InternalFailure"}, {"x-amzn-ErrorType": "InternalFailure"})

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.messages: list[email.message.EmailMessage] = []

    def accept(self, request, body):
        require(request.path == "/v2/email/outbound-emails", f"path {request.path}")
        self.check_signature(request, body)
        data = json.loads(body)
        require(isinstance(data.get("FromEmailAddress"), str), "FromEmailAddress")
        to = data.get("Destination", {}).get("ToAddresses")
        require(isinstance(to, list) and len(to) == 1, "Destination.ToAddresses")
        raw = base64.b64decode(data["Content"]["Raw"]["Data"], validate=True)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        require(address_of(str(message["To"])).lower() == to[0].lower(), "To matches")
        self.messages.append(message)
        self.record(to)
        return 200, {"MessageId": f"0100{uuid.uuid4().hex}-000000"}, {}

    def check_signature(self, request, body: bytes, method: str = "POST") -> None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        auth = request.headers.get("Authorization", "")
        stamp = request.headers.get("X-Amz-Date", "")
        scope = f"{self.access_key}/{stamp[:8]}/{self.region}/ses/aws4_request"
        require_auth(auth.startswith(f"AWS4-HMAC-SHA256 Credential={scope}"))
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        headers = {k: v for k, v in request.headers.items() if k.lower() in signed}
        url = f"http://{request.headers['Host']}{request.path}"
        copy = AWSRequest(method, url, data=body, headers=headers)
        copy.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(self.access_key, self.secret_key), "ses", self.region)
        canonical = signer.canonical_request(copy)
        expected = signer.signature(signer.string_to_sign(copy, canonical), copy)
        require_auth(auth.endswith(f"Signature={expected}"))


class ResendServer(FakeProvider):
    """POST /emails/batch honouring Idempotency-Key (a repeated key is answered, not resent)."""

    key = "resend-test-key"
    # resend.com/docs/api-reference/errors: {"statusCode", "message", "name"}; 403
    # invalid_api_key (401 missing_api_key when there is none), 422 validation_error,
    # 429 rate_limit_exceeded, 500 application_error.
    bad_credentials = (
        403,
        {"statusCode": 403, "message": "API key is invalid", "name": "invalid_api_key"},
        {},
    )
    bad_request = (
        422,
        {"statusCode": 422, "message": "{problem}", "name": "validation_error"},
        {},
    )
    throttled = (
        429,
        {
            "statusCode": 429,
            "message": "Too many requests. You can only make 2 requests per second.",
            "name": "rate_limit_exceeded",
        },
        {"Retry-After": "1"},
    )
    server_error = (
        500,
        {"statusCode": 500, "message": "Internal server error", "name": "application_error"},
        {},
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen: dict[str, list] = {}

    def accept(self, request, body):
        require(request.path == "/emails/batch", f"path {request.path}")
        require_auth(request.headers.get("Authorization") == f"Bearer {self.key}")
        key = request.headers.get("Idempotency-Key")
        require(bool(key), "Idempotency-Key")
        emails = json.loads(body)
        require(isinstance(emails, list) and len(emails) <= 100, "at most 100 emails")
        for message in emails:  # resend.com/docs/api-reference/emails/send-batch-emails
            require(isinstance(message, dict), "each email is an object")
            for field in ("from", "to", "subject"):
                require(bool(message.get(field)), f"{field} missing")
        with self.lock:
            if key in self.seen:
                return 200, {"data": self.seen[key]}, {}
            data = [{"id": str(uuid.uuid4())} for _ in emails]
            self.seen[key] = data
        self.record(address_of(e["to"][0]) for e in emails)
        return 200, {"data": data}, {}
