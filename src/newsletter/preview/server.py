"""The preview's HTTP server: pages, rendered parts, workspace images and an event stream.

Why the standard library's ThreadingHTTPServer: the preview serves one editor's
browser (a handful of requests per save plus one open event stream per tab), which
a thread per connection handles in microseconds; a web framework would add a
dependency and an event loop for routes that fit in one screen of code.

Safety: only the routes below answer; any path that is not plainly spelled (encoded
slashes or dots, backslashes, '.' or '..' segments, doubled slashes) is a 404 before
routing. Images come only from inside the workspace (see parts.asset_path). A Host
header other than this machine's is refused, so a web page cannot reach the preview
through DNS rebinding.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import mimetypes
import queue
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from newsletter.errors import PreviewError
from newsletter.preview import page
from newsletter.preview.parts import Renderer, asset_path, render_parts, with_color_scheme
from newsletter.preview.session import IssueState, PreviewSession, diagnostic_data, problems_of
from newsletter.preview.watch import Watcher
from newsletter.workspace import Workspace

KEEPALIVE = 15.0  # seconds between comments on an idle event stream (finds closed tabs)
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c|2e|00|25)", re.I)  # / \ . NUL and double encoding
# The email shown in the preview must not run anything and may load images from anywhere.
EMAIL_POLICY = (
    "default-src 'none'; img-src 'self' data: http: https:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data: http: https:; base-uri 'self'; form-action 'none'"
)
NOT_YET = (
    "<!doctype html><meta charset=utf-8><title>not rendered</title>"
    "<p style='font:16px sans-serif;padding:2em'>Nothing rendered yet: "
    "fix the problems listed above and save.</p>"
)


def path_segments(raw_path: str) -> list[str] | None:
    """Return the decoded segments of a request path, or None if it is not plainly spelled."""
    path = urlsplit(raw_path).path
    if not path.startswith("/") or "\\" in path or "//" in path or _ENCODED_SEPARATOR.search(path):
        return None
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    segments = decoded.split("/")[1:]
    inner = segments[:-1] if segments and segments[-1] == "" else segments
    if any(s in ("", ".", "..") or s.startswith(".") or "\0" in s for s in inner):
        return None
    return segments


def is_loopback(host: str) -> bool:
    """Return True if host names this machine only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class PreviewServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its preview session."""

    daemon_threads = True  # open event streams must not keep the process alive

    def __init__(self, address: tuple[str, int], session: PreviewSession):
        self.session = session
        super().__init__(address, PreviewHandler)

    def handle_error(self, request, client_address) -> None:
        """Say briefly that a request failed; a closed tab is no news at all."""
        import sys

        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            print(f"preview: request failed: {type(error).__name__}: {error}", file=sys.stderr)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"


class PreviewHandler(BaseHTTPRequestHandler):
    """Answer GET and HEAD for the preview's routes; 404 for everything else."""

    server: PreviewServer
    protocol_version = "HTTP/1.1"  # keep-alive: a reload reuses the connection
    server_version = "newsletter-preview"
    sys_version = ""
    ISSUE_PARTS: ClassVar[set[str]] = {"", "email.html", "text.txt", "print.html", "state.json"}

    def log_message(self, format: str, *args) -> None:
        """Stay quiet: the terminal shows renders and problems, not every request."""

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        segments = path_segments(self.path)
        if segments is None:
            return self.not_found()
        if not self.host_allowed():
            return self.send_text(HTTPStatus.FORBIDDEN, "this preview answers only to localhost\n")
        match segments:
            case [""]:
                return self.send_body(page.index_page(self.server.session.workspace), "text/html")
            case ["events"]:
                return self.stream_events()
            case ["assets", *rest] if rest and rest[-1]:
                return self.send_asset("/".join(rest))
            case ["issues", slug]:
                if not self.known(slug):
                    return self.not_found()
                return self.redirect(f"/issues/{quote(slug)}/")
            case ["issues", slug, part] if self.known(slug):
                return self.send_part(slug, part)
        return self.not_found()

    def known(self, slug: str) -> bool:
        """Return True if slug names an issue file (or one the session already shows).

        Any file name `check` accepts is served, even one it only warns about (Vol-2-11);
        path_segments has already refused separators, dot names and NUL.
        """
        if not slug or slug.startswith(".") or any(c in slug for c in "/\\\0"):
            return False
        session = self.server.session
        workspace = session.workspace
        on_disk = any((workspace.issues_dir / f"{slug}{s}").is_file() for s in (".yaml", ".yml"))
        return on_disk or slug in session.open_slugs()

    def host_allowed(self) -> bool:
        bound = str(self.server.server_address[0])
        if not is_loopback(bound):
            return True  # the editor chose to serve the network with --host
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name)

    def send_part(self, slug: str, part: str) -> None:
        state = self.server.session.state(slug)
        parts = state.good
        if part == "":
            return self.send_body(page.issue_page(state), "text/html")
        if part == "state.json":
            body = json.dumps(state.summary(), ensure_ascii=False)
            return self.send_body(body, "application/json")
        if part == f"{slug}.pdf":
            if parts is None:
                return self.send_text(HTTPStatus.SERVICE_UNAVAILABLE, "not rendered yet\n")
            return self.send_lazy(parts.pdf.get, "application/pdf")
        if part not in self.ISSUE_PARTS:
            return self.not_found()
        if parts is None:
            return self.send_body(NOT_YET, "text/html", status=HTTPStatus.SERVICE_UNAVAILABLE)
        if part == "email.html":
            scheme = parse_qs(urlsplit(self.path).query).get("scheme", ["light"])[0]
            html = with_color_scheme(parts.html, "dark" if scheme == "dark" else "light")
            return self.send_body(html, "text/html", policy=EMAIL_POLICY)
        if part == "text.txt":
            return self.send_body(parts.text, "text/plain")
        return self.send_lazy(parts.print_html.get, "text/html", policy=EMAIL_POLICY)

    def send_lazy(self, make: Callable[[], str | bytes], kind: str, **options) -> None:
        """Send a part made on first request (print, PDF); its failure is a page, not a crash."""
        try:
            body = make()
        except Exception as exc:
            lines = "\n".join(d["text"] for d in map(diagnostic_data, problems_of(exc)))
            return self.send_text(HTTPStatus.INTERNAL_SERVER_ERROR, f"cannot render:\n{lines}\n")
        self.send_body(body, kind, **options)

    def send_asset(self, relative: str) -> None:
        path = asset_path(self.server.session.workspace, relative)
        if path is None:
            return self.not_found()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            body = path.read_bytes()
        except OSError:
            return self.not_found()
        self.send_body(body, kind)

    def stream_events(self) -> None:
        """Send server-sent events until the tab closes or the preview stops."""
        session = self.server.session
        inbox = session.subscribe()
        self.close_connection = True
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command == "HEAD":
            return session.unsubscribe(inbox)
        try:
            # retry: reconnect quickly after a restart of the preview
            hello = {"type": "hello", "generations": session.generations()}
            self.write_event(hello, retry=500)
            while True:
                try:
                    event = inbox.get(timeout=KEEPALIVE)
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    continue
                if event is None:
                    break
                self.write_event(event)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the tab went away
        finally:
            session.unsubscribe(inbox)

    def write_event(self, event: dict, retry: int | None = None) -> None:
        data = json.dumps(event, ensure_ascii=False)
        head = f"retry: {retry}\n" if retry else ""
        self.wfile.write(f"{head}event: {event['type']}\ndata: {data}\n\n".encode())
        self.wfile.flush()

    def redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def not_found(self) -> None:
        self.send_text(HTTPStatus.NOT_FOUND, "not found\n")

    def send_text(self, status: HTTPStatus, text: str) -> None:
        self.send_body(text, "text/plain", status=status)

    def send_body(
        self,
        body: str | bytes,
        kind: str,
        *,
        status: HTTPStatus = HTTPStatus.OK,
        policy: str | None = None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        if isinstance(body, str):
            kind += "; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")  # every save must show, images too
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if policy:
            self.send_header("Content-Security-Policy", policy)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class LivePreview:
    """The whole preview: a session, a watcher feeding it and a server showing it."""

    def __init__(
        self,
        workspace: Workspace,
        host: str = "127.0.0.1",
        port: int = 8000,
        renderer: Renderer = render_parts,
        on_render: Callable[[IssueState], None] | None = None,
    ):
        self.session = PreviewSession(workspace, renderer, on_render)
        try:
            self.server = PreviewServer((host, port), self.session)
        except OSError as exc:
            hint = "; pass --port 0 to take a free one" if exc.errno == errno.EADDRINUSE else ""
            raise PreviewError(
                f"cannot serve on {host}:{port}: {exc.strerror or exc}{hint}"
            ) from None
        self.watcher = Watcher(workspace, self.session.files_changed)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def serve_forever(self) -> None:
        """Watch and serve until interrupted (Ctrl-C raises KeyboardInterrupt here)."""
        self.watcher.start()
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def start(self) -> LivePreview:
        """Watch and serve from background threads (tests, benchmarks)."""
        self.watcher.start()
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching, end the event streams and close the socket."""
        self.watcher.stop()
        self.session.close()
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> LivePreview:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
