"""``units spawn|send|ps|state`` and ``units workflow ...`` against a stack: the CLI's main(argv)
over a Target made of the harness's moto resources (LocalCloud.outputs()), so the commands go
through boto3 and the runtime's classes exactly as against the dev stack or a deployed one."""

from __future__ import annotations

import json

import pytest

from runtime.cli import main
from runtime.cli.common import CliError
from runtime.cli.connection import Connection
from runtime.cli.workflows import follow
from runtime.targets import Target
from runtime.testing import REGION, LocalCloud
from tests.conftest import ROOT
from tests.test_inspection import failed_driver

ACTORS = ROOT / "tests" / "apps" / "actors"
FLOWS = ROOT / "tests" / "apps" / "flows"
HOST = "app:workers"


class CloudConnection(Connection):
    """The CLI's connection to a LocalCloud: its outputs, its clock, and its driver (which
    counts the executions set in motion, so the harness knows when they have all parked)."""

    def __init__(self, cloud: LocalCloud, app: str | None) -> None:
        target = Target(region=REGION, outputs=cloud.outputs())
        super().__init__(target, app=app, clock=cloud.clock)
        self.cloud = cloud

    def driver(self):
        return self.cloud.workflows.driver

    def sleep(self, seconds: float) -> None:
        # What the CLI waits for between polls is the stack doing its work: let the harness do it.
        self.cloud.run_workflows()


class Cli:
    def __init__(self, cloud: LocalCloud, capsys, app: str | None) -> None:
        self.cloud = cloud
        self.capsys = capsys
        self.connection = CloudConnection(cloud, app)

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main(list(argv), connection=self.connection)
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str):
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def actors(capsys):
    with LocalCloud(ACTORS, auto_start=False) as cloud:
        yield Cli(cloud, capsys, str(ACTORS))


@pytest.fixture
def flows(capsys):
    with LocalCloud(FLOWS) as cloud:
        yield Cli(cloud, capsys, str(FLOWS))


def settle(cli: Cli) -> None:
    """Let the executions a command woke (a terminate wakes the driver to end) finish before
    the cloud closes: a moto thread still running then would step into the next test's cloud."""
    cli.cloud.run_workflows()


def lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


# -- processes -------------------------------------------------------------------------------------
def test_spawn_ps_send_and_state(actors):
    code, out, err = actors("spawn", "app:counter", HOST, "5", "--name", "c")
    assert (code, err) == (0, "")
    pid = out.strip()
    assert pid.startswith(HOST + "/")
    # Not started yet: no process, one message queued on the host.
    code, out, _ = actors("ps")
    assert code == 0
    assert lines(out) == [
        ["PID", "ENTRY", "STATUS", "NAME", "TURNS", "STARTED"],
        [],
        ["HOST", "QUEUED", "IN", "FLIGHT", "DELAYED", "DEAD", "LETTERS"],
        [HOST, "1", "0", "0", "0"],
    ]
    actors.cloud.drain()
    code, out, _ = actors("send", "c", "inc", "2")
    assert (code, out.strip()) == (0, f"sent 'inc' to {pid}")
    actors.cloud.drain()
    code, out, _ = actors("ps")
    header, row = lines(out)[:2]
    assert header == ["PID", "ENTRY", "STATUS", "NAME", "TURNS", "STARTED"]
    assert row[:5] == [pid, "app:counter", "running", "c", "2"]
    assert row[5] == "2026-01-01T00:00:00Z"
    code, out, _ = actors("state", "c")
    assert code == 0
    text = out.splitlines()
    assert text[:4] == [f"pid       {pid}", "entry     app:counter", f"host      {HOST}",
                        "status    running"]  # fmt: skip
    assert json.loads(out.split("state:\n", 1)[1]) == {"n": 7}


def test_ps_and_state_as_json(actors):
    _, out, _ = actors("spawn", "app:counter", HOST, "1")
    pid = out.strip()
    actors.cloud.drain()
    actors("send", pid, "stop")
    actors.cloud.drain()
    listed = actors.json("ps")
    assert [(p["pid"], p["status"]) for p in listed["processes"]] == [(pid, "exited")]
    assert listed["hosts"] == [
        {"host": HOST, "queued": 0, "in_flight": 0, "delayed": 0, "dead_letters": 0}
    ]
    assert actors.json("ps", "--status", "running") == {
        "processes": [],
        "hosts": listed["hosts"],
    }
    state = actors.json("state", pid)
    assert (state["status"], state["result"], state["state"]) == ("exited", 1, {"n": 1})
    assert actors.json("spawn", "app:counter", HOST)["pid"].startswith(HOST + "/")


