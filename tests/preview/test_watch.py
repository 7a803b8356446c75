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


def start_events(space, seen: list[set]) -> Watcher:
    """Start a watcher that could only notice a save by its event: it polls once a minute."""
    watch = Watcher(Workspace(space.root), seen.append, interval=60).start()
    assert watch.ready.wait(10)
    assert watch.mode == "events"
    return watch


def test_saves_are_noticed_by_their_file_system_events(space):
    seen: list[set] = []
    watch = start_events(space, seen)
    try:
        for relative in ("issues/vol-1-1.yaml", "newsletter.yaml"):
            path = space.root / relative
            save(path, path.read_text() + "# edited\n")
            wait_until(lambda path=path: any(path in paths for paths in seen), timeout=5)
    finally:
        watch.stop()


def test_folders_made_after_the_start_are_watched(space):
    seen: list[set] = []
    watch = start_events(space, seen)
    try:
        template = space.write("templates/email/footer.mjml.j2", "<mj-text>a</mj-text>")
        wait_until(lambda: any(template in paths for paths in seen), timeout=5)
        seen.clear()
        save(template, "<mj-text>b</mj-text>")  # now inside a folder the watch added
        wait_until(lambda: any(template in paths for paths in seen), timeout=5)
    finally:
        watch.stop()
    assert not any(thread.is_alive() for thread in watch._threads)


def test_hidden_and_other_files_make_no_change_with_events_either(space):
    seen: list[set] = []
    watch = start_events(space, seen)
    try:
        space.write("issues/.vol-1-1.yaml.swp", "x")
        space.write("notes.txt", "x")
        marker = space.root / "newsletter.yaml"
        save(marker, marker.read_text() + "# edited\n")  # a real save, to know events flowed
        wait_until(lambda: any(marker in paths for paths in seen), timeout=5)
    finally:
        watch.stop()
    assert set().union(*seen) == {marker}
