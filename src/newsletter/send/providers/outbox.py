"""The outbox: one .eml file per recipient under outbox/<slug>/, for looking, not mailing.

The default provider: no credentials, nothing leaves the machine. Writing the same batch
again overwrites the same files, so it is idempotent: a batch left in flight by a crash is
simply written again.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from newsletter.render.message import to_mime
from newsletter.send.providers.base import Batch, Outcome, Provider, Reply


def file_name(address: str) -> str:
    """Return a safe file name for an address (alice@example.org.eml), one per address.

    Characters a file name cannot safely hold become '_'; as a&b@ and a_b@ would then
    share a file, such names get a short hash of the address after a '~', which no
    address kept as it is produces.
    """
    key = address.lower()
    safe = re.sub(r"[^a-z0-9@._+-]", "_", key)
    if safe == key and not safe.startswith("."):
        return safe + ".eml"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{safe}~{digest}.eml"


class OutboxProvider(Provider):
    name = "outbox"
    hosted_refusal = "the outbox hosts no unsubscribe link: use unsubscribe: self"
    max_batch = 100
    idempotent = True

    def __init__(self, *args, folder: Path | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.folder = folder or Path("outbox") / self.message.slug

    def prepare(self, batch: Batch) -> list[tuple[str, bytes]]:
        return [
            (r.key, to_mime(self.message, self.personal(r)).as_bytes()) for r in batch.recipients
        ]

    def size(self, payload: list[tuple[str, bytes]]) -> int:
        return sum(len(data) for _, data in payload)

    def deliver(self, batch: Batch, payload: list[tuple[str, bytes]]) -> Reply:
        self.folder.mkdir(parents=True, exist_ok=True)
        outcomes = []
        for key, data in payload:
            path = self.folder / file_name(key)
            partial = path.with_suffix(".eml.part")
            partial.write_bytes(data)
            os.replace(partial, path)  # never leave half a message behind
            outcomes.append(Outcome(key, True, path.name))
        return Reply(outcomes)