def test_state_of_a_crashed_process_shows_the_error(actors):
    pid = actors.json("spawn", "app:counter", HOST, "3")["pid"]
    actors.cloud.drain()
    actors("send", pid, "boom")
    actors.cloud.drain()
    code, out, _ = actors("state", pid)
    assert code == 0
    assert "status    crashed" in out
    assert "error     Internal: counter.lua:18: boom at 3" in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["send", "app:workers/nope", "inc", "1"], 1, "NotFound: no process app:workers/nope"),
        (["send", "nobody", "inc"], 1, "NotFound: no process is named 'nobody'"),
        (["send", "x", "inc", "ada"], 2, "units send: the payload is not JSON: 'ada'"),
        (["state", "app:workers/nope"], 1, "NotFound: no process app:workers/nope"),
        (["spawn", "app:nope", HOST], 1, "NotFound: no process entry 'app:nope'"),
        (["spawn", "app:counter", "app:nohost"], 1, "NotFound: no process host 'app:nohost'"),
        (["spawn", "app:counter", HOST, "{"], 2, "units spawn: argument 1 is not JSON: '{'"),
        (["spawn", "app:sender", HOST], 1, "Invalid: app:sender is a function.lua"),
    ],
)
def test_bad_process_input(actors, argv, code, message):
    got, out, err = actors(*argv)
    assert (got, out) == (code, "")
    assert err.startswith(message), err


def test_a_message_to_an_ended_process_is_refused(actors):
    pid = actors.json("spawn", "app:counter", HOST)["pid"]
    actors.cloud.drain()
    actors("send", pid, "stop")
    actors.cloud.drain()
    code, _, err = actors("send", pid, "inc", "1")
    assert code == 1
    assert err.strip() == (
        f"units send: process {pid} has ended (exited): a message to it is dropped"
    )


