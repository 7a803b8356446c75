"""Load newsletter.yaml and issue files into models, locating every problem."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic

from newsletter.checks import Rules, check_issue, check_series
from newsletter.errors import Diagnostic, ValidationError, display_path
from newsletter.markup import FieldError, TextError
from newsletter.model import Issue, Series
from newsletter.source import LoadedIssue, Source, YamlPath, format_path, read_yaml
from newsletter.workspace import Workspace

if TYPE_CHECKING:
    from newsletter.cache import LoadCache

M = TypeVar("M", bound=pydantic.BaseModel)


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
        _report_all(source, model, exc.errors(include_url=False))
        return None
    return result if source.ok else None


def _report_all(
    source: Source, model: type[pydantic.BaseModel], errors: list[dict[str, Any]]
) -> None:
    """Report every error; a missing field with a misspelt sibling is reported once, there."""
    extras = {tuple(e["loc"]) for e in errors if e["type"] == "extra_forbidden"}
    paired: dict[YamlPath, str] = {}  # misspelt key's path -> the required field it stands for
    for error in errors:
        path = tuple(error["loc"])
        if error["type"] != "missing":
            continue
        siblings = [p[-1] for p in extras if p[:-1] == path[:-1] and p not in paired]
        close = _close(str(path[-1]), [str(k) for k in siblings])
        if close:
            paired[(*path[:-1], close[0])] = str(path[-1])
            error["type"] = "paired"
    for error in errors:
        path = tuple(error["loc"])
        if error["type"] == "paired" or source.already_reported(path):
            continue
        if path in paired:
            required = paired[path]
            source.error(
                path,
                f"unknown field '{path[-1]}'; did you mean '{required}'? ({required} is required)",
                key=True,
            )
            continue
        _report(source, model, error)


def _report(source: Source, model: type[pydantic.BaseModel], error: dict[str, Any]) -> None:
    path: YamlPath = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        owner = _model_at(model, path[:-1])
        names = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
        message = f"unknown field '{path[-1]}'"
        close = _close(str(path[-1]), names)
        message += (
            f"; did you mean '{close[0]}'?" if close else f"; expected one of: {', '.join(names)}"
        )
        source.error(path, message, key=True)
        return
    if kind == "missing":
        # Located at the mapping that lacks it; marked by its own path, so that the
        # mapping's other problems are still reported.
        line, column = source.position(path[:-1])
        source.reported.add(path)
        source.diagnostics.append(
            Diagnostic(source.path, line, column, "field required", format_path(path))
        )
        return
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError) and cause.field:
        source.error((*path, cause.field), str(cause), key=True)
        return
    if isinstance(cause, TextError) and isinstance(_at(source.data, path), str):
        message = _message(error)
        source.error_at(path, cause.needle, message)
        return
    source.error(path, _message(error, path))


def _at(data: Any, path: YamlPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _close(name: str, names: list[str]) -> list[str]:
    import difflib  # only when a name is wrong: 5 ms of imports spared otherwise

    return difflib.get_close_matches(name, names, n=1, cutoff=0.6)


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
    "bool_type": "expected true or false",
    "list_type": "expected a list (lines starting with '- ')",
    "model_type": "expected fields (name: value)",
    "model_attributes_type": "expected fields (name: value)",
    "dict_type": "expected fields (name: value)",
}
# The form a patterned field takes, with an example, by field name.
_FORMS = {
    "color": "a colour as #rgb or #rrggbb, e.g. #1f4e79",
    "language": "a language code, e.g. en or pt-BR",
    "merge_fields": "field names in lowercase letters, digits and single '_', e.g. company",
}
DATE_FORM = "YYYY-MM-DD, e.g. 2024-06-01"


def _message(error: dict[str, Any], path: YamlPath = ()) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind.startswith(("date_", "datetime_")):
        return f"expected {DATE_FORM}; got {_shown(value)}"
    if kind in _EXPECTED:
        shown = "nothing" if value is None else f"{type(value).__name__} {value!r}"
        return f"{_EXPECTED[kind]}, got {shown[:60]}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "greater_than_equal":
        return f"must be {error['ctx']['ge']} or more, got {value!r}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(error["ctx"]["expected"]))
        example = f"e.g. {path[-1]}: {choices[-1]}" if path and choices else ""
        return f"expected one of {', '.join(choices)} ({example}); got {_shown(value)}"
    if kind == "string_pattern_mismatch":
        names = [p for p in path if isinstance(p, str)]
        form = next((_FORMS[n] for n in reversed(names) if n in _FORMS), None)
        if form:
            return f"expected {form}; got {_shown(value)}"
        return f"'{value}' does not have the expected form"
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _shown(value: Any) -> str:
    return "nothing" if value is None else repr(str(value))[:60]


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
    path: Path, series: Series | None, workspace: Workspace, rules: Rules | None = None
) -> tuple[LoadedIssue | None, Source]:
    """Load one issue file, filling the title and subject defaults from the series."""
    source = read_yaml(path, display_path(path))
    issue = validate(source, Issue)
    # Checked even when the schema found problems: every problem of the file at once.
    check_issue(source, workspace, rules or Rules.of(series))
    if issue is None or not source.ok:
        return None, source
    if series is not None:
        title = issue.title or f"{series.name} {issue.label}"
        issue = issue.model_copy(update={"title": title, "subject": issue.subject or title})
    return LoadedIssue(path.stem, path, issue, source), source


def _checked_series(workspace: Workspace) -> tuple[Series | None, Source]:
    series, source = load_series(workspace)
    check_series(source, workspace, series)
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

    cache = LoadCache.open(workspace)
    series, series_source = cache.load(
        workspace.config_path, lambda: _checked_series(workspace), _series_files
    )
    rules = Rules.of(series, series_source)
    diagnostics = list(series_source.diagnostics)
    loaded: list[LoadedIssue] = []
    for path in workspace.issue_paths() if paths is None else paths:
        if series is None:  # titles and checks differ without settings: nothing to reuse
            issue, source = load_issue(path, series, workspace, rules)
        else:
            issue, source = cache.load(
                path,
                lambda path=path: load_issue(path, series, workspace, rules),
                lambda loaded: _issue_files(series, loaded),
            )
        diagnostics.extend(source.diagnostics)
        if issue is not None:
            loaded.append(issue)
    if clashes:
        diagnostics.extend(duplicate_numbers(loaded, workspace, cache))
    diagnostics.sort(key=lambda d: (d.path != series_source.path, d.path, d.line, d.column))
    return series, loaded, diagnostics


def duplicate_numbers(
    loaded: list[LoadedIssue], workspace: Workspace, cache: LoadCache | None = None
) -> list[Diagnostic]:
    """Report issues that share a volume and number with another issue of the workspace."""
    seen: dict[tuple[int, int], str] = {}
    given = {item.path for item in loaded}  # usually the very paths listed: no resolving
    loaded_paths: set[Path] | None = None
    for path in workspace.issue_paths():
        if path in given:
            continue
        if loaded_paths is None:
            loaded_paths = {path.resolve() for path in given}
        if path.resolve() in loaded_paths:
            continue
        summary = cache.summary(path) if cache is not None else None
        if summary is not None and summary["number"]:  # unchanged since loaded: no parsing
            seen.setdefault((summary["number"][0], summary["number"][1]), display_path(path))
            continue
        data = read_yaml(path, display_path(path)).data
        if (
            isinstance(data, dict)
            and isinstance(data.get("volume"), int)
            and isinstance(data.get("number"), int)
        ):
            seen.setdefault((data["volume"], data["number"]), display_path(path))
    found = []
    for item in sorted(loaded, key=lambda i: str(i.path)):
        key = (item.issue.volume, item.issue.number)
        if key in seen:
            line, column = item.source.position(("number",))
            found.append(
                Diagnostic(
                    item.source.path,
                    line,
                    column,
                    f"Vol {key[0]}.{key[1]} is also used by {seen[key]}",
                    "number",
                )
            )
        else:
            seen[key] = item.source.path
    return found


def require_issue(
    workspace: Workspace, name: str, *, clashes: bool = True
) -> tuple[Series, LoadedIssue, list[Diagnostic]]:
    """Load the series and one issue, raising ValidationError with every problem if either fails."""
    path = workspace.issue_path(name)
    series, issues, diagnostics = load_workspace(workspace, [path], clashes=clashes)
    if series is None or not issues or any(d.is_error for d in diagnostics):
        raise ValidationError(f"{display_path(path)} has problems", diagnostics)
    return series, issues[0], diagnostics
