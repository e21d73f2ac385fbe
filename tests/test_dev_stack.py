"""`units dev`: the local stack, started in-process on free ports.

One stack serves most tests (a module fixture over a tmp copy of tests/devapp.py's app, which
the reload test edits and restores); the port and stop tests start their own small ones. Waits
are polls with deadlines on background threads (pumps, moto's Step Functions executions).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import threading
from pathlib import Path

import boto3
import pytest

import runtime.dev
from runtime.dev import DevStack, PortInUse
from runtime.dev.logs import LogHub, LogRecord, format_line
from tests.devapp import GREET, Client, edit, wait_for, write_dev_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dev_app(tmp_path_factory.mktemp("devapp"))


@pytest.fixture(scope="module")
def terminal() -> io.StringIO:
    return io.StringIO()


@pytest.fixture(scope="module")
def stack(app: Path, terminal: io.StringIO) -> DevStack:
    with DevStack(app, port=0, hub=LogHub(terminal), watch_interval=0.05) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: DevStack) -> Client:
    return Client(stack.url)


def aws(stack: DevStack, service: str):
    """A boto3 client against the dev stack's moto server, as the CLI or any AWS tool makes."""
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=stack.cloud.endpoint_url,
        aws_access_key_id="dev",
        aws_secret_access_key="dev",
    )


def state_of(client: Client, pid: str) -> object:
    """The actor's state; None before its first turn is committed."""
    status, answer = client.json("GET", f"/_units/api/processes/{pid}")
    return answer["state"] if status == 200 else None


def run_status(client: Client, run_id: str) -> dict:
    return client.api("GET", f"workflows/{run_id}")


# -- functions and HTTP ------------------------------------------------------------------------
def test_a_function_is_invoked_through_the_management_api(client: Client) -> None:
    assert client.api("POST", "invoke", {"id": "app:greet", "args": ["ada"]}) == {
        "value": "Hello, ada!"
    }
    status, answer = client.json("POST", "/_units/api/invoke", {"id": "app:nope", "args": []})
    assert status == 404 and answer["error"]["kind"] == "NotFound"


def test_the_function_lambda_in_moto_runs_the_same_code(stack: DevStack, client: Client) -> None:
    outputs = client.api("GET", "outputs")
    name = outputs["outputs"]["FunctionLambdaName"]
    reply = aws(stack, "lambda").invoke(
        FunctionName=name, Payload=json.dumps({"id": "app:greet", "args": ["bo"]})
    )
    assert json.loads(reply["Payload"].read()) == {"ok": True, "value": "Hello, bo!"}


def test_an_endpoint_answers_through_the_api_gateway_v2_path(
    client: Client, terminal: io.StringIO
) -> None:
    status, headers, body = client.request("GET", "/hello/ada?q=1")
    assert status == 200
    assert headers["x-unit"] == "hello" and headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"greeting": "Hello, ada!", "q": "1"}
    assert client.request("GET", "/nowhere")[0] == 404
    assert client.request("POST", "/hello/ada")[0] == 405
    # The terminal got one line per request and per application log line, not colored (no TTY).
    wait_for(lambda: "GET /hello/ada?q=1 200" in terminal.getvalue(), "the access line")
    lines = terminal.getvalue().splitlines()
    assert any(" app:greet " in line and "greeting name=ada" in line for line in lines)
    assert "\x1b[" not in terminal.getvalue()


def test_outputs_name_the_resources_under_the_stacks_output_names(
    stack: DevStack, client: Client
) -> None:
    answer = client.api("GET", "outputs")
    assert answer["endpoint_url"] == stack.cloud.endpoint_url
    assert (answer["region"], answer["api_url"]) == ("us-east-1", stack.url)
    outputs = answer["outputs"]
    assert outputs["ApiUrl"] == stack.url + "/"
    assert outputs["ProcessTableName"] == "units-processes"
    assert set(json.loads(outputs["ProcessQueues"])) == {"app:workers"}
    assert set(json.loads(outputs["WorkflowMachines"])) == {"app:flows"}
    # What the names point at exists on the moto server.
    queue = json.loads(outputs["ProcessQueues"])["app:workers"]
    sqs = aws(stack, "sqs")
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["FifoQueue"])["Attributes"]
    machine = json.loads(outputs["WorkflowMachines"])["app:flows"]
    assert aws(stack, "stepfunctions").describe_state_machine(stateMachineArn=machine)["name"]


