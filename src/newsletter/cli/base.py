"""The `newsletter` group: shared options, and library errors mapped to exit codes.

Exit codes: 0 success, 1 problems found, 2 usage error, 130 interrupted; and for
conditions of the machine rather than of the input (sysexits.h numbers):
65 the state database (ledger) is damaged, 73 a file cannot be written (read-only
folder or file system, no permission), 74 the disk is full, 141 the output was
closed early (`newsletter status ... | head -1`).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import os
import sys
from pathlib import Path

import click

from newsletter import __version__, ui
from newsletter.errors import NewsletterError, StateError
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
    "state": "state",
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
            code = exc.exit_code
            message = exc.message
            if isinstance(exc, StateError) and _damaged(exc.__context__):
                message, code = f"{message}; {DAMAGED_HINT}", EXIT_DAMAGED
            elif isinstance(exc, StateError) and exc.__context__ is not None:
                # The store says what it could not do; the machine's condition sets the code.
                code = (machine_condition(exc.__context__) or ("", code))[1]
                if code == EXIT_CANNOT_WRITE:
                    message += " (a read-only folder?)"
            if message:
                ui.show_error(message)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ModuleNotFoundError:
            raise  # an incomplete installation, not a bug: newsletter.launcher says so
        except KeyboardInterrupt:
            ui.show_error("interrupted")
            code = 130
        except BrokenPipeError:
            _quiet_stdout()
            ui.show_error("the output was closed before everything was written (broken pipe)")
            code = EXIT_PIPE
        except Exception as exc:
            code = _unexpected(exc)
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


def _unexpected(exc: Exception) -> int:
    """Report a condition of the machine plainly, anything else as a bug; return the exit code."""
    condition = machine_condition(exc)
    if condition is not None:
        ui.show_error(condition[0])
        return condition[1]
    if os.environ.get("NEWSLETTER_DEBUG"):
        import traceback  # only here: it imports linecache and tokenize (5 ms of start-up)

        traceback.print_exc()
    ui.show_error(
        f"internal error ({type(exc).__name__}: {exc}); "
        "set NEWSLETTER_DEBUG=1 for details and please report it"
    )
    return 1


EXIT_DAMAGED, EXIT_CANNOT_WRITE, EXIT_DISK_FULL, EXIT_PIPE = 65, 73, 74, 141
DAMAGED_HINT = (
    "the database is damaged: restore it from a backup, or move it away to start a new "
    "ledger (which then forgets what was sent)"
)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def _damaged(exc: BaseException | None) -> bool:
    """Return True for SQLite's 'file is not a database' and 'disk image is malformed'."""
    sqlite3 = sys.modules.get("sqlite3")
    return (
        sqlite3 is not None
        and isinstance(exc, sqlite3.DatabaseError)
        and not isinstance(exc, sqlite3.OperationalError)  # locked, cannot open: not damage
    )


def machine_condition(exc: BaseException) -> tuple[str, int] | None:
    """Return the one-line message and exit code of a condition of the machine, or None."""
    if _damaged(exc):
        return f"state database: {exc}; {DAMAGED_HINT}", EXIT_DAMAGED
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        if "disk is full" in text:
            return "the disk is full: the state database cannot grow; free some space", (
                EXIT_DISK_FULL
            )
        if "readonly" in text or "unable to open" in text:
            return f"cannot write the state database in .newsletter/: {text}", EXIT_CANNOT_WRITE
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"the disk is full{where}: free some space and run the command again", (
            EXIT_DISK_FULL
        )
    if isinstance(exc, OSError) and exc.errno in _READ_ONLY:
        where = exc.filename or "a file"
        return f"cannot write {where}: {exc.strerror} (a read-only folder?)", EXIT_CANNOT_WRITE
    return None


def _quiet_stdout() -> None:
    """Point standard output at /dev/null: the reader is gone, and Python would flush again."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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
