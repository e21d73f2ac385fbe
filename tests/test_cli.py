"""``units invoke --app`` (in this process): JSON on stdout and exit 0, or kind and message on
stderr and exit 1; and ``units dev``, which hands over to ``runtime.dev``."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from runtime.cli import main
from tests.conftest import EXAMPLES, ROOT

HELLO = str(EXAMPLES / "hello")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_invoke_prints_json(capsys):
    code, out, _ = run(capsys, "invoke", "app:greet", '"ada"', "--app", HELLO)
    assert code == 0
    assert json.loads(out) == "Hello, Ada!"


def test_invoke_error_goes_to_stderr_with_exit_1(capsys):
    code, out, err = run(capsys, "invoke", "app:greet", '""', "--app", HELLO)
    assert (code, out) == (1, "")
    assert err.strip() == "Invalid: greet: expected a name"


def test_unknown_function(capsys):
    code, _, err = run(capsys, "invoke", "app:nope", "--app", HELLO)
    assert code == 1 and err.startswith("NotFound: no function 'app:nope'")


def test_argument_that_is_not_json_is_a_usage_error(capsys):
    code, _, err = run(capsys, "invoke", "app:greet", "ada", "--app", HELLO)
    assert code == 2
    assert "argument 1 is not JSON: 'ada'" in err


def test_invoke_event_files(capsys):
    code, out, _ = run(capsys, "invoke", "--event", str(ROOT / "events/greet.json"), "--app", HELLO)
    assert (code, json.loads(out)) == (0, "Hello, Ada!")
    code, out, _ = run(
        capsys, "invoke", "--event", str(ROOT / "events/hello-get.json"), "--app", HELLO
    )
    reply = json.loads(out)
    assert code == 0 and reply["statusCode"] == 200
    assert json.loads(reply["body"]) == {"greeting": "Hello, Ada!"}


def test_bad_app_folder_lists_problems(capsys, make_app):
    app = make_app('version: "1.0"\nnamespace: app\nentries:\n  - name: x\n    kind: nope\n')
    code, _, err = run(capsys, "invoke", "app:x", "--app", str(app))
    assert code == 1
    assert "cannot load" in err and "unknown kind 'nope'" in err


@pytest.mark.parametrize("argv", [["invoke"], ["invoke", "app:greet", "--event", "x.json"]])
def test_usage_errors(capsys, argv):
    code, _, err = run(capsys, *argv, "--app", HELLO)
    assert code == 2 and err.startswith("units invoke:")


def test_dev_runs_the_dev_stack_in_the_foreground(capsys, monkeypatch):
    # What `units dev` hands over to: runtime.dev.main(app, port, host) -> exit code.
    calls = []
    dev = types.ModuleType("runtime.dev")
    dev.main = lambda *args: calls.append(args) or 0
    monkeypatch.setitem(sys.modules, "runtime.dev", dev)
    assert main(["dev", HELLO, "--port", "9000"]) == 0
    assert calls == [(Path(HELLO), 9000, "127.0.0.1")]
    monkeypatch.setenv("UNITS_APP", "elsewhere")
    assert main(["dev", "--host", "0.0.0.0"]) == 0
    assert calls[-1] == (Path("elsewhere"), 8787, "0.0.0.0")


def test_dev_without_the_dev_stack_installed_says_so(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "runtime.dev", None)  # an installation without it
    code, out, err = run(capsys, "dev", HELLO)
    assert (code, out) == (1, "")
    assert err.strip() == "units dev: the dev stack (runtime.dev) is not part of this installation"


def test_invoke_with_app_and_a_stack_is_a_usage_error(capsys):
    code, _, err = run(capsys, "invoke", "app:greet", '"ada"', "--app", HELLO, "--stack", "s")
    assert code == 2
    assert err.strip() == "units invoke: --app/--event run the function here: drop --stack/--dev"