# -- processes ---------------------------------------------------------------------------------
def test_an_actor_spawned_and_messaged_holds_its_state(stack: DevStack, client: Client) -> None:
    pid = client.api(
        "POST", "processes/spawn", {"id": "app:counter", "host": "app:workers", "args": [5]}
    )["pid"]
    client.api("POST", "processes/send", {"dest": pid, "topic": "inc", "payload": 2})
    wait_for(lambda: state_of(client, pid) == {"n": 7}, "the actor's spawn and two turns")
    detail = client.api("GET", f"processes/{pid}")
    assert (detail["status"], detail["entry"]) == ("running", "app:counter")
    assert detail["version"] in (1, 2)  # spawn and inc: one turn if they came in one batch
    listed = client.api("GET", "processes")
    assert pid in [p["pid"] for p in listed["processes"]]
    assert listed["queues"][0]["host"] == "app:workers"
    # The snapshot is in the table on the moto server, as the CLI reads it.
    item = aws(stack, "dynamodb").get_item(
        TableName="units-processes", Key={"pk": {"S": f"p#{pid}"}, "sk": {"S": "actor"}}
    )["Item"]
    assert json.loads(item["state"]["S"]) == {"n": 7}


def test_a_crash_is_said_in_the_terminal_and_shown_in_the_process(
    client: Client, terminal: io.StringIO
) -> None:
    pid = client.api(
        "POST", "processes/spawn", {"id": "app:counter", "host": "app:workers", "args": [3]}
    )["pid"]
    client.api("POST", "processes/send", {"dest": pid, "topic": "boom"})
    detail = wait_for(
        lambda: (
            (d := client.json("GET", f"/_units/api/processes/{pid}"))[0] == 200
            and d[1]["status"] == "crashed"
            and d[1]
        ),
        "the crash",
    )
    assert "boom at 3" in detail["error"]["message"]
    wait_for(
        lambda: f"app:counter [{pid}] error crashed: Internal:" in terminal.getvalue(), "the line"
    )


def test_bad_management_requests_get_clear_errors(client: Client) -> None:
    status, answer = client.json("POST", "/_units/api/processes/spawn", {"id": "app:counter"})
    assert status == 400 and "'host' is required" in answer["error"]["message"]
    status, _, raw = client.request("POST", "/_units/api/invoke", b"{not json")
    assert status == 400 and b"not JSON" in raw
    assert client.json("GET", "/_units/api/nothing")[0] == 404
    assert client.json("GET", "/_units/api/processes/app:workers/nobody")[0] == 404


# -- workflows ---------------------------------------------------------------------------------
def test_a_workflow_with_a_durable_timer_runs_to_its_end(
    client: Client, terminal: io.StringIO
) -> None:
    started = client.api("POST", "workflows/start", {"id": "app:nap", "input": {"name": "cy"}})
    assert started["address"] == f"app:flows/{started['run_id']}"
    done = wait_for(
        lambda: (r := run_status(client, started["run_id"]))["run"]["status"] == "completed" and r,
        "the run's end (a 1 s wall-clock timer, then an activity)",
    )
    assert done["run"]["result"] == {"text": "Hello, cy!"}
    types = [e["type"] for e in done["history"]]
    assert types == [
        "WorkflowStarted",
        "TimerStarted",
        "TimerFired",
        "ActivityScheduled",
        "ActivityCompleted",
        "WorkflowCompleted",
    ]
    # The timer fired on the wall clock, not before it was due.
    fired = done["history"][2]["time"] - done["history"][1]["time"]
    assert fired >= 1.0
    assert done["pending"] == [] and done["parked"] is None
    assert started["run_id"] in [r["run_id"] for r in client.api("GET", "workflows")["runs"]]
    # Its log line says which run (once: the timer's step resumed the kept replay).
    line = f"app:nap [{started['run_id']}] info  napping name=cy"
    assert terminal.getvalue().count(line) == 1, terminal.getvalue()


