"""Load newsletter.yaml and issue files into models, locating every problem."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from newsletter.errors import Diagnostic, ValidationError, display_path
from newsletter.model import Issue, Series
from newsletter.source import Source, YamlPath, format_path, read_yaml
from newsletter.workspace import Workspace

M = TypeVar("M", bound=pydantic.BaseModel)


@dataclass(frozen=True)
class LoadedIssue:
    """An issue model with the file it came from and the positions of its values."""

    slug: str
    path: Path
    issue: Issue
    source: Source


def validate(source: Source, model: type[M]) -> M | None:
    """Validate source data against model, turning each pydantic error into a diagnostic."""
    if source.data is None and not source.ok:
        return None  # unreadable: syntax, encoding or budget errors say why
    if not isinstance(source.data, dict):
        kind = type(source.data).__name__
        source.error((), f"expected fields (name: value) at the top of the file, got {kind}")
        return None
    try:
        result = model.model_validate(source.data)
    except pydantic.ValidationError as exc:
        for error in exc.errors(include_url=False):
            if not source.already_reported(tuple(error["loc"])):
                _report(source, model, error)
        return None
    return result if source.ok else None


def _report(source: Source, model: type[pydantic.BaseModel], error: dict[str, Any]) -> None:
    path: YamlPath = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        owner = _model_at(model, path[:-1])
        names = list(owner.model_fields) if owner else []
        if owner:
            names = [f.alias or n for n, f in owner.model_fields.items()]
        message = f"unknown field '{path[-1]}'"
        close = difflib.get_close_matches(str(path[-1]), names, n=1, cutoff=0.6)
        message += (
            f"; did you mean '{close[0]}'?" if close else f"; expected one of: {', '.join(names)}"
        )
        source.error(path, message, key=True)
        return
    if kind == "missing":
        source.error(path[:-1], "field required")
        source.diagnostics[-1] = _with_field(source.diagnostics[-1], format_path(path))
        return
    source.error(path, _message(error))


def _with_field(diagnostic: Diagnostic, field: str) -> Diagnostic:
    return Diagnostic(
        diagnostic.path,
        diagnostic.line,
        diagnostic.column,
        diagnostic.message,
        field,
        diagnostic.severity,
    )


_EXPECTED = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "date_type": "expected a date as YYYY-MM-DD",
    "list_type": "expected a list (lines starting with '- ')",
    "model_type": "expected fields (name: value)",
    "model_attributes_type": "expected fields (name: value)",
    "dict_type": "expected fields (name: value)",
}


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind in _EXPECTED:
        value = error.get("input")
        shown = "nothing" if value is None else f"{type(value).__name__} {value!r}"
        return f"{_EXPECTED[kind]}, got {shown[:60]}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "greater_than_equal":
        return f"must be {error['ctx']['ge']} or more, got {error.get('input')!r}"
    if kind == "literal_error":
        return f"got {error.get('input')!r}; expected {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"'{error.get('input')}' does not have the expected form"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _model_at(model: type[pydantic.BaseModel], path: YamlPath) -> type[pydantic.BaseModel] | None:
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        fields = current.model_fields
        field = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if field is None:
            return None
        current = _inner_model(field.annotation)
        if current is None:
            return None
    return current


def _inner_model(annotation: Any) -> type[pydantic.BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found:
                return found
    return None


def load_series(workspace: Workspace) -> tuple[Series | None, Source]:
    """Load newsletter.yaml."""
    source = read_yaml(workspace.config_path, display_path(workspace.config_path))
    return validate(source, Series), source


def load_issue(
    path: Path, series: Series | None, workspace: Workspace
) -> tuple[LoadedIssue | None, Source]:
    """Load one issue file, filling the title and subject defaults from the series."""
    from newsletter.checks import check_files

    source = read_yaml(path, display_path(path))
    issue = validate(source, Issue)
    if issue is None:
        return None, source
    if series is not None:
        title = issue.title or f"{series.name} {issue.label}"
        issue = issue.model_copy(update={"title": title, "subject": issue.subject or title})
    check_files(issue, source, workspace)
    if not source.ok:
        return None, source
    return LoadedIssue(path.stem, path, issue, source), source


def _checked_series(workspace: Workspace) -> tuple[Series | None, Source]:
    from newsletter.checks import check_series

    series, source = load_series(workspace)
    if series is not None:
        check_series(series, source, workspace)
    return series, source


def _series_files(series: Series) -> list[str]:
    logo = series.brand.logo
    return [logo] if logo and not logo.startswith(("http://", "https://")) else []


def _issue_files(series: Series, loaded: LoadedIssue) -> list[str]:
    from newsletter.archive.inputs import image_sources

    return image_sources(series, loaded)


def load_workspace(
    workspace: Workspace, paths: list[Path] | None = None, *, clashes: bool = True
) -> tuple[Series | None, list[LoadedIssue], list[Diagnostic]]:
    """Load the series and the given issues (all by default); collect every diagnostic.

    clashes=False skips comparing volume and number with the other issue files, for
    callers that have checked the whole workspace already (a build's workers).
    """
    from newsletter.cache import LoadCache
    from newsletter.checks import duplicate_numbers

    cache = LoadCache.open(workspace)
    series, series_source = cache.load(
        workspace.config_path, lambda: _checked_series(workspace), _series_files
    )
    diagnostics = list(series_source.diagnostics)
    loaded: list[LoadedIssue] = []
    for path in workspace.issue_paths() if paths is None else paths:
        if series is None:  # titles and checks differ without settings: nothing to reuse
            issue, source = load_issue(path, series, workspace)
        else:
            issue, source = cache.load(
                path,
                lambda path=path: load_issue(path, series, workspace),
                lambda loaded: _issue_files(series, loaded),
            )
        diagnostics.extend(source.diagnostics)
        if issue is not None:
            loaded.append(issue)
    if clashes:
        diagnostics.extend(duplicate_numbers(loaded, workspace))
    diagnostics.sort(key=lambda d: (d.path != series_source.path, d.path, d.line, d.column))
    return series, loaded, diagnostics


def require_issue(
    workspace: Workspace, name: str, *, clashes: bool = True
) -> tuple[Series, LoadedIssue, list[Diagnostic]]:
    """Load the series and one issue, raising ValidationError with every problem if either fails."""
    path = workspace.issue_path(name)
    series, issues, diagnostics = load_workspace(workspace, [path], clashes=clashes)
    if series is None or not issues or any(d.is_error for d in diagnostics):
        raise ValidationError(f"{display_path(path)} has problems", diagnostics)
    return series, issues[0], diagnostics
