"""Pydantic models of the series settings and of one issue; the JSON Schema comes from here."""

from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from newsletter import markup, merge
from newsletter.records import Labelled
from newsletter.send.names import Provider
from newsletter.workspace import REMOTE, path_problem

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"'{value}' is not a valid email address: {exc}") from None


def _source(value: str) -> str:
    """Accept an http(s) URL or a relative path that stays inside the workspace."""
    if value.lower().startswith(REMOTE):
        return markup.check_url(value)
    problem = path_problem(value)
    if problem:
        raise ValueError(problem)
    return str(PurePosixPath(value.replace("\\", "/")))


def _base_url(value: str) -> str:
    """Accept where the archive is published: an http(s) folder, without query or fragment."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"'{value}' must be an http(s) address, e.g. https://news.example.org/")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError(
            f"'{value}' must not have a query (?) or fragment (#): "
            "page and image addresses are appended to it"
        )
    return value


SEND_AT_FORM = "a date and time with its UTC offset, e.g. 2026-12-01T09:00:00-05:00"


def parse_send_at(value: Any) -> dt.datetime:
    """Return a send time as an aware datetime; refuse one without its UTC offset."""
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    # YAML reads an unquoted 2026-12-01T09:00:00-05:00 as a datetime, 2026-12-01 as a date.
    if not isinstance(moment, dt.datetime) or moment.utcoffset() is None:
        shown = value.isoformat() if isinstance(value, dt.date) else str(value)
        raise ValueError(f"expected {SEND_AT_FORM}; got {shown!r}")
    return moment


def _single_line(value: str) -> str:
    if "\n" in value:
        raise ValueError("must be a single line")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Line = Annotated[Text, AfterValidator(_single_line)]
Url = Annotated[Text, AfterValidator(markup.check_url)]
BaseUrl = Annotated[Url, AfterValidator(_base_url)]
# A link's address may hold merge fields; rendering fills them URL-encoded for their spot.
LinkUrl = Annotated[Text, AfterValidator(markup.check_url), AfterValidator(merge.in_url)]
Email = Annotated[Text, AfterValidator(_email)]
ImageSource = Annotated[Text, AfterValidator(_source)]
InlineMarkdown = Annotated[Text, AfterValidator(lambda v: markup.check_links(v, inline=True))]
BlockMarkdown = Annotated[Text, AfterValidator(markup.check_links)]
Count = Annotated[StrictInt, Field(ge=1)]


class Strict(BaseModel):
    """Base of every model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class Link(Strict):
    """A titled link."""

    title: Line = Field(description="Text shown for the link.")
    url: LinkUrl = Field(
        description="http(s) or mailto address; merge fields are filled in, URL-encoded."
    )


class Image(Strict):
    """An image with its alternative text and credit."""

    src: ImageSource = Field(description="Workspace path (images/hero.jpg) or http(s) URL.")
    alt: Line = Field(description="What the image shows, for readers who cannot see it.")
    credit: Line | None = Field(
        None, description="Who took or owns the image, e.g. 'Associated Press'."
    )
    caption: Text | None = Field(None, description="A sentence shown under the image.")


class Item(Strict):
    """One digest entry: a headline in the list and its summary paragraph."""

    headline: Line = Field(description="One line, shown in the bulleted list of headlines.")
    summary: InlineMarkdown = Field(description="One paragraph of inline Markdown.")
    links: list[Link] = Field(default_factory=list, description="Sources for this entry.")


class Article(Strict):
    """A long-form piece with its own headings, images and author."""

    title: Line
    dek: Text | None = Field(None, description="The standfirst under the title.")
    category: Line | None = None
    author: Line | None = None
    date: dt.date | None = None
    image: Image | None = None
    body: BlockMarkdown = Field(
        description='Markdown: ## headings, paragraphs, lists, > quotes, ![alt](src "caption").'
    )


