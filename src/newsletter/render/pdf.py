"""Write the archival PDF of an issue from its print HTML with WeasyPrint (PDF/A-3b, tagged).

WeasyPrint is imported only here, lazily, so the CLI starts instantly. The PDF is built
offline: only files inside the workspace are read. Remote (http/https) images are not
fetched, because an archive must not depend on, or leak readers to, a server that may be
gone; each one is reported as a warning and printed as its alternative text. Download
the image into the workspace (images/) to include it.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
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
            super().__init__(allowed_protocols=("file", "data"))
            self.root = root.resolve()
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            if parts.scheme == "file":
                path = Path(unquote(parts.path)).resolve()
                if not path.is_relative_to(self.root):
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


def import_weasyprint():
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: Pango or HarfBuzz libraries missing
        raise RenderError(
            f"cannot write PDF: WeasyPrint is unavailable ({exc}); "
            "run 'newsletter doctor' to see what to install"
        ) from None
    return weasyprint


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
    weasyprint = import_weasyprint()
    issue = loaded.issue
    fetcher = _fetcher_class()(workspace.root)
    base = (base_url or workspace.root).resolve()
    with _weasyprint_warnings() as logged:
        html = weasyprint.HTML(string=print_html, base_url=base.as_uri() + "/", url_fetcher=fetcher)
        document = html.render(pdf_variant=PDF_VARIANT, pdf_tags=True)
        meta = document.metadata
        meta.title = issue.title
        meta.authors = [series.publisher]
        meta.description = issue.subject
        meta.keywords = _keywords(series, loaded)
        meta.created = meta.modified = issue.date.isoformat()
        meta.lang = series.language
        out_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            document.write_pdf(
                out_path, finisher=_archival_fixes, pdf_variant=PDF_VARIANT, pdf_tags=True
            )
        except OSError as exc:
            raise RenderError(f"cannot write {display_path(out_path)}: {exc}") from None
    return _diagnostics(loaded, logged.messages, fetcher.refused)


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


def _diagnostics(loaded: LoadedIssue, messages: list[str], refused: list[str]) -> list[Diagnostic]:
    where = display_path(loaded.path)
    found: list[Diagnostic] = []
    missing: dict[str, None] = {}
    for message in messages:
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
    for url in dict.fromkeys(refused):
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


def write_issue_pdf(
    workspace: Workspace, series: Series, loaded: LoadedIssue, out_dir: Path
) -> tuple[Path, list[Diagnostic]]:
    """Write out_dir/<slug>/<slug>.pdf, the archival PDF of one issue."""
    from newsletter.render.print import render_print

    path = out_dir / loaded.slug / f"{loaded.slug}.pdf"
    return path, write_pdf(render_print(workspace, series, loaded), workspace, series, loaded, path)
