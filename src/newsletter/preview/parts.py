"""What the preview shows of an issue: the email, its text part, the print version and PDF.

`Renderer` is the one seam between the preview and the renderers: given a workspace
and a slug it returns `Parts`, or raises a NewsletterError carrying diagnostics.
`render_parts` is the real one (render.message, render.print, render.pdf); the print
HTML and the PDF are made only when the page asks for them, as the PDF alone takes
longer than the whole email.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar
from urllib.parse import quote, unquote

from newsletter.errors import Diagnostic

if TYPE_CHECKING:
    from newsletter.loader import LoadedIssue
    from newsletter.model import Series
    from newsletter.workspace import Workspace

ASSETS = "/assets/"  # where the preview server serves workspace images
ASSET_SUFFIXES = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".avif",
        ".svg",
        ".ico",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
    ]
)
T = TypeVar("T")


class Lazy(Generic[T]):
    """A value computed on first use, once, even when two requests ask at the same time."""

    def __init__(self, make: Callable[[], T]):
        self._make: Callable[[], T] | None = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._make is not None:
                self._value = self._make()
                self._make = None
            return self._value  # type: ignore[return-value]


@dataclass(frozen=True)
class Parts:
    """One render of an issue, as the preview page shows it."""

    slug: str
    subject: str
    preheader: str
    sender: str
    html: str  # email HTML, sample reader filled in, images served by the preview
    text: str
    html_bytes: int  # size of the HTML as sent, against Gmail's clipping size
    print_html: Lazy[str]
    pdf: Lazy[bytes]
    warnings: tuple[Diagnostic, ...] = field(default=())

    @property
    def dark_styles(self) -> bool:
        """Return True if the email brings its own dark-mode styles."""
        return bool(_SCHEME_QUERY.search(self.html))


class Renderer(Protocol):
    """Render the parts of one issue, raising NewsletterError with diagnostics on failure."""

    def __call__(self, workspace: Workspace, slug: str) -> Parts: ...


def render_parts(workspace: Workspace, slug: str) -> Parts:
    """Render an issue with the real renderers (email, text, print, PDF)."""
    from newsletter.loader import require_issue
    from newsletter.render.message import render_message
    from newsletter.render.mime import sample
    from newsletter.render.size import size_diagnostics

    series, loaded, diagnostics = require_issue(workspace, slug)
    message = render_message(workspace, series, loaded)  # RenderError over Gmail's limit
    diagnostics += size_diagnostics(message.html, loaded)  # a warning when close to it
    # The example reader `newsletter render` writes for, so the preview shows those files.
    personal = sample(
        message,
        series.base_url,
        series.merge_fields,
        unsubscribe_url=series.delivery.unsubscribe_url,
    )
    return Parts(
        slug=slug,
        subject=personal.subject,
        preheader=loaded.issue.preheader or "",
        sender=f"{message.from_name} <{message.from_email}>",
        html=local_assets(personal.html, series.base_url, workspace),
        text=personal.text,
        html_bytes=len(message.html.encode("utf-8")),
        print_html=Lazy(lambda: _print_html(workspace, series, loaded)),
        pdf=Lazy(lambda: _pdf(workspace, series, loaded)),
        warnings=tuple(d for d in diagnostics if not d.is_error),
    )


def _print_html(workspace: Workspace, series: Series, loaded: LoadedIssue) -> str:
    from newsletter.render.print import render_print

    return render_print(workspace, series, loaded, asset_base=ASSETS.rstrip("/"))


def _pdf(workspace: Workspace, series: Series, loaded: LoadedIssue) -> bytes:
    from newsletter.render.pdf import write_pdf
    from newsletter.render.print import render_print

    with tempfile.TemporaryDirectory(prefix="newsletter-preview-") as folder:
        path = Path(folder) / f"{loaded.slug}.pdf"
        write_pdf(render_print(workspace, series, loaded), workspace, series, loaded, path)
        return path.read_bytes()


def asset_path(workspace: Workspace, relative: str) -> Path | None:
    """Return the workspace file a preview may serve at relative, or None.

    Only images and fonts inside the workspace, never hidden files or anything a
    symlink leads out of it: settings, issue files and the send ledger stay private.
    """
    parts = PurePosixPath(relative).parts
    if not parts or any(p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return None
    path = workspace.root / Path(*parts)
    if not workspace.contains(path) or path.resolve().suffix.lower() not in ASSET_SUFFIXES:
        return None
    return path if path.is_file() else None


def local_assets(html: str, base_url: str | None, workspace: Workspace) -> str:
    """Point the email's published image addresses at the preview's copy of the workspace.

    In a sent email an image lives at <base_url>images/x.jpg; while drafting it is not
    published yet, so the preview serves the workspace file itself.
    """
    head = f'<base href="{ASSETS}" target="_blank">'  # relative images; links open a tab
    html = _insert_in_head(html, head)
    if not base_url:
        return html
    base = base_url if base_url.endswith("/") else base_url + "/"

    def local(match: re.Match) -> str:
        relative = unquote(match.group(1))
        if asset_path(workspace, relative) is None:
            return match.group(0)
        return ASSETS + quote(relative, safe="/")

    return re.sub(re.escape(base) + r"([^\"'\s)<>?#]+)", local, html)


_SCHEME_QUERY = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)", re.I)
# Clients without the email's own dark styles (Gmail and Outlook apps) invert its colours.
_FORCED_DARK = (
    "html{filter:invert(1) hue-rotate(180deg);background:#fff}"
    "img{filter:invert(1) hue-rotate(180deg)}"
)


def with_color_scheme(html: str, scheme: str) -> str:
    """Return the email as a client in light or dark mode shows it, whatever the OS says.

    The email's `prefers-color-scheme` queries are pinned (always or never true) and the
    document's color-scheme set, so the iframe shows the mode the toolbar chose.
    """
    dark = scheme == "dark"
    on, off = "(min-width: 0px)", "(max-width: 0px)"
    own_styles = bool(_SCHEME_QUERY.search(html))
    html = _SCHEME_QUERY.sub(lambda m: on if (m.group(1).lower() == "dark") == dark else off, html)
    css = f":root{{color-scheme:{'dark' if dark else 'light'} !important}}"
    if dark and not own_styles:
        css += _FORCED_DARK
    return _insert_in_head(html, f'<style data-preview="scheme">{css}</style>')


def _insert_in_head(html: str, markup: str) -> str:
    match = re.search(r"<head\b[^>]*>", html, re.I)
    if match:
        return html[: match.end()] + markup + html[match.end() :]
    return markup + html