class Issue(Strict, Labelled):
    """One newsletter issue, read from issues/<slug>.yaml."""

    model_config = ConfigDict(title="Newsletter issue")

    volume: Count
    number: Count
    date: dt.date = Field(description="Publication date, YYYY-MM-DD.", examples=["2024-06-01"])
    draft: bool = Field(
        False,
        description="true while the issue is unfinished: `send` refuses it (except --test) "
        "and `build` leaves it out unless --drafts.",
    )
    send_at: Annotated[dt.datetime, BeforeValidator(parse_send_at)] | None = Field(
        None,
        description="When `newsletter send --due` sends it: ISO 8601 with the UTC offset.",
        examples=["2026-12-01T09:00:00-05:00"],
    )
    title: Line | None = Field(
        None, description="Defaults to '<series name> Vol <volume>.<number>'."
    )
    subject: Line | None = Field(None, description="Email subject; defaults to the title.")
    preheader: Line | None = Field(None, description="Inbox preview text shown after the subject.")
    image: Image | None = Field(None, description="Hero image under the masthead.")
    items: list[Item] = Field(default_factory=list, description="The digest entries, in order.")
    articles: list[Article] = Field(default_factory=list, description="Long-form pieces.")

    @model_validator(mode="after")
    def _has_content(self) -> Issue:
        if not self.items and not self.articles:
            given = [k for k in ("items", "articles") if k in self.model_fields_set]
            raise markup.FieldError(
                "is empty: an issue needs at least one entry in 'items' or 'articles'"
                if given
                else "an issue needs at least one entry in 'items' or 'articles'",
                given[0] if given else None,
            )
        return self


class Sender(Strict):
    """The From: of every message."""

    name: Line
    email: Email


class Brand(Strict):
    """Colours and logo of the series."""

    color: Annotated[str, StringConstraints(pattern=r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")] = Field(
        "#1f4e79", description="Accent colour as #rgb or #rrggbb."
    )
    logo: ImageSource | None = Field(None, description="Workspace path or http(s) URL of the logo.")


class Smtp(Strict):
    """The SMTP server of the smtp provider; login comes from SMTP_USERNAME / SMTP_PASSWORD."""

    host: Line = "localhost"
    port: Annotated[StrictInt, Field(ge=1, le=65535)] | None = Field(
        None, description="Default: 587 with starttls, 465 with ssl, 25 with none."
    )
    security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (port 587), ssl (implicit TLS, 465) or none (local)."
    )


class Delivery(Strict):
    """How `newsletter send` delivers; credentials come only from the environment."""

    provider: Provider = "outbox"
    api_base: Url | None = Field(
        None,
        description="Override the provider's API base URL (the part before the API path), "
        "e.g. https://api.eu.mailgun.net.",
    )
    rate: float | None = Field(
        None, gt=0, description="Most API calls per second (SMTP, SES: messages per second)."
    )
    batch_size: Count | None = Field(
        None, description="Recipients per API call, up to the provider's maximum."
    )
    concurrency: Annotated[StrictInt, Field(ge=1, le=32)] | None = Field(
        None, description="API calls in flight at once."
    )
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for a provider's answer.")
    reconcile_settle: float | None = Field(
        None,
        ge=0,
        description="Seconds after a call before a message missing from the provider's "
        "search counts as not sent (default per provider: Postmark 60, SendGrid 300, "
        "Mailgun 1800).",
    )
    message_stream: Line = Field(
        "broadcast", description="Postmark: the message stream (broadcasts for newsletters)."
    )
    domain: Line | None = Field(None, description="Mailgun: the sending domain (required).")
    region: Line | None = Field(
        None, description="Mailgun: us or eu. SES: the AWS region (default: AWS settings)."
    )
    smtp: Smtp = Field(default_factory=Smtp)
    unsubscribe_url: Url | None = Field(
        None,
        description="Where `newsletter serve` is published, e.g. "
        "https://lists.example.org/unsubscribe/ (default: <base_url>unsubscribe/). Every "
        "unsubscribe link and List-Unsubscribe header points there.",
    )
    unsubscribe: Literal["self", "provider"] = Field(
        "self",
        description="self: our signed link, answered by `newsletter serve`; provider: the "
        "provider's own unsubscribe handling (Postmark, Mailgun, SendGrid, SES).",
    )
    tracking: list[Literal["opens", "clicks"]] = Field(
        default_factory=list,
        description="Provider open/click tracking to switch on; off unless listed here.",
    )
    asm_group_id: Annotated[StrictInt, Field(ge=1)] | None = Field(
        None, description="SendGrid: the unsubscribe group (for unsubscribe: provider and sync)."
    )
    contact_list: Line | None = Field(
        None, description="SES: the contact list for list management (unsubscribe: provider)."
    )
    topic: Line | None = Field(None, description="SES: the contact list's topic, if any.")


