"""Golden files of the sample issue vol-2-10: HTML compared structurally, text exactly.

Regenerate after an intended change, then review the diff:

    python -m pytest tests/render/test_goldens.py --regen-goldens
"""

from __future__ import annotations

import difflib
import email
import email.policy
import re
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

from tests.render.conftest import Rendered

GOLDENS = Path(__file__).with_name("goldens")
SLUG = "vol-2-10"
VOLATILE_HEADERS = {"date", "message-id", "content-type"}  # time, random id, random boundary


def _style(value: str) -> str:
    """Normalise a style attribute: one declaration per ';', spaces squeezed, order kept."""
    parts = [re.sub(r"\s*:\s*", ":", p.strip()) for p in value.split(";")]
    return ";".join(p for p in parts if p)


def structure(page: str) -> list[str]:
    """Return the HTML as one line per node: tag, sorted attributes, squeezed text."""
    root = lxml_html.document_fromstring(page)
    lines = []
    for node in root.iter():
        if isinstance(node, etree._Comment):
            lines.append("<!--" + " ".join(str(node.text).split()) + "-->")
        elif isinstance(node.tag, str):
            attrs = " ".join(
                f'{k}="{_style(v) if k == "style" else " ".join(v.split())}"'
                for k, v in sorted(node.attrib.items())
            )
            lines.append(f"<{node.tag}{' ' + attrs if attrs else ''}>")
        text = " ".join((node.text or "").split()) if not isinstance(node, etree._Comment) else ""
        if text:
            lines.append(f"  {text}")
        tail = " ".join((node.tail or "").split())
        if tail:
            lines.append(f"  {tail}")
    return lines


def headers(raw: bytes) -> list[str]:
    """Return the stable headers and the part types of a MIME message."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    lines = [f"{k}: {v}" for k, v in parsed.items() if k.lower() not in VOLATILE_HEADERS]
    lines += [f"part: {p.get_content_type()}; {p.get_content_charset()}" for p in parsed.walk()]
    return lines


def _compare(name: str, actual: list[str], expected: list[str]) -> None:
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                expected, actual, f"golden/{name}", f"rendered/{name}", lineterm=""
            )
        )
        raise AssertionError(
            f"{name} differs from its golden file (regenerate with --regen-goldens if intended):\n"
            + diff[:6000]
        )


def test_vol_2_10_matches_its_golden_files(sample_render: Rendered, regen_goldens: bool) -> None:
    folder = GOLDENS / SLUG
    rendered = {
        name: sample_render.path(SLUG, name).read_bytes()
        for name in ("email.html", "email.txt", "email.eml")
    }
    if regen_goldens:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in rendered.items():
            (folder / name).write_bytes(content)
    html_now = rendered["email.html"].decode("utf-8")
    html_golden = (folder / "email.html").read_text("utf-8")
    _compare("email.html", structure(html_now), structure(html_golden))
    text_now = rendered["email.txt"].decode("utf-8")
    _compare(
        "email.txt", text_now.splitlines(), (folder / "email.txt").read_text("utf-8").splitlines()
    )
    _compare(
        "email.eml", headers(rendered["email.eml"]), headers((folder / "email.eml").read_bytes())
    )


def test_structure_sees_text_attribute_and_comment_changes() -> None:
    page = (
        "<!doctype html><html><body><!--[if mso]>x<![endif]-->"
        '<p style="a: 1;b:2">Hi</p></body></html>'
    )
    base = structure(page)
    assert base == structure(page.replace("a: 1;b:2", "a:1; b:2"))  # whitespace only
    assert base != structure(page.replace(">Hi<", ">Hello<"))
    assert base != structure(page.replace("a: 1", "a: 2"))
    assert base != structure(page.replace("[if mso]", "[if !mso]"))
