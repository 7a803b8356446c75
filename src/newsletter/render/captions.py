"""One way to print an image's caption and credit, in the email, web page, text part and PDF.

An editor gives a caption and a credit (the issue's `caption:` and `credit:`, or a body
image's Markdown title ending in "(©Owner)"). Every renderer shows them as
"Caption — Image: Owner": run together they read as one sentence.
"""

from __future__ import annotations

SEPARATOR = " — "
CREDIT_LABEL = "Image: "


def split_credit(title: str) -> tuple[str, str]:
    """Split a trailing '(©Owner)' off a Markdown image title into caption and credit."""
    text = title.strip()
    if text.endswith(")") and "(©" in text:
        head, _, tail = text.rpartition("(©")
        return head.strip(), "©" + tail[:-1].strip()
    return text, ""


def credit_text(credit: str | None) -> str:
    """Return the credit as printed ('Image: Owner'), or '' without one."""
    return f"{CREDIT_LABEL}{credit}" if credit else ""


def caption_line(caption: str | None, credit: str | None) -> str:
    """Return 'Caption — Image: Owner', or whichever of the two there is."""
    return SEPARATOR.join(part for part in (caption or "", credit_text(credit)) if part)


def title_caption(title: str) -> str:
    """Return the caption line of a Markdown image title."""
    return caption_line(*split_credit(title))
