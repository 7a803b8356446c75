"""`newsletter doctor`: what this machine has and lacks for rendering PDFs and running checks."""

from __future__ import annotations

import sys

from newsletter import ui
from newsletter.cli.base import cli


@cli.command(short_help="Check the tools rendering needs: WeasyPrint, fonts, Chromium.")
def doctor() -> None:
    """Report WeasyPrint, Pango, fonts (CJK coverage), Chromium and poppler, with fixes.

    Exits 1 if something the PDF needs is missing; missing optional parts only warn.
    """
    from newsletter.doctor import run_checks

    checks = run_checks()
    width = max(len(c.name) for c in checks)
    for check in checks:
        if check.ok:
            status = "[green]ok[/]     "
        elif check.needed:
            status = "[bold red]MISSING[/]"
        else:
            status = "[yellow]warning[/]"
        line = f"{status}  {ui.escape(check.name.ljust(width))}  {ui.escape(check.found)}"
        if not check.ok and check.fix:
            line += f"\n{' ' * (width + 11)}install: {ui.escape(check.fix)}"
        ui.out().print(line)
    missing = [c.name for c in checks if c.needed and not c.ok]
    if missing:
        ui.show_error(f"cannot write PDFs: missing {', '.join(missing)}")
        sys.exit(1)
