"""Where the CLI goes: a deployed stack found through CloudFormation (moto), the dev server's
absence or impostors, and what each says when it cannot be used."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from runtime.cli import main
from runtime.cli.connection import Connection
from runtime.targets import DEFAULT_DEV_URL, dev_url
from runtime.testing import REGION, LocalCloud, lambda_name
from tests.conftest import ROOT
from tests.test_remote import APP as REMOTE_APP
from tests.test_remote import CALLER, HEAVY

ACTORS = ROOT / "tests" / "apps" / "actors"
HOST = "app:workers"
LOG_GROUP = "units-test-FunctionsHostLogs-x1y2"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def deploy(name: str, outputs: dict[str, str]) -> None:
    """A stack in moto's CloudFormation with these outputs and one Lambda log group, as
    ``cdk deploy`` leaves one (the outputs name the harness's resources)."""
    template = {
        "Resources": {
            "FunctionsHostLogs1A2B3C4D": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": LOG_GROUP},
            }
        },
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def actors_stack():
    with LocalCloud(ACTORS, auto_start=False) as cloud:
        deploy("units-actors", cloud.outputs())
        yield cloud


def test_a_deployed_stack_is_found_through_its_cloudformation_outputs(actors_stack, capsys):
    where = ["--stack", "units-actors", "--region", REGION]
    code, out, err = run(capsys, "spawn", "app:counter", HOST, "4", "--app", str(ACTORS), *where)
    assert (code, err) == (0, "")
    pid = out.strip()
    actors_stack.drain()
    code, out, _ = run(capsys, "ps", *where, "--json")
    assert code == 0
    assert [(p["pid"], p["status"]) for p in json.loads(out)["processes"]] == [(pid, "running")]
    code, out, _ = run(capsys, "send", pid, "inc", "1", *where)
    assert code == 0
    actors_stack.drain()
    code, out, _ = run(capsys, "state", pid, *where, "--json")
    assert json.loads(out)["state"] == {"n": 5}


def test_a_stack_without_what_a_command_needs(capsys):
    with LocalCloud(ACTORS, auto_start=False):
        deploy("units-bare", {"FunctionLambdaName": "units-functions"})
        code, out, err = run(capsys, "ps", "--stack", "units-bare", "--region", REGION)
        assert (code, out) == (1, "")
        assert err.strip() == (
            "units ps: stack 'units-bare' has no ProcessTableName output: this needs a "
            "process.host or workflow.host in the application"
        )


def test_what_aws_refuses_is_said_plainly(capsys):
    with LocalCloud(ACTORS, auto_start=False):
        deploy("units-gone", {"ProcessTableName": "units-deleted-since"})
        code, out, err = run(capsys, "state", "p", "--stack", "units-gone", "--region", REGION)
    assert (code, out) == (1, "")
    assert err.startswith("units state: AWS ResourceNotFoundException: ")


def test_an_unknown_stack(capsys):
    with LocalCloud(ACTORS, auto_start=False):
        code, out, err = run(capsys, "workflow", "list", "--stack", "nope", "--region", REGION)
    assert (code, out) == (1, "")
    assert err.strip() == (
        f"units workflow list: no stack 'nope' in {REGION}: deploy it with `cdk deploy`"
    )


def test_a_stack_needs_a_region(capsys, monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code, _, err = run(capsys, "ps", "--stack", "mine")
    assert code == 1
    assert (
        err.strip() == "units ps: which region is stack 'mine' in? give --region or set AWS_REGION"
    )


def test_invoke_on_a_deployed_stack_goes_to_its_function_lambda(capsys, make_app):
    app = make_app(REMOTE_APP, {"heavy.lua": HEAVY, "caller.lua": CALLER})
    with LocalCloud(app) as cloud:
        # The harness's Lambda for app:heavy speaks the function Lambda's invoke protocol.
        deploy("units-fns", {**cloud.outputs(), "FunctionLambdaName": lambda_name("app:heavy")})
        where = ["--stack", "units-fns", "--region", REGION]
        code, out, err = run(capsys, "invoke", "app:heavy", "3", *where)
        assert (code, err) == (0, "")
        assert json.loads(out) == {"square": 9}
        code, out, err = run(capsys, "invoke", "app:heavy", "-1", *where)
        assert (code, out, err.strip()) == (1, "", "NotFound: negative")
        code, out, err = run(capsys, "invoke", "app:heavy", "x", *where)
        assert code == 2 and "argument 1 is not JSON: 'x'" in err


def test_logs_of_a_deployed_stack_come_from_its_log_groups(actors_stack, capsys):
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="s")
    now = int(time.time() * 1000)
    line = {"level": "INFO", "message": "greeted", "service": "units", "name": "ada"}
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName="s",
        logEvents=[
            {"timestamp": now - 2, "message": "START RequestId: r-1 Version: $LATEST"},
            {"timestamp": now - 1, "message": json.dumps(line)},
        ],
    )
    where = ["--stack", "units-actors", "--region", REGION]
    code, out, err = run(capsys, "logs", *where)
    assert (code, err) == (0, "")
    assert [text.split("  ", 1)[1] for text in out.splitlines()] == [
        "FunctionsHostLogs  -  START RequestId: r-1 Version: $LATEST",
        'FunctionsHostLogs  info  greeted  name="ada"',
    ]
    code, out, _ = run(capsys, "logs", *where, "--json")
    assert [json.loads(text)["fields"] for text in out.splitlines()] == [{}, {"name": "ada"}]
    code, _, err = run(capsys, "logs", *where, "--since", "soon")
    assert code == 2 and err.startswith("units logs: --since:")


