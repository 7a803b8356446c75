"""Build the archive: render changed issues in parallel, then write the index and the feed."""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.archive.inputs import (
    ImageDigests,
    InputRecord,
    copy_if_changed,
    image_sources,
    issue_fingerprint,
    shared_fingerprint,
)
from newsletter.errors import (
    BuildError,
    Diagnostic,
    NewsletterError,
    WorkspaceError,
    display_path,
)
from newsletter.workspace import CONFIG_NAME, Workspace

if TYPE_CHECKING:
    # concurrent.futures.process loads multiprocessing (30 ms): only builds that print do.
    from concurrent.futures import Executor, Future, ProcessPoolExecutor

    from newsletter.loader import LoadedIssue
    from newsletter.render.pdf import PdfJob, PdfResult
    from newsletter.render.pdfworker import WorkerClient

    # Where PDFs print (None: in this process) and the function that prints one.
    Printer = tuple[Executor | None, Callable[[PdfJob], PdfResult]]

MANIFEST = ".build-manifest.json"
WORKER_MAX = 3  # stale issues up to which the warm PDF worker beats a pool of new ones

Progress = Callable[[str], None]


@dataclass
class BuildReport:
    """What a build did."""

    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)  # left out: `build --drafts` includes them
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unchanged_warnings: int = 0  # warnings of issues not rebuilt: `newsletter check` lists them
    seconds: float = 0.0


def _warm(lang: str) -> None:
    """Ready a worker for printing while the parent still loads the issues.

    Importing WeasyPrint and its hyphenation dictionary takes about 0.45 s; a one-issue
    rebuild would otherwise wait for it after the loading.
    """
    from newsletter.render.pdf import warm_up

    warm_up(lang)


def _warm_pool(workspace: Workspace, workers: int) -> ProcessPoolExecutor:
    """Start workers now, each readying WeasyPrint, so a small rebuild waits less."""
    # A regex guess, not the model: pydantic is not imported yet.
    from concurrent.futures import ProcessPoolExecutor

    from newsletter.render.pdf import language_guess

    pool = ProcessPoolExecutor(max_workers=workers)
    for _ in range(workers):
        pool.submit(_warm, language_guess(workspace))
    return pool


def _stale_guess(workspace: Workspace, out: Path, issue_paths: list[Path]) -> int | None:
    """Guess from file times how many issues need rendering; None means possibly all.

    Only a guess to size the warm pool before loading: on two cores, a spare worker
    importing WeasyPrint for nothing slows the one that has the edited issue.
    """
    try:
        built = (out / MANIFEST).stat().st_mtime
    except OSError:
        return None
    folders = (workspace.templates_dir, workspace.root / "images")
    shared = [workspace.config_path, *(p for f in folders if f.is_dir() for p in f.rglob("*"))]
    if any(p.stat().st_mtime > built for p in shared if p.is_file()):
        return None
    return sum(p.stat().st_mtime > built for p in issue_paths)


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
    """Render stale issues: pages in this process, PDFs in workers (in process with one job).

    WeasyPrint is the only slow part, so workers do nothing else: they need no model and
    no templates, and start printing as soon as the first print HTML is ready.
    """

    def __init__(self, printer: Printer, progress: Progress | None):
        self.pool, self.print = printer
        self.progress = progress
        self.failed: list[str] = []
        self.notes: list[Diagnostic] = []
        self.printing: dict[Future, LoadedIssue] = {}
        self.queued: list[tuple[LoadedIssue, PdfJob]] = []
        self.paged: set[str] = set()  # web page written
        self.printed: set[str] = set()  # PDF written

    def finished(self) -> set[str]:
        """Return the slugs whose page and PDF are both written."""
        return (self.paged & self.printed) - set(self.failed)

    def start(self, workspace: Workspace, series, issues: list[LoadedIssue], out: Path) -> None:
        """Hand each issue's print HTML to a worker, then write the web pages meanwhile."""
        if not issues:
            return
        from newsletter.render.pdf import issue_pdf_job
        from newsletter.render.web import render_web_page

        # PDFs first: they are the slow part, and a worker may be waiting already.
        printable = []
        for loaded in issues:
            try:
                job = issue_pdf_job(workspace, series, loaded, out)
            except NewsletterError as exc:
                self._record(loaded, exc)
                continue
            printable.append(loaded)
            if self.pool is None:
                self.queued.append((loaded, job))
            else:
                self.printing[self.pool.submit(self.print, job)] = loaded
        for loaded in printable:
            try:
                page = render_web_page(workspace, series, loaded)
            except NewsletterError as exc:
                self._fail(loaded, exc)  # progress moves when its PDF is done
                continue
            folder = out / loaded.slug
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "index.html").write_text(page, encoding="utf-8")
            self.paged.add(loaded.slug)

    def _record(self, loaded: LoadedIssue, outcome: PdfResult | NewsletterError) -> None:
        from newsletter.render.pdf import pdf_diagnostics

        if isinstance(outcome, NewsletterError):
            self._fail(loaded, outcome)
        else:
            self.printed.add(loaded.slug)
            self.notes.extend(pdf_diagnostics(loaded, outcome))
        if self.progress:
            self.progress(loaded.slug)

    def _fail(self, loaded: LoadedIssue, error: NewsletterError) -> None:
        if loaded.slug not in self.failed:
            self.failed.append(loaded.slug)
        where = display_path(loaded.path)
        self.notes.extend(error.diagnostics or [Diagnostic(where, 1, 1, error.message)])

    def finish(self) -> tuple[list[str], list[Diagnostic]]:
        """Wait for every PDF; return the slugs that failed and the diagnostics."""
        if not self.queued and not self.printing:  # nothing was stale
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
            return self.failed, self.notes
        from concurrent.futures import as_completed

        try:
            for loaded, job in self.queued:
                try:
                    self._record(loaded, self.print(job))
                except NewsletterError as exc:
                    self._record(loaded, exc)
            for future in as_completed(self.printing):
                try:
                    self._record(self.printing[future], future.result())
                except NewsletterError as exc:
                    self._record(self.printing[future], exc)
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)
        return self.failed, self.notes