def test_a_signal_wakes_a_waiting_run(client: Client) -> None:
    run_id = client.api("POST", "workflows/start", {"id": "app:waiter", "input": {"name": "di"}})[
        "run_id"
    ]
    wait_for(
        lambda: (
            [e["type"] for e in run_status(client, run_id)["history"]][-1] == "ActivityCompleted"
        ),
        "the activity before the wait",
    )
    client.api("POST", f"workflows/{run_id}/signal", {"topic": "go", "payload": 42})
    done = wait_for(
        lambda: (r := run_status(client, run_id))["run"]["status"] == "completed" and r,
        "the run's end after the signal",
    )
    assert done["run"]["result"] == {"text": "Hello, di!", "go": 42}
    # Only a parked run resumes (its driver stopped); this one has ended.
    status, answer = client.json("POST", f"/_units/api/workflows/{run_id}/resume", {})
    assert status == 400 and "ended" in answer["error"]["message"], answer


# -- reloading ---------------------------------------------------------------------------------
def greet_of(client: Client) -> str | None:
    """app:greet's answer to "ed" (None while it errs, e.g. between two reloads, or while
    nothing listens yet)."""
    try:
        status, answer = client.json(
            "POST", "/_units/api/invoke", {"id": "app:greet", "args": ["ed"]}
        )
    except OSError:
        return None
    return answer["value"] if status == 200 else None


def test_code_changes_reload_and_a_broken_edit_keeps_the_old_code(
    app: Path, stack: DevStack, client: Client
) -> None:
    greet = app / "greet.lua"
    generation = client.api("GET", "status")["generation"]
    try:
        edit(greet, GREET.replace('"Hello, "', '"Hi, "'))
        wait_for(lambda: greet_of(client) == "Hi, ed!", "the reload of greet.lua")
        assert client.api("GET", "status")["generation"] == generation + 1
        # Served through HTTP too: the API's engine is the new one.
        assert b"Hi, ada!" in client.request("GET", "/hello/ada")[2]

        edit(greet, GREET.replace("end }", "end"))  # a Lua syntax error
        status = wait_for(
            lambda: (s := client.api("GET", "status"))["error"] and s, "the reload error"
        )
        assert status["loaded"] is False
        assert "greet.lua" in status["error"] and "syntax error" in status["error"]
        assert greet_of(client) == "Hi, ed!"  # the previous code still serves

        index = app / "_index.yaml"
        original_index = index.read_text()
        edit(index, original_index.replace("kind: process.lua", "kind: process.luaa"))
        wait_for(
            lambda: "process.luaa" in (client.api("GET", "status")["error"] or ""),
            "the manifest error",
        )
        edit(index, original_index)
    finally:
        edit(greet, GREET)
    wait_for(lambda: greet_of(client) == "Hello, ed!", "the reload of the fixed file")
    status = client.api("GET", "status")
    assert (status["loaded"], status["error"]) == (True, None)
    # Actors and runs carried over the reloads: the counter still answers.
    pid = client.api("GET", "processes")["processes"][0]["pid"]
    client.api("POST", "processes/send", {"dest": pid, "topic": "inc", "payload": 1})
    wait_for(
        lambda: client.api("GET", f"processes/{pid}")["state"]["n"] == 8, "a turn after reload"
    )