def test_no_dev_stack(capsys):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for argv in (["ps"], ["workflow", "list"], ["invoke", "app:greet", '"ada"'], ["logs"]):
        code, out, err = run(capsys, *argv, "--dev", url)
        assert (code, out) == (1, "")
        assert err.startswith(f"units {' '.join(argv[:2]) if argv[0] == 'workflow' else argv[0]}")
        assert f"no dev stack at {url} (" in err
        assert err.rstrip().endswith("start it with `units dev APP`")


def test_something_else_at_the_dev_url(capsys):
    class NotUnits(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotUnits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code, _, err = run(capsys, "ps", "--dev", url)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    assert err.strip() == (
        f"units ps: {url} is not a units dev server ({url}/_units/api/outputs answered with "
        "something that is not JSON): start one with `units dev APP`"
    )


def test_the_dev_url_comes_from_the_option_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv("UNITS_DEV_URL", raising=False)
    assert dev_url() == DEFAULT_DEV_URL == "http://127.0.0.1:8787"
    monkeypatch.setenv("UNITS_DEV_URL", "http://10.0.0.1:9000/")
    assert dev_url() == "http://10.0.0.1:9000"
    assert dev_url("http://h:1") == "http://h:1"


def test_stack_and_dev_together_is_a_usage_error(capsys):
    code, _, err = run(capsys, "ps", "--stack", "s", "--dev", "http://h:1")
    assert (code, err.strip()) == (2, "units ps: give either --stack or --dev, not both")


def test_logs_follow_prints_new_lines_once_until_interrupted(actors_stack, capsys, monkeypatch):
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="s")
    now = int(time.time() * 1000)

    def put(timestamp: int, message: str) -> None:
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName="s",
            logEvents=[{"timestamp": timestamp, "message": message}],
        )

    put(now, "first")
    polls = []

    def between_polls(self, seconds):
        polls.append(seconds)
        if len(polls) == 1:
            put(now, "second, at the same millisecond")  # the next poll starts there
        else:
            raise KeyboardInterrupt  # Ctrl-C

    monkeypatch.setattr(Connection, "sleep", between_polls)
    code, out, _ = run(capsys, "logs", "-f", "--stack", "units-actors", "--region", REGION)
    assert code == 0
    assert [text.split("  ")[-1] for text in out.splitlines()] == [
        "first",
        "second, at the same millisecond",
    ]
    assert len(polls) == 2
