"""The `newsletter` group: shared options, and library errors mapped to exit codes.

Exit codes: 0 success, 1 problems found, 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import gc
import importlib
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


# Which module defines each command: running one imports only its module. A command
# missing here still works (every module loads to find it); tests/cli keep this complete.
COMMAND_MODULES = {
    "build": "archive",
    "check": "drafting",
    "doctor": "doctor",
    "init": "drafting",
    "new": "drafting",
    "preview": "preview",
    "render": "render",
    "schema": "drafting",
    "send": "send",
    "serve": "serve",
    "status": "send",
    "suppress": "send",
}
MODULES = sorted(set(COMMAND_MODULES.values()))


def load_commands(*modules: str) -> None:
    """Import command modules (all by default); each registers its commands on import."""
    for module in modules or MODULES:
        importlib.import_module(f"newsletter.cli.{module}")


class _Commands(dict):
    """The group's commands, every module loaded before the whole table is read."""

    def _full(self) -> None:
        load_commands()

    def __iter__(self):
        self._full()
        return super().__iter__()

    def __len__(self) -> int:
        self._full()
        return super().__len__()

    def __contains__(self, name: object) -> bool:
        self._full()
        return super().__contains__(name)

    def __getitem__(self, name: str):
        if not super().__contains__(name):
            self._full()
        return super().__getitem__(name)

    def get(self, name, default=None):
        if not super().__contains__(name):
            self._full()
        return super().get(name, default)

    def keys(self):
        self._full()
        return super().keys()

    def values(self):
        self._full()
        return super().values()

    def items(self):
        self._full()
        return super().items()


class NewsletterGroup(click.Group):
    """A click group that reports library errors as messages and exit codes, never tracebacks.

    Commands load on use: `newsletter check` imports neither the renderers' nor the
    sender's command modules.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands = _Commands(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module and not dict.__contains__(self.commands, cmd_name):
            load_commands(module)
        return super().get_command(ctx, cmd_name)

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
