"""What a new user of `units` meets first: a closed pipe ends a command quietly, the shared
flags go before the subcommand too, `--version`, a bare `units workflow` says what to add, and
a command run where several apps live says to pass the app's folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.cli import EXIT_CLOSED_PIPE, _parser, main, shared_flags_last, version
from tests.conftest import EXAMPLES, ROOT, write_app

HELLO = str(EXAMPLES / "hello")


def test_a_reader_that_stops_reading_ends_the_command_quietly() -> None:
    # A pipe whose reading end is closed before anything is written: every write fails, as
    # after `| head -1` has its line.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "runtime.cli", "invoke", "--app", HELLO, "app:greet", '"ada"'],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.returncode == EXIT_CLOSED_PIPE
    assert done.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--dev", "http://h:1", "ps"], ["ps", "--dev", "http://h:1"]),
        (["--json", "--stack=s", "logs", "-n", "5"], ["logs", "--json", "--stack=s", "-n", "5"]),
        (
            ["--dev", "http://h:1", "workflow", "list", "--status", "running"],
            ["workflow", "list", "--dev", "http://h:1", "--status", "running"],
        ),
        (["ps", "--dev", "http://h:1"], ["ps", "--dev", "http://h:1"]),  # after: as it was
        (["--version"], ["--version"]),
    ],
)
def test_shared_flags_before_the_subcommand_go_after_it(argv, expected) -> None:
    assert shared_flags_last(argv) == expected


def test_shared_flags_before_the_subcommand_are_taken(capsys: pytest.CaptureFixture) -> None:
    opts = _parser().parse_args(shared_flags_last(["--dev", "http://h:1", "--json", "ps"]))
    assert (opts.command, opts.dev, opts.json) == ("ps", "http://h:1", True)
    assert main(["--app", HELLO, "invoke", "app:greet", '"ada"']) == 0
    assert capsys.readouterr().out.strip() == '"Hello, Ada!"'


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"units {version()}"
    assert version()[0].isdigit()  # the installed package's


def test_a_command_without_its_subcommand_shows_its_commands(
    capsys: pytest.CaptureFixture,
) -> None:
    assert main(["workflow"]) == 2
    err = capsys.readouterr().err
    assert "units workflow: give a workflow command (one of the commands above)" in err
    assert "start" in err and "history" in err and "required" not in err
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "units: give a command" in err and "workflow" in err and "required" not in err


@pytest.fixture
def two_apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding two apps of the same ids (a repository of examples), made current."""
    index = 'version: "1.0"\nnamespace: app\nentries:\n'
    index += "  - {name: f, kind: function.lua, source: file://f.lua}\n"
    for name in ("one", "two"):
        write_app(tmp_path / "apps" / name, index, {"f.lua": "return {handler = function() end}"})
    (tmp_path / "call.json").write_text('{"id": "app:f", "args": []}')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNITS_APP", raising=False)
    return tmp_path


def test_invoke_without_app_where_several_apps_live_says_to_pass_app(
    two_apps: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["invoke", "--event", "call.json"]) == 1
    err = capsys.readouterr().err
    assert "duplicate id" in err
    assert "no application folder was given, so the current folder" in err
    assert (
        "pass --app DIR, or set UNITS_APP (application folders under it: apps/one, apps/two)" in err
    )
    assert main(["invoke", "--event", "call.json", "--app", "apps/one"]) == 0


def test_dev_without_app_where_several_apps_live_says_to_pass_the_folder(
    two_apps: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["dev"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("units dev: cannot load .:") and "duplicate id" in err
    assert "pass the app folder (units dev DIR), or set UNITS_APP" in err
    assert "apps/one, apps/two" in err