def test_spawn_needs_the_application_folder(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNITS_APP", raising=False)
    with LocalCloud(ACTORS, auto_start=False) as cloud:
        cli = Cli(cloud, capsys, app=None)
        code, _, err = cli("spawn", "app:counter", HOST)
        assert code == 2
        assert err.strip() == (
            "units spawn: units spawn checks the entry against the application's manifest: "
            "pass --app DIR or set UNITS_APP"
        )
        code, out, _ = cli("spawn", "app:counter", HOST, "--app", str(ACTORS))
        assert code == 0 and out.startswith(HOST + "/")


# -- workflows -------------------------------------------------------------------------------------
def test_start_list_describe_and_history(flows):
    code, out, err = flows("workflow", "start", "app:approval", '{"wait": "1h"}')
    assert (code, err) == (0, "")
    run_id = out.strip()
    flows.cloud.run_workflows()
    code, out, _ = flows("workflow", "list")
    assert lines(out) == [
        ["RUN", "WORKFLOW", "HOST", "STATUS", "STARTED", "CLOSED"],
        [run_id, "app:approval", "app:flows", "running", "2026-01-01T00:00:00Z", "-"],
    ]
    code, out, _ = flows("workflow", "describe", f"app:flows/{run_id}")
    assert code == 0
    assert out.splitlines()[:4] == [
        f"run       {run_id}",
        f"address   app:flows/{run_id}",
        "workflow  app:approval",
        "status    running",
    ]
    assert out.split("waiting for:\n", 1)[1].splitlines() == [
        "CMD  KIND   WHAT   SINCE                 DETAIL",
        "1    timer  timer  2026-01-01T00:00:00Z  fires 2026-01-01T01:00:00Z",
    ]
    code, out, _ = flows("workflow", "history", run_id)
    assert [row[:3] for row in lines(out)] == [
        ["SEQ", "TIME", "TYPE"],
        ["1", "2026-01-01T00:00:00Z", "WorkflowStarted"],
        ["2", "2026-01-01T00:00:00Z", "TimerStarted"],
    ]
    assert lines(out)[1][3] == 'input={"wait":"1h"}'


def test_workflow_commands_as_json(flows):
    started = flows.json("workflow", "start", "app:approval", '{"wait": "1h"}')
    run_id = started["run_id"]
    assert started["address"] == f"app:flows/{run_id}"
    flows.cloud.run_workflows()
    described = flows.json("workflow", "describe", run_id)
    assert (described["status"], described["parked"]) == ("running", None)
    assert [p["kind"] for p in described["pending"]] == ["timer"]
    assert [e["type"] for e in flows.json("workflow", "history", run_id)] == [
        "WorkflowStarted",
        "TimerStarted",
    ]
    assert flows.json("workflow", "signal", run_id, "approve", '"ada"') == {
        "run_id": run_id,
        "result": "signaled",
    }
    flows.cloud.run_workflows()
    (listed,) = flows.json("workflow", "list", "--status", "completed")
    assert (listed["run_id"], listed["workflow"]) == (run_id, "app:approval")
    assert flows.json("workflow", "list", "--status", "running") == []
    assert flows.json("workflow", "describe", run_id)["result"] == {
        "approved": True,
        "by": "ada",
        "noted": {},  # an empty Lua table: the codec's {}
    }


def test_start_and_wait_reports_progress_and_prints_the_result(flows):
    code, out, err = flows("workflow", "start", "app:libflow", "4", "--wait")
    assert code == 0
    assert json.loads(out) == 8
    progress = err.splitlines()
    assert progress[0].startswith("started app:flows/")
    assert [line.split()[:2] for line in progress[1:]] == [
        ["#1", "WorkflowStarted"],
        ["#2", "ActivityScheduled"],
        ["#3", "ActivityCompleted"],
        ["#4", "WorkflowCompleted"],
    ]
    assert 'id="app:double"' in progress[2]


def test_a_failed_run_waited_for_exits_1(flows):
    code, out, err = flows("workflow", "start", "app:sequence_child", '{"n": -1}', "--wait")
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith("failed: Internal: sequence_child.lua:4: negative")
    code, out, _ = flows("workflow", "start", "app:sequence_child", '{"n": -1}', "--wait", "--json")
    assert code == 1 and json.loads(out)["status"] == "failed"


def test_named_starts_follow_the_conflict_policy(flows):
    first = flows.json("workflow", "start", "app:approval", '{"wait": "1h"}', "--name", "o-1")
    again = ["workflow", "start", "app:approval", '{"wait": "1h"}', "--name", "o-1"]
    code, _, err = flows(*again)
    assert code == 1
    assert err.strip() == f"AlreadyExists: workflow name 'o-1' is taken by run {first['run_id']}"
    assert flows.json(*again, "--conflict", "use_existing")["run_id"] == first["run_id"]
    replaced = flows.json(*again, "--conflict", "terminate_existing")["run_id"]
    assert replaced != first["run_id"]
    assert flows.json("workflow", "describe", first["run_id"])["status"] == "terminated"
    settle(flows)


def test_cancel_and_terminate(flows):
    canceled = flows.json("workflow", "start", "app:cancellable", "{}")["run_id"]
    ended = flows.json("workflow", "start", "app:approval", '{"wait": "1h"}')["run_id"]
    flows.cloud.run_workflows()
    code, out, _ = flows("workflow", "cancel", canceled, "--reason", "enough")
    assert (code, out.strip()) == (0, f"asked run {canceled} to cancel")
    flows.cloud.run_workflows()
    result = flows.json("workflow", "describe", canceled)["result"]
    assert result == {"canceled": True, "reason": "enough", "undone": 0}
    code, out, _ = flows("workflow", "terminate", ended)
    assert (code, out.strip()) == (0, f"terminated run {ended}")
    described = flows.json("workflow", "describe", ended)
    assert described["status"] == "terminated"
    assert described["error"]["message"] == "terminated: terminated from the command line"
    code, out, _ = flows("workflow", "terminate", ended)
    assert (code, out.strip()) == (0, f"run {ended} had already ended (terminated)")
    settle(flows)


def test_send_to_a_run_address_signals_it_and_spawn_on_a_workflow_host_starts_one(flows):
    code, out, _ = flows("spawn", "app:approval", "app:flows", '{"wait": "1h"}')
    assert code == 0
    address = out.strip()
    assert address.startswith("app:flows/")
    flows.cloud.run_workflows()
    code, _, err = flows("state", address)
    assert (code, err.strip()) == (
        2,
        f"units state: {address} is a workflow run: see `units workflow describe {address}`",
    )
    code, out, _ = flows("send", address, "approve", '"grace"')
    assert (code, out.strip()) == (0, f"sent 'approve' to {address}")
    flows.cloud.run_workflows()
    assert flows.json("workflow", "describe", address)["result"]["by"] == "grace"


@pytest.mark.parametrize(
    "argv",
    [
        ["describe", "nope"],
        ["history", "nope"],
        ["signal", "nope", "t"],
        ["cancel", "nope"],
        ["terminate", "app:flows/nope"],
        ["resume", "nope"],
    ],
)
def test_unknown_runs(flows, argv):
    code, out, err = flows("workflow", *argv)
    assert (code, out, err.strip()) == (1, "", "NotFound: no workflow run nope")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["start", "app:nope"], 1, "NotFound: no workflow 'app:nope'"),
        (["start", "app:double"], 1, "Invalid: app:double is a function.lua, not a workflow.lua"),
        (["start", "app:approval", "{wait"], 2, "units workflow start: the input is not JSON"),
        (["start", "app:approval", "--host", "app:x"], 1, "NotFound: no workflow host 'app:x'"),
        (["start", "app:approval", "--timeout", "5"], 2, "units workflow start: --timeout goes"),
        (["signal", "r", "t", "nope"], 2, "units workflow signal: the payload is not JSON"),
    ],
)
def test_bad_workflow_input(flows, argv, code, message):
    got, out, err = flows("workflow", *argv)
    assert (got, out) == (code, "")
    assert err.startswith(message), err


