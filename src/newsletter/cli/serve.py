"""The serve command: the unsubscribe endpoint, on waitress."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import click

from newsletter import ui
from newsletter.cli.base import State, cli, pass_state


@cli.command(short_help="Answer unsubscribe links and one-click unsubscribe POSTs.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (put a reverse proxy with TLS in front; see the README).",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8025, show_default=True, help="Port."
)
@click.option(
    "--workspace",
    "serve_workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace whose suppression list takes the unsubscribes (default: as for every command).",
)
@click.option(
    "--threads", type=click.IntRange(1, 64), default=8, show_default=True, help="Worker threads."
)
@pass_state
def serve(state: State, host: str, port: int, serve_workspace: Path | None, threads: int) -> None:
    """Answer unsubscribe links and RFC 8058 one-click POSTs for the series.

    GET /unsubscribe/?list=&email=&token= shows the address and an Unsubscribe button;
    a POST (the button, or a mail client's one-click) records it in the suppression list
    before answering 200. GET /healthz answers 200. Needs NEWSLETTER_UNSUBSCRIBE_SECRET,
    the secret the links were signed with.
    """
    from newsletter.send.unsubscribe import SECRET_ENV

    if not os.environ.get(SECRET_ENV):
        raise click.UsageError(
            f"set {SECRET_ENV} to the secret 'newsletter send' signs the links with; "
            "without it no unsubscribe link can be checked"
        )
    from newsletter.serve.app import WEBHOOK_BODY, create_app

    root = serve_workspace or state.workspace().root
    app = create_app(root)
    from waitress.server import create_server

    # ident="": no Server header naming the software; max_request_body_size: waitress
    # refuses anything larger than a webhook's event before buffering it (the unsubscribe
    # handlers take far less: 4 KB).
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="",
        max_request_body_size=WEBHOOK_BODY,
        backlog=2048,
        connection_limit=1000,
    )
    # Before the address is printed: whoever reads it (systemd, a test) may stop us at once.
    signal.signal(signal.SIGTERM, _interrupt)  # systemd's stop is as clean as Ctrl-C
    hooks = sorted(path for path in app.routes if path.startswith("/webhooks/"))
    try:
        ui.show_note(
            f"serving unsubscribes for {app.series.name} on "
            f"http://{host}:{server.effective_port}/ (Ctrl-C stops)"
        )
        if hooks:
            ui.show_note(f"webhooks: {', '.join(hooks)}")
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
