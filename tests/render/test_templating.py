"""The shared Jinja2 environment: overrides, escaping, strictness, located errors."""

from __future__ import annotations

import pytest

from newsletter.errors import RenderError
from newsletter.render.templates import environment, render_template
from newsletter.workspace import Workspace


def _workspace(tmp_path, files: dict[str, str]) -> Workspace:
    templates = tmp_path / "templates"
    templates.mkdir(parents=True)
    for name, text in files.items():
        (templates / name).write_text(text, encoding="utf-8")
    return Workspace(tmp_path)


def test_workspace_template_overrides_the_packaged_one(tmp_path):
    ws = _workspace(tmp_path, {"print.html.j2": "mine {{ x }}"})
    assert render_template(ws, "print.html.j2", {"x": 1}) == "mine 1"


def test_packaged_template_is_used_when_the_workspace_has_none(tmp_path):
    env = environment(Workspace(tmp_path))
    source, filename, _ = env.loader.get_source(env, "print.html.j2")
    assert "newsletter/templates" in filename.replace("\\", "/")
    assert "<html" in source


def test_content_is_escaped_in_html_but_not_in_text_templates(tmp_path):
    ws = _workspace(tmp_path, {"a.html.j2": "{{ v }}", "a.txt.j2": "{{ v }}"})
    assert render_template(ws, "a.html.j2", {"v": "<b>&"}) == "&lt;b&gt;&amp;"
    assert render_template(ws, "a.txt.j2", {"v": "<b>&"}) == "<b>&"


def test_a_missing_field_is_an_error_located_in_the_template(tmp_path):
    ws = _workspace(tmp_path, {"a.html.j2": "line one\n{{ nothing.here }}\n"})
    with pytest.raises(RenderError) as caught:
        render_template(ws, "a.html.j2", {})
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.path.endswith("a.html.j2")
    assert diagnostic.line == 2
    assert "nothing" in diagnostic.message


def test_a_syntax_error_names_file_and_line(tmp_path):
    ws = _workspace(tmp_path, {"a.html.j2": "ok\n{% if %}\n"})
    with pytest.raises(RenderError) as caught:
        render_template(ws, "a.html.j2", {})
    assert caught.value.diagnostics[0].line == 2


def test_an_unknown_template_is_a_render_error(tmp_path):
    with pytest.raises(RenderError, match=r"nope\.html\.j2"):
        render_template(Workspace(tmp_path), "nope.html.j2", {})


ESCAPES = {
    "globals": "{{ cycler.__init__.__globals__.os.system('touch pwned') }}",
    "mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "import": "{{ self._TemplateReference__context.cycler.__init__.__globals__ }}",
    "format": "{{ '{0.__class__}'.format(1) }}",
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_template_cannot_reach_python_internals(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    ws = _workspace(tmp_path, {"a.html.j2": "one\ntwo\n" + ESCAPES[case] + "\n"})
    with pytest.raises(RenderError) as caught:
        render_template(ws, "a.html.j2", {})
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.path.endswith("templates/a.html.j2")
    assert diagnostic.line == 3
    assert not (tmp_path / "pwned").exists()


def test_a_template_cannot_change_the_values_it_is_given(tmp_path):
    ws = _workspace(tmp_path, {"a.html.j2": "{{ links.append('x') }}"})
    links = ["a"]
    with pytest.raises(RenderError):
        render_template(ws, "a.html.j2", {"links": links})
    assert links == ["a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\n{{ 1/0 }}\n", "division by zero"),
        ("a\nb\n{% include 'a.html.j2' %}\n", "include each other"),
        ("{{ 'x' * 'y' }}", "TypeError"),
    ],
)
def test_runtime_errors_are_located_in_the_template(tmp_path, text, message):
    ws = _workspace(tmp_path, {"a.html.j2": text})
    with pytest.raises(RenderError) as caught:
        render_template(ws, "a.html.j2", {})
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.path.endswith("templates/a.html.j2")
    assert diagnostic.line == text.count("\n", 0, text.index("{")) + 1
    assert message in diagnostic.message


def test_compiled_templates_are_cached_outside_the_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ws = _workspace(tmp_path / "ws", {"a.html.j2": "{{ 1 + 1 }}"})
    assert render_template(ws, "a.html.j2", {}) == "2"
    assert list((tmp_path / "cache" / "newsletter" / "templates").iterdir())
    assert not (tmp_path / "ws" / ".newsletter").exists()
