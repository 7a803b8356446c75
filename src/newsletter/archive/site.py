"""The archive's shared pages: the index of all issues and the Atom feed."""

from __future__ import annotations

import datetime as dt
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.loader import LoadedIssue
from newsletter.model import Series
from newsletter.render.email import long_date
from newsletter.render.pdf import issue_pdf_path
from newsletter.render.templates import render_template
from newsletter.workspace import Workspace

if TYPE_CHECKING:
    from newsletter.model import Issue


def _count(issue: Issue) -> str:
    parts = []
    if issue.items:
        parts.append(f"{len(issue.items)} headline{'s' * (len(issue.items) != 1)}")
    if issue.articles:
        parts.append(f"{len(issue.articles)} article{'s' * (len(issue.articles) != 1)}")
    return ", ".join(parts)


def newest_first(issues: list[LoadedIssue]) -> list[LoadedIssue]:
    """Return issues ordered newest first (by volume, number, then date)."""
    return sorted(
        issues, key=lambda i: (i.issue.volume, i.issue.number, i.issue.date), reverse=True
    )


def index_html(workspace: Workspace, series: Series, issues: list[LoadedIssue]) -> str:
    """Return the archive's index page: every issue, newest first, grouped by volume."""
    entries = [
        {
            "slug": i.slug,
            "title": i.issue.title,
            "date": i.issue.date,
            "shown_date": long_date(i.issue.date),
            "label": i.issue.label,
            "count": _count(i.issue),
            "volume": i.issue.volume,
        }
        for i in newest_first(issues)
    ]
    volumes = [(v, list(g)) for v, g in groupby(entries, key=lambda e: e["volume"])]
    year = max((i.issue.date.year for i in issues), default=dt.date.today().year)
    return render_template(
        workspace, "archive-index.html.j2", {"series": series, "volumes": volumes, "year": year}
    )


def write_index(workspace: Workspace, series: Series, issues: list[LoadedIssue], out: Path) -> Path:
    """Write site/index.html."""
    path = out / "index.html"
    path.write_text(index_html(workspace, series, issues), encoding="utf-8")
    return path


def _midnight(date: dt.date) -> dt.datetime:
    return dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)


def feed_contents(
    workspace: Workspace, series: Series, issues: list[LoadedIssue], fingerprints: dict[str, str]
) -> dict[str, str]:
    """Return each issue's feed content, rendered again only when its fingerprint changed."""
    from newsletter.archive.content import content_html

    cache = workspace.state_dir / "cache" / "feed"
    cache.mkdir(parents=True, exist_ok=True)
    contents = {}
    for loaded in issues:
        path = cache / f"{loaded.slug}-{fingerprints[loaded.slug][:24]}.html"
        if path.is_file():
            contents[loaded.slug] = path.read_text(encoding="utf-8")
            continue
        for old in cache.glob(f"{loaded.slug}-*.html"):
            old.unlink()
        contents[loaded.slug] = content_html(workspace, series, loaded)
        path.write_text(contents[loaded.slug], encoding="utf-8")
    return contents


class Feed:
    """The Atom feed (RFC 4287) of site/feed.xml, with the full content of every issue.

    Made while the PDFs print; written once they are done, as each PDF enclosure gives
    its size in bytes.
    """

    def __init__(
        self, series: Series, issues: list[LoadedIssue], contents: dict[str, str], out: Path
    ):
        from xml.etree import ElementTree as ET

        # ElementTree, not feedgen: feedgen 1.0.0 drops rel and type from entry links.
        ET.register_namespace("", ATOM)
        self.out = out
        base = series.base_url.rstrip("/") + "/" if series.base_url else ""
        ordered = newest_first(issues)
        feed = self.root = ET.Element(f"{{{ATOM}}}feed", {XML_LANG: series.language})
        _text(feed, "id", base or f"urn:newsletter:{series.name}")
        _text(feed, "title", series.name)
        if series.tagline:
            _text(feed, "subtitle", series.tagline)
        updated = _midnight(ordered[0].issue.date if ordered else dt.date.today())
        _text(feed, "updated", updated.isoformat())
        ET.SubElement(_text(feed, "author", None), f"{{{ATOM}}}name").text = series.publisher
        _link(feed, f"{base}feed.xml", "self", "application/atom+xml")
        _link(feed, base or "./", "alternate", "text/html")
        self.enclosures = []  # (entry, its PDF link, the PDF)
        for loaded in ordered:
            issue = loaded.issue
            entry = _text(feed, "entry", None)
            page = f"{base}{loaded.slug}/"
            _text(entry, "id", page)
            _text(entry, "title", issue.title)
            _text(entry, "published", _midnight(issue.date).isoformat())
            _text(entry, "updated", _midnight(issue.date).isoformat())
            _link(entry, page, "alternate", "text/html")
            pdf = issue_pdf_path(out, loaded.slug)
            link = _link(entry, f"{page}{pdf.name}", "enclosure", "application/pdf")
            self.enclosures.append((entry, link, pdf))
            if issue.preheader:
                _text(entry, "summary", issue.preheader)
            content = _text(entry, "content", contents[loaded.slug])
            content.set("type", "html")

    def write(self) -> Path:
        """Write site/feed.xml, with an enclosure for each PDF that exists now."""
        from xml.etree import ElementTree as ET

        for entry, link, pdf in self.enclosures:
            if pdf.is_file():
                link.set("length", str(pdf.stat().st_size))
            else:  # not printed (it failed): no enclosure
                entry.remove(link)
        tree = ET.ElementTree(self.root)
        ET.indent(tree)
        path = self.out / "feed.xml"
        tree.write(path, encoding="utf-8", xml_declaration=True)
        return path


ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _text(parent, tag: str, text: str | None):
    from xml.etree import ElementTree as ET

    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = text
    return element


def _link(parent, href: str, rel: str, kind: str):
    from xml.etree import ElementTree as ET

    return ET.SubElement(parent, f"{{{ATOM}}}link", {"href": href, "rel": rel, "type": kind})
