"""The Jinja2 environment: a workspace's templates/ first, then the packaged defaults.

Autoescape is on for every template that produces markup (MJML, HTML), and
undefined names are errors, so content from YAML can never become template code
and a typo in a template fails loudly instead of rendering nothing.

Workspace templates are code anyone with write access to the workspace can change
(a pull request, in CI where the send secrets live), so they run in Jinja2's
immutable sandbox: no attribute of Python's internals (`__class__`, `__globals__`,
`mro`), no mutating the values they are given. Compiled templates are cached outside
the workspace, as a cache file committed into it would be code run unsandboxed.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import Diagnostic, NewsletterError, RenderError, display_path

if TYPE_CHECKING:
    import jinja2

    from newsletter.workspace import Workspace

PLAIN_SUFFIXES = (".txt", ".txt.j2", ".text.j2")


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith(PLAIN_SUFFIXES)


def cache_dir() -> Path | None:
    """Return the user's folder for compiled templates, None when caching is off.

    $XDG_CACHE_HOME/newsletter/templates, or NEWSLETTER_CACHE_DIR/templates (see cache.py).
    """
    from newsletter.cache import cache_root

    root = cache_root()
    return Path(root, "templates") if root is not None else None


def _bytecode_cache(folder: Path | None):
    """Return a cache of compiled templates in folder, or None where it cannot be written.

    Compiling the templates takes about 25 ms of each `newsletter render`; entries are
    keyed by the template's path and source, so an edited template is compiled afresh.
    """
    import jinja2

    class QuietCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket) -> None:
            # a read-only cache folder still renders, just without the cache
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    # Sandboxed code differs from plain code for the same source: never mix the two.
    return QuietCache(str(folder), pattern="__sandboxed_%s.cache")


@lru_cache(maxsize=8)
def _environment(templates_dir: Path, cache: Path | None = None) -> jinja2.Environment:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(templates_dir),
            jinja2.PackageLoader("newsletter", "templates"),
        ]
    )
    return ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(cache),
        # No in-memory template cache: it would miss a workspace override created after
        # the package default was loaded (a running preview). The bytecode cache keeps
        # loading at about a millisecond.
        cache_size=0,
    )


def environment(workspace: Workspace) -> jinja2.Environment:
    """Return the template environment of a workspace (cached; templates reload on change)."""
    return _environment(workspace.templates_dir.resolve(), cache_dir())


def render_template(workspace: Workspace, name: str, context: dict[str, Any]) -> str:
    """Render a template by name, turning template errors into a RenderError at file:line."""
    import jinja2
    from jinja2.sandbox import SecurityError

    env = environment(workspace)
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"template '{exc.name}' not found (workspace templates/ or package)"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        where = _shown(exc.filename, exc.name or name)
        raise RenderError(
            f"template {where} has a syntax error",
            [Diagnostic(where, exc.lineno or 1, 0, exc.message or str(exc))],
        ) from None
    except NewsletterError:
        raise
    except SecurityError as exc:
        raise _located(exc, name, f"refused by the template sandbox: {exc}") from None
    except RecursionError as exc:
        raise _located(exc, name, "templates include each other without end") from None
    except Exception as exc:  # a template's own runtime error ({{ 1/0 }}), not ours
        raise _located(exc, name, _describe(exc)) from None


def _describe(exc: Exception) -> str:
    """Return a runtime error as a user reads it: 'division by zero (ZeroDivisionError)'."""
    import jinja2

    if isinstance(exc, (jinja2.UndefinedError, jinja2.TemplateError)):
        return str(exc)
    return f"{exc} ({type(exc).__name__})" if str(exc) else type(exc).__name__


def _located(exc: BaseException, name: str, message: str) -> RenderError:
    """Return a RenderError at the template file and line where exc happened."""
    where, line = _template_frame(exc, name)
    return RenderError(f"template {where} failed: {message}", [Diagnostic(where, line, 0, message)])


def _shown(filename: str | None, fallback: str) -> str:
    """Return a template's file as the user would type it."""
    return display_path(Path(filename)) if filename else fallback


def _template_frame(exc: BaseException, name: str) -> tuple[str, int]:
    """Return the template file and line where a render error happened (Jinja keeps frames)."""
    tb = exc.__traceback__
    found = (name, 1)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = (_shown(filename, name), tb.tb_lineno)
        tb = tb.tb_next
    return found
