"""Create workspaces and new issue files from the packaged defaults."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path

from newsletter.errors import ValidationError, WorkspaceError
from newsletter.loader import LoadedIssue, load_workspace
from newsletter.model import Issue, Series, json_schema
from newsletter.workspace import CONFIG_NAME, Workspace

SCHEMAS = {"issue.schema.json": Issue, "series.schema.json": Series}


def issue_slug(volume: int, number: int) -> str:
    """Return the file stem of an issue, e.g. vol-2-10."""
    return f"vol-{volume}-{number}"


def write_schemas(folder: Path) -> list[Path]:
    """Write the JSON Schemas of issues and series settings into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = folder / name
        path.write_text(
            json.dumps(json_schema(model), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        written.append(path)
    return written


def newest_issue(issues: list[LoadedIssue]) -> LoadedIssue | None:
    """Return the issue with the highest volume and number."""
    return max(issues, key=lambda i: (i.issue.volume, i.issue.number, i.issue.date), default=None)


def new_issue(workspace: Workspace, date: dt.date | None = None, volume: int | None = None) -> Path:
    """Write the skeleton of the issue after the newest one and return its path."""
    series, issues, diagnostics = load_workspace(workspace)
    if series is None or any(d.is_error for d in diagnostics):
        raise ValidationError("fix these problems before starting a new issue", diagnostics)
    last = newest_issue(issues)
    if last is None:
        vol, num = volume or 1, 1
        date = date or dt.date.today()
        count = 3
    else:
        vol = volume or last.issue.volume
        num = 1 if vol != last.issue.volume else last.issue.number + 1
        date = date or last.issue.date + dt.timedelta(days=series.cadence_days)
        count = max(1, len(last.issue.items)) if last.issue.items else 3
    path = workspace.issues_dir / f"{issue_slug(vol, num)}.yaml"
    if path.exists():
        raise WorkspaceError(f"{path} exists already; it was not overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(skeleton(series, vol, num, date, count), encoding="utf-8")
    return path


def skeleton(series: Series, volume: int, number: int, date: dt.date, items: int) -> str:
    """Return a commented issue file with TODO placeholders."""
    entries = "".join(
        f'  - headline: "TODO: headline {i} (one line)"\n'
        f"    summary: >-\n"
        f"      TODO: one paragraph summarising the story. Inline Markdown works:\n"
        f"      *emphasis* and [links](https://example.org/).\n"
        f"    # links:\n"
        f"    #   - title: Source\n"
        f"    #     url: https://example.org/\n"
        for i in range(1, items + 1)
    )
    return (
        "# yaml-language-server: $schema=../schemas/issue.schema.json\n"
        f"# {series.name} Vol {volume}.{number}. Replace every TODO;\n"
        "# `newsletter check --strict` fails while one is left.\n"
        f"volume: {volume}\n"
        f"number: {number}\n"
        f"date: {date.isoformat()}\n"
        "# A draft is never sent to the list and left out of `newsletter build`;\n"
        "# remove this line when the issue is ready.\n"
        "draft: true\n"
        f'# title: defaults to "{series.name} Vol {volume}.{number}"\n'
        "# subject: defaults to the title\n"
        'preheader: "TODO: one sentence shown after the subject in the inbox"\n'
        "# image:\n"
        "#   src: images/hero.jpg\n"
        "#   alt: What the picture shows\n"
        "#   credit: Who took it\n"
        "items:\n" + entries
    )


SAMPLE_SERIES = """\
# yaml-language-server: $schema=schemas/series.schema.json
# Series settings. Addresses are examples: replace them with your own.
name: Example Digest
tagline: News from the example project, every two weeks
publisher: Example Organisation
language: en
from:
  name: Example Digest
  email: digest@example.org
contact: editors@example.org
address: Example Organisation, 1 Example Street, Example City 00000
base_url: https://digest.example.org/
footer: >-
  *Example Digest* is a bi-weekly summary. To subscribe, write to
  [editors@example.org](mailto:editors@example.org).
links:
  - title: Privacy Policy
    url: https://digest.example.org/privacy/
paper: a4
delivery:
  provider: outbox
"""

SAMPLE_ISSUE = """\
# yaml-language-server: $schema=../schemas/issue.schema.json
volume: 1
number: 1
date: {date}
preheader: The first issue of the Example Digest, with two short stories.
items:
  - headline: Example Digest launches
    summary: >-
      This is the first issue. Each entry has a one-line headline, listed at the top,
      and a summary paragraph written in inline Markdown with *emphasis* and
      [links](https://example.org/).
    links:
      - title: Announcement
        url: https://example.org/announcement
  - headline: How to write the next issue
    summary: >-
      Run `newsletter new` to start the next issue, `newsletter check` while you write,
      and `newsletter preview` to see it in a browser.
"""

GITIGNORE = "build/\nsite/\noutbox/\n.newsletter/\n"


def default_templates():
    """Return the packaged default templates folder (a Traversable)."""
    return resources.files("newsletter") / "templates"


def _copy_tree(source, target: Path) -> list[Path]:
    written = []
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_dir():
            written += _copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())
            written.append(target / entry.name)
    return written


def init_workspace(folder: Path, today: dt.date | None = None) -> list[Path]:
    """Create a workspace in folder with settings, a sample issue, templates and schemas."""
    if (folder / CONFIG_NAME).exists():
        raise WorkspaceError(f"{folder / CONFIG_NAME} exists already; nothing was overwritten")
    if folder.exists() and not folder.is_dir():
        raise WorkspaceError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    date = (today or dt.date.today()).isoformat()
    files = {
        folder / CONFIG_NAME: SAMPLE_SERIES,
        folder / "issues" / "vol-1-1.yaml": SAMPLE_ISSUE.format(date=date),
        folder / ".gitignore": GITIGNORE,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (folder / "images").mkdir(exist_ok=True)
    written = list(files)
    written += write_schemas(folder / "schemas")
    written += _copy_tree(default_templates(), folder / "templates")
    return written
