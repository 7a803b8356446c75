"""Build the archive: render changed issues in parallel, then write the index and the feed."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.archive.inputs import (
    copy_if_changed,
    image_sources,
    issue_fingerprint,
    shared_fingerprint,
)
from newsletter.errors import BuildError, Diagnostic, NewsletterError
from newsletter.loader import LoadedIssue, load_workspace, require_issue
from newsletter.workspace import CONFIG_NAME, Workspace

MANIFEST = ".build-manifest.json"

Progress = Callable[[str], None]


@dataclass
class BuildReport:
    """What a build did."""

    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0


def build_issue(root: str, slug: str, out: str) -> list[Diagnostic]:
    """Write one issue's web page and PDF into out/<slug>/ (runs in a worker process)."""
    from newsletter.render.pdf import write_issue_pdf
    from newsletter.render.web import render_web_page

    workspace = Workspace(Path(root))
    # Warnings of the issue were reported when the build loaded it; only new ones count here.
    series, loaded, _warnings = require_issue(workspace, slug)
    folder = Path(out) / slug
    folder.mkdir(parents=True, exist_ok=True)
    page = render_web_page(workspace, series, loaded)
    (folder / "index.html").write_text(page, encoding="utf-8")
    _pdf, diagnostics = write_issue_pdf(workspace, series, loaded, Path(out))
    return diagnostics


def _safe_target(workspace: Workspace, out: Path) -> Path:
    out = out.resolve()
    if out == workspace.root or (out / CONFIG_NAME).exists() or out in workspace.root.parents:
        raise BuildError(f"refusing to build into {out}: it would overwrite the workspace")
    return out


def _read_manifest(out: Path) -> dict[str, str]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _render(
    workspace: Workspace, out: Path, slugs: list[str], jobs: int, progress: Progress | None
) -> tuple[list[str], list[Diagnostic]]:
    """Render slugs, in worker processes when there are several; return failures and notes."""
    failed: list[str] = []
    notes: list[Diagnostic] = []

    def record(slug: str, outcome: list[Diagnostic] | NewsletterError) -> None:
        if isinstance(outcome, NewsletterError):
            failed.append(slug)
            notes.extend(outcome.diagnostics or [Diagnostic(slug, 1, 1, outcome.message)])
        else:
            notes.extend(outcome)
        if progress:
            progress(slug)

    if jobs <= 1 or len(slugs) <= 1:  # a pool costs more than one issue takes
        for slug in slugs:
            try:
                record(slug, build_issue(str(workspace.root), slug, str(out)))
            except NewsletterError as exc:
                record(slug, exc)
        return failed, notes
    with ProcessPoolExecutor(max_workers=min(jobs, len(slugs))) as pool:
        futures = {pool.submit(build_issue, str(workspace.root), s, str(out)): s for s in slugs}
        for future in as_completed(futures):
            try:
                record(futures[future], future.result())
            except NewsletterError as exc:
                record(futures[future], exc)
    return failed, notes


def build_site(
    workspace: Workspace,
    out: Path | None = None,
    *,
    jobs: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> BuildReport:
    """Build every issue into a static site; re-render only issues whose inputs changed."""
    from newsletter.archive.site import write_feed, write_index

    started = time.perf_counter()
    out = _safe_target(workspace, out or workspace.root / "site")
    series, issues, diagnostics = load_workspace(workspace)
    if series is None or any(d.is_error for d in diagnostics):
        raise BuildError("fix these problems before building the archive", diagnostics)
    report = BuildReport(diagnostics=list(diagnostics))
    manifest = {} if force else _read_manifest(out)
    shared = shared_fingerprint(workspace)
    wanted = {i.slug: issue_fingerprint(workspace, series, i, shared) for i in issues}
    stale = [
        s
        for s, fp in wanted.items()
        if manifest.get(s) != fp or not (out / s / "index.html").is_file()
    ]
    report.unchanged = sorted(set(wanted) - set(stale))
    if on_plan:
        on_plan(len(stale))
    out.mkdir(parents=True, exist_ok=True)
    failed, notes = _render(workspace, out, stale, jobs or os.cpu_count() or 1, progress)
    report.diagnostics += notes
    report.built = sorted(set(stale) - set(failed))
    for slug in sorted(set(manifest) - set(wanted)):
        shutil.rmtree(out / slug, ignore_errors=True)
        report.removed.append(slug)
    _copy_images(workspace, series, issues, out)
    write_index(workspace, series, issues, out)
    write_feed(workspace, series, issues, out)
    kept = {s: fp for s, fp in wanted.items() if s not in failed}
    (out / MANIFEST).write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")
    report.seconds = time.perf_counter() - started
    if failed:
        raise BuildError(
            f"{len(failed)} issue(s) failed to build: {', '.join(failed)}", report.diagnostics
        )
    return report


def _copy_images(workspace: Workspace, series, issues: list[LoadedIssue], out: Path) -> None:
    """Publish workspace images at the same relative path, where email links point."""
    for loaded in issues:
        for src in image_sources(series, loaded):
            copy_if_changed(workspace.resolve(src), out / src)
