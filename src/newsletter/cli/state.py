"""State commands: state migrate (copy a state into another store, verified)."""

from __future__ import annotations

import sys

import click

from newsletter.cli.base import State, cli, pass_state


@cli.group("state", short_help="Manage where the ledger and the suppression list live.")
def state_group() -> None:
    """Manage where the ledger and the suppression list live (see the state URL)."""


@state_group.command("migrate")
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="URL",
    help="The state to fill, e.g. postgresql://newsletter@db.example.org/newsletter "
    "(password from PGPASSWORD or ~/.pgpass).",
)
@click.option(
    "--from",
    "source_url",
    metavar="URL",
    help="The state to copy. Default: the workspace's SQLite state (.newsletter/send.db, "
    "or state.database_url when that is sqlite:///).",
)
@pass_state
def state_migrate(state: State, target_url: str, source_url: str | None) -> None:
    """Copy the ledger and the suppression list into another store and verify the counts.

    The copy is one transaction; the target's schema is created or migrated first. Exit 0
    when every row arrived, 1 on any mismatch or a target that already holds a ledger
    for one of the issues.
    """
    from newsletter.errors import StateError
    from newsletter.state import open_url, urls
    from newsletter.state.copy import copy_state

    workspace = state.workspace()
    try:
        source_url = source_url or _sqlite_state(workspace)
        source_url = urls.normalise(workspace.root, source_url, "--from")
        target_url = urls.normalise(workspace.root, target_url, "--to")
    except StateError as exc:
        raise click.UsageError(exc.message) from None
    if source_url == target_url:
        raise click.UsageError("--to names the state being copied")
    if source_url.startswith("sqlite:///") and not _exists(source_url):
        raise click.UsageError(f"no state to copy at {source_url}")
    source = open_url(source_url)
    try:
        target = open_url(target_url)
        try:
            result = copy_state(source, target)
        finally:
            target.close()
    finally:
        source.close()
    click.echo(f"copied {source.url} -> {target.url}")
    rows = [("table", "source", "copied", "already there", "target now")]
    rows += [
        (t.table, str(t.source), str(t.copied), str(t.present), str(t.after)) for t in result.tables
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        click.echo("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for issue, (mine, _) in result.issues.items():
        shown = ", ".join(f"{state} {n}" for state, n in sorted(mine.items()))
        click.echo(f"  {issue}: {shown}")
    if result.mismatches:
        for problem in result.mismatches:
            click.echo(f"error: mismatch: {problem}", err=True)
        sys.exit(1)
    click.echo("verified: every row and every state arrived")


def _sqlite_state(workspace) -> str:
    """Return the workspace's SQLite state: state.database_url if SQLite, else the default."""
    from newsletter.loader import load_series
    from newsletter.state import default_url, urls

    series, _ = load_series(workspace)
    configured = series.state.database_url if series else None
    if configured and configured.lower().startswith("sqlite:"):
        return urls.expand(configured)
    return default_url(workspace)


def _exists(url: str) -> bool:
    from pathlib import Path

    return Path(url.removeprefix("sqlite:///")).is_file()
