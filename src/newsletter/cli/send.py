"""Sending commands: send, status, suppress add|import|list."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from newsletter import ui
from newsletter.cli.base import State, cli, pass_state
from newsletter.send.names import PROVIDERS

STATES = ("pending", "sent", "failed", "unknown", "suppressed", "invalid")


def load_message(workspace, series, loaded):
    """Render the issue's message once (lazy: rendering pulls in MJML and premailer)."""
    from newsletter.render.message import render_message

    return render_message(workspace, series, loaded)


@cli.command(
    short_help="Send an issue (or each due one) to a list, or --test.",
    options_metavar="(--list FILE | --test ADDR) [OPTIONS]",
)
@click.argument("issue", required=False, metavar="ISSUE")  # or --due
@click.option(
    "--list",
    "list_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="[required unless --test] Subscriber CSV: an email / e-mail / 'Email Address' "
    "column, optional names, other columns as merge fields.",
)
@click.option("--provider", type=click.Choice(list(PROVIDERS)), help="Override delivery.provider.")
@click.option("--dry-run", is_flag=True, help="Build every payload, send nothing.")
@click.option(
    "--test",
    "tests",
    multiple=True,
    metavar="ADDR",
    help="[or --list] Send only to ADDR (repeatable), subject marked [TEST]; the ledger is "
    "untouched. Sends drafts and TODOs too.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    help="Most API calls per second (SMTP, SES: messages); 0 = no client-side limit.",
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Also resend recipients whose batch was in flight when a send stopped "
    "(automatic for providers with idempotency keys).",
)
@click.option("--retry-failed", is_flag=True, help="Also retry recipients that failed before.")
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse on any warning too: the issue's, and invalid or duplicate rows in the list.",
)
@click.option(
    "--reconcile",
    "rebuild",
    is_flag=True,
    help="When the ledger has no record of ISSUE but the provider has messages of it, "
    "rebuild the ledger from the provider's records first, then send only to the rest.",
)
@click.option(
    "--no-sync",
    is_flag=True,
    help="Do not sync the provider's suppressions first (a failed sync stops the send).",
)
@click.option(
    "--no-probe",
    is_flag=True,
    help="Do not check first that the unsubscribe URL answers a one-click POST with 2xx.",
)
@click.option(
    "--due",
    is_flag=True,
    help="Instead of ISSUE: send every issue whose send_at has passed and whose send is not "
    "complete, oldest first (drafts never); nothing due: exit 0. Safe to run from cron.",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Send even though the issue, newsletter.yaml or a template differs from the git "
    "commit (recorded with the send).",
)
@pass_state
def send(
    state: State,
    issue: str | None,
    list_path: Path | None,
    provider: str | None,
    dry_run: bool,
    tests: tuple[str, ...],
    yes: bool,
    rate: float | None,
    resend_unknown: bool,
    retry_failed: bool,
    strict: bool,
    rebuild: bool,
    no_sync: bool,
    no_probe: bool,
    due: bool,
    allow_dirty: bool,
) -> None:
    """Send ISSUE (or with --due every due issue) to every subscriber on --list, resumably
    and never twice.

    Each recipient's state is kept in the state store (.newsletter/send.db unless a state
    URL says otherwise): running the same command again after a crash, Ctrl-C or kill
    continues where it stopped, and batches whose fate was unclear are settled by asking
    the provider. Exit 0 when every recipient was sent (or skipped as invalid, duplicate or
    suppressed), 1 when some failed or are unknown, 130 when stopped by Ctrl-C.
    """
    from newsletter.loader import require_issue
    from newsletter.send import provenance
    from newsletter.send.engine import Options
    from newsletter.send.job import SendJob, make_provider, send_test
    from newsletter.send.readiness import refuse_unfilled, refuse_unready

    if due:
        from newsletter.cli.schedule import send_due

        send_due(click.get_current_context(), state, issue, tests)
        return
    if issue is None:
        raise click.UsageError("name the ISSUE to send (or give --due)")
    if not tests and list_path is None:
        raise click.UsageError("give the subscriber list with --list FILE (or --test ADDR)")
    if list_path is not None and not tests and not list_path.is_file():
        raise click.BadParameter(f"{list_path} is not a file", param_hint="--list")
    workspace = state.workspace()
    series, loaded, diagnostics = require_issue(workspace, issue)
    warnings = [d for d in diagnostics if not d.is_error]
    if not tests:
        refuse_unready(loaded, warnings, strict=strict)
        where = provenance.inspect(workspace, loaded.path)
        if not dry_run:
            provenance.refuse_dirty(where, allow_dirty)
    message = load_message(workspace, series, loaded)
    if not tests:
        refuse_unfilled(message, series, list_path)
    chosen = make_provider(
        workspace, series, message, provider, rate or None, dry_run=dry_run and not tests
    )
    options = Options(rate=None if rate == 0 else chosen.rate)
    ui.show_diagnostics(warnings)  # the issue's own warnings, before anything goes out
    if tests:
        with _Progress(len(tests)) as bar:
            report = send_test(series, message, chosen, list(tests), bar.update)
        chosen.close()
        _final(report, dry_run=False)
        return
    job = SendJob(
        workspace,
        series,
        message,
        chosen,
        list_path,
        strict=strict,
        resend_unknown=resend_unknown,
        retry_failed=retry_failed,
        dry_run=dry_run,
        rebuild=rebuild,
        options=options,
        note=ui.show_note,
    )
    try:
        if not dry_run:
            job.synced = _preflight(workspace, series, chosen, no_sync, no_probe)
        plan = job.plan()
        problems = job.diagnostics(plan)
        ui.show_diagnostics(problems)
        hidden = plan.invalid + plan.duplicates - len(problems)
        if hidden > 0:
            ui.show_note(f"... and {ui.plural(hidden, 'more problem')} in the list")
        total = job.to_send()
        _summary(series, message, chosen, plan, job, total, len(warnings))
        if total and not dry_run and not yes:
            if not sys.stdin.isatty():
                raise click.UsageError("not a terminal: confirm with --yes to send")
            click.confirm(f"Send to {ui.plural(total, 'recipient')}?", abort=True, err=True)
        if total and not dry_run:
            provenance.record(job.store, message.slug, where, allow_dirty, chosen.name)
        with _Progress(total) as bar:
            report = job.run(bar.update)
        left = job.ledger.counts()
    finally:
        job.close()
    if not dry_run:
        _reconciled(job.reconciliation, chosen.name)
    _final(report, dry_run=dry_run, left=left)


