"""The WSGI application of `newsletter serve`: one-click unsubscribe and a health check.

Run it under any WSGI server with the app factory (the workspace comes from
NEWSLETTER_WORKSPACE or the current folder, the secret from NEWSLETTER_UNSUBSCRIBE_SECRET):

    gunicorn --workers 2 'newsletter.serve.app:create_app()'
    waitress-serve --call newsletter.serve.app:create_app

Following listmonk's public handler: a GET shows a page and never acts (link scanners
fetch every URL in a message), a POST acts, and a bad token, a token for another list or a
malformed address all get the same neutral answer, which says nothing about who is on a
list. Nothing here reads the Host header, sets a cookie or redirects.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from newsletter.errors import WorkspaceError
from newsletter.model import Series
from newsletter.send import suppression
from newsletter.send.unsubscribe import PROBE_ADDRESS, SECRET_ENV, endpoint, same, verify
from newsletter.state import Store, open_store
from newsletter.workspace import Workspace, find_workspace

MAX_BODY = 4096  # a one-click or button POST is a few dozen bytes
WEBHOOK_BODY = 256 * 1024  # a provider's event (Mailgun's carries headers and more)
ONE_CLICK = "List-Unsubscribe=One-Click"
SECURITY_HEADERS = [
    # The page URL carries the token: never pass it on, never cache the page.
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    ),
]

Environ = dict
StartResponse = Callable[..., object]


@dataclass(frozen=True)
class Response:
    """A status, a content type and a body."""

    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
REASONS.update({401: "Unauthorized", 413: "Content Too Large", 500: "Internal Server Error"})
PLAIN = "text/plain; charset=utf-8"


class UnsubscribeApp:
    """The WSGI application of one workspace."""

    def __init__(
        self,
        workspace: Workspace,
        series: Series,
        secret: str,
        hooks: dict[str, str] | None = None,
    ):
        """hooks: {provider: secret} of the webhook endpoints to answer (webhooks.py)."""
        from newsletter.send.job import list_id

        if not secret:
            raise WorkspaceError(f"set {SECRET_ENV}: it verifies the unsubscribe links")
        self.workspace, self.series = workspace, series
        self.list_id = list_id(series)
        self._secret = secret
        self._local = threading.local()  # one state connection per server thread
        hooks = hooks or {}
        url = endpoint(series.base_url, series.delivery.unsubscribe_url)
        paths = {"/unsubscribe/"}
        if url:  # also where a reverse proxy passes the published path on unchanged
            paths.add(urlsplit(url).path or "/")
        self.routes: dict[str, dict[str, Callable[[Environ], Response]]] = {
            "/healthz": {"GET": self.healthz},
            **{path: {"GET": self.show, "POST": self.unsubscribe} for path in paths},
            **{
                f"/webhooks/{name}": {"POST": self.webhook(name, key)}
                for name, key in hooks.items()
            },
        }
        _ = self.store  # open (and migrate) the state now: fail at start, not at a reader

    def __repr__(self) -> str:  # never show the secret
        return f"<UnsubscribeApp {self.workspace.root}>"

    # -- WSGI -------------------------------------------------------------------------
    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.dispatch(environ)
        except Exception:  # a bug or a broken database: say so, and reveal nothing
            response = Response(500, b"Something went wrong.\n", "text/plain; charset=utf-8")
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *SECURITY_HEADERS,
            *response.headers,
        ]
        start_response(f"{response.status} {REASONS.get(response.status, '')}", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else response.body]

    def dispatch(self, environ: Environ) -> Response:
        """Find the route of a request and call its handler."""
        path = environ.get("PATH_INFO") or "/"
        methods = self.routes.get(path) or self.routes.get(path + "/")
        if methods is None:
            return self.page(404, "serve/neutral.html.j2", {"title": "Not found"})
        method = environ.get("REQUEST_METHOD", "GET")
        handler = methods.get("GET" if method == "HEAD" else method)
        if handler is None:
            response = self.page(405, "serve/neutral.html.j2", {"title": "Not allowed"})
            return replace(response, headers=(("Allow", ", ".join(methods)),))
        return handler(environ)

    # -- handlers ---------------------------------------------------------------------
    def healthz(self, environ: Environ) -> Response:
        """Answer 200 for load balancers once the database answers."""
        self.store.sync_cursor("")  # the state answers
        return Response(200, b"ok\n", "text/plain; charset=utf-8")

    def show(self, environ: Environ) -> Response:
        """Show the unsubscribe button of a valid link; never record anything."""
        fields = query(environ)
        email = self.checked(fields)
        if email is None:
            return self.invalid()
        # The form posts back to this path with the checked link only (relative: no Host).
        path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
        link = urlencode({k: fields[k] for k in ("list", "email", "token")})
        action = f"{quote(path)}?{link}"
        return self.page(200, "serve/unsubscribe.html.j2", {"email": email, "action": action})

    def unsubscribe(self, environ: Environ) -> Response:
        """Record an unsubscribe (one-click or the button), durably, before answering 200."""
        body = read_body(environ)
        if body is None:
            return self.page(413, "serve/neutral.html.j2", {"title": "Too large"})
        fields = query(environ)
        form = read_form(environ.get("CONTENT_TYPE", ""), body)
        for name in ("list", "email", "token"):  # the link's query first, else the form
            if name not in fields and form.get(name):
                fields[name] = form[name]
        email = self.checked(fields)
        if email is None:
            return self.invalid()
        source = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "link"
        suppression.record(self.store, email, "unsubscribe", source, self.list_id)
        return self.page(200, "serve/unsubscribed.html.j2", {"email": email})

    def webhook(self, name: str, key: str) -> Callable[[Environ], Response]:
        """Return the handler of one provider's webhook: verify, record, then answer 200."""
        from newsletter.serve import webhooks

        read = webhooks.reader(name, self.series.delivery)

        def handle(environ: Environ) -> Response:
            body = read_body(environ, WEBHOOK_BODY)
            if body is None:
                return Response(413, b"too large\n", PLAIN)
            try:
                events = read(key, request_headers(environ), body)
            except webhooks.Refused as refused:
                # The provider hears only 401; whoever runs the service reads why (fixed
                # words: never the body, an address or a secret).
                print(f"newsletter serve: {name} webhook refused: {refused}", file=log(environ))
                return Response(401, b"not verified\n", PLAIN)
            suppression.record_many(self.store, events, name)
            return Response(200, b"ok\n", PLAIN)

        return handle

    # -- helpers ----------------------------------------------------------------------
    def checked(self, fields: dict[str, str]) -> str | None:
        """Return the address of a link signed for this list, or None."""
        from newsletter.send.subscribers import check_address

        list_id, email, token = (fields.get(k) for k in ("list", "email", "token"))
        if not (list_id and email and token) or len(email) > 320 or len(token) > 64:
            return None
        # Both comparisons always run, in constant time, whichever fails.
        right_list = same(list_id, self.list_id)
        signed = verify(self._secret, list_id, email, token)
        if not (right_list and signed):
            return None
        if email == PROBE_ADDRESS:  # `newsletter send` checking that we answer (preflight.py)
            return email
        normalized, _ = check_address(email)
        return normalized

    def invalid(self) -> Response:
        """Return the one neutral answer to every link that is not valid."""
        return self.page(400, "serve/neutral.html.j2", {"title": "This link does not work"})

    def page(self, status: int, template: str, context: dict) -> Response:
        """Render a page of templates/serve/ in the series' brand."""
        from newsletter.render.templates import render_template

        brand = {"name": self.series.name, "color": self.series.brand.color}
        html = render_template(self.workspace, template, {"series": brand, **context})
        return Response(status, html.encode())

    @property
    def store(self) -> Store:
        """Return this thread's connection to the workspace's state store."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = open_store(self.workspace)
        return store


def query(environ: Environ) -> dict[str, str]:
    """Return the first value of each query parameter."""
    return first_values(environ.get("QUERY_STRING", ""))


def first_values(text: str) -> dict[str, str]:
    """Return the first value of each field of a urlencoded text ({} past 20 fields)."""
    try:
        parsed = parse_qs(text, max_num_fields=20)
    except ValueError:  # no link has that many: the neutral answer, not a 500
        return {}
    return {name: values[0] for name, values in parsed.items()}


def read_form(content_type: str, body: bytes) -> dict[str, str]:
    """Return the first value of each field of a urlencoded or multipart/form-data body.

    RFC 8058's own example posts List-Unsubscribe=One-Click as multipart/form-data;
    mail clients also send it urlencoded.
    """
    if content_type.lower().startswith("multipart/form-data"):
        import email.parser
        import email.policy

        wrapped = f"Content-Type: {content_type}\r\n\r\n".encode() + body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(wrapped)
        form: dict[str, str] = {}
        for part in message.iter_parts():  # none when it is not multipart after all
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and name not in form and isinstance(payload, bytes):
                form[name] = payload.decode("utf-8", "replace").strip()
        return form
    return first_values(body.decode("utf-8", "replace"))


def request_headers(environ: Environ) -> dict[str, str]:
    """Return the request's headers by lower-case name (not Content-Type or -Length)."""
    return {
        key[5:].lower().replace("_", "-"): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }


