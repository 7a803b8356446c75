"""What every provider shares: batches, outcomes, errors, and HTTP with error context.

A provider only maps a batch onto its API (after django-anymail's backends): `prepare`
builds the payload once per batch (kept for retries, counted by --dry-run), `deliver`
sends it and returns one Outcome per recipient. Errors say what the engine should do:

ProviderError
 ├── Retryable    429, 5xx, timeouts, dropped connections: back off and try again;
 │                ambiguous=True when the provider may have accepted the batch anyway
 │                (a 5xx, a timeout, an answer lost): the engine then asks, not resends
 ├── Rejected     a permanent 4xx: the batch's recipients failed, with the provider's reason
 ├── Fatal        bad credentials or settings: stop the whole run, nothing was sent
 └── Unsearchable the provider cannot tell which messages it has (no search API, no access)

A provider that keeps a suppression list implements `sync` (`newsletter suppress sync`):
it yields what the provider suppressed, read with `fetch`, which paces, retries and
honours rate limits as sends do. A provider that can be asked which messages it accepted
(`searchable`) tags every message with its issue and batch (`ISSUE_KEY`, `BATCH_KEY`) and
implements `search`, read the same way within a time bound (`SearchBudget`).
"""

from __future__ import annotations

import email.utils
import functools
import html
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlencode

from newsletter.errors import SendError, mask_credentials
from newsletter.merge import keys as token_names
from newsletter.merge import retoken
from newsletter.model import Delivery
from newsletter.render.headers import address, clean, needs_smtputf8
from newsletter.render.message import PersonalMessage, RenderedMessage, personalize
from newsletter.render.mime import CompiledMime

__all__ = ["retoken", "token_names"]
from newsletter.send.providers.jsonbody import JsonArray, JsonPart, JsonTemplate, dumps
from newsletter.send.subscribers import Recipient

# The slot of a JSON template that holds the recipient's To: mailbox (no field has capitals).
MAILBOX = "To:"
# The slot of a JSON template that holds the batch id (see Provider.json_copies).
BATCH_SLOT = "Batch:"
# How long to honour a Retry-After at most: beyond this a provider is telling us to stop.
MAX_RETRY_AFTER = 600.0
# The names under which every message carries its issue and batch (metadata, user
# variables, custom args), so the provider can be asked which messages it has.
ISSUE_KEY = "newsletter_issue"
BATCH_KEY = "newsletter_batch"


