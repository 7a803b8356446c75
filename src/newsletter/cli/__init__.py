"""The `newsletter` command line: one module of commands per pipeline stage."""

from newsletter.cli import drafting, preview  # noqa: F401  (each registers its commands)
from newsletter.cli.base import cli, main

__all__ = ["cli", "main"]
