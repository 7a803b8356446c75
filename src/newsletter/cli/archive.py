"""Archive command: build the static web archive."""

from __future__ import annotations

from pathlib import Path

import click

from newsletter import ui
from newsletter.cli.base import State, cli, pass_state

PROGRESS_FROM = 8  # below this many issues a progress bar is more noise than help


@cli.command(short_help="Build the web archive: pages, PDFs, index and feed.")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to build the site into. Default: site/ in the workspace.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Issues rendered at once. Default: one per CPU core.",
)
@click.option("--force", is_flag=True, help="Re-render every issue, changed or not.")
@click.option(
    "--drafts",
    is_flag=True,
    help="Include drafts (draft: true) in the site and feed, for a private preview.",
)
@pass_state
def build(state: State, output: Path | None, jobs: int | None, force: bool, drafts: bool) -> None:
    """Build the web archive: every issue's web page and PDF, an index and an Atom feed.

    Only issues whose inputs changed (issue file, newsletter.yaml, templates, images) are
    rendered again; the site can be hosted anywhere as plain files.
    """
    from newsletter.archive.build import build_site

    workspace = state.workspace()
    bar = None  # made only for long builds, after build_site has started its workers
    task = None

    def planned(count: int) -> None:
        nonlocal bar, task
        if count >= PROGRESS_FROM and ui.stderr_is_terminal():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            bar = Progress(
                "building",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=ui.err(),
                transient=True,
            )
            bar.start()
            task = bar.add_task("build", total=count)

    def advance(_slug: str) -> None:
        if bar is not None and task is not None:
            bar.advance(task)

    try:
        report = build_site(
            workspace,
            output,
            jobs=jobs,
            force=force,
            progress=advance,
            on_plan=planned,
            drafts=drafts,
        )
    finally:
        if bar is not None:
            bar.stop()
    ui.show_diagnostics(report.diagnostics)
    target = output or workspace.root / "site"
    ui.show_note(
        f"built {ui.plural(len(report.built), 'issue')}, {len(report.unchanged)} unchanged"
        + (f", {len(report.removed)} removed" if report.removed else "")
        + f" in {report.seconds:.1f} s -> {target}/index.html"
    )
    if report.drafts:
        ui.show_note(
            f"left out {ui.plural(len(report.drafts), 'draft')} "
            f"({', '.join(report.drafts)}); 'newsletter build --drafts' includes them"
        )
    if report.unchanged_warnings:
        ui.show_note(
            f"{ui.plural(report.unchanged_warnings, 'warning')} in unchanged issues "
            "('newsletter check' lists them)"
        )
