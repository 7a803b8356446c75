"""Noticing saves: issue files, settings, templates and images; nothing else."""

from __future__ import annotations

import threading

from newsletter.preview.watch import Watcher
from newsletter.workspace import Workspace
from tests.preview.support import save, wait_until


def watcher(space) -> Watcher:
    return Watcher(Workspace(space.root), on_change=lambda changed: None)


def test_a_save_of_each_watched_kind_is_noticed(space):
    watch = watcher(space)
    assert watch.poll() == set()
    for relative in ("issues/vol-1-1.yaml", "newsletter.yaml"):
        path = space.root / relative
        save(path, path.read_text() + "# edited\n")
        assert watch.poll() == {path}
    template = space.write("templates/email.mjml.j2", "<mjml></mjml>")  # folder is new
    assert watch.poll() == {template}
    image = space.write("images/2024/hero.png", "png")
    assert watch.poll() == {image}


def test_added_and_removed_issues_are_noticed(space):
    watch = watcher(space)
    added = space.issue("vol-1-2", "volume: 1\n")
    assert watch.poll() == {added}
    added.unlink()
    assert watch.poll() == {added}


def test_an_atomic_save_is_noticed(space):
    """Editors write a temporary file and rename it over the old one."""
    watch = watcher(space)
    path = space.root / "issues/vol-1-1.yaml"
    temporary = space.root / "issues/.vol-1-1.yaml.swp"
    temporary.write_text(path.read_text().replace("First", "Renamed"))
    temporary.replace(path)
    assert watch.poll() == {path}


def test_other_files_are_ignored(space):
    watch = watcher(space)
    space.write("build/vol-1-1/email.html", "<html>")
    space.write("notes.txt", "x")
    space.write(".newsletter/ledger.json", "{}")
    space.write("images/.DS_Store", "x")
    assert watch.poll() == set()


def test_the_thread_reports_changes_and_stops(space):
    seen: list[set] = []
    done = threading.Event()

    def changed(paths):
        seen.append(paths)
        done.set()

    watch = Watcher(Workspace(space.root), changed, interval=0.01).start()
    try:
        path = space.root / "newsletter.yaml"
        save(path, path.read_text() + "# edited\n")
        wait_until(done.is_set)
    finally:
        watch.stop()
    assert seen == [{path}]
