"""Drafting commands: check, schema, new, init."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from newsletter import ui
from newsletter.cli.base import State, cli, pass_state


@cli.command(short_help="Check issues and newsletter.yaml; report every problem.")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--strict", is_flag=True, help="Fail on warnings too (preheader, credits, lengths, TODOs)."
)
@click.option("--links", is_flag=True, help="Also fetch every web link and report the broken ones.")
@pass_state
def check(state: State, files: tuple[Path, ...], strict: bool, links: bool) -> None:
    """Check issue files (all of issues/ by default) and newsletter.yaml.

    Every problem is printed as FILE:LINE:COL: error|warning: FIELD: MESSAGE.
    Exits 1 when there are errors (or warnings, with --strict).
    """
    from newsletter.cache import cached_check

    workspace = state.workspace()
    # Nothing changed since every file was last loaded: their diagnostics, no models.
    diagnostics = None if files or links else cached_check(workspace)
    if diagnostics is None:
        from newsletter.loader import load_workspace

        series, issues, diagnostics = load_workspace(workspace, list(files) or None)
    if links:
        from newsletter.linkcheck import check_links, collect_links

        found = collect_links(workspace, series, issues)
        diagnostics += check_links(found)
        ui.show_note(f"fetched {ui.plural(len({link.url for link in found}), 'link')}")
    ui.show_diagnostics(diagnostics)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    checked = len(files) if files else len(workspace.issue_paths())
    ui.show_note(
        f"checked {ui.plural(checked, 'issue')}: "
        f"{ui.plural(errors, 'error')}, {ui.plural(warnings, 'warning')}"
    )
    if errors or (strict and warnings):
        sys.exit(1)


@cli.command()
@click.option("--series", is_flag=True, help="Print the schema of newsletter.yaml instead.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def schema(series: bool, output: Path | None) -> None:
    """Print the JSON Schema (draft 2020-12) of an issue file.

    Point yaml-language-server at it for completion and checks while typing:
    add '# yaml-language-server: $schema=../schemas/issue.schema.json' at the top of an issue.
    """
    from newsletter.model import Issue, Series, json_schema

    text = json.dumps(json_schema(Series if series else Issue), indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        ui.echo(text)


@cli.command(short_help="Write the skeleton of the next issue (a draft).")
@click.option(
    "--date",
    "date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Issue date (YYYY-MM-DD). Default: the newest issue's date plus cadence_days.",
)
@click.option(
    "--volume",
    type=click.IntRange(min=1),
    help="Volume of the new issue; a new volume starts at number 1.",
)
@pass_state
def new(state: State, date, volume: int | None) -> None:
    """Write a skeleton for the next issue, continuing from the newest one.

    The file is issues/vol-V-N.yaml; an existing file is never overwritten.
    """
    from newsletter.scaffold import new_issue

    path = new_issue(state.workspace(), date.date() if date else None, volume)
    ui.echo(str(path))


@cli.command(short_help="Create a workspace: settings, sample issue, templates.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option(
    "--ci",
    type=click.Choice(["github"]),
    help="Also write a CI workflow (github: .github/workflows/newsletter.yml at the top of the "
    "repository); without DIRECTORY, for the current workspace.",
)
@pass_state
def init(state: State, directory: Path | None, ci: str | None) -> None:
    """Create a workspace in DIRECTORY: newsletter.yaml, a sample issue, templates, schemas.

    With --ci github (and no DIRECTORY) write only the CI workflow of the current workspace.
    """
    from newsletter.scaffold import init_workspace

    if directory is None:
        if ci is None:
            raise click.UsageError("name the DIRECTORY to create (or give --ci github)")
        _write_ci(state.workspace().root)
        return
    for path in init_workspace(directory):
        ui.echo(str(path))
    if ci is not None:
        _write_ci(directory)
    go = f"  cd {shlex.quote(str(directory))}\n" if directory.resolve() != Path.cwd() else ""
    ui.show_note(
        "next:\n" + go + "  newsletter check      # every problem, at its line\n"
        "  newsletter preview    # see vol-1-1 in the browser, live as you edit\n"
        "  newsletter new        # start the next issue (a draft)"
    )


def _write_ci(root: Path) -> None:
    """Write the GitHub Actions workflow for the workspace at root and say what it needs."""
    from newsletter.ci import CREDENTIALS, write_github_workflow
    from newsletter.loader import load_series
    from newsletter.workspace import Workspace

    series, _source = load_series(Workspace(root.resolve()))
    provider = series.delivery.provider if series is not None else "outbox"
    path = write_github_workflow(root, provider)
    ui.echo(str(path))
    secrets = ["NEWSLETTER_DATABASE_URL", "NEWSLETTER_UNSUBSCRIBE_SECRET", *CREDENTIALS[provider]]
    ui.show_note(f"add these repository secrets for the send job: {', '.join(secrets)}")
