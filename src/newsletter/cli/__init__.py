"""The `newsletter` command line: one module of commands per pipeline stage."""

from newsletter.cli import (  # noqa: F401  (each registers its commands)
    archive,
    doctor,
    drafting,
    preview,
    render,
    send,
    serve,
    state,
)
from newsletter.cli.base import cli, main

__all__ = ["cli", "main"]
