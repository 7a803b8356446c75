"""The shared Jinja2 environment: overrides, escaping, strictness, located errors."""

from __future__ import annotations

import shutil

import pytest

from newsletter.errors import RenderError
from newsletter.render.templates import cache_dir, environment, render_template
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
    _cache_in(monkeypatch, tmp_path / "cache")
    ws = _workspace(tmp_path / "ws", {"a.html.j2": "{{ 1 + 1 }}"})
    assert render_template(ws, "a.html.j2", {}) == "2"
    assert list((tmp_path / "cache" / "newsletter" / "templates").iterdir())
    assert not (tmp_path / "ws" / ".newsletter").exists()


# -- what the editor reads when a template goes wrong -----------------------------------------


def _failure(ws: Workspace, name: str, context: dict | None = None) -> tuple[str, list[str]]:
    with pytest.raises(RenderError) as caught:
        render_template(ws, name, context or {})
    return str(caught.value), [str(d) for d in caught.value.diagnostics]


def test_a_syntax_error_reads_as_one_line_at_the_template_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ws = _workspace(tmp_path, {"a.html.j2": "ok\n{% if %}\n"})
    message, [line] = _failure(ws, "a.html.j2")
    assert message == "template templates/a.html.j2 has a syntax error"
    with pytest.raises(RenderError) as caught:
        render_template(ws, "a.html.j2", {})
    assert [d.column for d in caught.value.diagnostics] == [0]  # unknown
    assert line.startswith("templates/a.html.j2:2: error: ")  # a template has no column
    assert "\n" not in line and not line.endswith((": ", "None"))


def test_a_runtime_error_reads_as_what_went_wrong_at_the_template_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ws = _workspace(tmp_path, {"a.html.j2": "a\n{{ 1/0 }}\n"})
    assert _failure(ws, "a.html.j2") == (
        "template templates/a.html.j2 failed: division by zero (ZeroDivisionError)",
        ["templates/a.html.j2:2: error: division by zero (ZeroDivisionError)"],
    )
    with pytest.raises(RenderError) as caught:
        render_template(ws, "a.html.j2", {})
    # 0: the column is unknown (the preview's overlay and the JSON output carry it as is)
    assert [d.column for d in caught.value.diagnostics] == [0]


def test_an_error_without_words_is_named_by_its_kind(tmp_path, monkeypatch):
    def silent():
        raise ValueError

    monkeypatch.chdir(tmp_path)
    ws = _workspace(tmp_path, {"a.html.j2": "a\n{{ f() }}\n"})
    assert _failure(ws, "a.html.j2", {"f": silent}) == (
        "template templates/a.html.j2 failed: ValueError",
        ["templates/a.html.j2:2: error: ValueError"],
    )


def test_sandbox_and_endless_includes_say_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ws = _workspace(
        tmp_path, {"a.html.j2": "a\n{{ ''.__class__ }}\n", "b.html.j2": "{% include 'b.html.j2' %}"}
    )
    message, [line] = _failure(ws, "a.html.j2")
    assert message.startswith("template templates/a.html.j2 failed: refused by the template ")
    assert line.startswith("templates/a.html.j2:2: error: refused by the template sandbox: ")
    message, [line] = _failure(ws, "b.html.j2")
    assert (
        message == "template templates/b.html.j2 failed: templates include each other without end"
    )
    assert line == "templates/b.html.j2:1: error: templates include each other without end"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\n{{ 1/0 }}\n", "division by zero (ZeroDivisionError)"),
        ("a\n{{ ''.__class__ }}\n", "refused by the template sandbox: "),
        ("a\n{% include 'page.html' %}\n", "templates include each other without end"),
    ],
)
def test_a_template_not_named_j2_is_still_named_when_it_fails(tmp_path, text, message):
    # Only *.j2 frames are recognised as template lines: such a file is named, at its top.
    ws = _workspace(tmp_path, {"page.html": text})
    found, [line] = _failure(ws, "page.html")
    assert found.startswith(f"template page.html failed: {message}")
    assert line.startswith(f"page.html:1: error: {message}")


@pytest.mark.parametrize(
    ("name", "escaped"),
    [("a.txt.j2", False), ("a.text.j2", False), ("a.txt", False), ("a.mjml.j2", True),
     ("a.html", True), ("a.txt.html.j2", True)],
)  # fmt: skip
def test_only_plain_text_templates_leave_content_unescaped(tmp_path, name, escaped):
    ws = _workspace(tmp_path, {name: "{{ v }}"})
    assert render_template(ws, name, {"v": "<b>&"}) == ("&lt;b&gt;&amp;" if escaped else "<b>&")


# -- the compiled-template cache: outside the workspace, private, never in the way -------------


def _cache_in(monkeypatch, folder) -> None:
    monkeypatch.delenv("NEWSLETTER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))


def test_the_cache_lives_in_the_users_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NEWSLETTER_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "newsletter" / "templates"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # set but empty: the default
    assert cache_dir() == tmp_path / ".cache" / "newsletter" / "templates"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "newsletter" / "templates"


def test_the_cache_folder_is_private_and_holds_sandboxed_code_only(tmp_path, monkeypatch):
    _cache_in(monkeypatch, tmp_path / "cache")
    ws = _workspace(tmp_path / "ws", {"a.html.j2": "{{ 1 + 1 }}"})
    assert render_template(ws, "a.html.j2", {}) == "2"
    folder = tmp_path / "cache" / "newsletter" / "templates"
    assert folder.stat().st_mode & 0o777 == 0o700  # compiled templates are code
    names = [p.name for p in folder.iterdir()]
    assert names and all(n.startswith("__sandboxed_") for n in names)


def test_an_existing_cache_folder_is_used(tmp_path, monkeypatch):
    folder = tmp_path / "cache" / "newsletter" / "templates"
    folder.mkdir(parents=True)
    _cache_in(monkeypatch, tmp_path / "cache")
    ws = _workspace(tmp_path / "ws", {"a.html.j2": "{{ 2 + 2 }}"})
    assert render_template(ws, "a.html.j2", {}) == "4"
    assert list(folder.iterdir())


def test_a_cache_folder_removed_while_running_is_done_without(tmp_path, monkeypatch):
    # e.g. ~/.cache cleared while a preview runs: nothing can be written there any more
    _cache_in(monkeypatch, tmp_path / "cache")
    ws = _workspace(tmp_path / "ws", {"a.html.j2": "{{ 3 + 3 }}"})
    assert render_template(ws, "a.html.j2", {}) == "6"
    shutil.rmtree(tmp_path / "cache")
    (tmp_path / "ws" / "templates" / "a.html.j2").write_text("{{ 4 + 4 }}", encoding="utf-8")
    assert render_template(ws, "a.html.j2", {}) == "8"
    assert not (tmp_path / "cache").exists()


def test_a_cache_folder_that_cannot_be_made_is_done_without(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file where the folder should be", encoding="utf-8")
    _cache_in(monkeypatch, tmp_path / "cache")
    ws = _workspace(tmp_path / "ws", {"a.html.j2": "{{ 5 + 5 }}"})
    assert render_template(ws, "a.html.j2", {}) == "10"


def test_with_caching_off_templates_render_and_nothing_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", "off")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cache_dir() is None
    ws = _workspace(tmp_path / "ws", {"a.html.j2": "{{ 6 + 6 }}"})
    assert render_template(ws, "a.html.j2", {}) == "12"
    assert not (tmp_path / "cache").exists() and not (tmp_path / "home").exists()
