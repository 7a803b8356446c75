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

from newsletter.send.providers.base import Batch, Built, Outcome, Provider, Reply


def file_name(address: str) -> str:
    """Return a safe file name for an address (alice@example.org.eml), one per address.

    Letters and digits of any script stay (山田@example.org.eml); other characters a file
    name cannot safely hold become '_'; as a&b@ and a_b@ would then share a file, such
    names get a short hash of the address after a '~', which no address kept as it is
    produces.
    """
    key = address.lower()
    safe = re.sub(r"[^\w@.+-]", "_", key)
    if safe == key and not safe.startswith("."):
        return safe + ".eml"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{safe}~{digest}.eml"


class OutboxProvider(Provider):
    name = "outbox"
    hosted_refusal = "the outbox hosts no unsubscribe link: use unsubscribe: self"
    max_batch = 100
    idempotent = True
    eai = True  # a file takes any address

    def __init__(self, *args, folder: Path | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.folder = folder or Path("outbox") / self.message.slug

    def prepare(self, batch: Batch) -> Built:
        build = self.mime.build
        return self.build_each(batch, lambda r: build(r.values))

    def size(self, payload: Built) -> int:
        return sum(len(data) for _, data in payload.messages)

    def deliver(self, batch: Batch, payload: Built) -> Reply:
        self.folder.mkdir(parents=True, exist_ok=True)
        outcomes = list(payload.failed)
        for recipient, data in payload.messages:
            path = self.folder / file_name(recipient.key)
            partial = path.with_suffix(".eml.part")
            partial.write_bytes(data)
            os.replace(partial, path)  # never leave half a message behind
            outcomes.append(Outcome(recipient.key, True, path.name))
        return Reply(outcomes)
