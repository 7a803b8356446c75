"""Fixtures of the preview tests: a live preview of a small workspace, and a browser tab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from newsletter.preview.server import LivePreview
from newsletter.workspace import Workspace


@pytest.fixture
def live(space) -> Iterator[LivePreview]:
    """Return a running preview (the real renderers) of the test workspace on a free port."""
    with LivePreview(Workspace(space.root), port=0) as preview:
        yield preview


@pytest.fixture
def page(chromium_browser):
    """Return a tab of the session's headless Chromium, in a context of its own."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    yield tab
    context.close()
