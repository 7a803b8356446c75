"""Plain words for the YAML slips editors make, in place of the parser's own.

The five commonest: an indentation that does not line up with its siblings, an
unquoted ': ' inside a value, a quote never closed, a list entry without '- ', and
a tab. Each gets one sentence saying what to do, at the parser's position (an
unclosed quote: where it opens).
"""

from __future__ import annotations

import yaml

from newsletter.errors import Diagnostic


def syntax_diagnostic(exc: yaml.MarkedYAMLError, text: str, display: str) -> Diagnostic:
    """Return the parser's error at its position, with what to do for the common slips."""
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    hint = ""
    if "quoted scalar" in (exc.context or "") and exc.context_mark is not None:
        opened = exc.context_mark
        line, column = opened.line + 1, opened.column + 1
        hint = (
            f"the quote opened here is never closed; end the value with the same quote "
            f"({text[opened.index]}) or remove the quote"
        )
    elif problem.startswith("mapping values are not allowed"):
        before = here[: column - 1]
        if ": " in before or before.rstrip().endswith(":"):
            key = before.split(":", 1)[0].strip().lstrip("- ")
            hint = (
                f"the value of '{key}' contains ': '; put the whole value in quotes, "
                f'e.g. {key}: "{before.split(":", 1)[1].strip()}: ..."'
            )
        else:
            hint = _indent_hint(lines, line)
    elif "expected '-' indicator" in problem:
        dash = _list_dash_column(lines, line)
        indent = len(here) - len(here.lstrip(" "))
        if dash is not None and indent == dash:
            hint = (
                f"a new list entry needs '- ' in front: write '- {here.strip()}' "
                "(or indent the line under the entry above)"
            )
        else:
            hint = _indent_hint(lines, line)
    elif problem.startswith(("did not find expected key", "expected <block end>")):
        hint = _indent_hint(lines, line)
    elif "nesting depth" in problem:
        hint = "YAML nesting is too deep"
    elif "'\\t'" in problem or "\t" in problem:
        hint = "a tab character is not allowed here; use spaces"
    if hint.startswith("indented"):
        column = len(here) - len(here.lstrip(" ")) + 1
    message = hint or f"YAML syntax: {problem}"
    return Diagnostic(display, line, column, message)


def _indent_hint(lines: list[str], line: int) -> str:
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    spaces = len(here) - len(here.lstrip(" "))
    above = next((t for t in reversed(lines[: line - 1]) if t.strip()), "")
    stripped = above.lstrip(" ")
    expected = len(above) - len(stripped) + (2 if stripped.startswith("- ") else 0)
    return (
        f"indented by {_spaces(spaces)}, but the field above it by {_spaces(expected)}; fields "
        "of the same block must line up (indent with spaces to the same column)"
    )


def _spaces(count: int) -> str:
    return f"{count} space" if count == 1 else f"{count} spaces"


def _list_dash_column(lines: list[str], line: int) -> int | None:
    """Return the indentation of the nearest '- ' list entry above line, if any."""
    for text in reversed(lines[: line - 1]):
        stripped = text.lstrip(" ")
        if stripped.startswith("- ") or stripped == "-":
            return len(text) - len(stripped)
    return None
