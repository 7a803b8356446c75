"""Sending an issue to a subscriber list: list -> ledger -> engine -> provider.

subscribers.py reads the list (streamed), suppression.py holds who must never be mailed,
ledger.py records each recipient's state per issue, engine.py batches, retries and
rate-limits, unsubscribe.py signs per-recipient unsubscribe links, and providers/ maps a
batch onto one provider's API (one module each, over providers/base.py).
"""