@dataclass(frozen=True, slots=True)
class Batch:
    """Recipients sent in one API call, with an id that stays the same across retries."""

    id: str
    recipients: list[Recipient]

    @property
    def idempotency_key(self) -> str:
        """Return the key that lets a provider drop a repeated batch."""
        return f"newsletter-{self.id}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the provider said about one recipient."""

    key: str
    ok: bool
    message_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Suppressed:
    """An address the provider suppressed: our reason word, and the provider's time."""

    address: str
    reason: str  # unsubscribe, bounce, complaint, invalid or manual
    when: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcomes of a batch, and how long the provider asks us to pause (rate limits)."""

    outcomes: list[Outcome]
    pause: float | None = None


class ProviderError(SendError):
    """A provider refused or failed a call; carries provider, status and response body."""

    def __init__(self, provider: str, reason: str, status: int | None = None, body: str = ""):
        where = f"{provider}" + (f" (HTTP {status})" if status else "")
        # A login written into api_base (http://user:pw@host) must not reach the terminal
        # or the ledger's recorded reasons.
        reason, body = mask_credentials(reason), mask_credentials(body)
        super().__init__(f"{where}: {reason}")
        self.provider, self.reason, self.status, self.body = provider, reason, status, body


class Retryable(ProviderError):
    """A transient failure; ambiguous when the batch may have been accepted."""

    def __init__(self, *args, retry_after: float | None = None, ambiguous: bool = False, **kw):
        super().__init__(*args, **kw)
        self.retry_after, self.ambiguous = retry_after, ambiguous


class Rejected(ProviderError):
    """A permanent refusal of the whole batch."""


class Fatal(ProviderError):
    """Credentials or settings are wrong: no later batch can succeed either."""


class Unsearchable(ProviderError):
    """The provider cannot be asked which messages it accepted (say why)."""


@dataclass(frozen=True, slots=True)
class Found:
    """A message the provider accepted, as its search reports it."""

    address: str
    message_id: str | None
    batch: str | None = None


@dataclass
class SearchBudget:
    """How hard a search may try: pacing, attempts and a deadline (monotonic seconds).

    limiter: anything with acquire() and pause(seconds), shared with the send path.
    """

    deadline: float
    limiter: Any = None
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    calls: int = 0

    @classmethod
    def lasting(cls, seconds: float, **kwargs) -> SearchBudget:
        return cls(time.monotonic() + seconds, **kwargs)


def mailbox(name: str, address: str) -> str:
    """Return 'Name <address>' for JSON APIs (UTF-8, quoted where needed, not encoded)."""
    if not name:
        return address
    if re.search(r'[()<>\[\]:;@\\,."]', name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def recipient_mailbox(recipient: Recipient) -> str:
    """Return the recipient's To: mailbox, the name on one line as personalize() makes it.

    The domain is in its ASCII (IDNA) form, which every provider takes.
    """
    return mailbox(_one_line(recipient.name), address(recipient.email))


def delay_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Return the seconds a provider asks us to wait (Retry-After or rate-limit reset)."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return min(float(value), MAX_RETRY_AFTER)
        parsed = email.utils.parsedate_to_datetime(value) if "," in value else None
        if parsed is not None:
            return min(max(parsed.timestamp() - now, 0.0), MAX_RETRY_AFTER)
    for name in ("ratelimit-reset", "x-ratelimit-reset"):
        value = headers.get(name)
        try:
            reset = float(value) if value else None
        except ValueError:
            reset = None
        if reset is not None:
            # Large values are epoch seconds (SendGrid); small ones are seconds to wait.
            wait = reset - now if reset > 1e9 else reset
            return min(max(wait, 0.0), MAX_RETRY_AFTER)
    return None


def _one_line(value: str) -> str:
    return clean(value)


def _html(value: str) -> str:
    return html.escape(value, quote=True)


@dataclass(frozen=True)
class CompiledMessage:
    """The parts of a message compiled for JSON payloads (see jsonbody.JsonPart)."""

    subject: JsonPart
    html: JsonPart
    text: JsonPart
    headers: dict[str, JsonPart]

    @classmethod
    def of(cls, message: RenderedMessage) -> CompiledMessage:
        return cls(
            JsonPart(message.subject, _one_line),
            JsonPart(message.html, _html),
            JsonPart(message.text),
            {k: JsonPart(v, _one_line) for k, v in message.headers.items()},
        )


@dataclass(frozen=True, slots=True)
class Built:
    """A batch's messages, each built alone: (recipient, payload), and who could not be built."""

    messages: list[tuple[Recipient, Any]]
    failed: list[Outcome]


