"""Reloading the app when its files change: poll modification times, load, check, hand over.

Polling (not inotify) keeps it dependency-free and works on every file system an editor saves
to; an app folder holds a few dozen files, so a scan is well under a millisecond.

A reload only goes ahead when the new code loads as a whole: the manifest (every ``_index.yaml``)
and every Lua source compiling. Anything less leaves the running code in place and reports the
error; the next change of any file tries again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from runtime import manifest
from runtime.errors import ManifestError, UnitError
from runtime.sandbox import LuaState

#: Seconds between two scans of the app folder.
POLL_INTERVAL = 0.25

#: Seconds a change must hold still before it is loaded.
SETTLE = 0.05

_WATCHED_SUFFIXES = (".lua", ".yaml", ".yml")

Stamp = dict[str, tuple[int, int]]


def scan(root: Path) -> Stamp:
    """Modification time and size of every Lua and YAML file under ``root`` (dot folders
    skipped: editors and version control keep their own files there)."""
    found: Stamp = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.endswith(_WATCHED_SUFFIXES):
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:  # deleted between listing and stat: the next scan sees it
                    continue
                found[path] = (info.st_mtime_ns, info.st_size)
    return found


def load_checked(root: Path) -> manifest.Registry:
    """Load the app and compile every Lua source (without running it).

    Raises:
        ValueError: with every problem, one per line, each naming its file.
    """
    try:
        registry = manifest.load_app(root)
    except ManifestError as exc:
        raise ValueError(f"cannot load {root}:\n  " + "\n  ".join(exc.problems)) from None
    state = LuaState()
    problems = []
    try:
        for entry in registry.of_kind(manifest.CodeEntry):
            try:
                state.compile(entry.code, entry.source_name, state.table())
            except UnitError as exc:
                problems.append(f"{entry.source_name}: {exc.message}")
    finally:
        state.close()
    if problems:
        # Several entries often share one file: report each problem once.
        unique = list(dict.fromkeys(problems))
        raise ValueError(f"cannot load {root}:\n  " + "\n  ".join(unique))
    return registry


class AppWatcher:
    """Watches ``root`` in a thread; calls ``on_load(registry)`` after a change that loads, or
    ``on_error(message)`` after one that does not."""

    def __init__(
        self,
        root: Path,
        on_load: Callable[[manifest.Registry], None],
        on_error: Callable[[str], None],
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.root = root
        self.on_load = on_load
        self.on_error = on_error
        self.interval = interval
        self._seen = scan(root)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="units-dev-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def check(self) -> bool:
        """One scan; True when something changed (and a load was tried)."""
        now = scan(self.root)
        if now == self._seen:
            return False
        # An editor writing in place truncates first: wait until two scans agree, so a file
        # caught half written (often still valid Lua, e.g. empty) is not what gets loaded.
        while not self._stop.wait(SETTLE):
            again = scan(self.root)
            if again == now:
                break
            now = again
        self._seen = now
        try:
            registry = load_checked(self.root)
        except ValueError as exc:
            self.on_error(str(exc))
            return True
        self.on_load(registry)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:  # a failed rebuild is reported; the watch goes on
                self.on_error(f"reload failed: {exc!r}")
