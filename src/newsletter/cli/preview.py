"""The preview command: serve an issue live in the browser while it is being written."""

from __future__ import annotations

import signal
import sys

import click

from newsletter import ui
from newsletter.cli.base import State, cli, pass_state


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as cleanly as Ctrl-C


@cli.command(short_help="Serve an issue live in the browser.")
@click.argument("issue", required=False)
@click.option(
    "-p",
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to serve on; 0 takes a free one.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to serve on. Anything but this machine shows your drafts to the network.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@pass_state
def preview(state: State, issue: str | None, port: int, host: str, open_browser: bool) -> None:
    """Serve ISSUE live in the browser: every save re-renders the open page.

    The page shows the email at desktop and mobile widths, in light and dark mode,
    the plain-text part, the print version and the PDF, with the subject, preheader,
    sender and the HTML size against Gmail's 102 KB clipping limit. A save that does
    not render shows its problems (file:line:col) over the last good render.

    Without ISSUE: lists the issues here and on the page at the printed address.
    Ctrl-C stops the preview.
    """
    from newsletter.preview.page import list_issues
    from newsletter.preview.server import LivePreview, is_loopback

    workspace = state.workspace()
    if issue is not None:
        slug = workspace.issue_path(issue).stem  # an unknown issue is a usage error
    else:
        _show_issues(list_issues(workspace))
    if not is_loopback(host):
        ui.show_note(
            f"warning: serving on {host}: anyone who can reach this machine can read your drafts"
        )
    live = LivePreview(workspace, host=host, port=port, on_render=_report_render)
    # Before the address is printed: whoever reads it may stop us at once.
    signal.signal(signal.SIGTERM, _interrupt)
    path = f"issues/{slug}/" if issue is not None else ""
    url = live.url + path
    try:
        ui.echo(f"previewing at {url}")
        ui.show_note("watching newsletter.yaml, issues/, templates/ and images/; Ctrl-C stops")
        sys.stdout.flush()
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        # The PDF tab prints in this process: WeasyPrint made ready now answers it within a
        # second of a save instead of after a half-second import and font set-up. Inside
        # the try: a Ctrl-C during this import (the address is already out) stops cleanly.
        from newsletter.render.pdf import language_guess, start_warm_up

        start_warm_up(language_guess(workspace))
        live.serve_forever()
    except KeyboardInterrupt:
        ui.show_note("preview stopped")


def _show_issues(issues) -> None:
    if not issues:
        ui.echo("no issues yet: create one with 'newsletter new'")
        return
    width = max(len(item.slug) for item in issues)
    for item in issues:
        status = f"{ui.plural(item.errors, 'error')}" if item.errors else "ok"
        ui.echo(f"{item.slug:<{width}}  {item.label:<9} {item.date:<10}  {item.title}  ({status})")


def _report_render(state) -> None:
    """Tell the terminal about each render: its time, or its problems."""
    if state.ok:
        ui.show_note(f"{state.slug}: rendered in {state.render_ms:.0f} ms")
    else:
        ui.show_diagnostics([d for d in state.problems if d.path])
        ui.show_note(f"{state.slug}: {ui.plural(len(state.problems), 'problem')}; page shows them")