class Provider:
    """A delivery channel: maps batches onto one provider's API."""

    name: ClassVar[str] = ""
    max_batch: ClassVar[int] = 1  # the provider's own limit per call
    default_rate: ClassVar[float | None] = None  # calls per second
    default_concurrency: ClassVar[int] = 1
    idempotent: ClassVar[bool] = False  # repeating a batch cannot deliver twice
    credentials: ClassVar[tuple[str, ...]] = ()  # environment variables, for messages
    searchable: ClassVar[bool] = False  # search() can say which messages were accepted
    # Seconds after a call before its absence from the provider's search means anything.
    default_settle: ClassVar[float] = 60.0
    # Why unknown recipients cannot be settled by asking (for reports), when not searchable.
    unsearchable_reason: ClassVar[str] = "offers no search of the messages it accepted"
    # Takes internationalised addresses (RFC 6531, non-ASCII before the @): where its
    # documentation says so; when unsure, no.
    eai: ClassVar[bool] = False
    # delivery.unsubscribe: provider (see send/hosted.py): the placeholder the provider
    # fills with its own unsubscribe link, or None and why it cannot host one.
    hosted_unsubscribe: ClassVar[str | None] = None
    hosted_refusal: ClassVar[str] = "this provider hosts no unsubscribe link"

    def __init__(
        self,
        message: RenderedMessage,
        settings: Delivery,
        *,
        env: Mapping[str, str] | None = None,
        need_credentials: bool = True,
        **options: Any,
    ):
        self.message = message
        self.settings = settings
        self.env = os.environ if env is None else env
        self.need_credentials = need_credentials
        self.options = options

    def __repr__(self) -> str:  # providers hold credentials: never show more than the name
        return f"<{type(self).__name__} provider>"

    @property
    def batch_size(self) -> int:
        size = self.settings.batch_size or self.max_batch
        return max(1, min(size, self.max_batch))

    @property
    def rate(self) -> float | None:
        return self.settings.rate or self.default_rate

    @property
    def concurrency(self) -> int:
        return self.settings.concurrency or self.default_concurrency

    def secret(self, variable: str) -> str:
        """Return a credential from the environment, or fail naming the variable."""
        value = self.env.get(variable, "")
        if not value and self.need_credentials:
            raise SendError(
                f"{self.name}: set the environment variable {variable} (credentials are read "
                "only from the environment, never from files)"
            )
        return value

    @classmethod
    def check_hosted(cls, settings: Delivery) -> None:
        """Fail naming the setting that provider-hosted unsubscribe needs, if one is missing."""

    @property
    def hosted(self) -> bool:
        """Return True when the provider hosts the unsubscribe (delivery.unsubscribe)."""
        return self.settings.unsubscribe == "provider"

    def check_credentials(self) -> None:
        """Fail early, naming the environment variable, when a credential is missing."""
        for variable in self.credentials:
            self.secret(variable)

    @functools.cached_property
    def compiled(self) -> CompiledMessage:
        """Return the message compiled for JSON payloads, once."""
        return CompiledMessage.of(self.message)

    def json_message(
        self, fixed: dict[str, str], names: tuple[str, str, str, str], to_list: bool = False
    ) -> JsonTemplate:
        """Start one message of a batch as JSON: fixed fields, then to, subject, html, text.

        names: the provider's names of those four; to_list: the address goes in a list.
        """
        to, subject, html_name, text = names
        parts = self.compiled
        item = JsonTemplate().text("{" + dumps(fixed)[1:-1] + f",{dumps(to)}:")
        item.text("[" if to_list else "").value(MAILBOX).text("]" if to_list else "")
        for name, part in ((subject, parts.subject), (html_name, parts.html), (text, parts.text)):
            item.text(f",{dumps(name)}:").part(part)
        return item

    def json_copies(self, template: JsonTemplate, batch: Batch) -> JsonArray:
        """Return the batch as a JSON array of template copies, one per recipient.

        The template's slot MAILBOX is the recipient's To: mailbox.
        """
        return JsonArray(
            template,
            [
                template.fill({**r.values, MAILBOX: recipient_mailbox(r), BATCH_SLOT: batch.id})
                for r in batch.recipients
            ],
        )

    @property
    def settle(self) -> float:
        """Return the seconds after which a message absent from search was not accepted."""
        value = getattr(self.settings, "reconcile_settle", None)
        return self.default_settle if value is None else value

    def search(
        self,
        budget: SearchBudget,
        *,
        issue: str,
        batch: str | None = None,
        since: float | None = None,
    ) -> Iterator[Found]:
        """Yield the messages the provider accepted for an issue (or one batch of it).

        since: the epoch seconds before which nothing of it was sent (None: look back as
        far as the provider keeps records).
        """
        raise Unsearchable(self.name, self.unsearchable_reason)

    @property
    def mime(self) -> CompiledMime:
        """Return the message compiled as MIME, once (again if the message was replaced)."""
        compiled = getattr(self, "_mime", None)
        if compiled is None or compiled.message is not self.message:
            compiled = self._mime = CompiledMime(self.message)
        return compiled

    def accepts_eai(self) -> bool:
        """Return True if internationalised addresses can go through this provider."""
        return self.eai

    def refuses(self, email: str) -> str | None:
        """Return why this provider cannot deliver to a (valid) address, or None."""
        if needs_smtputf8(email) and not self.accepts_eai():
            return (
                f"not deliverable through {self.name}: it does not take internationalised "
                "addresses (non-ASCII before the @)"
            )
        return None

    def build_each(self, batch: Batch, build: Callable[[Recipient], Any]) -> Built:
        """Build each recipient's message; one that cannot be built fails alone, with why."""
        messages, failed = [], []
        for recipient in batch.recipients:
            try:
                messages.append((recipient, build(recipient)))
            except SendError as exc:
                failed.append(Outcome(recipient.key, False, reason=exc.message))
            except Exception as exc:  # a per-recipient rendering bug stops nobody else
                reason = f"cannot build the message: {type(exc).__name__}: {exc}"
                failed.append(Outcome(recipient.key, False, reason=reason))
        return Built(messages, failed)

    def personal(self, recipient: Recipient) -> PersonalMessage:
        """Return one recipient's message, every token filled in."""
        return personalize(self.message, recipient.values)

    def prepare(self, batch: Batch) -> Any:
        """Build the payload of a batch (once; retries send the same payload)."""
        raise NotImplementedError

    def sync(self, since: float | None) -> Iterator[Suppressed]:
        """Yield the addresses the provider suppressed (since epoch seconds, where it can)."""
        raise SendError(
            f"{self.name} keeps no suppression list to sync: use 'newsletter suppress import'"
        )

    def size(self, payload: Any) -> int:
        """Return the payload's size in bytes, for --dry-run."""
        return len(payload) if isinstance(payload, bytes | str) else 0

    def deliver(self, batch: Batch, payload: Any) -> Reply:
        """Send a prepared batch and return one outcome per recipient."""
        raise NotImplementedError

    def open(self) -> None:
        """Get ready to send, before the first call is paced by the rate limit."""

    def close(self) -> None:
        """Release connections."""


