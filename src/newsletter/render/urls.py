"""Where rendered email points: published images, the web version, the PDF.

The web archive publishes the workspace as a site under `base_url`: a workspace
file keeps its path there (images/hero.jpg -> <base_url>images/hero.jpg), an
issue lives at <base_url><slug>/ and its PDF at <base_url><slug>/<slug>.pdf.
Email clients cannot load relative paths, so every workspace image in an email
goes through `Urls.asset`. The archive uses `published_path` for the same mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

REMOTE = ("http://", "https://")


def published_path(src: str) -> str:
    """Return where the archive publishes a workspace file, relative to base_url."""
    return quote(PurePosixPath(src.replace("\\", "/")).as_posix(), safe="/")


@dataclass(frozen=True)
class Urls:
    """The addresses of an issue's published parts, from the series' base_url."""

    base_url: str | None

    @property
    def base(self) -> str | None:
        """Return base_url ending with a slash, or None when it is not set."""
        if not self.base_url:
            return None
        return self.base_url if self.base_url.endswith("/") else self.base_url + "/"

    def asset(self, src: str) -> str:
        """Return the address of an image: remote URLs as they are, workspace files published.

        Without base_url a workspace file keeps its relative path; `newsletter check`
        warns about that, as no email client can load it.
        """
        if src.startswith(REMOTE):
            return src
        path = published_path(src)
        return f"{self.base}{path}" if self.base else path

    def web(self, slug: str) -> str | None:
        """Return the address of the issue's web version."""
        return f"{self.base}{quote(slug)}/" if self.base else None

    def pdf(self, slug: str) -> str | None:
        """Return the address of the issue's PDF."""
        return f"{self.base}{quote(slug)}/{quote(slug)}.pdf" if self.base else None
