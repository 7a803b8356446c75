"""The `newsletter` group: shared options, and library errors mapped to exit codes.

Exit codes: 0 success, 1 problems found, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import gc
import os
import traceback
from pathlib import Path

import click

from newsletter import __version__, ui
from newsletter.errors import NewsletterError
from newsletter.workspace import Workspace, find_workspace


class State:
    """What every command shares: where the workspace is."""

    def __init__(self, workspace: Path | None):
        self.explicit = workspace
        self._workspace: Workspace | None = None

    def workspace(self) -> Workspace:
        """Return the workspace, found once."""
        if self._workspace is None:
            self._workspace = find_workspace(self.explicit)
        return self._workspace


class NewsletterGroup(click.Group):
    """A click group that reports library errors as messages and exit codes, never tracebacks."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            ui.show_diagnostics(exc.diagnostics)
            if exc.message:
                ui.show_error(exc.message)
            code = exc.exit_code
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ModuleNotFoundError:
            raise  # an incomplete installation, not a bug: newsletter.launcher says so
        except KeyboardInterrupt:
            ui.show_error("interrupted")
            code = 130
        except Exception as exc:  # a bug: say so briefly, full trace only on request
            if os.environ.get("NEWSLETTER_DEBUG"):
                traceback.print_exc()
            ui.show_error(
                f"internal error ({type(exc).__name__}: {exc}); "
                "set NEWSLETTER_DEBUG=1 for details and please report it"
            )
            code = 1
        ctx.exit(code)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their summaries whole (click cuts them off with '...')."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


pass_state = click.make_pass_decorator(State)


@click.group(cls=NewsletterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="newsletter")
@click.option(
    "-w",
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="NEWSLETTER_WORKSPACE",
    help="Workspace folder (holding newsletter.yaml). Default: the nearest one above the "
    "current folder. Env: NEWSLETTER_WORKSPACE.",
)
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None) -> None:
    """Produce an email newsletter from YAML.

    Editors write one YAML file per issue in issues/ (series settings in newsletter.yaml).
    The pipeline: check -> render (email, text, MIME, print, PDF) -> preview, send or build.
    Exit codes: 0 success, 1 problems found, 2 usage error.
    """
    ctx.obj = State(workspace)


def main() -> None:
    """Run the CLI."""
    try:
        cli(prog_name="newsletter")
    finally:
        # Spare the interpreter's last garbage collection over everything the command made
        # (about 0.08 s after loading 200 issues); the process is ending, memory goes anyway.
        gc.freeze()
