"""Start the command line, and turn an incomplete installation into one line, not a traceback.

This module imports nothing but the standard library at the top, so it runs even when a
dependency (click, rich, ...) is missing: the CLI itself is imported inside `main`.
"""

from __future__ import annotations

import os
import sys

# Import names whose distribution on PyPI is called something else.
_DISTRIBUTIONS = {
    "yaml": "PyYAML",
    "markdown_it": "markdown-it-py",
    "mjml": "mjml-python",
    "PIL": "pillow",
    "dateutil": "python-dateutil",
}

EXIT_BROKEN_INSTALL = 2


def distribution_of(module: str) -> str:
    """Return the name of the package that provides an importable module."""
    top = module.split(".")[0]
    return _DISTRIBUTIONS.get(top, top.replace("_", "-"))


def broken_install_message(exc: ModuleNotFoundError) -> str:
    """Return the one line that tells the user which package is missing and how to reinstall."""
    module = exc.name or str(exc)
    return (
        f"newsletter: error: this installation is incomplete: the package "
        f"'{distribution_of(module)}' is missing (no module named '{module}'); reinstall with "
        f"'pip install newsletter', or 'make demo' in a clone of its repository"
    )


def main() -> None:
    """Run the `newsletter` command line."""
    # Pydantic reads every installed package's metadata, looking for plugins, when it
    # builds its first model (40-50 ms of a one-issue rebuild); the tool uses none. A
    # value the user set is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        from newsletter.cli import main as run_cli

        run_cli()
    except ModuleNotFoundError as exc:
        # Plain stderr: rich, the error printer, may be the very package that is missing.
        print(broken_install_message(exc), file=sys.stderr)
        sys.exit(EXIT_BROKEN_INSTALL)
