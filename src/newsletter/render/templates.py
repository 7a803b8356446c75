"""The Jinja2 environment: a workspace's templates/ first, then the packaged defaults.

Autoescape is on for every template that produces markup (MJML, HTML), and
undefined names are errors, so content from YAML can never become template code
and a typo in a template fails loudly instead of rendering nothing.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import Diagnostic, RenderError, display_path

if TYPE_CHECKING:
    import jinja2

    from newsletter.workspace import Workspace

PLAIN_SUFFIXES = (".txt", ".txt.j2", ".text.j2")


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith(PLAIN_SUFFIXES)


def _bytecode_cache(folder: Path | None):
    """Return a cache of compiled templates in folder, or None where it cannot be written.

    Compiling the templates takes about 25 ms of each `newsletter render`; entries are
    keyed by the template's source, so an edited template is compiled afresh.
    """
    import jinja2

    class QuietCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket) -> None:
            # a read-only workspace still renders, just without the cache
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return QuietCache(str(folder))


@lru_cache(maxsize=8)
def _environment(templates_dir: Path, cache_dir: Path | None = None) -> jinja2.Environment:
    import jinja2

    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(templates_dir),
            jinja2.PackageLoader("newsletter", "templates"),
        ]
    )
    return jinja2.Environment(
        loader=loader,
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(cache_dir),
        # No in-memory template cache: it would miss a workspace override created after
        # the package default was loaded (a running preview). The bytecode cache keeps
        # loading at about a millisecond.
        cache_size=0,
    )


def environment(workspace: Workspace) -> jinja2.Environment:
    """Return the template environment of a workspace (cached; templates reload on change)."""
    return _environment(
        workspace.templates_dir.resolve(), (workspace.state_dir / "cache" / "templates").resolve()
    )


def render_template(workspace: Workspace, name: str, context: dict[str, Any]) -> str:
    """Render a template by name, turning template errors into a RenderError at file:line."""
    import jinja2

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
            [Diagnostic(where, exc.lineno or 1, 1, exc.message or str(exc))],
        ) from None
    except (jinja2.UndefinedError, TypeError, ValueError) as exc:
        where, line = _template_frame(exc, name)
        raise RenderError(
            f"template {where} failed: {exc}", [Diagnostic(where, line, 1, str(exc))]
        ) from None


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