def _reconciled(result, provider: str) -> None:
    """Report what asking the provider settled, apart from what it could not."""
    if result.batches:
        ui.show_note(
            f"reconciled {ui.plural(result.batches, 'unknown batch')} with {provider}: "
            f"{result.found} it had (now sent), {result.absent} it did not (sent again "
            "or failed)".replace("batchs", "batches")
        )
    if result.waiting:
        ready = time.strftime("%H:%M:%S", time.localtime(result.ready_at))
        ui.show_note(
            f"{result.waiting} unknown not found at {provider} yet; its search settles at "
            f"{ready}: run 'newsletter status ISSUE --reconcile' then"
        )
    for why, count in result.left.items():
        ui.show_note(f"cannot reconcile {count} unknown: {why}")


def _summary(series, message, provider, plan, job, total: int, warnings: int = 0) -> None:
    counts = plan.counts
    lines = [
        ("issue", f"{message.slug}: {message.subject}"),
        ("warnings", f"{warnings} (listed above)" if warnings else "none"),
        ("provider", provider.name),
        ("sender", f"{message.from_name} <{message.from_email}>"),
        ("list", f"{ui.plural(plan.rows, 'row')} in {job.list_path}"),
        ("invalid", f"{plan.invalid} (skipped)"),
        ("duplicates", f"{plan.duplicates} (skipped)"),
        ("suppressed", f"{counts['suppressed']} (never mailed)"),
        ("already sent", str(counts["sent"])),
    ]
    if job.synced is not None:
        lines.insert(7, ("newly suppressed", f"{job.synced.added} (synced from {provider.name})"))
    if job.recovered:
        lines.append(("recovered", f"{job.recovered} in flight at the last stop -> unknown"))
    if job.rebuilt:
        lines.append(("rebuilt", f"{job.rebuilt} found at {provider.name} -> sent (ledger)"))
    if counts["unknown"]:
        lines.append(("unknown", f"{counts['unknown']} ({_unknown_plan(job, provider)})"))
    if job.lookup is not None and job.lookup.problem:
        lines.append(
            ("not checked", f"whether {provider.name} already has this issue: {job.lookup.problem}")
        )
    if counts["failed"]:
        lines.append(("failed before", f"{counts['failed']}"))
    lines.append(("to send now", str(total)))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        ui.show_note(f"{key:>{width}}: {value}")


