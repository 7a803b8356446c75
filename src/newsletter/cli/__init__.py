"""The `newsletter` command line: one module of commands per pipeline stage."""

from newsletter.cli import doctor, drafting, preview  # noqa: F401  (registers their commands)
from newsletter.cli.base import cli, main

__all__ = ["cli", "main"]
