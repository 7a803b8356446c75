"""The README documents every command and every option of the CLI (as sqlite-utils does)."""

from __future__ import annotations

import click
import pytest

from newsletter.cli import cli
from tests.helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


COMMANDS = list(_commands(cli))


def test_every_command_is_named_in_the_readme():
    missing = [name for name, _ in COMMANDS if f"newsletter {name}" not in README]
    assert missing == []


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_option_is_in_the_readme(name, command):
    options = [p.opts[0] for p in command.params if isinstance(p, click.Option)]
    long_names = [o for o in options if o.startswith("--")]
    missing = [o for o in long_names if o not in README]
    assert missing == [], f"newsletter {name}: document {missing} in README.md"