def _unknown_plan(job, provider) -> str:
    from newsletter.send.reconcile import why_not

    if provider.searchable:
        return f"asked of {provider.name} before sending; those it lacks are sent"
    if "unknown" in job.states():
        return "resent"
    return f"not resent: {why_not(provider)}; --resend-unknown resends them"


def _preflight(workspace, series, provider, no_sync: bool, no_probe: bool):
    """Sync the provider's suppressions and probe the unsubscribe URL; return the sync."""
    from newsletter.send.job import list_id
    from newsletter.send.preflight import probe_unsubscribe, sync_first
    from newsletter.state import open_store

    if not no_probe:
        probe_unsubscribe(series, provider, list_id(series))
    if no_sync:
        return None
    store = open_store(workspace)
    try:
        return sync_first(store, provider)
    finally:
        store.close()


def _final(report, dry_run: bool, left: dict[str, int] | None = None) -> None:
    if dry_run:
        ui.show_note(
            f"dry run: built {ui.plural(report.requests, 'request')} "
            f"({report.bytes / 1e6:.1f} MB) in {report.elapsed:.1f} s; nothing was sent"
        )
        return
    rate = report.sent / report.elapsed if report.elapsed else 0.0
    unknown = (left or {}).get("unknown", report.unknown)
    failed = (left or {}).get("failed", report.failed) if left else report.failed
    ui.show_note(
        f"sent {report.sent}, failed {report.failed}, unknown {unknown} "
        f"in {report.elapsed:.1f} s ({rate:.0f}/s, {ui.plural(report.requests, 'request')}, "
        f"{ui.plural(report.retries, 'retry', 'retries')})"
    )
    for reason, count in sorted(report.reasons.items(), key=lambda kv: -kv[1])[:5]:
        ui.show_note(f"  failed x{count}: {reason}")
    if unknown:
        ui.show_note(
            f"unknown: {unknown} (the provider may or may not have them); list them with "
            "'newsletter status ISSUE --state unknown', resend with --resend-unknown"
        )
    if report.error:
        from newsletter.errors import SendError

        raise SendError(f"stopped: {report.error}")
    if report.stopped:
        ui.show_error("stopped by request; run the same command again to continue")
        sys.exit(130)
    if report.failed or failed or unknown:
        sys.exit(1)