def _state_url(value: str) -> str:
    from newsletter.state.urls import check_configured

    return check_configured(value)


class State(Strict):
    """Where the ledger and the suppression list live; credentials only from the environment."""

    database_url: Annotated[Line, AfterValidator(_state_url)] | None = Field(
        None,
        description="sqlite:///PATH (default .newsletter/send.db) or postgresql://USER@HOST/DB; "
        "no password here: PGPASSWORD or ${VAR} from the environment. "
        "NEWSLETTER_DATABASE_URL overrides it.",
    )


class Limits(Strict):
    """Editorial limits: going over one is a warning (an error under --strict)."""

    headline_chars: Count = Field(120, description="Longest headline, in characters.")
    summary_words: Count = Field(120, description="Longest item summary, in words.")
    preheader_chars: Count = Field(
        150, description="Longest preheader; inboxes show 40-140 characters."
    )
    subject_chars: Count = Field(90, description="Longest subject; inboxes cut it near 90.")


class MergeField(Strict):
    """A declared merge field, in its long form."""

    fallback: Line | None = Field(None, description="The value for readers without one.")


FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")]


class Series(Strict):
    """The series settings, read from newsletter.yaml."""

    model_config = ConfigDict(title="Newsletter series settings")

    name: Line = Field(description="Series name shown in the masthead.")
    tagline: Line | None = None
    publisher: Line = Field(description="Who publishes the series (PDF author, copyright).")
    language: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")] = (
        "en"
    )
    sender: Sender = Field(alias="from", description="Sender name and address.")
    reply_to: Email | None = None
    contact: Email | None = Field(None, description="Address readers write to (subscriptions).")
    address: Text = Field(description="Postal address printed in the footer (CAN-SPAM).")
    base_url: BaseUrl | None = Field(
        None, description="Where the archive is published; images and web links in email use it."
    )
    footer: InlineMarkdown | None = Field(None, description="The series blurb, inline Markdown.")
    links: list[Link] = Field(default_factory=list, description="Footer links (privacy, sitemap).")
    brand: Brand = Field(default_factory=Brand)
    paper: Literal["letter", "a4"] = "letter"
    cadence_days: Count = Field(14, description="Days between issues; `newsletter new` uses it.")
    limits: Limits = Field(default_factory=Limits, description="Editorial warning limits.")
    merge_fields: dict[FieldName, Line | MergeField | None] = Field(
        default_factory=dict,
        description="Merge fields (%%name%%) beyond the built-in email, name, first_name, "
        "last_name and unsubscribe_url, each with the fallback value for recipients "
        "without one: `company: your company` or `company: {fallback: your company}`; "
        "empty for none.",
    )

    @field_validator("merge_fields")
    @classmethod
    def _fallbacks(cls, fields: dict[str, Any]) -> dict[str, str | None]:
        """Keep one form: each field's fallback text, or None."""
        return {k: v.fallback if isinstance(v, MergeField) else v for k, v in fields.items()}

    delivery: Delivery = Field(default_factory=Delivery)
    state: State = Field(default_factory=State)


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a model, as editors' YAML tooling reads it."""
    schema = model.model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DRAFT, **schema}
