"""Build and load small workspaces for render tests (imported by the tests and conftest)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from newsletter.errors import ValidationError
from newsletter.loader import require_issue
from newsletter.workspace import Workspace
from tests.helpers.workspace import copy_sample


def sample_copy(root: Path) -> Workspace:
    """Copy the sample workspace to root and return it as a Workspace."""
    return Workspace(copy_sample(root))


def write_issue(workspace: Workspace, slug: str, data: dict) -> None:
    """Write issues/<slug>.yaml from data."""
    workspace.issues_dir.mkdir(exist_ok=True)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    (workspace.issues_dir / f"{slug}.yaml").write_text(text, encoding="utf-8")


def set_series(workspace: Workspace, **changes) -> None:
    """Change fields of newsletter.yaml."""
    data = yaml.safe_load(workspace.config_path.read_text(encoding="utf-8"))
    data.update(changes)
    workspace.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def load(workspace: Workspace, slug: str):
    """Return (series, loaded issue) or fail the test with the diagnostics."""
    try:
        series, loaded, _diagnostics = require_issue(workspace, slug)
    except ValidationError as exc:
        pytest.fail("\n".join(map(str, exc.diagnostics)))
    return series, loaded


def digest(*items: tuple[str, str], **extra) -> dict:
    """Return a small digest issue holding the given (headline, summary) items."""
    return {
        "volume": 9,
        "number": 1,
        "date": dt.date(2025, 1, 15),
        "preheader": "A test issue.",
        "items": [{"headline": h, "summary": s} for h, s in items],
        **extra,
    }
