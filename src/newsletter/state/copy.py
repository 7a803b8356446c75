"""Copy one state into another (SQLite into PostgreSQL, typically) and verify what arrived.

The copy is one transaction on the target: all of it or nothing. The ledger is never
merged: a target that already holds rows of an issue being copied is refused, since two
histories of one send cannot both be true. Suppressions merge (the target may already
have unsubscribes from `newsletter serve`). The check reads the target back after the
commit: the row counts of every table, the states of each issue, and every suppressed key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newsletter.errors import StateError
from newsletter.state import migrations
from newsletter.state.base import Store, chunks


@dataclass
class TableCopy:
    """The counts of one table: in the source, newly copied, and in the target before/after."""

    table: str
    source: int
    before: int
    copied: int = 0
    after: int = 0

    @property
    def present(self) -> int:
        """Return the source rows that were in the target already."""
        return self.source - self.copied


@dataclass
class Copied:
    """What a copy did, and every difference the read-back found."""

    tables: list[TableCopy] = field(default_factory=list)
    issues: dict[str, tuple[dict[str, int], dict[str, int]]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)


def copy_state(source: Store, target: Store) -> Copied:
    """Copy every table of source into target in one transaction; verify; return the counts."""
    result = Copied()
    issues = source.issues()
    busy = [issue for issue in issues if any(target.counts(issue).values())]
    if busy:
        raise StateError(
            f"{target.url} already holds a ledger for {', '.join(busy)}; nothing was copied"
        )
    running = [issue for issue in issues if not source.try_lock(issue)]
    if running:
        raise StateError(f"a send of {', '.join(running)} is running on {source.url}; try later")
    target.begin()
    try:
        for table in migrations.TABLES:
            counts = TableCopy(table, source.count(table), target.count(table))
            columns, rows = source.dump(table)
            counts.copied = target.load(table, columns, rows)
            result.tables.append(counts)
        target.commit()
    except BaseException:
        target.rollback()
        raise
    finally:
        for issue in issues:
            source.unlock(issue)
    verify(source, target, result)
    return result


def verify(source: Store, target: Store, result: Copied) -> None:
    """Read the target back: table counts, each issue's states, every suppressed key."""
    for counts in result.tables:
        counts.after = target.count(counts.table)
        if counts.after != counts.before + counts.copied:
            result.mismatches.append(
                f"{counts.table}: {counts.before} + {counts.copied} copied, "
                f"but {counts.after} in the target"
            )
    for issue in source.issues():
        mine, theirs = source.counts(issue), target.counts(issue)
        result.issues[issue] = (mine, theirs)
        if mine != theirs:
            result.mismatches.append(f"{issue}: states {mine} in the source, {theirs} copied")
    keys = (row[0].lower() for row in source.suppressions())  # (address, ...)
    missing = 0
    for part in chunks(keys, 1000):
        missing += len(part) - len(target.suppressed(part))
    if missing:
        result.mismatches.append(f"suppression: {missing} suppressed addresses did not arrive")