def _printer_for(
    workspace: Workspace,
    stale: int,
    jobs: int,
    warm: ProcessPoolExecutor | None,
    warmed: int,
    worker: WorkerClient | None,
) -> Printer:
    """Return where to print stale PDFs: the warm worker, the warm pool, a new pool, here."""
    from newsletter.render.pdf import print_pdf

    if worker is None and warm is None:
        worker = _pdf_worker(workspace, stale)
    if worker is not None and 0 < stale <= WORKER_MAX:
        if warm is not None:
            warm.shutdown(wait=False, cancel_futures=True)
        from concurrent.futures import ThreadPoolExecutor

        # One thread waits on the worker while this one writes the pages, index and feed.
        return ThreadPoolExecutor(max_workers=1), worker.print_anywhere
    workers = min(jobs, stale)
    if warm is not None:
        if stale and warmed >= workers:
            return warm, print_pdf
        # Nothing to print, or the guess was low (outputs deleted by hand, say): more
        # workers beat warm ones.
        warm.shutdown(wait=False, cancel_futures=True)
    # Even for one issue: it prints while this process writes the index and the feed.
    if jobs > 1 and stale:
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=workers), print_pdf
    return None, print_pdf


def _pdf_worker(workspace: Workspace, stale_guess: int | None) -> WorkerClient | None:
    """Return the warm PDF worker for a small rebuild (started now if none answers).

    One warm process prints a few issues sooner than fresh workers import WeasyPrint
    (0.3 s each, against 0.25 s to print an issue); a bigger build uses the pool.
    """
    if stale_guess is None or not 0 < stale_guess <= WORKER_MAX:
        return None
    from newsletter.render import pdfworker
    from newsletter.render.pdf import language_guess

    return pdfworker.client_for(workspace, language_guess(workspace))


