"""Exceptions and diagnostics, one exception class per pipeline stage.

NewsletterError
 ├── WorkspaceError   no workspace, unreadable settings, bad paths (load)
 │    └── OutsideWorkspaceError  a path or symlink leading out of the workspace
 ├── ValidationError  an issue or the series settings hold problems (validate)
 ├── RenderError      a template or the MJML compiler failed (render)
 ├── PreviewError     the preview server could not start (preview)
 ├── SendError        a delivery could not be carried out (send)
 ├── StateError       the state database could not be opened, migrated or copied (state)
 └── BuildError       the web archive could not be written (build)

Each carries the diagnostics that explain it; the CLI prints them and maps the
class to an exit code. A traceback reaching the user is a bug.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, located in a file by 1-based line and column (0: column unknown)."""

    path: str
    line: int
    column: int
    message: str
    field: str = ""
    severity: Severity = Severity.ERROR
    code: str = ""  # a stable name for problems other stages act on, e.g. "todo"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def place(self) -> str:
        """Return path:line:col, or path:line where the column is unknown (0: templates)."""
        column = f":{self.column}" if self.column else ""
        return f"{self.path}:{self.line}{column}"

    def with_code(self, code: str) -> Diagnostic:
        """Return this diagnostic named by code."""
        return dataclasses.replace(self, code=code)

    def as_error(self) -> Diagnostic:
        """Return this diagnostic as an error (a warning that blocks a step)."""
        return dataclasses.replace(self, severity=Severity.ERROR)

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.place}: {self.severity}: {where}{self.message}"


_URL_LOGIN = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'\"<>]+@")


def mask_credentials(text: str) -> str:
    """Return text with the login of every URL in it masked (http://user:pw@host -> ***@host)."""
    return _URL_LOGIN.sub(r"\1***@", text) if "@" in text else text


def display_path(path: Path) -> str:
    """Return the path as the user would type it: relative to the current directory if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class NewsletterError(Exception):
    """Root of every error the tool raises on purpose."""

    exit_code = 1

    def __init__(self, message: str = "", diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.message = message
        self.diagnostics = list(diagnostics or [])


class WorkspaceError(NewsletterError):
    """The workspace could not be found or read."""

    exit_code = 2


class OutsideWorkspaceError(WorkspaceError):
    """A file to read or publish lies outside the workspace (a symlink, '..', a file: URL)."""

    exit_code = 1


class ValidationError(NewsletterError):
    """An issue file or newsletter.yaml holds problems."""


class RenderError(NewsletterError):
    """Rendering an issue failed."""


class PreviewError(NewsletterError):
    """The preview server failed."""


class SendError(NewsletterError):
    """Sending failed."""


class StateError(NewsletterError):
    """The state database (ledger, suppression list) could not be used."""


class BuildError(NewsletterError):
    """Building the web archive failed."""
