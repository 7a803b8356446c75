"""Write the archival PDF of an issue from its print HTML with WeasyPrint (PDF/A-3b, tagged).

WeasyPrint is imported only here, lazily, so the CLI starts instantly. The PDF is built
offline: only files inside the workspace are read. Remote (http/https) images are not
fetched, because an archive must not depend on, or leak readers to, a server that may be
gone; each one is reported as a warning and printed as its alternative text. Download
the image into the workspace (images/) to include it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from newsletter.errors import Diagnostic, RenderError, Severity, display_path

if TYPE_CHECKING:
    from collections.abc import Iterator

    from newsletter.loader import LoadedIssue
    from newsletter.model import Series
    from newsletter.workspace import Workspace

PDF_VARIANT = "pdf/a-3b"
_NOTDEF = re.compile(r"^\.notdef glyph rendered for Unicode string unsupported by fonts")


def _fetcher_class():
    """Return a WeasyPrint URL fetcher that reads workspace files and nothing else."""
    from weasyprint.urls import URLFetcher

    class WorkspaceFetcher(URLFetcher):
        def __init__(self, root: Path):
            from newsletter.workspace import Workspace

            super().__init__(allowed_protocols=("file", "data"))
            self.workspace = Workspace(root)
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            if parts.scheme == "file":
                if not self.workspace.contains(Path(unquote(parts.path))):
                    self.refused.append(url)
                    raise ValueError(f"{url} is outside the workspace")
            elif parts.scheme != "data":
                self.refused.append(url)
                raise ValueError(f"{url} is not fetched: the PDF is built offline")
            return super().fetch(url, headers)

    return WorkspaceFetcher


class _Collect(logging.Handler):
    """Keep WeasyPrint's warnings so they become diagnostics instead of stderr noise."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _weasyprint_warnings() -> Iterator[_Collect]:
    logger = logging.getLogger("weasyprint")
    handler = _Collect()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


_warming: threading.Thread | None = None


def start_warm_up(lang: str = "en") -> None:
    """Start readying WeasyPrint (import, dictionary, fonts) in a thread, once per process.

    `render --format pdf` calls this before loading the issue: the libraries' loading and
    Pango's font set-up run in C, mostly outside the GIL, so they overlap the loading and
    the print HTML instead of following them. The preview calls it at start, so its PDF
    tab answers within a second of a save.
    """
    global _warming
    if _warming is None and "weasyprint" not in sys.modules:
        # Not a daemon: a command that fails early (a full disk, say) would otherwise
        # finalize the interpreter while this thread is inside Pango, and crash with
        # SIGSEGV after its error message. Exiting waits for the warm-up instead (< 1 s).
        _warming = threading.Thread(target=_warm_quietly, args=(lang,), name="weasyprint-warm-up")
        _warming.start()


def language_guess(workspace: Workspace) -> str:
    """Return the series language read with a regex, for warming up before the settings load.

    Picks the hyphenation dictionary to load early; a wrong guess costs only speed.
    """
    try:
        text = workspace.config_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "en"
    found = re.search(r"(?m)^language:\s*[\"']?([A-Za-z-]+)", text)
    return found.group(1) if found else "en"


def _warm_quietly(lang: str) -> None:
    with suppress(Exception):  # the first real PDF reports what went wrong, in its place
        warm_up(lang, fonts=True)


def import_weasyprint():
    """Return the weasyprint module, importing it once; RenderError if it cannot load."""
    if _warming is not None and _warming is not threading.current_thread():
        _warming.join()  # never hand out a module another thread is still importing
    if (loaded := sys.modules.get("weasyprint")) is not None:
        return loaded
    try:
        with _libraries_from_ldconfig():
            import weasyprint
    except (ImportError, OSError):
        try:  # ctypes' full search (gcc, ld) may find a library the ldconfig cache lacks
            import weasyprint
        except (ImportError, OSError) as exc:  # OSError: Pango or HarfBuzz libraries missing
            raise RenderError(
                f"cannot write PDF: WeasyPrint is unavailable ({exc}); "
                "run 'newsletter doctor' to see what to install"
            ) from None
    return weasyprint


# How `ldconfig -p` names the ABI of this machine (ctypes.util's table; others: "libc6").
_LDCONFIG_ABI = {
    "x86_64-64": "libc6,x86-64",
    "ppc64-64": "libc6,64bit",
    "sparc64-64": "libc6,64bit",
    "s390x-64": "libc6,64bit",
    "ia64-64": "libc6,IA-64",
}


