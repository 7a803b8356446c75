"""Amazon SES v2: POST /v2/email/outbound-emails, one raw MIME message per call.

https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html
Each message is our own MIME (the compiled message of render/mime.py), so List-Unsubscribe
and every header go out as rendered. SES takes no internationalised addresses ("Amazon SES
does not support the SMTPUTF8 extension", API reference, Destination) and wants domains in
Punycode. Requests are signed with SigV4 by botocore (the maintained AWS implementation;
we never sign by hand), which also resolves credentials the standard way: environment
variables, shared profile, SSO, instance roles. HTTP goes through the shared client so
retries, rate limits and the ledger work as for every other provider. SES has no
idempotency keys for SendEmail. Suppressions: the account's suppression list,
ListSuppressedDestinations (GET /v2/email/suppression/addresses), paged by NextToken.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

from newsletter.errors import SendError
from newsletter.render.headers import address
from newsletter.send.providers.base import (
    Batch,
    HttpCall,
    HttpProvider,
    Outcome,
    Rejected,
    Reply,
    Suppressed,
)

REASONS = {"BOUNCE": "bounce", "COMPLAINT": "complaint"}


class SesProvider(HttpProvider):
    name = "ses"
    max_batch = 1  # SendEmail sends one message; SendBulkEmail needs stored templates
    default_rate = 14.0  # a common production quota (messages per second); sandbox is 1
    default_concurrency = 8
    credentials = ("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE",)
    # With ListManagementOptions SES fills this and adds the List-Unsubscribe headers.
    hosted_unsubscribe = "{{amazonSESUnsubscribeUrl}}"

    @classmethod
    def check_hosted(cls, settings) -> None:
        if not settings.contact_list:
            raise SendError(
                "ses: unsubscribe: provider needs delivery.contact_list (an SES contact list; "
                "delivery.topic optionally names its topic)"
            )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._session = None
        self._credentials = None

    @property
    def session(self):
        if self._session is None:
            import botocore.session  # lazy: botocore is large

            self._session = botocore.session.Session()
        return self._session

    @property
    def region(self) -> str:
        return self.settings.region or self.session.get_config_variable("region") or "us-east-1"

    @property
    def default_base(self) -> str:  # type: ignore[override]
        return f"https://email.{self.region}.amazonaws.com"

    def prepare(self, batch: Batch) -> HttpCall | Outcome:
        built = self.build_each(batch, lambda r: self.mime.build(r.values))
        if built.failed:  # one recipient a batch: it fails alone, nothing is posted
            return built.failed[0]
        ((recipient, raw),) = built.messages
        data = {
            "FromEmailAddress": address(self.message.from_email),
            "Destination": {"ToAddresses": [address(recipient.email)]},
            "Content": {"Raw": {"Data": base64.b64encode(raw).decode("ascii")}},
        }
        if self.hosted:
            options = {"ContactListName": self.settings.contact_list}
            if self.settings.topic:
                options["TopicName"] = self.settings.topic
            data["ListManagementOptions"] = options
        return self.json_call(f"{self.base}/v2/email/outbound-emails", data)

    def size(self, payload: HttpCall | Outcome) -> int:
        return 0 if isinstance(payload, Outcome) else super().size(payload)

    def deliver(self, batch: Batch, payload: HttpCall | Outcome) -> Reply:
        if isinstance(payload, Outcome):
            return Reply([payload])
        return super().deliver(batch, payload)

    def check_credentials(self) -> None:
        if self._credentials is None:
            self._credentials = self.session.get_credentials()
        if self._credentials is None and self.need_credentials:
            raise SendError(
                "ses: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE (the standard AWS chain is used)"
            )

    def authorize(self, call: HttpCall) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        self.check_credentials()
        request = AWSRequest(call.method, call.url, data=call.content, headers=dict(call.headers))
        SigV4Auth(self._credentials.get_frozen_credentials(), "ses", self.region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower() != "content-type"}

    def error_reason(self, response) -> str:
        kind = response.headers.get("x-amzn-errortype", "").split(":")[0]
        reason = super().error_reason(response)
        return f"{kind}: {reason}" if kind else reason

    def post(self, call: HttpCall):
        try:
            return super().post(call)
        except Rejected as exc:
            # SES throttling is a 400 with TooManyRequestsException on some endpoints.
            if "TooManyRequests" in exc.reason or "Throttling" in exc.reason:
                from newsletter.send.providers.base import Retryable

                raise Retryable(self.name, exc.reason, exc.status, exc.body) from None
            raise

    def parse(self, batch: Batch, response) -> list[Outcome]:
        (recipient,) = batch.recipients
        return [Outcome(recipient.key, True, response.json().get("MessageId"))]

    def sync(self, since: float | None) -> Iterator[Suppressed]:
        params: dict[str, str | int] = {"PageSize": 1000}
        if since is not None:
            params["StartDate"] = dt.datetime.fromtimestamp(since, dt.UTC).isoformat()
        while True:
            data = self.fetch(f"{self.base}/v2/email/suppression/addresses", params)
            for row in data.get("SuppressedDestinationSummaries") or []:
                reason = REASONS.get(row.get("Reason", ""), "bounce")
                yield Suppressed(row["EmailAddress"], reason, float(row["LastUpdateTime"]))
            token = data.get("NextToken")
            if not token:
                return
            params = {**params, "NextToken": token}
