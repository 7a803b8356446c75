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
    unchanged_warnings: int = 0  # warnings of issues not rebuilt: `newsletter check` lists them
    seconds: float = 0.0


def build_issue(root: str, slug: str, out: str) -> list[Diagnostic]:
    """Write one issue's web page and PDF into out/<slug>/ (runs in a worker process)."""
    from newsletter.render.pdf import write_issue_pdf
    from newsletter.render.web import render_web_page

    workspace = Workspace(Path(root))
    # Warnings of the issue were reported when the build loaded it; only new ones count here.
    series, loaded, _warnings = require_issue(workspace, slug, clashes=False)
    folder = Path(out) / slug
    folder.mkdir(parents=True, exist_ok=True)
    page = render_web_page(workspace, series, loaded)
    (folder / "index.html").write_text(page, encoding="utf-8")
    _pdf, diagnostics = write_issue_pdf(workspace, series, loaded, Path(out))
    return diagnostics


def _warm() -> None:
    """Import the renderers in a worker while the parent still loads the issues.

    WeasyPrint alone takes about 0.6 s to import (it parses Pango's C declarations
    with cffi); a one-issue rebuild would otherwise wait for it after the loading.
    """
    from newsletter.render.email import import_premailer
    from newsletter.render.pdf import import_weasyprint

    import_weasyprint()
    import_premailer()


def _warm_pool(jobs: int) -> ProcessPoolExecutor:
    """Start the workers now, each importing WeasyPrint, so a one-issue rebuild waits less."""
    pool = ProcessPoolExecutor(max_workers=jobs)
    for _ in range(jobs):
        pool.submit(_warm)
    return pool


def _inputs_touched(workspace: Workspace, out: Path) -> bool:
    """Return True when a workspace input is newer than the last build (a cheap first guess)."""
    try:
        built = (out / MANIFEST).stat().st_mtime
    except OSError:
        return True
    folders = (workspace.issues_dir, workspace.templates_dir, workspace.root / "images")
    paths = [workspace.config_path, *(p for f in folders if f.is_dir() for p in f.rglob("*"))]
    return any(p.stat().st_mtime > built for p in paths if p.is_file())


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


class _Rendering:
    """Render stale issues: worker processes start at once; with one job, in process at finish."""

    def __init__(
        self,
        workspace: Workspace,
        out: Path,
        slugs: list[str],
        jobs: int,
        progress: Progress | None,
        pool: ProcessPoolExecutor | None = None,
    ):
        self.args = (str(workspace.root), str(out))
        self.slugs = slugs
        self.progress = progress
        self.failed: list[str] = []
        self.notes: list[Diagnostic] = []
        self.pool: ProcessPoolExecutor | None = pool
        self.futures: dict = {}
        if jobs > 1 and slugs:
            # Even for one issue: it renders while this process writes the index and feed.
            self.pool = pool or ProcessPoolExecutor(max_workers=min(jobs, len(slugs)))
            self.futures = {
                self.pool.submit(build_issue, self.args[0], s, self.args[1]): s for s in slugs
            }

    def _record(self, slug: str, outcome: list[Diagnostic] | NewsletterError) -> None:
        if isinstance(outcome, NewsletterError):
            self.failed.append(slug)
            self.notes.extend(outcome.diagnostics or [Diagnostic(slug, 1, 1, outcome.message)])
        else:
            self.notes.extend(outcome)
        if self.progress:
            self.progress(slug)

    def finish(self) -> tuple[list[str], list[Diagnostic]]:
        """Wait for every issue; return the slugs that failed and the diagnostics."""
        if not self.futures:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
                self.pool = None
            for slug in self.slugs:
                try:
                    self._record(slug, build_issue(self.args[0], slug, self.args[1]))
                except NewsletterError as exc:
                    self._record(slug, exc)
            return self.failed, self.notes
        try:
            for future in as_completed(self.futures):
                try:
                    self._record(self.futures[future], future.result())
                except NewsletterError as exc:
                    self._record(self.futures[future], exc)
        finally:
            self.pool.shutdown(cancel_futures=True)
        return self.failed, self.notes


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
    from newsletter.archive.site import feed_contents, write_feed, write_index

    started = time.perf_counter()
    out = _safe_target(workspace, out or workspace.root / "site")
    jobs = jobs or os.cpu_count() or 1
    pool = _warm_pool(jobs) if jobs > 1 and (force or _inputs_touched(workspace, out)) else None
    try:
        series, issues, diagnostics = load_workspace(workspace)
    except BaseException:
        if pool:
            pool.shutdown(cancel_futures=True)
        raise
    if series is None or any(d.is_error for d in diagnostics):
        if pool:
            pool.shutdown(cancel_futures=True)
        raise BuildError("fix these problems before building the archive", diagnostics)
    manifest = {} if force else _read_manifest(out)
    shared = shared_fingerprint(workspace)
    wanted = {i.slug: issue_fingerprint(workspace, series, i, shared) for i in issues}
    stale = [
        s
        for s, fp in wanted.items()
        if manifest.get(s) != fp or not (out / s / "index.html").is_file()
    ]
    # In an archive of hundreds, repeating every old issue's warnings on each build buries
    # the ones about the issue just edited; those of unchanged issues are only counted.
    quiet = {i.source.path for i in issues if i.slug not in stale}
    report = BuildReport(diagnostics=[d for d in diagnostics if d.path not in quiet])
    report.unchanged_warnings = len(diagnostics) - len(report.diagnostics)
    report.unchanged = sorted(set(wanted) - set(stale))
    if on_plan:
        on_plan(len(stale))
    out.mkdir(parents=True, exist_ok=True)
    rendering = _Rendering(workspace, out, stale, jobs, progress, pool)
    try:
        _copy_images(workspace, series, issues, out)
        write_index(workspace, series, issues, out)
        contents = feed_contents(workspace, series, issues, wanted)
    finally:
        failed, notes = rendering.finish()
    write_feed(series, issues, contents, out)
    report.diagnostics += notes
    report.built = sorted(set(stale) - set(failed))
    for slug in sorted(set(manifest) - set(wanted)):
        shutil.rmtree(out / slug, ignore_errors=True)
        report.removed.append(slug)
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
