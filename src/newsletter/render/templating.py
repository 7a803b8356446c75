"""The Jinja2 environment every renderer shares: workspace templates over the packaged theme."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from newsletter.errors import Diagnostic, RenderError, display_path

if TYPE_CHECKING:
    import jinja2

    from newsletter.workspace import Workspace

PACKAGE_TEMPLATES = "templates"


def _autoescape(name: str | None) -> bool:
    # Plain-text templates (*.txt.j2) must not get HTML entities; everything else is markup.
    return not (name or "").endswith((".txt.j2", ".txt"))


def environment(workspace: Workspace | None) -> jinja2.Environment:
    """Return a Jinja2 environment: workspace templates/ first, then the packaged defaults.

    Autoescaping and StrictUndefined keep YAML content data: it is escaped wherever it
    lands, and a template naming a missing field fails instead of printing nothing.
    """
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if workspace is not None and workspace.templates_dir.is_dir():
        loaders.append(jinja2.FileSystemLoader(workspace.templates_dir))
    loaders.append(jinja2.PackageLoader("newsletter", PACKAGE_TEMPLATES))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_template(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render one template, turning template mistakes into a RenderError naming file and line."""
    import jinja2

    try:
        template = env.get_template(name)
        return template.render(**context)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"template '{exc.name}' not found (workspace templates/ or package)"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        where = display_path_of(exc.filename, exc.name or name)
        raise RenderError(
            f"template {where} has a syntax error",
            [Diagnostic(where, exc.lineno or 1, 1, exc.message or str(exc))],
        ) from None
    except (jinja2.UndefinedError, TypeError, ValueError) as exc:
        where, line = _template_frame(exc, name)
        raise RenderError(
            f"template {where} failed", [Diagnostic(where, line, 1, str(exc))]
        ) from None


def display_path_of(filename: str | None, fallback: str) -> str:
    """Return a template's file as the user would type it."""
    from pathlib import Path

    return display_path(Path(filename)) if filename else fallback


def _template_frame(exc: BaseException, name: str) -> tuple[str, int]:
    """Return the template file and line where a render error happened (Jinja keeps frames)."""
    tb = exc.__traceback__
    found = (name, 1)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = (display_path_of(filename, name), tb.tb_lineno)
        tb = tb.tb_next
    return found