class _Progress:
    """A rich progress bar with rate and ETA on standard error (quiet when not a terminal)."""

    def __init__(self, total: int):
        self.total = total

    def __enter__(self) -> _Progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            console=ui.err(),
            disable=not ui.err().is_terminal,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("send", total=self.total, rate="-")
        return self

    def update(self, count: int, report) -> None:
        speed = self.bar.tasks[0].speed
        self.bar.update(self.task, advance=count, rate=f"{speed:.0f}" if speed else "-")

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def format_option(json_help: str):
    """Return the --format text|json option of a reporting command."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=json_help,
    )


@cli.command(short_help="Show how far an issue's send got, or the schedule.")
@click.argument("issue", required=False)
@format_option(
    'json: {"issue": slug, "recorded": true, "counts": {"pending": n, "sent": n, ...}, '
    '"unknown_batches": {...}, "reconciled": n, "sends": [...]}.'
)
@click.option(
    "--state",
    "only",
    type=click.Choice([*STATES, "inflight"]),
    help="Print the addresses in this state, one per line, instead of the counts "
    "(inflight: in a batch being sent right now).",
)
@click.option(
    "--reconcile",
    is_flag=True,
    help="Ask the provider about every unknown batch first: those it has become sent, the "
    "others pending. With no record of ISSUE, rebuild the ledger from its records.",
)
@click.option("--provider", type=click.Choice(list(PROVIDERS)), help="Override delivery.provider.")
@pass_state
def status(
    state: State,
    issue: str | None,
    fmt: str,
    only: str | None,
    reconcile: bool,
    provider: str | None,
) -> None:
    """Show how far the sending of ISSUE got: recipients per state, from the ledger, and the
    git commit each send used. Without ISSUE: the scheduled issues (send_at), their times
    and whether each is a draft, scheduled, due or sent.

    Exit 0; with --reconcile, 1 while any recipient is still unknown or failed.
    """
    from newsletter.send.ledger import Ledger, SendLock
    from newsletter.send.provenance import history
    from newsletter.state import open_store

    if issue is None:
        if only:
            raise click.UsageError("--state needs an ISSUE")
        from newsletter.cli.schedule import show_schedule

        show_schedule(state, fmt)
        return
    workspace = state.workspace()
    slug = Path(workspace.issue_path(issue)).stem
    store = open_store(workspace)
    ledger = Ledger(store, slug)
    lock = SendLock(store, slug)
    running = not lock.acquire()
    try:
        if running and reconcile:
            raise click.UsageError("a send of this issue is running: reconcile once it ends")
        if not running:
            ledger.recover()  # no send is running: what is in flight was cut short
        result = _reconcile_status(state, ledger, provider) if reconcile else None
        if only:
            for address in ledger.addresses(only):
                ui.echo(address)
            return
        _print_status(ledger, slug, fmt, running, result, history(store, slug))
        counts = ledger.counts()
    finally:
        lock.release()
        store.close()
    if result is not None and (counts["unknown"] or counts["failed"]):
        sys.exit(1)


def _reconcile_status(state: State, ledger, name: str | None):
    """Reconcile the issue's unknown batches (or rebuild a lost ledger); return the result."""
    from newsletter.loader import load_series
    from newsletter.send.job import search_provider
    from newsletter.send.reconcile import Reconciliation, look_up_issue, reconcile

    workspace = state.workspace()
    series, source = load_series(workspace)
    if series is None:
        from newsletter.errors import ValidationError

        raise ValidationError("newsletter.yaml has problems", source.diagnostics)
    chosen = search_provider(workspace, series, name)
    try:
        if ledger.has_records():
            return reconcile(ledger, chosen, wait=False)
        lookup = look_up_issue(chosen, ledger.issue)
        if lookup.found and not lookup.complete:
            raise click.ClickException(
                f"{chosen.name}'s search stopped ({lookup.problem}); the ledger was not rebuilt"
            )
        if lookup.problem:
            ui.show_note(f"not rebuilt: {lookup.problem}")
        rebuilt = ledger.rebuild(
            ((f.address, f.message_id, f.batch) for f in lookup.found), chosen.name
        )
        ui.show_note(f"rebuilt the ledger from {chosen.name}'s records: {rebuilt} sent")
        return Reconciliation()
    finally:
        chosen.close()


def _unknown_batches(ledger) -> dict:
    """Return the unknown batches, those that can be reconciled apart from those that cannot."""
    from newsletter.send import providers
    from newsletter.send.reconcile import CANNOT

    data: dict = {"total": 0, "reconcilable": 0, "cannot_reconcile": 0, "why": {}}
    for group in ledger.unknown_groups().values():
        keys, sent_by = group.keys, group.provider
        reasons = {r or "" for r in group.reasons.values()}
        blocked = next((r.removeprefix(CANNOT) for r in reasons if r.startswith(CANNOT)), None)
        cls = providers.get(sent_by) if sent_by in providers.MODULES else None
        if blocked is None and cls is not None and not (cls.searchable or cls.idempotent):
            blocked = f"{cls.name} {cls.unsearchable_reason}"
        data["total"] += 1
        if blocked:
            data["cannot_reconcile"] += 1
            data["why"][blocked] = data["why"].get(blocked, 0) + len(keys)
        else:
            data["reconcilable"] += 1
    return data


def _print_status(ledger, slug: str, fmt: str, running: bool, result, sends) -> None:
    counts = ledger.counts()
    recorded = ledger.has_records()
    inflight = sum(1 for _ in ledger.addresses("inflight")) if running else 0
    batches = _unknown_batches(ledger)
    if fmt == "json":
        data = {"issue": slug, "recorded": recorded, "counts": counts}
        data["unknown_batches"] = batches
        data["reconciled"] = ledger.reconciled()
        if result is not None:
            data["reconcile"] = {
                "batches": result.batches,
                "found": result.found,
                "absent": result.absent,
                "waiting": result.waiting,
                "cannot": result.left,
            }
        data["sends"] = [r.as_json() for r in sends]
        if running:
            data["inflight"] = inflight
        ui.echo(json.dumps(data))
        return
    if not recorded:
        ui.echo(f"{slug}: not sent (the ledger has no record of it)")
        return
    width = max(map(len, STATES))
    ui.echo(f"{slug}{' (a send is running)' if running else ''}")
    for name in STATES:
        ui.echo(f"  {name:<{width}}  {counts[name]}")
    if running:
        ui.echo(f"  {'inflight':<{width}}  {inflight}")
    for reason, count in ledger.reasons("failed"):
        ui.echo(f"  failed x{count}: {reason}")
    for record in sends:
        ui.echo(f"  sent from: {record.describe()}")
    if batches["total"]:
        ui.echo(
            f"  unknown batches: {batches['reconcilable']} can be reconciled "
            f"('newsletter status {slug} --reconcile'), {batches['cannot_reconcile']} cannot"
        )
        for why, count in batches["why"].items():
            ui.echo(f"  cannot reconcile x{count}: {why}")
    if ledger.reconciled():
        ui.echo(f"  reconciled: {ledger.reconciled()} found sent at the provider")
    if result is not None:
        _reconciled(result, "the provider")


