"""Rendering commands: render."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter import ui
from newsletter.cli.base import State, cli, pass_state
from newsletter.render.output import default_formats, describe_formats, parse_formats

if TYPE_CHECKING:
    from newsletter.workspace import Workspace


def _formats(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str]:
    if value is None:
        return default_formats()
    try:
        return parse_formats(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@cli.command(short_help="Render issues as email, text, print and PDF files.")
@click.argument("issues", nargs=-1, metavar="[ISSUE]...")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (default: build/ in the workspace).",
)
@click.option(
    "-f",
    "--format",
    "formats",
    callback=_formats,
    metavar="FORMATS",
    help=f"Comma-separated formats: {describe_formats()}. Default: {','.join(default_formats())}.",
)
@pass_state
def render(state: State, issues: tuple[str, ...], out_dir: Path | None, formats: list[str]) -> None:
    """Render issues into DIR/<slug>/: email.html, email.txt, email.eml, print.html, <slug>.pdf.

    ISSUE is a slug (vol-2-10) or a path to an issue file; without ISSUE every issue
    in issues/ is rendered. The files show the email as an example reader receives
    it (reader@example.com); `newsletter send` fills in each subscriber instead.
    Exits 1 when an issue has errors or its email is over Gmail's 102 KB clipping size.
    """
    from newsletter.cache import cached_load
    from newsletter.errors import ValidationError
    from newsletter.render.output import render_issue

    workspace = state.workspace()
    with _pdf_printer(workspace, formats):
        paths = [workspace.issue_path(name) for name in issues] or None
        # Unchanged files come back from the cache as records: no pydantic (records.py).
        found = cached_load(workspace, paths)
        if found is None:
            from newsletter.loader import load_workspace

            found = load_workspace(workspace, paths)
        series, loaded, diagnostics = found
        if series is None or any(d.is_error for d in diagnostics):
            raise ValidationError("nothing rendered: fix these problems first", diagnostics)
        if not loaded:
            raise ValidationError(f"no issues in {workspace.issues_dir}")
        ui.show_diagnostics(diagnostics)
        target = out_dir or workspace.build_dir
        for item in loaded:
            written, warnings = render_issue(workspace, series, item, target, formats)
            ui.show_diagnostics(warnings)
            for path in written:
                ui.echo(str(path))
    ui.show_note(f"rendered {ui.plural(len(loaded), 'issue')} ({', '.join(formats)}) into {target}")


def _pdf_printer(workspace: Workspace, formats: list[str]) -> AbstractContextManager:
    """Ready PDF printing before the loading: the warm worker, else WeasyPrint in a thread."""
    if "pdf" not in formats:
        return nullcontext()
    from newsletter.render import pdfworker
    from newsletter.render.pdf import language_guess

    return pdfworker.printing(workspace, language_guess(workspace))