@contextmanager
def _libraries_from_ldconfig() -> Iterator[None]:
    """Let ctypes look shared libraries up in the ldconfig cache alone while WeasyPrint loads.

    WeasyPrint tries several names per library, Windows and macOS ones first, and for
    each miss ctypes.util.find_library runs ldconfig, then gcc, then ld (WeasyPrint
    issue #1125): about 0.3 s of subprocesses, the largest fixed cost of a one-issue
    rebuild. One `ldconfig -p` answers every name; a name it lacks falls through to
    WeasyPrint's next candidate, the file name, which dlopen finds by itself.
    """
    listing = _ldconfig_listing() if sys.platform.startswith("linux") else None
    if listing is None:
        yield
        return
    machine = f"{os.uname().machine}-{struct.calcsize('P') * 8}"
    abi = re.escape(_LDCONFIG_ABI.get(machine, "libc6"))

    def find_library(name: str) -> str | None:
        found = re.search(rf"\s+(lib{re.escape(name)}\.[^\s]+)\s+\({abi}", listing)
        return found.group(1) if found else None

    import ctypes.util  # here: a build that prints nothing still asks where PDFs go

    original, ctypes.util.find_library = ctypes.util.find_library, find_library
    try:
        yield
    finally:
        ctypes.util.find_library = original


def _ldconfig_listing() -> str | None:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        done = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def warm_up(lang: str = "en", *, fonts: bool = False) -> None:
    """Import WeasyPrint and load the hyphenation dictionary of lang, ahead of a first PDF.

    Only what is certain to be needed and costly: the dictionary (0.07 s of parsing, or
    6 ms from the user's cache: render/hyphens.py). With fonts, also lay out a line of
    text, which loads Pango's font configuration; build workers skip it, as it took
    longer than a worker usually waits for its first issue.
    """
    from newsletter.render.hyphens import load_dictionary

    weasyprint = import_weasyprint()
    load_dictionary(lang)
    if fonts:
        weasyprint.HTML(string=f'<p lang="{lang}" style="hyphens: auto">Warm up</p>').render()


@dataclass(frozen=True)
class PdfJob:
    """Everything WeasyPrint needs to print one PDF, as plain data a worker process can take."""

    html: str
    out_path: Path
    root: Path  # the workspace: the only folder the PDF may read files from
    base_url: Path
    title: str
    author: str
    subject: str
    keywords: tuple[str, ...]
    date: str
    lang: str


@dataclass
class PdfResult:
    """What printing one PDF left to report: WeasyPrint's warnings and the refused URLs."""

    messages: list[str]
    refused: list[str]


def pdf_job(
    print_html: str,
    workspace: Workspace,
    series: Series,
    loaded: LoadedIssue,
    out_path: Path,
    *,
    base_url: Path | None = None,
) -> PdfJob:
    """Describe the PDF of an issue printed from its print HTML."""
    issue = loaded.issue
    return PdfJob(
        html=print_html,
        out_path=out_path,
        root=workspace.root.resolve(),
        base_url=(base_url or workspace.root).resolve(),
        title=issue.title,
        author=series.publisher,
        subject=issue.subject,
        keywords=tuple(_keywords(series, loaded)),
        date=issue.date.isoformat(),
        lang=series.language,
    )


def print_pdf(job: PdfJob) -> PdfResult:
    """Print job.html to job.out_path as PDF/A-3b (runs in build workers: no model needed)."""
    from newsletter.render.hyphens import load_dictionary

    weasyprint = import_weasyprint()
    load_dictionary(job.lang)  # parsed once per user, not once per process
    fetcher = _fetcher_class()(job.root)
    with _weasyprint_warnings() as logged:
        html = weasyprint.HTML(
            string=job.html, base_url=job.base_url.as_uri() + "/", url_fetcher=fetcher
        )
        document = html.render(pdf_variant=PDF_VARIANT, pdf_tags=True)
        meta = document.metadata
        meta.title = job.title
        meta.authors = [job.author]
        meta.description = job.subject
        meta.keywords = list(job.keywords)
        meta.created = meta.modified = job.date
        meta.lang = job.lang
        job.out_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            document.write_pdf(
                job.out_path, finisher=_archival_fixes, pdf_variant=PDF_VARIANT, pdf_tags=True
            )
        except OSError as exc:
            raise RenderError(f"cannot write {display_path(job.out_path)}: {exc}") from None
    return PdfResult(logged.messages, fetcher.refused)