def build_site(
    workspace: Workspace,
    out: Path | None = None,
    *,
    jobs: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
    on_plan: Callable[[int], None] | None = None,
    drafts: bool = False,
) -> BuildReport:
    """Build every issue into a static site; re-render only issues whose inputs changed.

    Drafts (draft: true) are left out of the site and the feed unless drafts=True.
    """
    started = time.perf_counter()
    out = _safe_target(workspace, out or workspace.root / "site")
    jobs = jobs or os.cpu_count() or 1
    paths = workspace.issue_paths()
    # Whether each issue's page and PDF exist, asked once: 500 issues, two questions each.
    missing = functools.cache(functools.partial(_missing, out))
    # The guess comes first: a PDF worker that must start imports WeasyPrint (0.3 s) on
    # the other core while this one finds out what changed. A guess of nothing to print
    # (the no-op build) starts nothing.
    guess = None if force else _stale_guess(workspace, out, paths)
    worker = _pdf_worker(workspace, guess)
    if not force and (same := _nothing_changed(workspace, out, paths, missing)) is not None:
        same.seconds = time.perf_counter() - started
        return same
    warmed = 0 if worker else min(jobs, len(paths) if guess is None else guess)
    pool = _warm_pool(workspace, warmed) if jobs > 1 and warmed else None
    try:
        # Imported after the workers fork, so they start on WeasyPrint without first
        # waiting for pydantic and the renderers (about 0.15 s on a one-issue rebuild).
        from newsletter.loader import load_workspace

        series, issues, diagnostics = load_workspace(workspace)
        if series is None or any(d.is_error for d in diagnostics):
            raise BuildError("fix these problems before building the archive", diagnostics)
    except BaseException:
        if pool:
            pool.shutdown(cancel_futures=True)
        raise
    left_out = [] if drafts else [i for i in issues if i.issue.draft]
    issues = [i for i in issues if i not in left_out]
    # A draft's problems are for `newsletter check`; it is not published.
    diagnostics = [d for d in diagnostics if d.path not in {i.source.path for i in left_out}]
    manifest = {} if force else _read_manifest(out)
    shared = shared_fingerprint(workspace)
    images = ImageDigests(workspace)
    wanted = {i.slug: issue_fingerprint(workspace, series, i, shared, images) for i in issues}
    stale = [i for i in issues if manifest.get(i.slug) != wanted[i.slug] or missing(i.slug)]
    stale_slugs = {i.slug for i in stale}
    # In an archive of hundreds, repeating every old issue's warnings on each build buries
    # the ones about the issue just edited; those of unchanged issues are only counted.
    quiet = {i.source.path for i in issues if i.slug not in stale_slugs}
    report = BuildReport(diagnostics=[d for d in diagnostics if d.path not in quiet])
    report.unchanged_warnings = len(diagnostics) - len(report.diagnostics)
    report.unchanged = sorted(set(wanted) - stale_slugs)
    report.drafts = sorted(i.slug for i in left_out)
    out.mkdir(parents=True, exist_ok=True)
    printer = _printer_for(workspace, len(stale), jobs, pool, warmed, worker)
    rendering = _Rendering(printer, progress)
    if on_plan:  # after any fork: a progress bar runs a thread
        on_plan(len(stale))
    # Nothing to render and the same issues as last time: the index and the feed, made
    # only from what the fingerprints cover, are already right. A no-op rebuild of 500
    # issues then neither loads the templates nor reads 500 feed entries.
    same_site = not stale and manifest == wanted and _shared_pages_exist(out)
    try:
        try:
            rendering.start(workspace, series, stale, out)
            _copy_images(workspace, series, issues, out)
            if not same_site:
                from newsletter.archive.site import Feed, feed_contents, write_index

                write_index(workspace, series, issues, out)
                contents = feed_contents(workspace, series, issues, wanted)
                feed = Feed(series, issues, contents, out)  # while the PDFs print
        finally:
            failed, notes = rendering.finish()
    except BaseException:
        # Interrupted (Ctrl-C, a crash): record what is finished, so the next build
        # renders only the rest instead of starting over.
        done = {s: wanted[s] for s in rendering.finished()}
        unchanged = {s: manifest[s] for s in report.unchanged}
        with suppress(OSError):  # never hide the interruption behind a write error
            _write_manifest(out, {**unchanged, **done})
        raise
    if not same_site:
        feed.write()
    report.diagnostics += notes
    report.built = sorted(stale_slugs - set(failed))
    for slug in sorted(set(manifest) - set(wanted)):
        shutil.rmtree(out / slug, ignore_errors=True)
        report.removed.append(slug)
    if not same_site:
        _write_manifest(out, {s: fp for s, fp in wanted.items() if s not in failed})
    if not failed:
        sources = {i.slug: image_sources(series, i) for i in issues}
        InputRecord.write(out, shared, sources, diagnostics, display_path(workspace.config_path))
    report.seconds = time.perf_counter() - started
    if failed:
        raise BuildError(
            f"{len(failed)} issue(s) failed to build: {', '.join(failed)}", report.diagnostics
        )
    return report


def _write_manifest(out: Path, fingerprints: dict[str, str]) -> None:
    text = json.dumps(fingerprints, indent=1, sort_keys=True)
    (out / MANIFEST).write_text(text, encoding="utf-8")


def _missing(out: Path, slug: str) -> bool:
    """Return True when a page or PDF of the issue is gone from the site (deleted by hand)."""
    from newsletter.render.pdf import issue_pdf_path

    return not ((out / slug / "index.html").is_file() and issue_pdf_path(out, slug).is_file())


def _nothing_changed(
    workspace: Workspace, out: Path, paths: list[Path], missing: Callable[[str], bool]
) -> BuildReport | None:
    """Return the report of a no-op build if no input changed since the last one, else None."""
    manifest = _read_manifest(out)
    if not manifest or not _shared_pages_exist(out):
        return None
    if any(missing(slug) for slug in manifest):
        return None
    found = InputRecord.unchanged(workspace, out, paths, manifest)
    if found is None:
        return None
    settings_warnings, issue_warnings = found
    report = BuildReport(unchanged=sorted(manifest), diagnostics=settings_warnings)
    report.unchanged_warnings = issue_warnings  # as a build that renders nothing counts them
    return report


def _shared_pages_exist(out: Path) -> bool:
    return (out / "index.html").is_file() and (out / "feed.xml").is_file()


def _copy_images(workspace: Workspace, series, issues: list[LoadedIssue], out: Path) -> None:
    """Publish workspace images at the same relative path, where email links point.

    Each goes through the workspace's resolver again, so a symlink swapped in after
    the check still never publishes a file from outside the workspace.
    """
    copied: set[str] = set()  # once each: 500 issues may share one logo
    for loaded in issues:
        for src in image_sources(series, loaded):
            if src in copied:
                continue
            copied.add(src)
            try:
                path = workspace.contained(src)
            except WorkspaceError as exc:
                raise BuildError(f"{display_path(loaded.path)}: {exc.message}") from None
            copy_if_changed(path, out / src)
