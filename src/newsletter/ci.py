"""A CI recipe: the GitHub Actions workflow that `newsletter init --ci github` writes.

Three jobs, the same commands the README gives for any other CI:
- pull request: check, render (email, text, print, PDF), phone and desktop screenshots,
  all kept as artifacts for the reviewers;
- push to main: build the web archive, kept as an artifact (publish it as you like);
- schedule (every 5 minutes): `send --due`, with the provider's credentials, the
  unsubscribe secret and NEWSLETTER_DATABASE_URL from the repository's secrets, so the
  state lives in a shared database rather than on a runner that starts empty.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from newsletter import __version__
from newsletter.errors import WorkspaceError

WORKFLOW = Path(".github/workflows/newsletter.yml")

# The environment variables each provider reads its credentials from.
CREDENTIALS = {
    "outbox": (),
    "smtp": ("SMTP_USERNAME", "SMTP_PASSWORD"),
    "postmark": ("POSTMARK_SERVER_TOKEN",),
    "sendgrid": ("SENDGRID_API_KEY",),
    "mailgun": ("MAILGUN_API_KEY",),
    "resend": ("RESEND_API_KEY",),
    "ses": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
}

# Debian/Ubuntu packages WeasyPrint needs for the PDF, and fonts for CJK text.
PDF_PACKAGES = (
    "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-liberation fonts-noto-cjk"
)

HEADER = """\
# Written by `newsletter init --ci github` (newsletter @@VERSION@@). Three jobs:
#   pull request  check, render (email, text, PDF) and phone/desktop screenshots: artifacts
#   main          build the web archive (site/): an artifact
#   schedule      send every issue whose send_at has come (`newsletter send --due`)
# Repository secrets the send job reads: NEWSLETTER_DATABASE_URL (the shared state, e.g. a
# PostgreSQL URL: a runner starts empty, so a file there would forget what was sent),
# NEWSLETTER_UNSUBSCRIBE_SECRET@@SECRET_NAMES@@.
name: newsletter

on:
  pull_request:
  push:
    branches: [main]
  schedule:
    - cron: "*/5 * * * *"  # GitHub may start it late; send --due sends what is due by then
  workflow_dispatch:

permissions:
  contents: read

env:
  NEWSLETTER_PIP: "newsletter==@@VERSION@@"  # or a git URL: what `pip install` installs
  NEWSLETTER_LIST: subscribers.csv  # the subscriber list, relative to the workspace
@@DEFAULTS@@
jobs:
"""

INSTALL = """\
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install newsletter
        run: python -m pip install "$NEWSLETTER_PIP"
"""

INSTALL_PDF = """\
      - name: Install what the PDF needs (Pango, fonts)
        run: |
          sudo apt-get update -q
          sudo apt-get install -y -q --no-install-recommends @@PDF_PACKAGES@@
"""

REVIEW = """\
  review:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    steps:
@@INSTALL@@@@INSTALL_PDF@@      - name: Check every issue and newsletter.yaml
        run: newsletter check
      - name: Render email, text, print and PDF into build/
        run: newsletter render -o build
      - name: Screenshots at phone and desktop width
        run: |
          mkdir -p screenshots
          for html in build/*/email.html; do
            slug=$(basename "$(dirname "$html")")
            for shot in phone:375,1200 desktop:1280,1600; do
              google-chrome --headless --no-sandbox --disable-gpu --hide-scrollbars \\
                --window-size="${shot#*:}" --screenshot="screenshots/$slug-${shot%%:*}.png" \\
                "file://$PWD/$html"
            done
          done
      - uses: actions/upload-artifact@v4
        with:
          name: rendered
          path: |
            @@PREFIX@@build/
            @@PREFIX@@screenshots/

"""

ARCHIVE = """\
  archive:
    if: github.event_name == 'push' && github.ref == 'refs/heads/main'
    runs-on: ubuntu-latest
    steps:
@@INSTALL@@@@INSTALL_PDF@@      - name: Build the web archive into site/
        run: newsletter build -o site
      - uses: actions/upload-artifact@v4
        with:
          name: site
          path: @@PREFIX@@site/

"""

SEND = """\
  send:
    if: github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'
    runs-on: ubuntu-latest
    # One scheduled send at a time; a run that overlaps waits instead of racing.
    concurrency:
      group: newsletter-send
      cancel-in-progress: false
    env:
      NEWSLETTER_DATABASE_URL: ${{ secrets.NEWSLETTER_DATABASE_URL }}
      NEWSLETTER_UNSUBSCRIBE_SECRET: ${{ secrets.NEWSLETTER_UNSUBSCRIBE_SECRET }}
@@CREDENTIALS@@    steps:
@@INSTALL@@      - name: Send every issue whose send_at has come (nothing due exits 0)
        run: newsletter send --due --list "$NEWSLETTER_LIST" --yes
"""


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", value)
    return text


def github_workflow(provider: str, workspace_dir: str = ".") -> str:
    """Return the workflow for a workspace at workspace_dir (relative to the repository)."""
    names = CREDENTIALS.get(provider, ())
    prefix = "" if workspace_dir in ("", ".") else workspace_dir.rstrip("/") + "/"
    defaults = f"\ndefaults:\n  run:\n    working-directory: {workspace_dir}\n" if prefix else ""
    credentials = "".join(f"      {n}: ${{{{ secrets.{n} }}}}\n" for n in names)
    parts = {
        "INSTALL": INSTALL,
        "INSTALL_PDF": INSTALL_PDF,
        "PDF_PACKAGES": PDF_PACKAGES,
        "PREFIX": prefix,
        "CREDENTIALS": credentials,
        "DEFAULTS": defaults,
        "VERSION": __version__,
        "SECRET_NAMES": "".join(f", {n}" for n in names),
    }
    return _fill(_fill(HEADER + REVIEW + ARCHIVE + SEND, parts), parts)


def repository_root(folder: Path) -> Path:
    """Return the top of the git repository holding folder, or folder itself outside git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except OSError:  # no git on this machine
        return folder
    return Path(done.stdout.strip()) if done.returncode == 0 else folder


def write_github_workflow(workspace_root: Path, provider: str) -> Path:
    """Write .github/workflows/newsletter.yml at the top of the workspace's repository."""
    root = repository_root(workspace_root.resolve()).resolve()
    path = root / WORKFLOW
    if path.exists():
        raise WorkspaceError(f"{path} exists already; nothing was overwritten")
    relative = workspace_root.resolve().relative_to(root).as_posix()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(github_workflow(provider, relative), encoding="utf-8")
    return path