def log(environ: Environ):
    """Return the server's error stream (WSGI's wsgi.errors; stderr without one)."""
    return environ.get("wsgi.errors") or sys.stderr


def read_body(environ: Environ, limit: int = MAX_BODY) -> bytes | None:
    """Return the request body, or None when it is over limit."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length > limit:
        return None
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    # Without a length (chunked, under some servers) read one byte past the limit to see.
    body = stream.read(length) if length else stream.read(limit + 1)
    return None if len(body) > limit else body


def create_app(workspace: str | Path | None = None, secret: str | None = None) -> UnsubscribeApp:
    """Return the WSGI app of a workspace (default: NEWSLETTER_WORKSPACE, else the current one)."""
    from newsletter.errors import ValidationError
    from newsletter.loader import load_series

    if secret is None:
        secret = os.environ.get(SECRET_ENV)
    if not secret:
        raise WorkspaceError(
            f"set {SECRET_ENV} (the secret the send signed the links with): without it no "
            "unsubscribe link can be checked"
        )
    explicit = workspace if workspace is not None else os.environ.get("NEWSLETTER_WORKSPACE")
    found = find_workspace(Path(explicit) if explicit else None)
    series, source = load_series(found)
    if series is None:
        raise ValidationError(f"{found.config_path} has problems", source.diagnostics)
    from newsletter.serve.webhooks import configured

    return UnsubscribeApp(found, series, secret, configured())