def test_signal_to_an_ended_run_is_an_error(flows):
    run_id = flows.json("workflow", "start", "app:libflow", "1", "--wait")["run_id"]
    code, _, err = flows("workflow", "signal", run_id, "t")
    assert code == 1
    assert err.strip() == f"Invalid: cannot signal run {run_id}: it has ended (completed)"


def test_a_stack_without_workflow_hosts_says_so(actors):
    code, _, err = actors("workflow", "list")
    assert code == 0  # the table is there: listing needs only the table
    code, _, err = actors("workflow", "signal", "r", "t")
    assert code == 1
    assert err.strip() == (
        "units workflow signal: the local stack has no WorkflowMachines output: this needs a "
        "workflow.host in the application"
    )


def test_a_parked_run_is_shown_and_stops_a_wait(flows, monkeypatch):
    # A run whose driver execution failed (as after a step failing past the driver's retries):
    # here its host's machine is swapped, in the outputs, for one that fails at once.
    run_id = flows.json("workflow", "start", "app:approval", '{"wait": "1h"}')["run_id"]
    flows.cloud.run_workflows()
    machine, arn = failed_driver(flows.connection.client("stepfunctions"), run_id)
    outputs = {
        **flows.connection.target.outputs,
        "WorkflowMachines": json.dumps({"app:flows": machine}),
    }
    monkeypatch.setattr(flows.connection, "target", Target(region=REGION, outputs=outputs))
    # Not the harness's driver: it knows the real machines (and does not drive this one).
    monkeypatch.setattr(flows.connection, "driver", lambda: Connection.driver(flows.connection))
    code, out, _ = flows("workflow", "describe", run_id)
    assert code == 0
    assert f"parked    NonDeterminism: line 3: x ({arn})" in out.splitlines()
    assert flows.json("workflow", "describe", run_id)["parked"]["status"] == "FAILED"
    with pytest.raises(CliError) as exc:
        follow(flows.connection, run_id)
    assert exc.value.message == (
        f"run {run_id} is parked: its driver failed with NonDeterminism: line 3: x"
    )
    # After a fix, resume starts its driver's next execution.
    code, out, _ = flows("workflow", "resume", run_id)
    assert (code, out.strip()) == (0, f"resumed run {run_id}: driver execution {arn[:-1]}1")


def test_resume_is_refused_for_a_run_whose_driver_runs_or_that_ended(flows):
    run_id = flows.json("workflow", "start", "app:approval", '{"wait": "1h"}')["run_id"]
    flows.cloud.run_workflows()
    code, out, err = flows("workflow", "resume", run_id)
    assert (code, out) == (1, "")
    assert err.strip() == f"Invalid: cannot resume run {run_id}: its driver execution is running"
    flows("workflow", "terminate", run_id)
    code, _, err = flows("workflow", "resume", run_id)
    assert err.strip() == f"Invalid: cannot resume run {run_id}: it has ended (terminated)"
    settle(flows)


def test_ctrl_c_stops_waiting_but_not_the_run(flows, monkeypatch):
    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(flows.connection, "sleep", interrupted)
    code, out, err = flows("workflow", "start", "app:approval", '{"wait": "1h"}', "--wait")
    assert (code, out) == (1, "")
    run_id = err.splitlines()[0].rsplit("/", 1)[1]
    assert err.splitlines()[-1] == (
        f"units workflow start: stopped waiting; run {run_id} goes on "
        f"(see `units workflow describe {run_id}`)"
    )
    assert flows.json("workflow", "describe", run_id)["status"] == "running"


def test_values_cross_in_the_codecs_json_form(actors):
    # Binary is {"$bytes": base64} on the command line as on the wire, and comes back so.
    pid = actors.json("spawn", "app:counter", HOST, '{"$bytes": "AP8="}')["pid"]
    actors.cloud.drain()
    assert actors.json("state", pid)["state"] == {"n": {"$bytes": "AP8="}}
    code, _, err = actors("spawn", "app:counter", HOST, '{"$bytes": 1}')
    assert code == 1 and err.startswith("Invalid: ")
