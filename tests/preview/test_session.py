"""The preview's state: last good render kept, problems located, colour schemes pinned."""

from __future__ import annotations

import pytest

from newsletter.errors import Diagnostic, RenderError
from newsletter.preview.parts import asset_path, local_assets, render_parts, with_color_scheme
from newsletter.preview.session import PreviewSession
from newsletter.workspace import Workspace


class Flaky:
    """The real renderer, failing when told to as a broken template would."""

    def __init__(self):
        self.fail = False
        self.calls = 0

    def __call__(self, workspace, slug):
        self.calls += 1
        if self.fail:
            diagnostic = Diagnostic("templates/email.mjml.j2", 7, 1, "'nothing' is undefined")
            raise RenderError("template failed", [diagnostic])
        return render_parts(workspace, slug)


def test_a_failed_render_keeps_the_last_good_parts(space):
    renderer = Flaky()
    session = PreviewSession(Workspace(space.root), renderer)
    first = session.state("vol-1-1")
    assert first.ok and first.good is not None
    renderer.fail = True
    broken = session.render("vol-1-1")
    assert not broken.ok
    assert broken.good is first.good
    assert broken.good_generation == first.generation < broken.generation
    [problem] = broken.summary()["problems"]
    assert problem["text"] == "templates/email.mjml.j2:7:1: error: 'nothing' is undefined"


def test_an_unexpected_exception_reaches_the_page(space):
    def broken(workspace, slug):
        raise KeyError("oops")

    state = PreviewSession(Workspace(space.root), broken).state("vol-1-1")
    assert state.good is None
    assert state.summary()["problems"][0]["text"].startswith("error: internal error (KeyError")


def test_only_the_saved_issue_is_rerendered(space):
    renderer = Flaky()
    session = PreviewSession(Workspace(space.root), renderer)
    other = space.issue("vol-1-2", (space.root / "issues/vol-1-1.yaml").read_text())
    session.state("vol-1-1")
    inbox = session.subscribe()
    session.files_changed({other})
    assert renderer.calls == 1
    assert inbox.get_nowait()["type"] == "index"
    session.files_changed({space.root / "newsletter.yaml"})
    assert renderer.calls == 2
    assert inbox.get_nowait()["type"] == "update"
    session.close()
    assert inbox.get_nowait() is None


EMAIL = (
    "<html><head><style>body{background:#fff}"
    "@media (prefers-color-scheme: dark){body{background:#000}}"
    "@media screen and (prefers-color-scheme:light){p{color:red}}</style></head>"
    '<body><img src="https://d.example.org/images/pic.png">'
    '<img src="https://d.example.org/images/missing.png">'
    '<a href="https://d.example.org/vol-1-1/">web</a></body></html>'
)


@pytest.mark.parametrize(
    ("scheme", "dark_rule", "light_rule"),
    [
        ("dark", "(min-width: 0px)", "(max-width: 0px)"),
        ("light", "(max-width: 0px)", "(min-width: 0px)"),
    ],
)
def test_the_colour_scheme_is_pinned_whatever_the_os_says(scheme, dark_rule, light_rule):
    html = with_color_scheme(EMAIL, scheme)
    assert "prefers-color-scheme" not in html
    assert f"@media {dark_rule}{{body{{background:#000}}}}" in html
    assert f"@media screen and {light_rule}{{p{{color:red}}}}" in html
    assert f"color-scheme:{scheme}" in html


def test_an_email_without_dark_styles_is_inverted_like_gmail_does():
    html = with_color_scheme("<html><head></head><body>x</body></html>", "dark")
    assert "invert(1)" in html
    assert "invert(1)" not in with_color_scheme("<html><head></head></html>", "light")


def test_published_images_point_at_the_workspace_copy(space):
    space.write("images/pic.png", "png")
    html = local_assets(EMAIL, "https://d.example.org/", Workspace(space.root))
    assert 'src="/assets/images/pic.png"' in html
    assert 'src="https://d.example.org/images/missing.png"' in html  # not in the workspace
    assert 'href="https://d.example.org/vol-1-1/"' in html
    assert '<base href="/assets/" target="_blank">' in html


def test_only_workspace_images_may_be_served(space, tmp_path):
    space.write("images/pic.png", "png")
    space.write(".git/logo.png", "png")
    (tmp_path / "secret.png").write_text("secret")
    (space.root / "images/link.png").symlink_to(tmp_path / "secret.png")
    workspace = Workspace(space.root)
    assert asset_path(workspace, "images/pic.png") == (space.root / "images/pic.png").resolve()
    for refused in ("newsletter.yaml", ".git/logo.png", "images/link.png", "../secret.png"):
        assert asset_path(workspace, refused) is None, refused


def test_the_size_budget_is_shown_and_gmails_limit_is_a_problem(space):
    session = PreviewSession(Workspace(space.root))
    strip = session.state("vol-1-1").summary()["strip"]
    assert 1 < strip["size_kb"] < strip["limit_kb"] == 102
    assert strip["size_share"] == pytest.approx(strip["size_kb"] / 102, abs=0.01)
    items = "".join(
        f"  - headline: Headline number {n}\n    summary: {'words ' * 100}\n" for n in range(150)
    )
    space.issue("vol-1-1", f"volume: 1\nnumber: 1\ndate: 2024-01-05\nitems:\n{items}")
    [problem] = session.render("vol-1-1").problems
    assert "Gmail clips it" in problem.message
