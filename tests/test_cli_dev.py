"""The CLI against ``units dev``, end to end: a dev stack (tests/devapp.py's app) on a free port,
driven only through ``main(argv)`` with ``--dev URL``, the way a terminal next to it would.

The stack works in its own threads (pumps, moto's executions on the wall clock), so what the
CLI set in motion is awaited by polling with a deadline, as in the dev stack's own tests.
"""

from __future__ import annotations

import json

import pytest

from runtime.cli import main
from runtime.cli import workflows as workflow_commands
from runtime.dev import DevStack
from runtime.dev.logs import LogHub
from tests.devapp import wait_for, write_dev_app


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    app = write_dev_app(tmp_path_factory.mktemp("cliapp"))
    with DevStack(app, port=0, hub=LogHub()) as running:
        yield running


@pytest.fixture
def cli(stack, capsys, monkeypatch):
    monkeypatch.delenv("UNITS_APP", raising=False)  # the app comes from the dev server
    monkeypatch.setattr(workflow_commands, "POLL_SECONDS", 0.05)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--dev", stack.url])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_functions_and_logs(cli):
    assert cli("invoke", "app:greet", '"ada"') == (0, '"Hello, ada!"\n', "")
    code, out, err = cli("invoke", "app:nope")
    assert (code, out) == (1, "")
    assert err.startswith("NotFound: no function 'app:nope'")
    code, out, _ = cli("logs", "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert {"message": "greeting", "name": "ada"} in [
        {"message": line["message"], "name": line["fields"].get("name")} for line in lines
    ]


def test_processes(cli):
    code, out, err = cli("spawn", "app:counter", "app:workers", "1", "--name", "tally")
    assert (code, err) == (0, "")
    pid = out.strip()
    wait_for(lambda: cli("state", "tally")[0] == 0, "the spawned process's first turn")
    assert cli("send", "tally", "inc", "2")[0] == 0

    def state():
        code, out, _ = cli("state", pid, "--json")
        return json.loads(out)["state"] if code == 0 else None

    wait_for(lambda: state() == {"n": 3}, "the message's turn")
    code, out, _ = cli("ps", "--json")
    listed = json.loads(out)
    assert [(p["pid"], p["names"]) for p in listed["processes"]] == [(pid, ["tally"])]
    assert [h["host"] for h in listed["hosts"]] == ["app:workers"]


def test_workflows(cli):
    code, out, _ = cli("workflow", "start", "app:waiter", '{"name": "bo"}', "--name", "w-1")
    assert code == 0
    run_id = out.strip()
    assert cli("workflow", "signal", run_id, "go", '"now"') == (
        0,
        f"sent 'go' to run {run_id}\n",
        "",
    )
    code, out, err = cli("workflow", "start", "app:nap", '{"name": "cy"}', "--wait")
    assert code == 0, err
    assert json.loads(out) == {"text": "Hello, cy!"}
    assert "TimerStarted" in err and err.splitlines()[-1].split()[1] == "WorkflowCompleted"

    def described():
        return json.loads(cli("workflow", "describe", f"app:flows/{run_id}", "--json")[1])

    done = wait_for(lambda: described()["status"] == "completed" and described(), "the signal")
    assert done["result"] == {"text": "Hello, bo!", "go": "now"}
    code, out, _ = cli("workflow", "list", "--workflow", "app:waiter")
    assert [row.split()[:4] for row in out.splitlines()[1:]] == [
        [run_id, "app:waiter", "app:flows", "completed"]
    ]
    code, _, err = cli("workflow", "start", "app:waiter", '{"name": "bo"}', "--name", "w-1")
    assert code == 1 and err.startswith("AlreadyExists: workflow name 'w-1' is taken")
