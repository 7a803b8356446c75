"""What `newsletter send` makes sure of before the first message goes out.

- The provider's suppressions are synced first (API providers), so nobody who bounced,
  complained or unsubscribed there is mailed again; a failed sync stops the send.
- With `delivery.unsubscribe: self`, the unsubscribe URL in every message answers a
  signed RFC 8058 one-click POST with 2xx: otherwise readers could not unsubscribe, which
  Gmail and Yahoo require of bulk senders. The POST is for PROBE_ADDRESS: under the
  `.invalid` top-level domain (RFC 2606), which can never receive mail, so it is no one's
  address, is never on a list (such addresses are refused as invalid), and its entry in
  the suppression list keeps nobody from anything.
"""

from __future__ import annotations

from newsletter.errors import SendError
from newsletter.model import Series
from newsletter.send import unsubscribe
from newsletter.send.providers.base import Provider
from newsletter.send.sync import SyncReport, can_sync, sync
from newsletter.state import Store

PROBE_ADDRESS = unsubscribe.PROBE_ADDRESS


def sync_first(store: Store, provider: Provider) -> SyncReport | None:
    """Sync the provider's suppressions (None for a provider without any)."""
    if not can_sync(provider):
        return None
    try:
        return sync(store, provider)
    except SendError as exc:
        raise SendError(f"{exc.message}; nothing was sent (--no-sync sends without it)") from None


def probe_unsubscribe(series: Series, provider: Provider, list_id: str) -> str:
    """POST a signed one-click unsubscribe for PROBE_ADDRESS; return the URL probed."""
    import httpx

    if provider.name == "outbox" or series.delivery.unsubscribe != "self":
        return ""
    links = unsubscribe.from_environment(
        series.base_url, list_id, ephemeral_ok=False, url=series.delivery.unsubscribe_url
    )
    url = links.url(PROBE_ADDRESS)
    shown = links.base
    try:
        answer = httpx.post(
            url,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=15,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise SendError(
            f"the unsubscribe URL {shown} does not answer ({exc}): readers could not "
            "unsubscribe; run 'newsletter serve' there (see the README) or send with --no-probe"
        ) from None
    if not 200 <= answer.status_code < 300:
        raise SendError(
            f"the unsubscribe URL {shown} answered a one-click unsubscribe with HTTP "
            f"{answer.status_code}, not 2xx: readers could not unsubscribe; run 'newsletter "
            "serve' there with the same NEWSLETTER_UNSUBSCRIBE_SECRET (see the README), or "
            "send with --no-probe"
        )
    return shown