def reason_option(default: str):
    """Return the --reason option of the suppress commands."""
    return click.option(
        "--reason",
        type=click.Choice(["unsubscribe", "bounce", "complaint", "invalid", "manual"]),
        default=default,
        show_default=True,
        help="Why the address is suppressed.",
    )


@cli.group()
def suppress() -> None:
    """Maintain the suppression list: addresses that are never mailed."""


@suppress.command("add")
@click.argument("addresses", nargs=-1, required=True)
@reason_option("manual")
@pass_state
def suppress_add(state: State, addresses: tuple[str, ...], reason: str) -> None:
    """Never mail ADDRESSES again (any issue)."""
    _suppress(state, ((f"argument {i}", a) for i, a in enumerate(addresses, 1)), reason, "manual")


@suppress.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@reason_option("unsubscribe")
@pass_state
def suppress_import(state: State, file: Path, reason: str) -> None:
    """Suppress every address in FILE (a CSV with an email column, or one address a line)."""
    from newsletter.send.suppression import file_addresses

    _suppress(state, file_addresses(file), reason, "import")


@suppress.command("list")
@format_option(
    "text: address, reason, source, time (UTC) and list, tab-separated; json: one object a line."
)
@pass_state
def suppress_list(state: State, fmt: str) -> None:
    """Print the suppressed addresses with their reason, source, time and list."""
    import datetime as dt

    from newsletter.send import suppression
    from newsletter.state import open_store

    store = open_store(state.workspace())
    try:
        for entry in suppression.entries(store):
            when = dt.datetime.fromtimestamp(entry.added, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if fmt == "json":
                data = {"address": entry.address, "reason": entry.reason, "source": entry.source}
                ui.echo(json.dumps({**data, "time": when, "list": entry.list}))
            else:
                row = (entry.address, entry.reason, entry.source, when, entry.list or "-")
                ui.echo("\t".join(row))
    finally:
        store.close()


@suppress.command("sync")
@click.option(
    "--provider",
    type=click.Choice([n for n in PROVIDERS if n not in ("outbox", "smtp")]),
    help="Sync this provider instead of delivery.provider.",
)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Read from this date (UTC) instead of where the last sync stopped.",
)
@pass_state
def suppress_sync(state: State, provider: str | None, since) -> None:
    """Pull bounces, complaints and unsubscribes from the provider into the suppression list."""
    import datetime as dt

    from newsletter.loader import load_series
    from newsletter.send.job import make_provider
    from newsletter.send.sync import can_sync, describe, sync
    from newsletter.state import open_store

    workspace = state.workspace()
    series, source = load_series(workspace)
    if series is None:
        ui.show_diagnostics(source.diagnostics)
        sys.exit(1)
    chosen = make_provider(workspace, series, None, provider)
    if not can_sync(chosen):
        raise click.UsageError(
            f"{chosen.name} keeps no suppression list to sync; name one with --provider"
        )
    start = since.replace(tzinfo=dt.UTC).timestamp() if since else None
    store = open_store(workspace)
    try:
        report = sync(store, chosen, start)
    finally:
        store.close()
        chosen.close()
    ui.show_note(describe(report))


def _suppress(state: State, addresses, reason: str, source: str) -> None:
    from newsletter.send import suppression
    from newsletter.state import open_store

    store = open_store(state.workspace())
    try:
        result = suppression.add(store, addresses, reason, source)
    finally:
        store.close()
    for where, why in result.invalid:
        ui.show_note(f"{where}: warning: not suppressed: {why}")
    ui.show_note(
        f"suppressed {result.added} new, {result.known} already listed, "
        f"{len(result.invalid)} invalid"
    )
    if result.invalid:
        sys.exit(1)
