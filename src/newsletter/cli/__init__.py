"""The `newsletter` command line: one module of commands per pipeline stage."""

# Each module registers its commands on import.
from newsletter.cli import archive, doctor, drafting, preview, render  # noqa: F401
from newsletter.cli.base import cli, main

__all__ = ["cli", "main"]
