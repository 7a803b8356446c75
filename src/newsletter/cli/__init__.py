"""The `newsletter` command line: one module of commands per pipeline stage."""

from newsletter.cli import (
    drafting,  # noqa: F401  (registers its commands)
    send,  # noqa: F401  (registers its commands)
)
from newsletter.cli.base import cli, main

__all__ = ["cli", "main"]
