"""Mutation testing of the modules that hold the guarantees, with only their own tests.

Run as `make mutation` (or `python scripts/mutation.py [NAME ...]`). For each module below,
mutmut makes one-line bugs in it and runs the test files named beside it (mutmut then picks,
per mutant, only the tests that reach the mutated function). A mutant the tests do not
catch "survives": kill it with a test, or list it in tests/MUTANTS.md with the reason it is
equivalent. The score is killed / (total - listed as equivalent); the goal is 90% each.

Each module runs in a throw-away copy of the tracked files, so the work tree is never
touched and the modules can be run one at a time from the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.90

# name -> (the files mutated, the test files that guard them). An entry starting with "-" is
# a pytest option for every run of that module (e.g. "-k", "not postgresql").
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "unsubscribe tokens": (
        ["src/newsletter/send/unsubscribe.py"],
        ["tests/send/test_unsubscribe.py"],
    ),
    "ledger": (
        ["src/newsletter/send/ledger.py"],
        ["tests/send/test_ledger.py", "tests/send/test_providers_local.py"],
    ),
    "state stores": (
        ["src/newsletter/state/base.py", "src/newsletter/state/sqlite.py",
         "src/newsletter/state/postgres.py"],
        ["tests/send/test_stores.py", "tests/send/test_ledger.py",
         "tests/send/test_suppression.py", "tests/send/test_state.py"],
    ),
    "engine": (
        ["src/newsletter/send/engine.py"],
        # In-process tests with a scripted provider: the HTTP fault tests
        # (test_faults.py) take seconds per mutant, hours for the module.
        ["tests/send/test_engine.py"],
    ),
    "job": (
        ["src/newsletter/send/job.py"],
        # SQLite only: the job is the same on either store (the stores have their own
        # entry), and each test then runs once, not twice.
        ["tests/send/test_job.py", "tests/send/test_providers_local.py",
         "tests/send/test_faults.py", "-k", "not postgresql"],
    ),
    "reconcile": (
        ["src/newsletter/send/reconcile.py"],
        # In-process, a scripted search and a clock the test moves: test_reconcile.py
        # starts provider servers and PostgreSQL, and waits out real settle delays.
        ["tests/send/test_reconcile_steps.py"],
    ),
    "serve": (
        ["src/newsletter/serve/app.py", "src/newsletter/serve/webhooks.py",
         "src/newsletter/serve/sns.py"],
        # The app in-process: mutmut switches mutants inside the test process, so the tests
        # that start `newsletter serve` as a process of its own (test_unsubscribe_page.py,
        # test_webhooks.py, the load test) would never see one.
        ["tests/serve/test_app.py", "tests/serve/test_webhooks_app.py",
         "tests/serve/test_webhooks_sendgrid.py", "tests/serve/test_webhooks_ses.py"],
    ),
    "escaping": (
        ["src/newsletter/markup.py", "src/newsletter/render/templates.py"],
        ["tests/test_markup.py", "tests/test_fuzz.py", "tests/render/test_templating.py",
         "tests/render/test_email.py"],
    ),
    "YAML source checks": (
        ["src/newsletter/source.py"],
        ["tests/test_source.py"],
    ),
    "size limit": (
        ["src/newsletter/render/size.py"],
        ["tests/render/test_email.py"],
    ),
}  # fmt: skip

# Files a test run needs beside src/ and tests/ (the sample workspace, the README's checks).
ALSO_COPY = ["README.md", "newsletter.yaml", "issues", "templates", "images", "seeds",
             "schemas", "subscribers.csv", "package.json", "scripts", "bench"]  # fmt: skip


def equivalents() -> set[str]:
    """Return the mutants tests/MUTANTS.md lists as equivalent (by their mutmut names)."""
    path = ROOT / "tests" / "MUTANTS.md"
    if not path.exists():
        return set()
    return set(re.findall(r"`(newsletter\.[^`]+__mutmut_\d+)`", path.read_text("utf-8")))


def copy_tree(dest: Path) -> None:
    """Copy the files git tracks (as they are in the work tree) into dest."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    modules = ROOT / "node_modules"
    if modules.exists():  # the judges some tests call; a link, not a copy
        (dest / "node_modules").symlink_to(modules)
    shared = ROOT.parent / "shared"
    if shared.exists() and not (dest.parent / "shared").exists():
        (dest.parent / "shared").symlink_to(shared)


def split_options(tests: list[str]) -> tuple[list[str], list[str]]:
    """Split a module's test list into its test files and its pytest options."""
    files: list[str] = []
    options: list[str] = []
    items = iter(tests)
    for item in items:
        if not item.startswith("-"):
            files.append(item)
            continue
        options.append(item)
        if item in ("-k", "-m"):  # the option's value follows it
            options.append(next(items))
    return files, options


def configure(work: Path, mutated: list[str], tests: list[str]) -> None:
    """Append mutmut's settings for one module to the copy's pyproject.toml."""
    others = sorted(
        str(p.relative_to(work)) for p in (work / "src").rglob("*.py")
        if str(p.relative_to(work)) not in mutated
    )  # fmt: skip
    quoted = lambda items: "[" + ", ".join(json.dumps(i) for i in items) + "]"  # noqa: E731
    files, options = split_options(tests)
    settings = f"""
[tool.mutmut]
source_paths = ["src/"]
do_not_mutate = {quoted(others)}
also_copy = {quoted([*ALSO_COPY, "tests"])}
pytest_add_cli_args_test_selection = {quoted(files)}
pytest_add_cli_args = {quoted(["-p", "no:cacheprovider", "-q", "-x", *options])}
"""
    with open(work / "pyproject.toml", "a", encoding="utf-8") as f:
        f.write(settings)


