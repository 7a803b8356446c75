"""Write an issue's rendered formats into DIR/<slug>/, from a small registry of formats.

A format is a name (as given to `newsletter render --format`) and a writer that
receives a RenderJob and returns the files it wrote. The job renders each shared
intermediate once (the email message for html/text/eml; the print HTML for print
and pdf), so asking for several formats costs no repeated work. Another stage
adds its format with one `register(Format(...))` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import Diagnostic

if TYPE_CHECKING:
    from newsletter.loader import LoadedIssue
    from newsletter.model import Series
    from newsletter.render.message import PersonalMessage, RenderedMessage
    from newsletter.workspace import Workspace


@dataclass
class RenderJob:
    """One issue being rendered into its folder; shared intermediates are made once."""

    workspace: Workspace
    series: Series
    loaded: LoadedIssue
    folder: Path
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _memo: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """Return make()'s result, computed the first time key is asked for."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    @property
    def message(self) -> RenderedMessage:
        """Return the issue's email, tokens left in."""
        from newsletter.render.message import render_message
        from newsletter.render.size import size_diagnostics

        def make() -> RenderedMessage:
            message = render_message(self.workspace, self.series, self.loaded)
            self.diagnostics.extend(size_diagnostics(message.html, self.loaded))
            return message

        return self.once("message", make)

    @property
    def sample(self) -> PersonalMessage:
        """Return the email as the example reader receives it (what the files show)."""
        from newsletter.render.mime import sample

        series = self.series
        unsubscribe_url = series.delivery.unsubscribe_url
        return self.once(
            "sample",
            lambda: sample(
                self.message, series.base_url, series.merge_fields, unsubscribe_url=unsubscribe_url
            ),
        )

    def write(self, name: str, content: str | bytes) -> Path:
        """Write one file into the issue's folder and return its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="\n")
        return path


@dataclass(frozen=True)
class Format:
    """An output format of `newsletter render`."""

    name: str
    description: str  # what it writes, shown in --help: "email.html"
    write: Callable[[RenderJob], list[Path]]
    default: bool = True


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Add a format to the registry (its name becomes valid for --format)."""
    FORMATS[fmt.name] = fmt
    return fmt


def _html(job: RenderJob) -> list[Path]:
    return [job.write("email.html", job.sample.html)]


def _text(job: RenderJob) -> list[Path]:
    return [job.write("email.txt", job.sample.text)]


def _eml(job: RenderJob) -> list[Path]:
    from newsletter.render.mime import sample_eml

    series = job.series
    eml = sample_eml(
        job.message,
        series.base_url,
        fallbacks=series.merge_fields,
        unsubscribe_url=series.delivery.unsubscribe_url,
    )
    return [job.write("email.eml", eml)]


def _print(job: RenderJob) -> list[Path]:
    from newsletter.render.print import write_print

    path, diagnostics = write_print(job.workspace, job.series, job.loaded, job.folder.parent)
    job.diagnostics.extend(diagnostics)
    return [path]


def _pdf(job: RenderJob) -> list[Path]:
    from newsletter.render.pdf import write_issue_pdf

    path, diagnostics = write_issue_pdf(job.workspace, job.series, job.loaded, job.folder.parent)
    job.diagnostics.extend(diagnostics)
    return [path]


register(Format("html", "email.html", _html))
register(Format("text", "email.txt", _text))
register(Format("eml", "email.eml", _eml))
register(Format("print", "print.html", _print))
register(Format("pdf", "<slug>.pdf", _pdf))


def describe_formats() -> str:
    """Return the formats for --help: 'html (email.html), text (email.txt), ...'."""
    return ", ".join(f"{name} ({fmt.description})" for name, fmt in FORMATS.items())


def default_formats() -> list[str]:
    """Return the names of the formats written when --format is not given."""
    return [name for name, fmt in FORMATS.items() if fmt.default]


def parse_formats(value: str) -> list[str]:
    """Return the format names of a comma-separated list; ValueError names unknown ones."""
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        known = ", ".join(FORMATS)
        shown = ", ".join(unknown) or "(none)"
        raise ValueError(f"unknown format {shown}; choose from: {known}")
    return list(dict.fromkeys(names))


def render_issue(
    workspace: Workspace,
    series: Series,
    loaded: LoadedIssue,
    out_dir: Path,
    formats: list[str],
) -> tuple[list[Path], list[Diagnostic]]:
    """Write the given formats of one issue into out_dir/<slug>/; return files and warnings."""
    job = RenderJob(workspace, series, loaded, out_dir / loaded.slug)
    written: list[Path] = []
    for name in formats:
        written.extend(FORMATS[name].write(job))
    return written, job.diagnostics
