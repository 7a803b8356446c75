"""The `newsletter` command line: one module of commands per pipeline stage, loaded on use.

`newsletter --version` and a repeated `newsletter --help` answer before click loads
(see main); a command imports only its own module (see base.LazyGroup).
"""

from __future__ import annotations

import sys

from newsletter import __version__

__all__ = ["cli", "main"]


def __getattr__(name: str):
    if name == "cli":  # the group with every command, for tests and `python -c`
        from newsletter.cli.base import cli

        return cli
    raise AttributeError(f"module 'newsletter.cli' has no attribute {name!r}")


def main() -> None:
    """Run the CLI."""
    args = sys.argv[1:]
    if args in (["--version"], ["-V"]):  # click's own wording, without loading click
        sys.stdout.write(f"newsletter, version {__version__}\n")
        return
    if args in (["--help"], ["-h"]):
        from newsletter.cli.helpcache import cached_help

        text = cached_help()
        if text is not None:
            sys.stdout.write(text)
            return
    from newsletter.cli.base import main as run

    run()
