"""Containment: nothing outside the workspace is read or published (issue 15, items 1 and 5).

Every image an issue names goes through one resolver (`Workspace.contained`): `check`
reports a symlink or path leading out at its line:col, and render, the PDF, the
preview and build refuse the same file the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.errors import NewsletterError, OutsideWorkspaceError
from newsletter.preview.parts import asset_path, render_parts
from newsletter.workspace import Workspace

SECRET = "PROVIDER_TOKEN=s3cret-do-not-publish"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"

# Where an image can stand in an issue: (case, link in images/, issue YAML, line:col, field).
ISSUES = {
    "images": (
        "images/team-photo.jpg",
        "articles:\n  - title: A\n    image:\n      src: images/team-photo.jpg\n"
        "      alt: The team\n      credit: Us\n    body: Text.\n",
        "10:12",
        "articles[0].image.src",
    ),
    "hero": (
        "images/hero.jpg",
        "image:\n  src: images/hero.jpg\n  alt: Hero\n  credit: Us\n",
        "8:8",
        "image.src",
    ),
    "summary": (
        "images/chart.jpg",
        "items:\n  - headline: H\n    summary: See ![chart](images/chart.jpg) here.\n",
        "9:27",
        "items[0].summary",
    ),
    "body": (
        "images/figure.jpg",
        "articles:\n  - title: A\n    body: |\n      Intro.\n\n"
        "      ![figure](images/figure.jpg)\n",
        "12:17",
        "articles[0].body",
    ),
}
HEAD = "volume: 1\nnumber: 1\ndate: 2024-01-05\npreheader: A test.\nsubject: Test\ntitle: Test\n"
EXTRA_ITEM = "items:\n  - headline: x\n    summary: y\n"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _issue_text(body: str) -> str:
    text = HEAD + body
    return text if "items:" in text else text + EXTRA_ITEM


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """Return a file outside the workspace holding a secret."""
    path = tmp_path / "outside" / "environ"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


@pytest.fixture(params=sorted(ISSUES))
def leaking(request, space, secret: Path):
    """Return (workspace, case) where one image of the issue is a symlink to the secret."""
    link, body, where, field = ISSUES[request.param]
    (space.root / "images").mkdir(exist_ok=True)
    os.symlink(secret, space.root / link)
    space.issue("vol-1-1", _issue_text(body))
    return space, where, field


def _published(root: Path) -> list[Path]:
    """Return the files written into the workspace (not the planted links) holding the secret."""
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and SECRET.encode() in p.read_bytes()
    ]


def test_check_reports_the_symlink_at_its_line(leaking) -> None:
    _space, where, field = leaking
    result = run("check")
    assert result.exit_code == 1
    assert f"issues/vol-1-1.yaml:{where}: error: {field}: '" in result.output
    assert "symlink leading out of the workspace" in result.output


def test_build_refuses_and_publishes_nothing(leaking) -> None:
    space, where, field = leaking
    result = run("build", "--jobs", "1")
    assert result.exit_code == 1
    assert f"issues/vol-1-1.yaml:{where}: error: {field}" in result.output
    assert _published(space.root) == []


@pytest.mark.parametrize("formats", ["html,text,eml", "pdf"])
def test_render_and_pdf_refuse(leaking, formats: str) -> None:
    space, where, field = leaking
    result = run("render", "--format", formats)
    assert result.exit_code == 1
    assert f"issues/vol-1-1.yaml:{where}: error: {field}" in result.output
    assert _published(space.root) == []


def test_preview_refuses(leaking) -> None:
    space, where, field = leaking
    workspace = Workspace(space.root)
    with pytest.raises(NewsletterError) as raised:
        render_parts(workspace, "vol-1-1")
    shown = [str(d) for d in raised.value.diagnostics]
    assert any(f":{where}: error: {field}" in line for line in shown), shown
    link = ISSUES[next(k for k, v in ISSUES.items() if v[3] == field)][0]
    assert asset_path(workspace, link) is None


def test_resolver_refuses_the_symlink_itself(space, secret: Path) -> None:
    (space.root / "images").mkdir()
    os.symlink(secret, space.root / "images" / "x.jpg")
    with pytest.raises(OutsideWorkspaceError):
        Workspace(space.root).contained("images/x.jpg")


def test_symlinked_folder_leading_out_is_refused(space, secret: Path) -> None:
    os.symlink(secret.parent, space.root / "images")
    space.issue("vol-1-1", _issue_text(ISSUES["hero"][1].replace("hero.jpg", "environ")))
    result = run("check")
    assert result.exit_code == 1
    assert "symlink leading out of the workspace" in result.output


def test_symlink_inside_the_workspace_is_fine(space) -> None:
    (space.root / "images").mkdir()
    (space.root / "images" / "real.jpg").write_bytes(JPEG)
    os.symlink("real.jpg", space.root / "images" / "hero.jpg")
    space.issue("vol-1-1", _issue_text(ISSUES["hero"][1]))
    result = run("check")
    assert result.exit_code == 0, result.output


def test_symlink_to_a_hidden_file_of_the_workspace_is_refused(space) -> None:
    (space.root / ".env").write_text(SECRET)
    (space.root / "images").mkdir()
    os.symlink("../.env", space.root / "images" / "hero.jpg")
    space.issue("vol-1-1", _issue_text(ISSUES["hero"][1]))
    result = run("check")
    assert result.exit_code == 1
    assert "issues/vol-1-1.yaml:8:8: error: image.src:" in result.output


PATHS = {
    "parent": ("../../../../etc/hostname", "must be a path inside the workspace"),
    "absolute": ("/etc/hostname", "must be a path inside the workspace"),
    "file-url": ("file:///etc/hostname", "must be an http(s) URL or a path in the workspace"),
    "hidden": (".newsletter/send.db", "hidden file"),
}


@pytest.mark.parametrize("kind", sorted(PATHS))
@pytest.mark.parametrize("spot", ["summary", "body", "hero"])
def test_paths_leading_out_are_located_errors(space, kind: str, spot: str) -> None:
    src, why = PATHS[kind]
    link, body, where, field = ISSUES[spot]
    space.issue("vol-1-1", _issue_text(body.replace(link, src)))
    result = run("check")
    assert result.exit_code == 1
    assert f"issues/vol-1-1.yaml:{where}: error: {field}: '{src}' " in result.output
    assert why in result.output


def test_summary_image_is_published_and_addressed_like_body_images(space) -> None:
    (space.root / "images").mkdir()
    (space.root / "images" / "chart.jpg").write_bytes(JPEG)
    space.issue("vol-1-1", _issue_text(ISSUES["summary"][1]))
    assert run("check").exit_code == 0
    result = run("render", "--format", "html")
    assert result.exit_code == 0, result.output
    html = (space.root / "build" / "vol-1-1" / "email.html").read_text()
    assert 'src="https://digest.example.org/images/chart.jpg"' in html
    assert 'src="images/chart.jpg"' not in html
    built = run("build", "--jobs", "1")
    assert built.exit_code == 0, built.output
    assert (space.root / "site" / "images" / "chart.jpg").read_bytes() == JPEG


def test_missing_summary_image_is_reported(space) -> None:
    space.issue("vol-1-1", _issue_text(ISSUES["summary"][1]))
    result = run("check")
    assert result.exit_code == 1
    assert (
        "issues/vol-1-1.yaml:9:27: error: items[0].summary: image file 'images/chart.jpg' "
        "not found in the workspace" in result.output
    )