def run_module(name: str, mutated: list[str], tests: list[str], keep: set[str]) -> dict:
    """Mutate one module in a fresh copy; return its counts and surviving mutants."""
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp) / "repo"
        copy_tree(work)
        configure(work, mutated, tests)
        # The mutated package must come first on the path, and the folder must exist before
        # Python starts: a path entry missing at start-up is cached as "nothing here".
        (work / "mutants" / "src").mkdir(parents=True)
        # mutmut runs the tests inside mutants/, which its also_copy fills; the judges and
        # Prism the tests start live in node_modules, too big to copy: link it there too.
        if (work / "node_modules").exists():
            (work / "mutants" / "node_modules").symlink_to(work / "node_modules")
        # One PostgreSQL server for the whole module: a test process would start its own
        # for every mutant (seconds each), and leave it running when a timeout kills it.
        server, shared = start_postgres()
        try:
            return run_mutmut(name, work, shared, tests, keep)
        finally:
            if server is not None:
                server.stop()


def start_postgres() -> tuple[object | None, dict[str, str]]:
    """Start the tests' PostgreSQL server; return it and the variable that shares it."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers import postgres

    if not (postgres.BIN / "initdb").is_file():
        return None, {}
    server = postgres.PostgresServer()
    return server, {postgres.SHARED: server.url}


def run_mutmut(name: str, work: Path, shared: dict, tests: list[str], keep: set[str]) -> dict:
    """Run mutmut in the prepared copy; return the module's counts and survivors."""
    # A mutant is "killed" when a test fails: with a test that fails anyway, every
    # mutant would be, so the module's tests must pass on the unmutated code first.
    clean = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=work, capture_output=True, text=True, env={**os.environ, **shared},
    )  # fmt: skip
    if clean.returncode != 0:
        tail = clean.stdout[-3000:]
        raise SystemExit(f"mutation: the tests of {name} fail without mutants:\n{tail}")
    env = {**os.environ, **shared, "PYTHONPATH": str(work / "mutants" / "src")}
    mutmut = [sys.executable, "-m", "mutmut"]
    started = time.monotonic()
    run = subprocess.run([*mutmut, "run"], cwd=work, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    listing = subprocess.run(
        [*mutmut, "results"], cwd=work, env=env, capture_output=True, text=True
    ).stdout
    survivors = re.findall(r"^\s*(\S+): (?:survived|no tests)$", listing, re.MULTILINE)
    diffs = {}
    for mutant in survivors:  # what each one changed, to judge it without re-running
        shown = subprocess.run(
            [*mutmut, "show", mutant], cwd=work, env=env, capture_output=True, text=True
        ).stdout
        diffs[mutant] = [line for line in shown.splitlines() if line[:2] in ("- ", "+ ")]
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, env=env, capture_output=True)
    stats_file = work / "mutants" / "mutmut-cicd-stats.json"
    # mutmut runs the tests once more itself, first tracing which test reaches which
    # function (much slower code: a timing test can fail there) and then clean; a
    # failure in either checks no mutant at all, and an unchecked mutant must never
    # count as killed, so any non-zero exit, or a mutant neither killed nor survived,
    # stops here.
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    caught = sum(stats.get(k, 0) for k in ("killed", "timeout", "segfault"))
    unexplained = stats.get("total", 0) - caught - len(survivors)
    if run.returncode != 0 or not stats or unexplained:
        tail = (run.stdout + run.stderr)[-2000:]
        raise SystemExit(
            f"mutation: mutmut did not check every mutant of {name} "
            f"({unexplained} neither killed nor survived):\n{tail}"
        )
    equivalent = [s for s in survivors if s in keep]
    live = [s for s in survivors if s not in keep]
    counted = stats["total"] - len(equivalent)
    return {
        "module": name,
        "total": stats["total"],
        "killed": caught,
        "equivalent": len(equivalent),
        "survived": live,
        "diffs": {m: diffs[m] for m in live},
        "score": caught / counted if counted else 1.0,
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="modules to run (default: all)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; choose from {', '.join(MODULES)}")
    keep = equivalents()
    results = []
    for name in args.names or list(MODULES):
        mutated, tests = MODULES[name]
        mutated = [m for m in mutated if (ROOT / m).exists()]
        files, options = split_options(tests)
        files = [t for t in files if (ROOT / t).exists()]
        tests = [*files, *options]
        if not mutated or not files:
            print(f"mutation: {name}: not in this tree yet, left out")
            continue
        print(f"mutation: {name} ({', '.join(mutated)}) ...", flush=True)
        results.append(run_module(name, mutated, tests, keep))
    print()
    print(f"| {'module':<20} | mutants | killed | equivalent | survived | score | time |")
    print(f"|{'-' * 22}|--------:|-------:|-----------:|---------:|------:|-----:|")
    for r in results:
        print(
            f"| {r['module']:<20} | {r['total']:>7} | {r['killed']:>6} | {r['equivalent']:>10} "
            f"| {len(r['survived']):>8} | {r['score']:>5.0%} | {r['seconds']:>3.0f}s |"
        )
    for r in results:
        for mutant in r["survived"]:
            print(f"survived: {mutant}")
            for line in r["diffs"][mutant]:
                print(f"    {line}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    below = [r["module"] for r in results if r["score"] < GOAL]
    if below:
        print(f"mutation: below {GOAL:.0%}: {', '.join(below)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
