"""External judges shared by the email and archive tests: Nu HTML Checker and axe-core.

The allowlist names what plain MJML output itself triggers (see ../shared/JUDGES.md);
every allowed kind must also appear in a plain-MJML baseline checked in the same run.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.helpers import REPO

NODE_MODULES = REPO / "node_modules"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
AXE = NODE_MODULES / "axe-core" / "axe.min.js"

# Nu HTML Checker errors of plain MJML output (table layout attributes Outlook needs).
VNU_ALLOWED = [
    # Outlook's Word engine lays out with these; MJML writes them on every table.
    r"The “(cellpadding|cellspacing|border|width|align)” attribute on the “table” element "
    r"is obsolete\. Use CSS instead\.",
    r"The “(align|valign|width)” attribute on the “td” element is obsolete\. Use CSS instead\.",
    r"The “vertical-align” .*",
    # mj-image writes height="auto" so Outlook keeps the aspect ratio.
    r"Bad value “auto” for attribute “height” on element “img”.*",
]

PLAIN_MJML = """<mjml><mj-head><mj-title>t</mj-title><mj-preview>p</mj-preview></mj-head>
<mj-body><mj-section><mj-column><mj-image src="https://example.org/a.png" alt="a" />
<mj-text align="center">x</mj-text></mj-column></mj-section></mj-body></mjml>"""


def vnu_messages(files: list[Path]) -> list[dict]:
    """Return the Nu HTML Checker's errors for files, in one Java start (it takes seconds)."""
    result = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--errors-only", "--format", "json",
         "--filterpattern", ".*(xmlns:|mso-).*", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    return json.loads(result.stderr or result.stdout)["messages"]


def unexpected_vnu_errors(files: list[Path], scratch: Path, *, mjml: bool = True) -> list[str]:
    """Return vnu errors in files beyond those plain MJML output has (none allowed if not mjml)."""
    from mjml import mjml2html

    baseline = scratch / "plain-mjml.html"
    baseline.write_text(mjml2html(PLAIN_MJML), encoding="utf-8")
    messages = vnu_messages([baseline, *files])
    baseline_messages = [m["message"] for m in messages if "plain-mjml" in m["url"]]
    assert baseline_messages, "vnu reported nothing on plain MJML: is it running?"
    ours = [m for m in messages if "plain-mjml" not in m["url"]]
    allowed = VNU_ALLOWED if mjml else []
    unexpected = [
        f"{m['url'].rsplit('/', 2)[-2]}/{m['url'].rsplit('/', 1)[-1]}:{m.get('lastLine')}: "
        f"{m['message']}"
        for m in ours
        if not any(re.fullmatch(p, m["message"]) for p in allowed)
    ]
    # Every allowed kind we hit is one plain MJML has too (it is MJML's, not ours).
    hit = {p for m in ours for p in allowed if re.fullmatch(p, m["message"])}
    in_baseline = {p for m in baseline_messages for p in allowed if re.fullmatch(p, m)}
    unexpected += [f"allowed but not in plain MJML: {p}" for p in hit - in_baseline]
    return unexpected


def serious_axe_violations(page) -> list[str]:
    """Run axe-core in the page; return its serious and critical violations, described."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
