"""Scheduled sends: `send --due` (every due issue, oldest first) and `status` (the schedule)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click

from newsletter import ui
from newsletter.cli.base import State
from newsletter.errors import NewsletterError


def _stamp(moment) -> str:
    return moment.isoformat(timespec="minutes")


def send_due(ctx: click.Context, state: State, issue: str | None, tests: tuple[str, ...]) -> None:
    """Send each due issue as `send ISSUE` would; one failing issue never stops the next."""
    from newsletter.send import schedule
    from newsletter.send.ledger import SendLock
    from newsletter.state import open_store

    if issue is not None or tests:
        raise click.UsageError("--due sends every due issue: give no ISSUE and no --test")
    if ctx.params.get("list_path") is None:
        raise click.UsageError("give the subscriber list with --list FILE")
    workspace = state.workspace()
    moment = schedule.now()
    items, problems = schedule.scheduled(workspace)
    ui.show_diagnostics(problems)
    store = open_store(workspace)
    try:
        due, running = [], []
        for item in schedule.due(items, store, moment):
            lock = SendLock(store, item.slug)
            (due if lock.acquire() else running).append(item)
            lock.release()
    finally:
        store.close()
    for item in running:  # the previous run (cron, CI) is still sending it: not our turn
        ui.show_note(f"{item.slug}: a send is running elsewhere; left to it")
    if not due:
        upcoming = [i for i in items if not i.draft and not i.is_past(moment)]
        later = f"; next: {upcoming[0].slug} at {_stamp(upcoming[0].send_at)}" if upcoming else ""
        ui.show_note(f"nothing due at {_stamp(moment)}{later}")
        sys.exit(1 if problems else 0)
    worst = 1 if problems else 0
    for item in due:
        ui.show_note(f"== {item.slug}: due since {_stamp(item.send_at)}")
        code = _send_one(ctx, item.slug)
        if code == 130:
            sys.exit(130)  # Ctrl-C stops the whole run, not only this issue
        worst = max(worst, code)
    sys.exit(worst)


def _send_one(ctx: click.Context, slug: str) -> int:
    """Run `send SLUG` with the options given; return its exit code."""
    from newsletter.cli.send import send

    params = {**ctx.params, "issue": slug, "due": False}
    try:
        ctx.invoke(send, **params)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except NewsletterError as exc:
        ui.show_diagnostics(exc.diagnostics)
        if exc.message:
            ui.show_error(f"{slug}: {exc.message}")
        return exc.exit_code
    return 0


def show_schedule(state: State, fmt: str) -> None:
    """Print the issues with a send_at: time, and draft, scheduled, due or sent."""
    from newsletter.send import schedule
    from newsletter.state import open_store

    workspace = state.workspace()
    moment = schedule.now()
    items, problems = schedule.scheduled(workspace)
    store = open_store(workspace)
    try:
        rows = [(item, schedule.describe(item, store, moment)) for item in items]
    finally:
        store.close()
    if fmt == "json":
        data = [
            {"issue": i.slug, "send_at": i.send_at.isoformat(), "state": what} for i, what in rows
        ]
        ui.echo(json.dumps({"now": moment.isoformat(), "scheduled": data}))
    else:
        if not rows:
            ui.echo("no issue has a send_at")
        width = max((len(i.slug) for i, _ in rows), default=0)
        for item, what in rows:
            utc = item.send_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            ui.echo(f"{item.slug:<{width}}  {item.send_at.isoformat()}  ({utc})  {what}")
    ui.show_diagnostics(problems)
    if problems:
        sys.exit(1)
