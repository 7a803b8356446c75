"""Mail in tests: the stdlib reference build, the attack names, parsing as a reader does.

`to_mime` is how every message was built before the compiled message (render/mime.py):
tests hold the compiled message to parse identically to it, and bench/send.py times it as
the peer. It is not safe for list data on interpreters with CVE-2024-6923.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from email.headerregistry import Address
from email.message import EmailMessage

from newsletter.render.message import PersonalMessage, RenderedMessage

# Names that inject headers through email.headerregistry on Python < 3.11.10 / 3.12.5.
INJECTED_CRLF = "=?utf-8?q?Eve=0D=0ABcc:_victim@evil.example?="
INJECTED_GROUP = "=?utf-8?q?Bcc=3A_victim@evil.example?="
# Every header of a message of the send tests, in order: nothing more may appear.
HEADERS_WE_SET = [
    "From",
    "To",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
]


def parse(raw: bytes) -> EmailMessage:
    """Parse a message as a reader's client would (the stdlib's strict modern policy)."""
    return email.message_from_bytes(raw, policy=email.policy.default)


def to_mime(
    message: RenderedMessage, personal: PersonalMessage, *, date: float | None = None
) -> EmailMessage:
    """Return the multipart/alternative MIME message (text, then HTML) for one recipient."""
    mime = EmailMessage(policy=email.policy.SMTP)
    mime["From"] = Address(message.from_name, addr_spec=message.from_email)
    mime["To"] = Address(personal.to_name, addr_spec=personal.to_email)
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = personal.subject
    mime["Date"] = email.utils.formatdate(date, localtime=False, usegmt=True)
    domain = message.from_email.rpartition("@")[2]
    mime["Message-ID"] = email.utils.make_msgid(domain=domain)
    for name, value in personal.headers.items():
        mime[name] = value
    mime.set_content(personal.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    mime.add_alternative(personal.html, subtype="html", charset="utf-8", cte="quoted-printable")
    mime.policy = mime.policy.clone(max_line_length=998)
    return mime
