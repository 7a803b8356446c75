"""Fixtures for render tests: a copy of the sample workspace."""

from __future__ import annotations

import pytest
from workspaces import copy_sample

from newsletter.workspace import Workspace


@pytest.fixture
def sample_workspace(tmp_path) -> Workspace:
    """Return a copy of the repository's sample workspace (series, two issues, images)."""
    return copy_sample(tmp_path / "ws")