@dataclass
class HttpCall:
    """A prepared HTTP request: signed (where needed) anew on every attempt.

    body: bytes, or a JsonArray written copy by copy as the request goes out.
    """

    url: str
    body: bytes | JsonArray
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"

    @property
    def content(self) -> bytes:
        """Return the whole body as bytes (for signing and tests; sending streams it)."""
        return self.body if isinstance(self.body, bytes) else bytes(self.body)


class HttpProvider(Provider):
    """A provider with an HTTP API: one shared client, timeouts and error context."""

    default_base: ClassVar[str] = ""
    default_concurrency = 4

    def __init__(self, *args, client=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._client = client  # injected in tests (event hooks, transports)
        self._own_client = client is None
        self._limiter = None  # paces fetch(); sends are paced by the engine

    @property
    def base(self) -> str:
        return (self.settings.api_base or self.default_base).rstrip("/")

    @property
    def client(self):
        if self._client is None:
            import httpx  # lazy: keeps `newsletter --help` instant

            self._client = httpx.Client(
                timeout=httpx.Timeout(self.settings.timeout, connect=min(10.0, self.timeout)),
                limits=httpx.Limits(max_connections=self.concurrency + 1),
                headers={"User-Agent": "newsletter"},
            )
        return self._client

    def open(self) -> None:
        # Building the client (TLS context, certificates) takes tens of milliseconds; done
        # lazily by the first worker, it held back the first calls, which then reached the
        # provider together, over its rate limit. (And only one thread builds it now.)
        _ = self.client

    @property
    def timeout(self) -> float:
        return self.settings.timeout

    def json_call(self, url: str, data: Any, headers: Mapping[str, str] | None = None) -> HttpCall:
        """Return a call posting data (or JSON bytes already built) as compact UTF-8 JSON."""
        body = data if isinstance(data, bytes | JsonArray) else dumps(data).encode()
        return HttpCall(url, body, {"Content-Type": "application/json", **(headers or {})})

    def size(self, payload: HttpCall) -> int:
        return len(payload.body)

    def authorize(self, call: HttpCall) -> dict[str, str]:
        """Return the authentication headers of one attempt."""
        return {}

    def deliver(self, batch: Batch, payload: HttpCall) -> Reply:
        response = self.post(payload)
        return Reply(self.parse(batch, response), self.pause_after(response))

    def post(self, call: HttpCall):
        """POST a call; return a 2xx response or raise the error that says what to do."""
        import httpx

        headers = {"Accept": "application/json", **call.headers, **self.authorize(call)}
        if not isinstance(call.body, bytes):  # streamed: httpx would send it chunked otherwise
            headers["Content-Length"] = str(len(call.body))
        try:
            response = self.client.post(call.url, content=call.body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Retryable(self.name, f"cannot connect to {self.base}: {exc}") from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            # The request was not fully written, so the provider cannot have acted on it.
            raise Retryable(self.name, f"connection lost while sending: {exc}") from None
        except httpx.TimeoutException as exc:
            raise Retryable(
                self.name, f"no answer within {self.timeout:g} s ({exc})", ambiguous=True
            ) from None
        except httpx.TransportError as exc:
            raise Retryable(
                self.name, f"connection dropped before the answer: {exc!r}", ambiguous=True
            ) from None
        return self.check(response)

    def check(self, response):
        """Return a 2xx response, or raise the error that says what to do about it."""
        status = response.status_code
        if status < 300:
            return response
        reason = self.error_reason(response)
        body = response.text[:2000]
        if status == 429 or status >= 500 or status == 408:
            # A 5xx may come after the provider committed the batch (a gateway's 502 or
            # 504, a 500 from a later step): only the search can tell, so it is ambiguous.
            raise Retryable(
                self.name,
                reason,
                status,
                body,
                retry_after=delay_from_headers(response.headers),
                ambiguous=status >= 500 and not self.nothing_sent(response),
            )
        if status in (401, 403):
            raise Fatal(self.name, f"{reason} (check {', '.join(self.credentials)})", status, body)
        raise Rejected(self.name, reason, status, body)

    def nothing_sent(self, response) -> bool:
        """Return True for a 5xx the provider documents as accepting nothing."""
        return False

    def error_reason(self, response) -> str:
        """Return the provider's own words for an error response."""
        try:
            data = response.json()
        except ValueError:
            text = response.text.strip()
            return text[:300] or response.reason_phrase
        if isinstance(data, dict):
            for key in ("message", "Message", "error", "detail"):
                if isinstance(data.get(key), str):
                    return data[key]
        return json.dumps(data)[:300]

    def pause_after(self, response) -> float | None:
        """Return how long to pause when the provider says its rate limit is used up."""
        for name in ("ratelimit-remaining", "x-ratelimit-remaining"):
            if response.headers.get(name, "").strip() == "0":
                return delay_from_headers(response.headers)
        return None

    def parse(self, batch: Batch, response) -> list[Outcome]:
        """Return one outcome per recipient of an accepted batch."""
        raise NotImplementedError

    def fetch(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        attempts: int = 6,
        budget: SearchBudget | None = None,
    ) -> Any:
        """GET JSON, paced by the provider's rate limit; retried with backoff (reads change
        nothing), honouring Retry-After and rate-limit headers as sends do.

        budget: the pacing (the send's own limiter), attempts and deadline of a search.
        """
        import httpx

        from newsletter.send.engine import RateLimiter, backoff  # lazy: the engine imports us

        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        if self._limiter is None:
            self._limiter = RateLimiter(self.rate)
        limiter = (budget.limiter if budget else None) or self._limiter
        attempts = budget.max_attempts if budget else attempts
        for attempt in range(1, attempts + 1):
            timeout = self.timeout
            if budget is not None:
                timeout = min(timeout, budget.deadline - time.monotonic())
                if timeout <= 0:
                    raise Retryable(self.name, "the search ran out of time")
                budget.calls += 1
            limiter.acquire()
            call = HttpCall(url, b"", method="GET")
            headers = {"Accept": "application/json", **self.authorize(call)}
            try:
                return self.check(self.client.get(url, headers=headers, timeout=timeout)).json()
            except httpx.TransportError as exc:
                error = Retryable(self.name, f"cannot read {url}: {exc!r}")
            except Retryable as exc:
                error = exc
            except ValueError as exc:
                raise Rejected(self.name, f"unreadable answer from {url}: {exc}") from None
            if attempt == attempts:
                raise error
            if error.retry_after:
                limiter.pause(error.retry_after)
            else:
                time.sleep(backoff(attempt, 0.5, 30.0))
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._client is not None and self._own_client:
            self._client.close()
            self._client = None

    # -- reading: the search of accepted messages ---------------------------------------
    def read(self, url: str, params: Mapping[str, Any], budget: SearchBudget) -> Any:
        """GET JSON within a search's budget; 401, 403 and 404 mean it cannot search."""
        try:
            return self.fetch(url, params, budget=budget)
        except (Fatal, Rejected) as exc:
            if exc.status in (401, 403, 404):
                words = exc.reason.removesuffix(f" (check {', '.join(self.credentials)})")
                raise Unsearchable(
                    self.name,
                    f"{words} (this account cannot search sent messages)",
                    exc.status,
                ) from None
            raise