def test_a_rebuild_that_fails_keeps_the_running_code(
    app: Path, stack: DevStack, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = stack.cloud
    engine, processes, workflows = cloud.engine, cloud.processes, cloud.workflows
    real_build = cloud._build_units

    def half_build() -> None:  # builds the new units, then fails (as a moto error would)
        real_build()
        raise RuntimeError("no room for another queue")

    monkeypatch.setattr(cloud, "_build_units", half_build)
    greet = app / "greet.lua"
    try:
        edit(greet, GREET.replace('"Hello, "', '"Yo, "'))
        status = wait_for(
            lambda: (s := client.api("GET", "status"))["error"] and s, "the rebuild error"
        )
        assert "no room for another queue" in status["error"]
        assert (cloud.engine, cloud.processes, cloud.workflows) == (engine, processes, workflows)
        assert greet_of(client) == "Hello, ed!"
        assert b"Hello, ada!" in client.request("GET", "/hello/ada")[2]
        monkeypatch.undo()
    finally:
        edit(greet, GREET)
    wait_for(lambda: client.api("GET", "status")["error"] is None, "the next reload")
    assert greet_of(client) == "Hello, ed!"


def test_the_log_api_pages_by_sequence_number(client: Client) -> None:
    greet_of(client)
    first = client.api("GET", "logs?after=0")
    assert first["lines"] and first["next"] == first["lines"][-1]["seq"]
    line = first["lines"][-1]
    assert set(line) == {"seq", "time", "unit", "level", "message", "fields"}
    later = client.api("GET", f"logs?after={first['next']}")["lines"]
    assert all(line["seq"] > first["next"] for line in later)


# -- starting and stopping ---------------------------------------------------------------------
def test_a_taken_port_is_a_clear_error_and_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = write_dev_app(tmp_path / "app")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is in use"):
            DevStack(app, port=port).start()
        assert runtime.dev.main(app, port=port) == 1
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


def test_ctrl_c_stops_everything_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto.awslambda_simple import models as simple

    app = write_dev_app(tmp_path / "app")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}")
    original_invoke = simple.LambdaSimpleBackend.invoke
    seen: dict[str, object] = {}

    def press_ctrl_c() -> None:
        try:
            seen["greet"] = wait_for(lambda: greet_of(client), "the stack serving")
            seen["threads"] = {t.name for t in threading.enumerate()}
        finally:  # whatever happened, main() must return
            os.kill(os.getpid(), signal.SIGINT)

    before = set(threading.enumerate())  # the module's stack runs its own threads meanwhile
    helper = threading.Thread(target=press_ctrl_c)
    helper.start()
    assert runtime.dev.main(app, port=port) == 0  # runs here, in the main thread
    helper.join()
    out = capsys.readouterr().out
    assert f"units dev: {app} on http://127.0.0.1:{port}" in out
    # The app declares no sample requests: its routes are listed as they are written.
    assert f"GET    http://127.0.0.1:{port}/hello/{{name}}" in out
    assert seen["greet"] == "Hello, ed!"
    assert {"units-dev-http", "units-dev-watch"} <= seen["threads"]
    # Stopped: no thread of ours left, the port is free again, moto's invoke is moto's again.
    left = [t.name for t in threading.enumerate() if t not in before and t is not helper]
    assert not [name for name in left if name.startswith("units-dev") or "_server_entry" in name]
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
    assert simple.LambdaSimpleBackend.invoke is original_invoke


def test_an_app_of_functions_only_is_served_too() -> None:
    hello = Path(__file__).resolve().parent.parent / "examples" / "hello"
    with DevStack(hello, port=0) as stack:
        client = Client(stack.url)
        status, _, body = client.request("GET", "/hello/ada")
        assert (status, json.loads(body)) == (200, {"greeting": "Hello, Ada!"})
        outputs = client.api("GET", "outputs")["outputs"]
        assert "ProcessTableName" not in outputs and outputs["ApiUrl"] == stack.url + "/"
        status, answer = client.json("GET", "/_units/api/processes")
        assert status == 404 and "no process or workflow hosts" in answer["error"]["message"]
        assert f"curl {stack.url}/hello/ada" in runtime.dev.curl_examples(stack)


def test_an_app_that_does_not_load_is_refused_at_start(tmp_path: Path) -> None:
    app = write_dev_app(tmp_path / "app")
    (app / "greet.lua").write_text("return {")
    with pytest.raises(ValueError, match=r"greet\.lua"):
        DevStack(app, port=0).start()


def test_terminal_lines_are_colored_by_unit_only_for_a_tty() -> None:
    record = LogRecord(
        1, 0.0, "app:greet", "info", "greeting", {"entry": "app:greet", "pid": "h/1"}
    )
    plain = format_line(record, color=False)
    assert plain.endswith("app:greet [h/1] info  greeting")
    colored = format_line(record, color=True)
    assert "m app:greet" not in colored and "m\x1b[" not in colored
    assert "\x1b[" in colored.split("app:greet")[0] and colored.endswith("greeting")
    assert format_line(record, color=True) == colored  # a unit keeps its color