def print_pdf_anywhere(job: PdfJob) -> PdfResult:
    """Print job in the PDF worker the command chose (see pdfworker.py), else in process."""
    from newsletter.render import pdfworker

    client = pdfworker.current()
    return print_pdf(job) if client is None else client.print_anywhere(job)


def write_pdf(
    print_html: str,
    workspace: Workspace,
    series: Series,
    loaded: LoadedIssue,
    out_path: Path,
    *,
    base_url: Path | None = None,
) -> list[Diagnostic]:
    """Write the issue's PDF/A-3b from its print HTML; return warnings (missing glyphs, ...).

    Relative addresses in print_html resolve against base_url (the workspace root).
    """
    job = pdf_job(print_html, workspace, series, loaded, out_path, base_url=base_url)
    return pdf_diagnostics(loaded, print_pdf_anywhere(job))


def _archival_fixes(document, pdf) -> None:
    """Fix what WeasyPrint writes against PDF/A rules before the file is closed.

    ISO 19005-3 6.2.8: image /Interpolate shall be false (WeasyPrint sets it true for
    `image-rendering: auto`, seen in WeasyPrint 70). The empty /Pattern and /Shading
    resource dictionaries it always writes are dropped because allowlist validators
    (pikepdf.pdfa) refuse to approve resource kinds they cannot inspect, even empty ones.
    """
    for obj in pdf.objects:
        extra = getattr(obj, "extra", None)
        if isinstance(extra, dict) and extra.get("Subtype") == "/Image":
            extra["Interpolate"] = "false"
        if isinstance(obj, dict):
            for key in ("Pattern", "Shading"):
                if key in obj and isinstance(obj[key], dict) and not obj[key]:
                    del obj[key]


def _keywords(series: Series, loaded: LoadedIssue) -> list[str]:
    from newsletter.render.print import keywords

    return keywords(series, loaded)


def pdf_diagnostics(loaded: LoadedIssue, result: PdfResult) -> list[Diagnostic]:
    """Turn what printing reported into warnings located in the issue file."""
    where = display_path(loaded.path)
    found: list[Diagnostic] = []
    missing: dict[str, None] = {}
    for message in result.messages:
        if _NOTDEF.match(message):
            char = re.search(r'"(.+)" \((U\+[0-9A-F]+)\)', message)
            missing[f"'{char.group(1)}' ({char.group(2)})" if char else message] = None
    if missing:
        found.append(
            Diagnostic(
                where,
                1,
                1,
                f"no installed font has a glyph for {', '.join(missing)}: the PDF shows an "
                "empty box instead; install a font covering it (see 'newsletter doctor')",
                severity=Severity.WARNING,
            )
        )
    for url in dict.fromkeys(result.refused):
        line, column = _position_of(loaded, url)
        found.append(
            Diagnostic(
                where,
                line,
                column,
                f"image {url} left out of the PDF: the archival PDF is built offline from "
                "workspace files; save the image under images/ and refer to it by path",
                severity=Severity.WARNING,
            )
        )
    return found


def _position_of(loaded: LoadedIssue, url: str) -> tuple[int, int]:
    """Return the line and column of the image field holding url (1:1 if not found)."""
    issue = loaded.issue
    if issue.image and issue.image.src == url:
        return loaded.source.position(("image", "src"))
    for index, article in enumerate(issue.articles):
        if article.image and article.image.src == url:
            return loaded.source.position(("articles", index, "image", "src"))
        if url in article.body:
            return loaded.source.position(("articles", index, "body"))
    return 1, 1


def issue_pdf_path(out_dir: Path, slug: str) -> Path:
    """Return out_dir/<slug>/<slug>.pdf, where an issue's PDF is written."""
    return out_dir / slug / f"{slug}.pdf"


def issue_pdf_job(
    workspace: Workspace, series: Series, loaded: LoadedIssue, out_dir: Path
) -> PdfJob:
    """Describe the archival PDF of one issue, printed from its print HTML into out_dir."""
    from newsletter.render.print import render_print

    html = render_print(workspace, series, loaded)
    return pdf_job(html, workspace, series, loaded, issue_pdf_path(out_dir, loaded.slug))


def write_issue_pdf(
    workspace: Workspace, series: Series, loaded: LoadedIssue, out_dir: Path
) -> tuple[Path, list[Diagnostic]]:
    """Write out_dir/<slug>/<slug>.pdf, the archival PDF of one issue."""
    job = issue_pdf_job(workspace, series, loaded, out_dir)
    return job.out_path, pdf_diagnostics(loaded, print_pdf_anywhere(job))
