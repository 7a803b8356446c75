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
    """Render a template by name, turning template errors into a located RenderError."""
    import jinja2

    env = environment(workspace)
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise RenderError(
            f"template {name} has a syntax error",
            [Diagnostic(display_path(Path(where)), exc.lineno or 1, 1, exc.message or "")],
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name} not found in {workspace.templates_dir}") from None
    except jinja2.UndefinedError as exc:
        raise RenderError(f"template {name}: {exc.message}") from None
