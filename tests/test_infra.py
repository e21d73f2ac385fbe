"""The CDK app: what the stack holds for an application, bundling, cdk-nag, and bad input.

One synthesis for the whole module (a module-scoped fixture, six stacks in one App): the hello
example (arm64, the default), a small app with remote functions and iam/none/jwt routes, the
chat example (a process host, a registered service, the HTTP API), a small app with two process
hosts (one with a concurrency cap), a remote function, a supervision tree and a workflow host,
a small app with two workflow hosts (one with every setting changed), a remote function and no
process host, the store/queue apps, a production stage of a small app with every deployment
setting changed, and the hello example bundled for x86_64 and *this* machine's Python, so that the bundle can be imported and
run here to prove its layout (a bundle for Lambda's Python 3.12 on aarch64 cannot load its lupa
extension on this machine). Bad input is checked without synthesizing: the stack refuses it
before any construct or bundle is made.

The Lambda dependencies are installed by pip from PyPI on the first run and then cached (see
``infra/bundling.py``), so later runs need no network.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

if shutil.which("node") is None:
    # Not a skip: `make test` puts the pinned Node.js of the cdk extra on PATH.
    raise RuntimeError(
        "the CDK needs Node.js (jsii runs the construct library in it): run the tests with "
        "`make test`, or put node on PATH"
    )


def _node_major() -> str:
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    return version.strip().lstrip("v").split(".")[0]


# jsii prints a large banner when Node.js is past its end of life; that is the machine's
# concern, not these tests'. Set before the first aws_cdk import starts the jsii runtime.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", _node_major())

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Annotations, Match, Template  # noqa: E402

from infra import environment, storage  # noqa: E402
from infra.bundling import BUNDLE_INFO, RUNTIME_PROVIDED, LambdaBundle, runtime_requirements  # noqa: E402
from infra.errors import SynthError  # noqa: E402
from infra.nag import apply_checks  # noqa: E402
from infra.plan import (  # noqa: E402
    LambdaSize,
    api_gateway_path,
    lambda_function_name,
    load_registry,
    plan_app,
    services_digest,
    state_machine_name,
)
from infra.settings import Settings  # noqa: E402
from infra.stack import UnitsStack  # noqa: E402
from infra.tables import LOGICAL_ID as TABLE_LOGICAL_ID  # noqa: E402
from runtime.manifest import (  # noqa: E402
    Entry,
    ProcessHostEntry,
    Registry,
    ServiceEntry,
    WorkflowHostEntry,
)
from runtime.workflows.asl import driver_definition  # noqa: E402
from tests.conftest import EXAMPLES, ROOT, MakeApp, write_app  # noqa: E402

HELLO = EXAMPLES / "hello"
CHAT = EXAMPLES / "chat"
INTEGRATIONS = EXAMPLES / "integrations"
HERE_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

SHOP = """
version: "1.0"
namespace: shop
entries:
  - name: add
    kind: function.lua
    source: file://add.lua
  - name: heavy
    kind: function.lua
    source: file://add.lua
    deploy: {memory: 1024, timeout: 2m, remote: true}
  - name: report
    kind: function.lua
    source: file://add.lua
    deploy: {remote: true}
  - name: public
    kind: http.endpoint
    method: GET
    path: /public
    func: add
    auth: none
  - name: files
    kind: http.endpoint
    method: GET
    path: /files/{rest...}
    func: add
  - name: me.get
    kind: http.endpoint
    method: GET
    path: /me
    func: heavy
    auth: jwt
    jwt: {issuer: "https://issuer.example.com", audience: [shop-api]}
  - name: me.put
    kind: http.endpoint
    method: PUT
    path: /me
    func: add
    auth: jwt
    jwt: {issuer: "https://issuer.example.com", audience: [shop-api]}
  - name: admin
    kind: http.endpoint
    method: DELETE
    path: /users/{id}
    func: report
    auth: jwt
    jwt: {issuer: "https://issuer.example.com", audience: [shop-admin]}
"""
ADD = "return { handler = function(a, b) return (a or 0) + (b or 0) end }\n"

JOBS = """
version: "1.0"
namespace: jobs
entries:
  - name: add
    kind: function.lua
    source: file://add.lua
  - name: heavy
    kind: function.lua
    source: file://add.lua
    deploy: {memory: 1024, remote: true}
  - name: job
    kind: process.lua
    source: file://job.lua
  - name: fast
    kind: process.host
    batch_size: 5
    max_concurrency: 4
    visibility_timeout: 3m
    lambda_timeout: 90s
    max_receive_count: 7
  - name: slow
    kind: process.host
  - name: ticker
    kind: process.service
    process: jobs:job
    host: jobs:fast
    lifecycle: {auto_start: true}
  - name: manual
    kind: process.service
    process: jobs:job
    host: jobs:slow
    lifecycle: {auto_start: false}
  - name: leaf
    kind: process.service
    process: jobs:job
    host: jobs:slow
  - name: pool
    kind: process.service
    children: [jobs:leaf]
    lifecycle: {auto_start: true}
  - name: flow
    kind: workflow.lua
    source: file://flow.lua
    modules: [funcs]
  - name: flows
    kind: workflow.host
"""
JOB = """
local job = {}
function job.init() return { n = 0 } end
function job.handle(state, msg) state.n = state.n + 1 return state end
return job
"""
FLOW = """
local funcs = require("funcs")
local function main(input) return funcs.call(input.func, 1, 2) end
return { main = main }
"""
FLOWS = """
version: "1.0"
namespace: flows
entries:
  - name: add
    kind: function.lua
    source: file://add.lua
  - name: heavy
    kind: function.lua
    source: file://add.lua
    deploy: {memory: 1024, timeout: 45s, remote: true}
  - name: order
    kind: workflow.lua
    source: file://flow.lua
    modules: [funcs]
  - name: main
    kind: workflow.host
  - name: bulk
    kind: workflow.host
    activity_batch_size: 5
    activity_max_receive_count: 7
    step_timeout: 2m
    max_concurrency: 4
"""


class Synth:
    """The synthesized App: its stacks by short name, templates and asset folders."""

    def __init__(self, outdir: Path, stacks: dict[str, UnitsStack]) -> None:
        self.outdir = outdir
        self.stacks = stacks
        self.assembly = cdk.App.of(next(iter(stacks.values()))).synth()
        self.json = {
            name: self.assembly.get_stack_by_name(stack.stack_name).template
            for name, stack in stacks.items()
        }
        self.templates = {name: Template.from_json(t) for name, t in self.json.items()}

    def resources(self, name: str, kind: str) -> dict[str, Any]:
        return {k: r for k, r in self.json[name]["Resources"].items() if r["Type"] == kind}

    def asset_dir(self, name: str) -> Path:
        """The bundle folder of the stack's (single) Lambda code asset."""
        manifest = json.loads(
            (self.outdir / f"{self.stacks[name].stack_name}.assets.json").read_text()
        )
        paths = {f["source"]["path"] for f in manifest["files"].values()}
        bundles = [self.outdir / p for p in paths if (self.outdir / p / BUNDLE_INFO).exists()]
        assert len(bundles) == 1, paths
        return bundles[0]


STORAGE = """
version: "1.0"
namespace: app
entries:
  - {name: add, kind: function.lua, source: file://add.lua, method: add, modules: [store]}
  - {name: far, kind: function.lua, source: file://add.lua, method: add, deploy: {remote: true}}
  - {name: cache, kind: store.memory}
  - {name: aws, kind: config.aws, region: "${env:AWS_REGION}"}
  - {name: files, kind: cloudstorage.s3, config: aws}
  - {name: named, kind: cloudstorage.s3, config: aws, bucket: my-existing-bucket}
  - {name: lite, kind: db.sql.sqlite, file: /tmp/app.db}
  - name: pg
    kind: db.sql.postgres
    host: db.example.com
    database: app
    username: app
    password_secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db
  - name: pg2
    kind: db.sql.postgres
    host: db.example.com
    database: app
    username: app
    password_parameter: arn:aws:ssm:us-east-1:123456789012:parameter/app/db-password
"""


QUEUES = """
version: "1.0"
namespace: app
entries:
  - {name: add, kind: function.lua, source: file://add.lua, method: add, modules: [queue]}
  - name: slow
    kind: function.lua
    source: file://add.lua
    method: add
    modules: [queue]
    deploy: {timeout: "20s", memory: 1024}
  - {name: mem, kind: queue.driver.memory}
  - {name: tasks, kind: queue.queue, driver: mem, dead_letter: {max_attempts: 4}}
  - {name: orders, kind: queue.queue, driver: mem, queue_name: orders.fifo}
  - {name: spare, kind: queue.queue, driver: mem, dead_letter: {queue: tasks_dlq}}
  - {name: tasks_dlq, kind: queue.queue, driver: mem}
  - {name: work, kind: queue.consumer, queue: tasks, func: slow, concurrency: 5, prefetch: 20}
  - {name: order_work, kind: queue.consumer, queue: orders, func: add}
"""


#: A production stage: every kind of resource a stage changes, and every setting changed.
PROD = """
version: "1.0"
namespace: app
entries:
  - {name: add, kind: function.lua, source: file://add.lua, modules: [store, funcs]}
  - name: far
    kind: function.lua
    source: file://add.lua
    deploy: {remote: true, reserved_concurrency: 7}
  - {name: hi, kind: http.endpoint, method: GET, path: /hi, func: add, auth: none}
  - {name: job, kind: process.lua, source: file://job.lua}
  - {name: jobs, kind: process.host, retention: 48h}
  - {name: flow, kind: workflow.lua, source: file://flow.lua, modules: [funcs]}
  - {name: flows, kind: workflow.host, retention: 0}
  - {name: cache, kind: store.memory}
"""
PROD_SETTINGS = {
    "stage": "prod",
    "alarm_email": "ops@example.com",
    "api_rate": 50,
    "api_burst": 75,
    "workflow_log_level": "ALL",
    "workflow_log_data": True,
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk.out")
    apps = tmp_path_factory.mktemp("apps")
    shop = write_app(apps / "shop", SHOP, {"add.lua": ADD})
    jobs = write_app(apps / "jobs", JOBS, {"add.lua": ADD, "job.lua": JOB, "flow.lua": FLOW})
    flows = write_app(apps / "flows", FLOWS, {"add.lua": ADD, "flow.lua": FLOW})
    storage = write_app(apps / "storage", STORAGE, {"add.lua": ADD})
    queues = write_app(apps / "queues", QUEUES, {"add.lua": ADD})
    prod = write_app(apps / "prod", PROD, {"add.lua": ADD, "job.lua": JOB, "flow.lua": FLOW})
    app = cdk.App(outdir=str(outdir))
    stacks = {
        "hello": UnitsStack(
            app,
            "units-hello",
            registry=load_registry(HELLO),
            settings=Settings(app_dir=HELLO, stack_name="units-hello"),
        ),
        "shop": UnitsStack(
            app,
            "units-shop",
            registry=load_registry(shop),
            settings=Settings(app_dir=shop, stack_name="units-shop", log_level="DEBUG"),
        ),
        "chat": UnitsStack(
            app,
            "units-chat",
            registry=load_registry(CHAT),
            settings=Settings(app_dir=CHAT, stack_name="units-chat"),
        ),
        "jobs": UnitsStack(
            app,
            "units-jobs",
            registry=load_registry(jobs),
            settings=Settings(app_dir=jobs, stack_name="units-jobs"),
        ),
        "flows": UnitsStack(
            app,
            "units-flows",
            registry=load_registry(flows),
            settings=Settings(app_dir=flows, stack_name="units-flows"),
        ),
        "storage": UnitsStack(
            app,
            "units-storage",
            registry=load_registry(storage),
            settings=Settings(app_dir=storage, stack_name="units-storage"),
        ),
        "queues": UnitsStack(
            app,
            "units-queues",
            registry=load_registry(queues),
            settings=Settings(app_dir=queues, stack_name="units-queues"),
        ),
        "integrations": UnitsStack(
            app,
            "units-integrations",
            registry=load_registry(INTEGRATIONS),
            settings=Settings(app_dir=INTEGRATIONS, stack_name="units-integrations"),
        ),
        "prod": UnitsStack(
            app,
            "units-prod",
            registry=load_registry(prod),
            settings=Settings(app_dir=prod, stack_name="units-prod", **PROD_SETTINGS),
        ),
        "layout": UnitsStack(
            app,
            "units-layout",
            registry=load_registry(HELLO),
            settings=Settings(app_dir=HELLO, stack_name="units-layout"),
            bundle=LambdaBundle(architecture="x86_64", python_version=HERE_PYTHON),
        ),
    }
    apply_checks(app)
    return Synth(outdir, stacks)


#: The handler of CDK's custom resource framework Lambda (Node.js, not one of the kit's).
FRAMEWORK_HANDLER = "framework.onEvent"


def lambdas(synth: Synth, name: str) -> dict[str, dict[str, Any]]:
    """The kit's Lambda functions of a stack by logical id, their properties."""
    return {
        k: r["Properties"]
        for k, r in synth.resources(name, "AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] != FRAMEWORK_HANDLER
    }


def by_handler(synth: Synth, name: str, handler: str) -> list[dict[str, Any]]:
    return [p for p in lambdas(synth, name).values() if p["Handler"] == handler]


def statements(synth: Synth, name: str) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM policy statement of a stack, with the logical id of its role."""
    found = []
    for policy in synth.resources(name, "AWS::IAM::Policy").values():
        (role,) = policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            found.append((role["Ref"], statement))
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_arn_name(resource: Any) -> str:
    """The function name at the end of a ``Fn::Join``-built Lambda ARN."""
    return resource["Fn::Join"][1][-1].rsplit(":function:", 1)[1]


# -- what the stacks hold ------------------------------------------------------------------------


def test_hello_resource_counts(synth):
    counts = Counter(r["Type"] for r in synth.json["hello"]["Resources"].values())
    assert counts["AWS::Lambda::Function"] == 2  # the function Lambda and the API Lambda
    assert counts["AWS::IAM::Role"] == 2
    # The two Lambdas' errors, the API's 5xx answers, the function invokes' error replies.
    assert counts["AWS::CloudWatch::Alarm"] == 2 + 1 + 1
    assert counts["AWS::SNS::Topic"] == 1
    assert counts["AWS::Logs::LogGroup"] == 3  # two Lambdas and the API access log
    assert counts["AWS::ApiGatewayV2::Api"] == 1
    assert counts["AWS::ApiGatewayV2::Stage"] == 1
    assert counts["AWS::ApiGatewayV2::Integration"] == 1
    assert counts["AWS::ApiGatewayV2::Route"] == 2
    assert counts["AWS::ApiGatewayV2::Authorizer"] == 0


def test_shop_resource_counts(synth):
    counts = Counter(r["Type"] for r in synth.json["shop"]["Resources"].values())
    assert counts["AWS::Lambda::Function"] == 4  # function, API, and the two remote functions
    assert counts["AWS::CloudWatch::Alarm"] == 4 + 2
    assert counts["AWS::ApiGatewayV2::Route"] == 5
    assert counts["AWS::ApiGatewayV2::Authorizer"] == 2  # one per distinct issuer + audience


def test_routes_and_their_auth(synth):
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in synth.resources("shop", "AWS::ApiGatewayV2::Route").values()
    }
    assert {key: r["AuthorizationType"] for key, r in routes.items()} == {
        "GET /public": "NONE",
        "GET /files/{rest+}": "AWS_IAM",
        "GET /me": "JWT",
        "PUT /me": "JWT",
        "DELETE /users/{id}": "JWT",
    }
    authorizers = {
        k: r["Properties"]
        for k, r in synth.resources("shop", "AWS::ApiGatewayV2::Authorizer").items()
    }
    config = {
        key: authorizers[r["AuthorizerId"]["Ref"]]["JwtConfiguration"]
        for key, r in routes.items()
        if r["AuthorizationType"] == "JWT"
    }
    assert config["GET /me"] == {"Issuer": "https://issuer.example.com", "Audience": ["shop-api"]}
    assert routes["GET /me"]["AuthorizerId"] == routes["PUT /me"]["AuthorizerId"]
    assert config["DELETE /users/{id}"]["Audience"] == ["shop-admin"]
    hello = synth.resources("hello", "AWS::ApiGatewayV2::Route").values()
    assert sorted(r["Properties"]["RouteKey"] for r in hello) == [
        "GET /hello/{name}",
        "POST /hello",
    ]


def test_an_api_whose_routers_list_no_cors_has_no_cors_configuration(synth):
    # Then API Gateway answers no preflight: a function's own CORS headers are what is sent.
    for name in ("hello", "shop", "chat"):
        (api,) = synth.resources(name, "AWS::ApiGatewayV2::Api").values()
        assert "CorsConfiguration" not in api["Properties"]


def test_every_route_reaches_the_api_lambda(synth):
    (integration,) = synth.resources("shop", "AWS::ApiGatewayV2::Integration").values()
    (api_lambda,) = [
        k for k, p in lambdas(synth, "shop").items() if p["Handler"] == "handlers.api.handler"
    ]
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [api_lambda, "Arn"]}
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    permissions = synth.resources("shop", "AWS::Lambda::Permission").values()
    assert {p["Properties"]["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}


def test_lambda_settings(synth):
    for name in synth.stacks:
        for props in lambdas(synth, name).values():
            assert props["Runtime"] == "python3.12"
            assert props["TracingConfig"] == {"Mode": "Active"}
            assert props["Architectures"] == (["x86_64"] if name == "layout" else ["arm64"])
    (heavy,) = [
        p
        for p in lambdas(synth, "shop").values()
        if p.get("FunctionName") == "units-shop-shop-heavy"
    ]
    assert (heavy["MemorySize"], heavy["Timeout"]) == (1024, 120)
    (api,) = by_handler(synth, "shop", "handlers.api.handler")
    assert api["Timeout"] <= 30  # the HTTP API's own limit


def test_environment(synth):
    names = {"shop:heavy": "units-shop-shop-heavy", "shop:report": "units-shop-shop-report"}
    for name, remote in [("hello", {}), ("shop", names)]:
        for props in lambdas(synth, name).values():
            env = props["Environment"]["Variables"]
            assert env["UNITS_APP"] == "/var/task/app"
            assert env["POWERTOOLS_SERVICE_NAME"] == f"units-{name}"
            assert env["POWERTOOLS_LOG_LEVEL"] == ("DEBUG" if name == "shop" else "INFO")
            assert env["POWERTOOLS_METRICS_NAMESPACE"] == "ComputeUnits"
            assert json.loads(env["UNITS_REMOTE_FUNCTIONS"]) == remote
            home = env.get("UNITS_HOME_FUNCTIONS")
            assert props.get("FunctionName") == (names[home] if home else None)
    homes = [
        p["Environment"]["Variables"].get("UNITS_HOME_FUNCTIONS")
        for p in lambdas(synth, "shop").values()
    ]
    assert sorted(filter(None, homes)) == ["shop:heavy", "shop:report"]


def test_environment_names_are_the_runtimes():
    from runtime import bootstrap
    from runtime.aws import lambda_invoke

    assert environment.APP_ENV == bootstrap.APP_ENV
    assert environment.HOME_FUNCTIONS_ENV == bootstrap.HOME_FUNCTIONS_ENV
    assert environment.REMOTE_FUNCTIONS_ENV == lambda_invoke.REMOTE_FUNCTIONS_ENV
    assert environment.TABLE_ENV == bootstrap.TABLE_ENV
    assert environment.QUEUES_ENV == bootstrap.QUEUES_ENV
    assert environment.DELAY_QUEUES_ENV == bootstrap.DELAY_QUEUES_ENV
    assert environment.HOST_ENV == bootstrap.HOST_ENV
    assert environment.WORKFLOW_MACHINES_ENV == bootstrap.WORKFLOW_MACHINES_ENV
    assert environment.ACTIVITY_QUEUES_ENV == bootstrap.ACTIVITY_QUEUES_ENV
    assert environment.WORKFLOW_HOST_ENV == bootstrap.WORKFLOW_HOST_ENV
    from runtime import message_queues, resources

    assert environment.STORE_TABLE_ENV == resources.STORE_TABLE_ENV
    assert environment.BUCKETS_ENV == resources.BUCKETS_ENV
    assert environment.APP_QUEUES_ENV == message_queues.QUEUES_ENV
    assert environment.CONSUMER_ENV == message_queues.CONSUMER_ENV


def test_invoke_grants_exactly_the_remote_functions(synth):
    roles = {
        p["Role"]["Fn::GetAtt"][0]: p.get("FunctionName") or p["Handler"]
        for p in lambdas(synth, "shop").values()
    }
    granted: dict[str, set[str]] = {}
    for role, statement in statements(synth, "shop"):
        if "lambda:InvokeFunction" in as_list(statement["Action"]):
            assert as_list(statement["Action"]) == ["lambda:InvokeFunction"]
            names = {function_arn_name(r) for r in as_list(statement["Resource"])}
            granted.setdefault(roles[role], set()).update(names)
    both = {"units-shop-shop-heavy", "units-shop-shop-report"}
    assert granted == {
        "handlers.function.handler": both,
        "handlers.api.handler": both,
        # A remote function runs itself in process; it may call the other one.
        "units-shop-shop-heavy": {"units-shop-shop-report"},
        "units-shop-shop-report": {"units-shop-shop-heavy"},
    }
    hello_actions = {a for _, s in statements(synth, "hello") for a in as_list(s["Action"])}
    assert "lambda:InvokeFunction" not in hello_actions


#: What may have '*' as its resource: actions that support no resource-level permissions.
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
SAMPLING_ACTIONS = {"xray:GetSamplingRules", "xray:GetSamplingTargets"}
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def machine_roles(synth: Synth, name: str) -> set[str]:
    """Logical ids of the roles Step Functions assumes (the workflow drivers')."""
    return {
        k
        for k, r in synth.resources(name, "AWS::IAM::Role").items()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "states.amazonaws.com"}
    }


def test_no_wildcard_actions_and_star_resources_only_where_unavoidable(synth):
    for name in synth.stacks:
        machines = machine_roles(synth, name)
        for role, statement in statements(synth, name):
            actions = as_list(statement["Action"])
            assert not any("*" in action for action in actions), statement
            if "*" not in as_list(statement["Resource"]):
                continue
            if role in machines:  # tracing and vended logs of the driver
                assert set(actions) <= XRAY_ACTIONS | SAMPLING_ACTIONS | LOG_DELIVERY_ACTIONS
            else:
                task = {"states:SendTaskSuccess"}
                assert set(actions) in (XRAY_ACTIONS, task, task | {"states:SendTaskFailure"})
        for role in synth.resources(name, "AWS::IAM::Role").values():
            assert "ManagedPolicyArns" not in role["Properties"]


def test_logs_go_to_the_lambdas_own_log_group(synth):
    for props in lambdas(synth, "shop").values():
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        role = props["Role"]["Fn::GetAtt"][0]
        writes = [
            s
            for r, s in statements(synth, "shop")
            if r == role and "logs:PutLogEvents" in as_list(s["Action"])
        ]
        assert [s["Resource"] for s in writes] == [{"Fn::GetAtt": [log_group, "Arn"]}]
    for group in synth.resources("shop", "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 30


def test_an_errors_alarm_per_lambda(synth):
    for name in ("hello", "shop", "chat", "jobs", "flows"):
        alarmed = set()
        for alarm in synth.resources(name, "AWS::CloudWatch::Alarm").values():
            props = alarm["Properties"]
            if props["Namespace"] in ("AWS/SQS", "AWS/States", "AWS/ApiGateway", "ComputeUnits"):
                continue  # the queues', the drivers', the API's and the kit's alarms, below
            assert (props["MetricName"], props["Namespace"]) == ("Errors", "AWS/Lambda")
            assert props["Threshold"] == 1
            assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            (dimension,) = props["Dimensions"]
            alarmed.add(dimension["Value"]["Ref"])
        assert alarmed == set(lambdas(synth, name))


def test_access_logs_are_json(synth):
    (stage,) = synth.resources("shop", "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["AutoDeploy"] is True
    fields = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert fields["routeKey"] == "$context.routeKey"


def test_outputs(synth):
    shop = synth.templates["shop"]
    shop.has_output("ApiUrl", {"Value": Match.object_like({"Fn::Join": Match.any_value()})})
    shop.has_output(
        "FunctionLambdaName", {"Value": {"Ref": Match.string_like_regexp("^FunctionsHost")}}
    )
    shop.has_output("ApiLambdaName", {"Value": {"Ref": Match.string_like_regexp("^ApiHandler")}})
    remote = synth.json["shop"]["Outputs"]["RemoteFunctions"]["Value"]
    assert json.loads(remote) == {
        "shop:heavy": "units-shop-shop-heavy",
        "shop:report": "units-shop-shop-report",
    }
    assert json.loads(synth.json["hello"]["Outputs"]["RemoteFunctions"]["Value"]) == {}


def test_a_slow_route_is_a_warning(synth):
    warnings = Annotations.from_stack(synth.stacks["shop"]).find_warning(
        "*", Match.string_like_regexp("shop:heavy' may run 120 s")
    )
    assert len(warnings) == 1


def test_cdk_nag_ran_and_reports_no_unsuppressed_error(synth):
    for name, stack in synth.stacks.items():
        errors = Annotations.from_stack(stack).find_error(
            "*", Match.string_like_regexp("AwsSolutions-.*")
        )
        assert errors == [], (name, errors)
        (report_file,) = synth.outdir.glob(f"AwsSolutions-*{stack.stack_name}-NagReport.csv")
        report = report_file.read_text()
        assert '"Non-Compliant"' not in report
        # Suppressions are there and say why: the checks did run over this stack.
        suppressed = [line for line in report.splitlines() if '"Suppressed"' in line]
        assert any("AwsSolutions-L1" in line for line in suppressed)
        assert all(len(line.split('","')[3]) > 60 for line in suppressed)


def test_templates_pass_cdk_cloudformation_validation(synth):
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]
    assert violations == []


# -- process hosts -------------------------------------------------------------------------------

#: (stack, host id, batch size, max concurrency, max receive count, visibility, worker timeout)
HOSTS = [
    ("chat", "app:chat", 10, None, 3, 60, 30),
    ("jobs", "jobs:fast", 5, 4, 7, 180, 90),
    ("jobs", "jobs:slow", 10, None, 5, 60, 30),
]


def resolve(synth: Synth, name: str, token: Any) -> Any:
    """What ``token`` (a construct attribute) is in the stack's template."""
    return synth.stacks[name].resolve(token)


def logical_id(synth: Synth, name: str, construct: Any) -> str:
    return resolve(synth, name, construct.node.default_child.logical_id)


def props_of(synth: Synth, name: str, construct: Any) -> dict[str, Any]:
    """The construct's properties, less the stack's tags (``test_tags_and_description``)."""
    props = synth.json[name]["Resources"][logical_id(synth, name, construct)]["Properties"]
    return {k: v for k, v in props.items() if k != "Tags"}


def render(value: Any) -> str:
    """A template string value with its references written ``<LogicalId>``/``<Id.Attr>``."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<" + ".".join(value["Fn::GetAtt"]) + ">"
    separator, parts = value["Fn::Join"]
    return separator.join(render(p) for p in parts)


def arn(synth: Synth, name: str, construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(synth, name, construct), "Arn"]}


def test_process_resource_counts(synth):
    chat = Counter(r["Type"] for r in synth.json["chat"]["Resources"].values())
    # The function, API, worker and services Lambdas, and the custom resource framework's.
    assert chat["AWS::Lambda::Function"] == 5
    assert chat["AWS::DynamoDB::Table"] == 1
    assert chat["AWS::SQS::Queue"] == 4  # FIFO, its DLQ, the delay queue, its DLQ
    assert chat["AWS::SQS::QueuePolicy"] == 4  # TLS only
    assert chat["AWS::Lambda::EventSourceMapping"] == 2
    # Lambda errors, the two DLQs, the two event source queues' age, the API, the kit's metric.
    assert chat["AWS::CloudWatch::Alarm"] == 4 + 2 + 2 + 1 + 1
    assert chat["Custom::UnitsServices"] == 1
    jobs = Counter(r["Type"] for r in synth.json["jobs"]["Resources"].values())
    assert jobs["AWS::DynamoDB::Table"] == 1  # one table for every host, workflow hosts too
    assert jobs["AWS::SQS::Queue"] == 8 + 2  # and the workflow host's activity queue and DLQ
    assert jobs["AWS::Lambda::EventSourceMapping"] == 4 + 1
    for name in ("hello", "shop", "layout"):
        kinds = {r["Type"] for r in synth.json[name]["Resources"].values()}
        assert not kinds & {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "Custom::UnitsServices"}


def test_the_process_table(synth):
    for name in ("chat", "jobs", "flows"):  # flows: workflow hosts alone need it too
        table = synth.stacks[name].table
        assert logical_id(synth, name, table) == TABLE_LOGICAL_ID  # as when processes had it
        resource = synth.json[name]["Resources"][logical_id(synth, name, table)]
        assert props_of(synth, name, table) == {
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},  # the AWS-managed key
            # Written on what has ended only (runtime.aws.dynamodb.expires_at).
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        }
        # A dev stage: deleted with the stack, no deletion protection (test_a_production_stage).
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Delete"


@pytest.mark.parametrize(
    ("name", "host", "batch", "concurrency", "receives", "visibility", "_"), HOSTS
)
def test_host_queues(synth, name, host, batch, concurrency, receives, visibility, _):
    queues = synth.stacks[name].processes.queues[host]
    assert props_of(synth, name, queues.queue) == {
        "FifoQueue": True,
        "ContentBasedDeduplication": False,
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
        "VisibilityTimeout": visibility,
        "MessageRetentionPeriod": 14 * 24 * 3600,  # as long as its DLQ
        "RedrivePolicy": {
            "deadLetterTargetArn": arn(synth, name, queues.dead_letters),
            "maxReceiveCount": receives,
        },
        "SqsManagedSseEnabled": True,
    }
    assert props_of(synth, name, queues.dead_letters) == {
        "FifoQueue": True,
        "MessageRetentionPeriod": 14 * 24 * 3600,
        "SqsManagedSseEnabled": True,
    }
    # FIFO queues take no per-message delay: delayed sends wait in a standard queue.
    assert props_of(synth, name, queues.delays) == {
        "VisibilityTimeout": visibility,
        "MessageRetentionPeriod": 14 * 24 * 3600,
        "RedrivePolicy": {
            "deadLetterTargetArn": arn(synth, name, queues.delay_dead_letters),
            "maxReceiveCount": receives,
        },
        "SqsManagedSseEnabled": True,
    }
    assert props_of(synth, name, queues.delay_dead_letters) == {
        "MessageRetentionPeriod": 14 * 24 * 3600,
        "SqsManagedSseEnabled": True,
    }


def test_every_queue_refuses_requests_without_tls(synth):
    for name in ("chat", "jobs", "flows"):
        queues = set(synth.resources(name, "AWS::SQS::Queue"))
        covered = set()
        for policy in synth.resources(name, "AWS::SQS::QueuePolicy").values():
            (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
            assert statement["Effect"] == "Deny"
            assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            covered |= {q["Ref"] for q in policy["Properties"]["Queues"]}
        assert covered == queues


@pytest.mark.parametrize(
    ("name", "host", "batch", "concurrency", "receives", "visibility", "timeout"), HOSTS
)
def test_the_worker_and_its_event_sources(
    synth, name, host, batch, concurrency, receives, visibility, timeout
):
    processes = synth.stacks[name].processes
    worker = processes.workers[host].function
    props = props_of(synth, name, worker)
    assert props["Handler"] == "handlers.process_worker.handler"
    assert props["Timeout"] == timeout <= visibility
    mappings = {
        m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]: m["Properties"]
        for m in synth.resources(name, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": logical_id(synth, name, worker)}
    }
    queues = processes.queues[host]
    fifo = mappings.pop(logical_id(synth, name, queues.queue))
    delays = mappings.pop(logical_id(synth, name, queues.delays))
    assert mappings == {}
    assert fifo["BatchSize"] == batch
    assert fifo["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    if concurrency is None:
        assert "ScalingConfig" not in fifo
    else:
        assert fifo["ScalingConfig"] == {"MaximumConcurrency": concurrency}
    assert delays["BatchSize"] == 10
    assert delays["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_lambda_reaches_the_processes(synth):
    for name in ("chat", "jobs"):
        processes = synth.stacks[name].processes
        table = resolve(synth, name, processes.table.table_name)
        fifo = {h: f"<{logical_id(synth, name, q.queue)}>" for h, q in processes.queues.items()}
        delays = {h: f"<{logical_id(synth, name, q.delays)}>" for h, q in processes.queues.items()}
        workers = {logical_id(synth, name, w.function): h for h, w in processes.workers.items()}
        for logical, props in lambdas(synth, name).items():
            env = props["Environment"]["Variables"]
            assert env["UNITS_TABLE"] == table
            assert json.loads(render(env["UNITS_PROCESS_QUEUES"])) == fifo
            assert json.loads(render(env["UNITS_PROCESS_DELAY_QUEUES"])) == delays
            assert env.get("UNITS_PROCESS_HOST") == workers.get(logical)
        assert sorted(workers.values()) == sorted(processes.queues)
    for props in lambdas(synth, "hello").values():
        assert not {"UNITS_TABLE", "UNITS_PROCESS_QUEUES"} & set(props["Environment"]["Variables"])


def grants(synth: Synth, name: str) -> dict[str, dict[str, list[Any]]]:
    """Per Lambda (the worker's host id, else its handler, else a remote's name): action ->
    resources granted, over every statement of its role."""
    who = {}
    for props in lambdas(synth, name).values():
        env = props["Environment"]["Variables"]
        label = env.get("UNITS_PROCESS_HOST") or props.get("FunctionName") or props["Handler"]
        who[props["Role"]["Fn::GetAtt"][0]] = label
    found: dict[str, dict[str, list[Any]]] = {}
    for role, statement in statements(synth, name):
        if role not in who:
            continue
        for action in as_list(statement["Action"]):
            found.setdefault(who[role], {}).setdefault(action, []).extend(
                as_list(statement["Resource"])
            )
    return found


def test_process_permissions_are_least_privilege(synth):
    for name in ("chat", "jobs"):
        processes = synth.stacks[name].processes
        table = [arn(synth, name, processes.table)]
        fifo = [arn(synth, name, q.queue) for q in processes.queues.values()]
        delay = [arn(synth, name, q.delays) for q in processes.queues.values()]
        for label, granted in grants(synth, name).items():
            if label == STEP_HANDLER:
                continue  # test_workflow_permissions_are_least_privilege
            dynamodb = {a: r for a, r in granted.items() if a.startswith("dynamodb:")}
            sqs = {a: r for a, r in granted.items() if a.startswith("sqs:")}
            sends = sqs.get("sqs:SendMessage", [])
            receives = sqs.get("sqs:ReceiveMessage", [])
            if label == "handlers.services.handler":
                # A spawn is a message: no table, and only the FIFO queues.
                assert dynamodb == {}
                assert sorted(map(json.dumps, sends)) == sorted(map(json.dumps, fifo))
                assert receives == []
                continue
            # The table, by its ARN alone (no index or stream ARNs, no '*').
            assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"} <= set(dynamodb)
            for resources in dynamodb.values():
                assert all(r == table[0] for r in resources), resources
            if label in processes.queues:  # a worker
                own = processes.queues[label]
                assert sorted(map(json.dumps, sends)) == sorted(map(json.dumps, fifo + delay))
                assert sorted(map(json.dumps, receives)) == sorted(
                    json.dumps(arn(synth, name, q)) for q in (own.queue, own.delays)
                )
                assert sqs["sqs:DeleteMessage"] == receives
            else:  # functions, the API and activities: they send now, never delayed
                assert sorted(map(json.dumps, sends)) == sorted(map(json.dumps, fifo))
                if label != ACTIVITY_HANDLER:  # (which consume their activity queue)
                    assert receives == []
    jobs = grants(synth, "jobs")
    for host in ("jobs:fast", "jobs:slow"):  # actors may call the remote function
        names = {function_arn_name(r) for r in jobs[host]["lambda:InvokeFunction"]}
        assert names == {"units-jobs-jobs-heavy"}


def test_an_alarm_on_every_dead_letter_queue(synth):
    for name in ("chat", "jobs", "flows"):
        stack = synth.stacks[name]
        process_queues = stack.processes.queues.values() if stack.processes else []
        activity_queues = stack.workflows.queues.values() if stack.workflows else []
        dead_letters = {
            logical_id(synth, name, queue)
            for q in process_queues
            for queue in (q.dead_letters, q.delay_dead_letters)
        } | {logical_id(synth, name, q.dead_letters) for q in activity_queues}
        alarmed = set()
        for alarm in synth.resources(name, "AWS::CloudWatch::Alarm").values():
            props = alarm["Properties"]
            if props.get("MetricName") != "ApproximateNumberOfMessagesVisible":
                continue  # test_an_age_alarm_on_every_event_source_queue
            assert props["Namespace"] == "AWS/SQS"
            assert (props["Statistic"], props["Threshold"]) == ("Maximum", 1)
            assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            assert props["TreatMissingData"] == "notBreaching"
            (dimension,) = props["Dimensions"]
            assert dimension["Name"] == "QueueName"
            alarmed.add(dimension["Value"]["Fn::GetAtt"][0])
        assert alarmed == dead_letters


def test_services_are_started_by_a_custom_resource(synth):
    expected = {"chat": ["app:lobby"], "jobs": ["jobs:ticker", "jobs:pool"]}
    for name, services in expected.items():
        (resource,) = synth.resources(name, "Custom::UnitsServices").values()
        props = resource["Properties"]
        assert props["Services"] == services  # not the manual one, nor the tree's child
        assert props["Digest"] == synth.stacks[name].plan.services_digest
        framework = props["ServiceToken"]["Fn::GetAtt"][0]
        framework_props = synth.json[name]["Resources"][framework]["Properties"]
        assert framework_props["Handler"] == FRAMEWORK_HANDLER
        on_event = framework_props["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"]
        handler = synth.json[name]["Resources"][on_event["Fn::GetAtt"][0]]["Properties"]
        assert handler["Handler"] == "handlers.services.handler"
        assert handler["Runtime"] == "python3.12"
        assert handler["Environment"]["Variables"]["UNITS_TABLE"] == {
            "Ref": logical_id(synth, name, synth.stacks[name].processes.table)
        }
    # A service may start a workflow at once: the custom resource waits for the drivers.
    (resource,) = synth.resources("jobs", "Custom::UnitsServices").values()
    machine = synth.stacks["jobs"].workflows.drivers["jobs:flows"].machine
    assert logical_id(synth, "jobs", machine) in resource["DependsOn"]


def test_process_outputs(synth):
    outputs = synth.json["chat"]["Outputs"]
    processes = synth.stacks["chat"].processes
    queues = processes.queues["app:chat"]

    def by_host(construct: Any) -> dict[str, str]:
        return {"app:chat": f"<{logical_id(synth, 'chat', construct)}>"}

    assert outputs["ProcessTableName"]["Value"] == {
        "Ref": logical_id(synth, "chat", processes.table)
    }
    for output, construct in [
        ("ProcessQueues", queues.queue),
        ("ProcessDelayQueues", queues.delays),
        ("ProcessDeadLetterQueues", queues.dead_letters),
        ("ProcessDelayDeadLetterQueues", queues.delay_dead_letters),
        ("ProcessWorkers", processes.workers["app:chat"].function),
    ]:
        assert json.loads(render(outputs[output]["Value"])) == by_host(construct), output
    assert json.loads(render(synth.json["jobs"]["Outputs"]["ProcessQueues"]["Value"])).keys() == {
        "jobs:fast",
        "jobs:slow",
    }
    assert "ProcessTableName" not in synth.json["hello"]["Outputs"]


# -- workflow hosts ------------------------------------------------------------------------------

STEP_HANDLER = "handlers.workflow_step.handler"
ACTIVITY_HANDLER = "handlers.activity.handler"

#: (stack, host id, activity batch size, max concurrency, max receive count, step timeout)
WORKFLOW_HOSTS = [
    ("flows", "flows:main", 10, None, 5, 60),
    ("flows", "flows:bulk", 5, 4, 7, 120),
    ("jobs", "jobs:flows", 10, None, 5, 60),
]
#: The activity Lambda's timeout: the slowest function's, remote ones included (flows:heavy
#: runs 45 s; every function of jobs has the default 30 s).
ACTIVITY_TIMEOUT = {"flows": 45, "jobs": 30}


def machine_arn_text(name: str) -> str:
    """A state machine ARN built from its name, as :func:`render` writes it."""
    return f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:{name}"


def test_workflow_resource_counts(synth):
    flows = Counter(r["Type"] for r in synth.json["flows"]["Resources"].values())
    assert flows["AWS::StepFunctions::StateMachine"] == 2
    # The function Lambda, the remote function, and step/activity per host (no API).
    assert flows["AWS::Lambda::Function"] == 2 + 2 * 2
    assert flows["AWS::DynamoDB::Table"] == 1  # no process host, yet the table is there
    assert flows["AWS::SQS::Queue"] == 2 * 2  # an activity queue and its DLQ per host
    assert flows["AWS::Lambda::EventSourceMapping"] == 2
    # Lambda errors, the activity DLQs and queues' age, the drivers' failed executions, the
    # kit's error metric.
    assert flows["AWS::CloudWatch::Alarm"] == 6 + 2 + 2 + 2 + 1
    assert flows["AWS::Logs::LogGroup"] == 6 + 2  # the Lambdas' and the drivers'
    jobs = Counter(r["Type"] for r in synth.json["jobs"]["Resources"].values())
    assert jobs["AWS::StepFunctions::StateMachine"] == 1
    for name in ("hello", "shop", "chat", "layout"):
        kinds = {r["Type"] for r in synth.json[name]["Resources"].values()}
        assert "AWS::StepFunctions::StateMachine" not in kinds


@pytest.mark.parametrize(("name", "host", "_b", "_c", "_r", "_t"), WORKFLOW_HOSTS)
def test_the_driver_is_the_generated_definition(synth, name, host, _b, _c, _r, _t):
    driver = synth.stacks[name].workflows.drivers[host]
    props = props_of(synth, name, driver.machine)
    step = logical_id(synth, name, driver.step.function)
    # The one ASL generator's document, with the step Lambda's ARN in it: nothing else.
    definition = json.loads(render(props["DefinitionString"]))
    assert definition == driver_definition(f"<{step}.Arn>")
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == state_machine_name(f"units-{name}", host)
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    # Errors only, no payloads in the logs by default (test_workflow_logging_can_be_raised).
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ERROR", False)
    (destination,) = logging["Destinations"]
    log_group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert log_group == logical_id(synth, name, driver.machine_logs)
    group = synth.json[name]["Resources"][log_group]["Properties"]
    assert group["LogGroupName"] == f"/aws/vendedlogs/states/{props['StateMachineName']}"
    assert group["RetentionInDays"] == 30
    assert props["RoleArn"] == arn(synth, name, driver.machine_role)


def test_the_drivers_may_invoke_their_step_lambda_only(synth):
    for name, host, *_ in WORKFLOW_HOSTS:
        driver = synth.stacks[name].workflows.drivers[host]
        role = logical_id(synth, name, driver.machine_role)
        granted: dict[str, list[Any]] = {}
        for owner, statement in statements(synth, name):
            if owner == role:
                for action in as_list(statement["Action"]):
                    granted.setdefault(action, []).extend(as_list(statement["Resource"]))
        assert granted.pop("lambda:InvokeFunction") == [arn(synth, name, driver.step.function)]
        # The rest is what tracing and logging add, on '*' (no resource-level permissions).
        assert set(granted) <= XRAY_ACTIONS | SAMPLING_ACTIONS | LOG_DELIVERY_ACTIONS
        assert set(granted) >= XRAY_ACTIONS and "logs:CreateLogDelivery" in granted
        assert all(resources == ["*"] for resources in granted.values())


@pytest.mark.parametrize(("name", "host", "_b", "_c", "_r", "step_timeout"), WORKFLOW_HOSTS)
def test_the_workflow_lambdas(synth, name, host, _b, _c, _r, step_timeout):
    driver = synth.stacks[name].workflows.drivers[host]
    expected = [
        (driver.step, STEP_HANDLER, step_timeout),
        (driver.activity, ACTIVITY_HANDLER, ACTIVITY_TIMEOUT[name]),
    ]
    for unit, handler, timeout in expected:
        props = props_of(synth, name, unit.function)
        assert (props["Handler"], props["Timeout"]) == (handler, timeout)
        assert props["MemorySize"] == 512  # the function Lambda's
        assert props["Environment"]["Variables"]["UNITS_WORKFLOW_HOST"] == host
        assert (
            props["Code"]
            == props_of(synth, name, synth.stacks[name].functions.host.function)["Code"]
        )


@pytest.mark.parametrize(("name", "host", "batch", "concurrency", "receives", "_"), WORKFLOW_HOSTS)
def test_the_activity_queue_and_its_event_source(
    synth, name, host, batch, concurrency, receives, _
):
    workflows = synth.stacks[name].workflows
    queues = workflows.queues[host]
    # A standard queue (activities need no order), six times the activity Lambda's timeout.
    assert props_of(synth, name, queues.queue) == {
        "VisibilityTimeout": 6 * ACTIVITY_TIMEOUT[name],
        "MessageRetentionPeriod": 14 * 24 * 3600,
        "RedrivePolicy": {
            "deadLetterTargetArn": arn(synth, name, queues.dead_letters),
            "maxReceiveCount": receives,
        },
        "SqsManagedSseEnabled": True,
    }
    assert props_of(synth, name, queues.dead_letters) == {
        "MessageRetentionPeriod": 14 * 24 * 3600,
        "SqsManagedSseEnabled": True,
    }
    activity = workflows.drivers[host].activity.function
    (mapping,) = [
        m["Properties"]
        for m in synth.resources(name, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": logical_id(synth, name, activity)}
    ]
    assert mapping["EventSourceArn"] == arn(synth, name, queues.queue)
    assert mapping["BatchSize"] == batch
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumBatchingWindowInSeconds" not in mapping
    if concurrency is None:
        assert "ScalingConfig" not in mapping
    else:
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}


def test_every_lambda_reaches_the_workflows(synth):
    for name in ("flows", "jobs"):
        stack = synth.stacks[name]
        workflows = stack.workflows
        machines = {h.id: machine_arn_text(h.machine_name) for h in stack.plan.workflow_hosts}
        queues = {h: f"<{logical_id(synth, name, q.queue)}>" for h, q in workflows.queues.items()}
        hosts = {
            logical_id(synth, name, unit.function): host
            for host, driver in workflows.drivers.items()
            for unit in (driver.step, driver.activity)
        }
        for logical, props in lambdas(synth, name).items():
            env = props["Environment"]["Variables"]
            assert env["UNITS_TABLE"] == {"Ref": TABLE_LOGICAL_ID}
            assert json.loads(render(env["UNITS_WORKFLOW_MACHINES"])) == machines
            assert json.loads(render(env["UNITS_ACTIVITY_QUEUES"])) == queues
            assert env.get("UNITS_WORKFLOW_HOST") == hosts.get(logical)
        assert sorted(set(hosts.values())) == sorted(workflows.drivers)
    for name in ("hello", "shop", "chat"):
        for props in lambdas(synth, name).values():
            assert not {"UNITS_WORKFLOW_MACHINES", "UNITS_ACTIVITY_QUEUES"} & set(
                props["Environment"]["Variables"]
            )


def dependencies(template: dict[str, Any]) -> dict[str, set[str]]:
    """Per resource: the resources it references (Ref, Fn::GetAtt) or names in DependsOn."""
    resources = template["Resources"]

    def walk(value: Any, found: set[str]) -> set[str]:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "Ref" and inner in resources:
                    found.add(inner)
                elif key == "Fn::GetAtt":
                    found.add(inner[0])
                else:
                    walk(inner, found)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, found)
        return found

    return {
        logical: walk(r.get("Properties", {}), set()) | set(as_list(r.get("DependsOn", [])))
        for logical, r in resources.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A dependency cycle of ``graph`` (as a path that comes back to its start), or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        if state.get(node) == "open":
            return [*path, node]
        if state.get(node) == "done":
            return None
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target, [*path, node]):
                return cycle
        state[node] = "done"
        return None

    return next(filter(None, (visit(node, []) for node in graph)), None)


def test_no_stack_has_a_dependency_cycle(synth):
    """The driver needs the step Lambda's ARN and the step Lambda the driver's: built from the
    machine's fixed name, its ARN depends on nothing, so CloudFormation can order them."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    for name in synth.stacks:
        assert find_cycle(dependencies(synth.json[name])) is None, name


def test_the_machine_names_in_the_environment_are_the_machines(synth):
    # The environment builds ARNs from names (to break the step <-> machine cycle): the names
    # must be the machines' own.
    for name in ("flows", "jobs"):
        stack = synth.stacks[name]
        for plan in stack.plan.workflow_hosts:
            machine = stack.workflows.drivers[plan.id].machine
            assert props_of(synth, name, machine)["StateMachineName"] == plan.machine_name


def wake_policies(synth: Synth, name: str) -> dict[str, list[dict[str, Any]]]:
    """Role logical id -> the statements of its own ``WakeRuns`` policy."""
    found: dict[str, list[dict[str, Any]]] = {}
    for logical, policy in synth.resources(name, "AWS::IAM::Policy").items():
        if "WakeRuns" in logical:
            (role,) = policy["Properties"]["Roles"]
            found[role["Ref"]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def role_grants(synth: Synth, name: str) -> dict[str, dict[str, list[Any]]]:
    """Per role logical id: action -> resources granted, over every policy of the role."""
    found: dict[str, dict[str, list[Any]]] = {}
    for role, statement in statements(synth, name):
        for action in as_list(statement["Action"]):
            found.setdefault(role, {}).setdefault(action, []).extend(as_list(statement["Resource"]))
    return found


def test_workflow_permissions_are_least_privilege(synth):
    for name in ("flows", "jobs"):
        stack = synth.stacks[name]
        workflows = stack.workflows
        table = {"Fn::GetAtt": [TABLE_LOGICAL_ID, "Arn"]}
        machines = sorted(machine_arn_text(h.machine_name) for h in stack.plan.workflow_hosts)
        fifo = (
            [arn(synth, name, q.queue) for q in stack.processes.queues.values()]
            if stack.processes
            else []
        )
        handlers = {p["Role"]["Fn::GetAtt"][0]: p["Handler"] for p in lambdas(synth, name).values()}
        waking = wake_policies(synth, name)
        granted = role_grants(synth, name)
        hosts = {  # role of a workflow Lambda -> its host
            logical_id(synth, name, unit.role): host
            for host, driver in workflows.drivers.items()
            for unit in (driver.step, driver.activity)
        }
        for role, handler in handlers.items():
            if handler == "handlers.services.handler":
                assert role not in waking  # it spawns process services, nothing else
                continue
            # Everyone else may wake a run: SendTaskSuccess on '*', alone in a policy of its own;
            # the step also ends its own task (SendTaskFailure), in the same policy.
            wake = {"Action": "states:SendTaskSuccess", "Effect": "Allow", "Resource": "*"}
            if handler == STEP_HANDLER:
                ends = ["states:SendTaskSuccess", "states:SendTaskFailure"]
                assert waking[role] == [{**wake, "Action": ends}]
            else:
                assert waking[role] == [wake]
            task_actions = ("states:SendTaskSuccess", "states:SendTaskFailure")
            actions = {
                a: r
                for a, r in granted[role].items()
                if not a.startswith(("xray:", "logs:", "lambda:")) and a not in task_actions
            }
            dynamodb = {a: r for a, r in actions.items() if a.startswith("dynamodb:")}
            assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"} <= set(dynamodb)
            assert all(r == table for rs in dynamodb.values() for r in rs)
            starts = sorted(render(r) for r in actions.get("states:StartExecution", []))
            sends = actions.get("sqs:SendMessage", [])
            receives = actions.get("sqs:ReceiveMessage", [])
            if role not in hosts:  # function, remote function, API, worker: start and signal
                assert starts == machines
                continue
            queue = arn(synth, name, workflows.queues[hosts[role]].queue)
            if handler == STEP_HANDLER:  # its own activity queue; rollovers and children
                assert starts == machines
                # and the actors' mailboxes: a workflow's process.send is carried out here,
                # and inline activities are function calls, which may send
                assert sorted(map(json.dumps, sends)) == sorted(map(json.dumps, [queue, *fifo]))
                assert receives == []
                assert set(actions) - set(dynamodb) == {"states:StartExecution"} | {
                    a for a in actions if a.startswith("sqs:")
                }
            else:  # the activity Lambda: a function runner that consumes its own queue
                assert handler == ACTIVITY_HANDLER
                assert starts == machines
                assert sorted(map(json.dumps, sends)) == sorted(map(json.dumps, fifo))
                assert receives == [queue]
        # Nobody gets SendTaskSuccess through the default policy (under the X-Ray reason).
        default = {r: g for r, g in granted.items() if r not in waking}
        assert not any("states:SendTaskSuccess" in g for g in default.values())
        assert not any("states:SendTaskFailure" in g for g in default.values())
    flows = role_grants(synth, "flows")
    for driver in synth.stacks["flows"].workflows.drivers.values():
        # Activities are function calls (queued in the activity Lambda, inline in the step),
        # and functions may call remote functions.
        for unit in (driver.step, driver.activity):
            runner = flows[logical_id(synth, "flows", unit.role)]
            names = {function_arn_name(r) for r in runner["lambda:InvokeFunction"]}
            assert names == {"units-flows-flows-heavy"}


def test_an_alarm_on_every_drivers_failed_executions(synth):
    for name in ("flows", "jobs"):
        machines = {
            logical_id(synth, name, d.machine)
            for d in synth.stacks[name].workflows.drivers.values()
        }
        alarmed = set()
        for alarm in synth.resources(name, "AWS::CloudWatch::Alarm").values():
            props = alarm["Properties"]
            if props["Namespace"] != "AWS/States":
                continue
            assert (props["MetricName"], props["Statistic"]) == ("ExecutionsFailed", "Sum")
            assert props["Threshold"] == 1
            assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
            assert props["TreatMissingData"] == "notBreaching"
            (dimension,) = props["Dimensions"]
            assert dimension["Name"] == "StateMachineArn"
            alarmed.add(dimension["Value"]["Ref"])
        assert alarmed == machines


def test_workflow_outputs(synth):
    outputs = synth.json["flows"]["Outputs"]
    workflows = synth.stacks["flows"].workflows

    def by_host(construct_of: Any) -> dict[str, str]:
        return {
            h: f"<{logical_id(synth, 'flows', construct_of(h))}>"
            for h in ("flows:main", "flows:bulk")
        }

    assert outputs["ProcessTableName"]["Value"] == {"Ref": TABLE_LOGICAL_ID}
    for output, construct_of in [
        ("WorkflowMachines", lambda h: workflows.drivers[h].machine),
        ("WorkflowActivityQueues", lambda h: workflows.queues[h].queue),
        ("WorkflowActivityDeadLetterQueues", lambda h: workflows.queues[h].dead_letters),
    ]:
        assert json.loads(render(outputs[output]["Value"])) == by_host(construct_of), output
    assert "ProcessQueues" not in outputs
    assert "WorkflowMachines" not in synth.json["chat"]["Outputs"]
    jobs = synth.json["jobs"]["Outputs"]
    assert json.loads(render(jobs["WorkflowMachines"]["Value"])).keys() == {"jobs:flows"}


# -- the bundle ----------------------------------------------------------------------------------


def wheel_tags(bundle: Path, distribution: str) -> list[str]:
    (wheel,) = bundle.glob(f"{distribution}-*.dist-info/WHEEL")
    return re.findall(r"^Tag: (\S+)$", wheel.read_text(), re.MULTILINE)


def test_one_asset_per_stack(synth):
    for name in synth.stacks:
        keys = {json.dumps(p["Code"]) for p in lambdas(synth, name).values()}
        assert len(keys) == 1


def test_bundle_wheels_match_the_lambda_platform(synth):
    arm = wheel_tags(synth.asset_dir("hello"), "lupa")
    assert arm and all(re.fullmatch(r"cp312-cp312-manylinux\w*_aarch64", t) for t in arm), arm
    here = f"cp{HERE_PYTHON.replace('.', '')}"
    x86 = wheel_tags(synth.asset_dir("layout"), "lupa")
    assert x86 and all(re.fullmatch(rf"{here}-{here}-manylinux\w*_x86_64", t) for t in x86), x86
    yaml_tags = wheel_tags(synth.asset_dir("hello"), "pyyaml")
    assert all(t.endswith("_aarch64") for t in yaml_tags)


def test_bundle_layout_and_size(synth):
    bundle = synth.asset_dir("hello")
    assert (bundle / "handlers" / "function.py").is_file()
    assert (bundle / "handlers" / "api.py").is_file()
    assert (bundle / "runtime" / "bootstrap.py").is_file()
    assert (bundle / "runtime" / "lua" / "prelude.lua").is_file()
    assert (bundle / "app" / "_index.yaml").read_text() == (HELLO / "_index.yaml").read_text()
    installed = {p.name.split("-")[0].lower() for p in bundle.glob("*.dist-info")}
    assert {"lupa", "pyyaml", "aws_lambda_powertools"} <= installed
    assert not installed & {n.replace("-", "_") for n in RUNTIME_PROVIDED}
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    assert size < 50 * 1024 * 1024, f"bundle is {size / 1e6:.1f} MB unzipped"


def test_the_bundle_is_slimmed(synth):
    """One Lua runtime of lupa's, extension modules without symbols or debug information, and
    bytecode for the Lambda's Python next to every module (no cold start compiles one)."""
    from infra.bundling import LUA_RUNTIME, lambda_python
    from infra.elf import section_names

    assert f"from lupa import {LUA_RUNTIME}\n" in (ROOT / "runtime" / "sandbox.py").read_text()
    for name, tag in (
        ("hello", "cpython-312"),
        ("layout", f"cpython-{HERE_PYTHON.replace('.', '')}"),
    ):
        bundle = synth.asset_dir(name)
        runtimes = {p.name.split(".")[0] for p in (bundle / "lupa").glob("*.so")}
        assert runtimes == {LUA_RUNTIME}
        extensions = [p for p in bundle.rglob("*.so*") if p.is_file()]
        assert len(extensions) > 10
        for path in extensions:
            names = set(section_names(path))
            # (A .comment may stay where patchelf put allocated sections after it.)
            assert names and not names & {".symtab", ".debug_info"}, path
        info = json.loads((bundle / BUNDLE_INFO).read_text())
        assert info["lua_runtime"] == LUA_RUNTIME
        assert info["bytecode"] is (lambda_python(info["python_version"]) is not None)
        if not info["bytecode"]:
            continue  # no interpreter of that Python on this machine: nothing more to see
        sources = [p for p in bundle.rglob("*.py") if p.parent.name != "__pycache__"]
        for source in sources:
            if source.is_relative_to(bundle / "runtime") or source.is_relative_to(
                bundle / "handlers"
            ):
                cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
                header = cached.read_bytes()[:8]
                # Hash-based and unchecked (flags 0b01): used without reading the source.
                assert int.from_bytes(header[4:8], "little") == 1, cached
        assert not [p for p in bundle.rglob("*.pyc") if tag not in p.name]
        assert len(list(bundle.rglob("*.pyc"))) > 0.8 * len(sources)


def test_the_bundled_handler_imports_and_runs_from_the_bundle_alone(synth):
    """The x86_64 bundle for this machine's Python, imported with nothing but the stdlib and
    the bundle on ``sys.path``, then boto3 after it (the Lambda runtime provides boto3)."""
    bundle = synth.asset_dir("layout")
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "boto3").is_dir())
    script = textwrap.dedent(
        f"""
        import json, sys
        from importlib.machinery import SourceFileLoader
        sys.path.insert(0, {str(bundle)!r})
        sys.path.append({site!r})
        # Which of the bundle's modules Python compiles from source (none: its bytecode is
        # there, for this Python).
        compiled = []
        to_code = SourceFileLoader.source_to_code
        def source_to_code(self, data, path, *args, **kwargs):
            compiled.append(str(path))
            return to_code(self, data, path, *args, **kwargs)
        SourceFileLoader.source_to_code = source_to_code
        import handlers.function as fn

        class Context:
            function_name = "units-test"
            memory_limit_in_mb = 512
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:units-test"
            aws_request_id = "req-1"

        reply = fn.handler({{"id": "app:greet", "args": ["ada"]}}, Context())
        modules = ["lupa", "yaml", "aws_lambda_powertools", "runtime", "handlers"]
        files = {{m: sys.modules[m].__file__ for m in modules}}
        print(json.dumps({{"reply": reply, "files": files, "app": str(fn.ENGINE.registry.root),
                          "compiled": compiled}}))
        """
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    # -S: no site-packages at all; -I: no PYTHONPATH, no user site, no current folder.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=bundle,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["reply"] == {"ok": True, "value": "Hello, Ada!"}
    assert out["app"] == str(bundle / "app")  # found beside the handlers, as on Lambda
    for module, path in out["files"].items():
        assert Path(path).is_relative_to(bundle), (module, path)
    from infra.bundling import lambda_python

    if lambda_python(HERE_PYTHON) is not None:  # always: it is the Python running this
        assert [p for p in out["compiled"] if Path(p).is_relative_to(bundle)] == []


def test_every_handler_a_template_names_is_in_the_bundle(synth):
    bundle = synth.asset_dir("hello")  # every stack's bundle carries all of handlers/
    named = {p["Handler"] for name in synth.stacks for p in lambdas(synth, name).values()}
    assert {STEP_HANDLER, ACTIVITY_HANDLER} <= named
    for handler in named:
        module, function = handler.rsplit(".", 1)
        source = bundle.joinpath(*module.split(".")).with_suffix(".py")
        assert source.is_file(), handler
        assert f"def {function}(" in source.read_text(), handler


def test_runtime_requirements_follow_pyproject():
    requirements = runtime_requirements()
    assert any(r.startswith("lupa==") for r in requirements)
    assert any(r.startswith("aws-lambda-powertools[") for r in requirements)
    assert not any(r.startswith("boto3") for r in requirements)


# -- naming --------------------------------------------------------------------------------------


def test_lambda_names():
    assert (
        lambda_function_name("units-hello", "app.workers:crunch")
        == "units-hello-app-workers-crunch"
    )
    long = lambda_function_name("units-" + "x" * 60, "app:f")
    assert len(long) == 64 and long == lambda_function_name("units-" + "x" * 60, "app:f")
    assert long != lambda_function_name("units-" + "x" * 60, "app:g")
    assert api_gateway_path("/files/{owner}/{rest...}") == "/files/{owner}/{rest+}"


def test_state_machine_names():
    assert state_machine_name("units-hello", "app.flows:main") == "units-hello-app-flows-main"
    long = state_machine_name("units-" + "x" * 80, "app:main")
    assert len(long) == 80 and long == state_machine_name("units-" + "x" * 80, "app:main")
    assert long != state_machine_name("units-" + "x" * 80, "app:bulk")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", long)


def test_settings_from_context_then_environment(tmp_path):
    context = {"arch": "x86_64"}.get
    settings = Settings.resolve(
        context, {"UNITS_APP": "apps/shop", "UNITS_ARCH": "arm64"}, tmp_path
    )
    assert settings.app_dir == tmp_path / "apps" / "shop"
    assert settings.architecture == "x86_64"
    assert settings.stack_name == "units-shop"
    default = Settings.resolve({}.get, {}, ROOT)
    assert (default.app_dir, default.architecture) == (ROOT / "examples" / "hello", "arm64")
    with pytest.raises(SynthError, match="architecture 'sparc' is not supported"):
        Settings.resolve({"arch": "sparc"}.get, {}, tmp_path)


# -- bad input -----------------------------------------------------------------------------------


def build(app_dir: Path) -> UnitsStack:
    """Build the stack in a throwaway App; bad input raises before anything is bundled."""
    app = cdk.App()
    return UnitsStack(
        app,
        "units-bad",
        registry=load_registry(app_dir),
        settings=Settings(app_dir=app_dir, stack_name="units-bad"),
        bundle=LambdaBundle(cache_dir=Path("/nonexistent/never-used")),
    )


FUNC = """
  - name: {name}
    kind: function.lua
    source: file://add.lua
    {extra}
"""


def index(*entries: str) -> str:
    return 'version: "1.0"\nnamespace: app\nentries:\n' + "".join(entries)


def test_an_app_that_fails_to_load_stops_with_the_loaders_message(make_app: MakeApp):
    app_dir = make_app(index(FUNC.format(name="f", extra="metod: handler")), {"add.lua": ADD})
    with pytest.raises(SynthError) as caught:
        build(app_dir)
    assert "failed to load" in str(caught.value)
    assert "_index.yaml: entry 'app:f' field 'metod': unknown field" in str(caught.value)


def test_a_route_collision_is_refused(make_app: MakeApp):
    route = "  - {{name: {n}, kind: http.endpoint, method: GET, path: '/items/{{{p}}}', func: f}}\n"
    app_dir = make_app(
        index(
            FUNC.format(name="f", extra=""),
            route.format(n="a", p="id"),
            route.format(n="b", p="key"),
        ),
        {"add.lua": ADD},
    )
    with pytest.raises(SynthError, match=r"route GET /items/\{key\} is the same as 'app:a'"):
        build(app_dir)


def test_routers_asking_for_different_cors_are_refused(make_app: MakeApp):
    def router(name: str, origins: str) -> str:
        return (
            f"  - {{name: {name}, kind: http.router, meta: {{server: gw}}, prefix: /{name},"
            f" auth: none, middleware: [cors], options: {{cors.allow.origins: '{origins}'}}}}\n"
            f"  - {{name: {name}.get, kind: http.endpoint, meta: {{router: {name}}}, method: GET,"
            " path: /x, func: f}\n"
        )

    app_dir = make_app(
        index(
            FUNC.format(name="f", extra=""),
            "  - {name: gw, kind: http.service, addr: ':8080'}\n",
            router("site", "https://site.example"),
            router("admin", "https://admin.example"),
        ),
        {"add.lua": ADD},
    )
    with pytest.raises(SynthError) as caught:
        build(app_dir)
    assert (
        "_index.yaml: entry 'app:admin' field 'options': its cors settings differ from router "
        "'app:site' (_index.yaml) in cors.allow.origins: the application's routes are one API "
        "Gateway HTTP API, which has one CORS configuration"
    ) in str(caught.value)


def test_a_remote_timeout_over_lambdas_limit_is_refused(make_app: MakeApp):
    extra = "deploy: {remote: true, timeout: 16m}"
    app_dir = make_app(index(FUNC.format(name="slow", extra=extra)), {"add.lua": ADD})
    with pytest.raises(SynthError, match=r"'app:slow' field 'deploy.timeout'.*900"):
        build(app_dir)


def test_remote_functions_whose_lambda_names_clash_are_refused(make_app: MakeApp):
    remote = "deploy: {remote: true}"
    app_dir = make_app(
        index(FUNC.format(name="a.b", extra=remote), FUNC.format(name="a-b", extra=remote)),
        {"add.lua": ADD},
    )
    with pytest.raises(SynthError, match="Lambda name 'units-bad-app-a-b' is the same as"):
        build(app_dir)


def test_a_workflow_host_with_no_workflow_to_run_is_refused(make_app: MakeApp):
    app_dir = make_app(
        index(
            FUNC.format(name="f", extra=""),
            "  - {name: flows, kind: workflow.host}\n",
        ),
        {"add.lua": ADD},
    )
    with pytest.raises(SynthError) as caught:
        build(app_dir)
    (problem,) = caught.value.problems
    assert problem == (
        "_index.yaml: entry 'app:flows': the workflow host has no workflow to run: the "
        "application has no workflow.lua entries (add one, or remove the host)"
    )


ACTOR = "  - {name: actor, kind: process.lua, source: file://actor.lua}\n"
ACTOR_LUA = "return { init = function() return {} end, handle = function(s) return s end }\n"


def host_app(make_app: MakeApp, host: str, *more: str) -> Path:
    return make_app(
        index(FUNC.format(name="f", extra=""), ACTOR, host, *more),
        {"add.lua": ADD, "actor.lua": ACTOR_LUA, "flow.lua": FLOW},
    )


def replaced_host(app_dir: Path, kind: type[Entry] = ProcessHostEntry, **changes: Any) -> Registry:
    """The app's registry with its (process) host changed past the loader's own checks (as a
    registry built by other means than ``load_app`` could be)."""
    registry = load_registry(app_dir)
    (host,) = registry.of_kind(kind)
    entries = dict(registry.entries)
    entries[host.id] = dataclasses.replace(host, **changes)
    return Registry(registry.root, entries)


def test_a_visibility_timeout_shorter_than_the_worker_timeout_is_refused(make_app: MakeApp):
    host = "  - {name: w, kind: process.host, visibility_timeout: 20s, lambda_timeout: 30s}\n"
    with pytest.raises(SynthError, match=r"'visibility_timeout'.*must be at least lambda_timeout"):
        build(host_app(make_app, host))
    registry = replaced_host(
        host_app(make_app, "  - {name: w, kind: process.host}\n"),
        visibility_timeout=20.0,
        lambda_timeout=30.0,
    )
    with pytest.raises(SynthError) as caught:
        plan_app(registry, "units-bad")
    (problem,) = caught.value.problems
    assert problem.startswith("_index.yaml: entry 'app:w': visibility_timeout (20 s) is shorter")
    assert "make visibility_timeout at least lambda_timeout" in problem


@pytest.mark.parametrize("concurrency", [1, 1001])
def test_a_max_concurrency_out_of_the_event_sources_range_is_refused(make_app, concurrency):
    host = f"  - {{name: w, kind: process.host, max_concurrency: {concurrency}}}\n"
    with pytest.raises(SynthError, match=r"'app:w' field 'max_concurrency'"):
        build(host_app(make_app, host))
    registry = replaced_host(
        host_app(make_app, "  - {name: w, kind: process.host}\n"), max_concurrency=concurrency
    )
    with pytest.raises(
        SynthError, match=rf"max_concurrency {concurrency} is out of range.*2 to 1000"
    ):
        plan_app(registry, "units-bad")


def test_a_batch_size_over_the_fifo_limit_is_refused(make_app: MakeApp):
    registry = replaced_host(
        host_app(make_app, "  - {name: w, kind: process.host}\n"), batch_size=11
    )
    with pytest.raises(SynthError, match=r"batch_size 11 is out of range: .* 1 to 10"):
        plan_app(registry, "units-bad")


def test_a_host_with_no_process_to_run_is_refused(make_app: MakeApp):
    app_dir = make_app(
        index(FUNC.format(name="f", extra=""), "  - {name: w, kind: process.host}\n"),
        {"add.lua": ADD},
    )
    with pytest.raises(SynthError, match="'app:w': the process host has no process to run"):
        build(app_dir)


def test_a_service_running_a_loop_style_process_is_deployed(make_app: MakeApp):
    loop = "  - {name: loop, kind: process.lua, source: file://actor.lua, method: main}\n"
    service = "  - {name: svc, kind: process.service, process: app:loop, host: app:w,"
    service += " lifecycle: {auto_start: true}}\n"
    app_dir = host_app(make_app, "  - {name: w, kind: process.host}\n", loop, service)
    planned = plan_app(load_registry(app_dir), "units-ok").services
    assert [s.id for s in planned] == ["app:svc"]


def test_too_many_hosts_for_a_lambda_environment_are_refused(make_app: MakeApp):
    hosts = [f"  - {{name: host{i}, kind: process.host}}\n" for i in range(12)]
    with pytest.raises(
        SynthError, match="12 process hosts, 0 workflow hosts and 0 remote functions may not fit"
    ):
        build(host_app(make_app, *hosts))
    # A workflow host carries a machine ARN and a queue URL: it weighs as much as a process host.
    hosts = [f"  - {{name: host{i}, kind: process.host}}\n" for i in range(6)]
    hosts += [f"  - {{name: flows{i}, kind: workflow.host}}\n" for i in range(6)]
    with pytest.raises(SynthError, match="6 process hosts, 6 workflow hosts and 0 remote"):
        build(host_app(make_app, WORKFLOW, *hosts))
    plan_app(load_registry(host_app(make_app, WORKFLOW, *hosts[:9])), "units-ok")


WORKFLOW = "  - {name: flow, kind: workflow.lua, source: file://flow.lua, modules: [funcs]}\n"


def flow_app(make_app: MakeApp, *hosts: str) -> Path:
    return make_app(
        index(FUNC.format(name="f", extra=""), WORKFLOW, *hosts),
        {"add.lua": ADD, "flow.lua": FLOW},
    )


def plan_problem(registry: Registry) -> str:
    with pytest.raises(SynthError) as caught:
        plan_app(registry, "units-bad")
    (problem,) = caught.value.problems
    return problem


@pytest.mark.parametrize("concurrency", [1, 1001])
def test_a_workflow_hosts_max_concurrency_out_of_range_is_refused(make_app, concurrency):
    host = f"  - {{name: w, kind: workflow.host, max_concurrency: {concurrency}}}\n"
    with pytest.raises(SynthError, match=r"'app:w' field 'max_concurrency'"):
        build(flow_app(make_app, host))
    app_dir = flow_app(make_app, "  - {name: w, kind: workflow.host}\n")
    problem = plan_problem(replaced_host(app_dir, WorkflowHostEntry, max_concurrency=concurrency))
    assert problem == (
        f"_index.yaml: entry 'app:w': max_concurrency {concurrency} is out of range: an SQS "
        "event source mapping's maximum concurrency is 2 to 1000 (leave it out for no cap)"
    )


@pytest.mark.parametrize("batch", [0, 11])
def test_an_activity_batch_size_out_of_range_is_refused(make_app, batch):
    host = f"  - {{name: w, kind: workflow.host, activity_batch_size: {batch}}}\n"
    with pytest.raises(SynthError, match=r"'app:w' field 'activity_batch_size'"):
        build(flow_app(make_app, host))
    app_dir = flow_app(make_app, "  - {name: w, kind: workflow.host}\n")
    problem = plan_problem(replaced_host(app_dir, WorkflowHostEntry, activity_batch_size=batch))
    assert problem.startswith(
        f"_index.yaml: entry 'app:w': activity_batch_size {batch} is out of range: the activity "
        "queue's event source takes 1 to 10 messages per batch"
    )


def test_a_workflow_hosts_receive_count_and_step_timeout_are_checked(make_app: MakeApp):
    app_dir = flow_app(make_app, "  - {name: w, kind: workflow.host}\n")
    registry = replaced_host(
        app_dir, WorkflowHostEntry, activity_max_receive_count=0, step_timeout=901.0
    )
    with pytest.raises(SynthError) as caught:
        plan_app(registry, "units-bad")
    assert caught.value.problems == [
        "_index.yaml: entry 'app:w': activity_max_receive_count 0 is out of range: SQS "
        "redrives after 1 to 1000 receives",
        "_index.yaml: entry 'app:w': step_timeout 901 s is out of range: a Lambda runs for at "
        "most 900 s",
    ]


def test_workflow_hosts_whose_machine_names_clash_are_refused(make_app: MakeApp):
    app_dir = flow_app(
        make_app,
        "  - {name: a.b, kind: workflow.host}\n",
        "  - {name: a-b, kind: workflow.host}\n",
    )
    with pytest.raises(SynthError, match="state machine name 'units-bad-app-a-b' is the same as"):
        build(app_dir)


def test_the_plan_of_a_workflow_host(make_app: MakeApp):
    host = "  - {name: w, kind: workflow.host, step_timeout: 90s, max_concurrency: 3}\n"
    plan = plan_app(load_registry(flow_app(make_app, host)), "units-ok")
    (planned,) = plan.workflow_hosts
    assert planned.machine_name == "units-ok-app-w"
    assert planned.step_size == LambdaSize(plan.function_size.memory, 90)
    assert planned.activity_size == plan.function_size
    assert planned.activity_visibility_timeout == 6 * plan.function_size.timeout
    # A remote function an activity may invoke and wait for sets the activity Lambda's timeout
    # (not its memory: the remote function runs in its own Lambda).
    remote = FUNC.format(name="slow", extra="deploy: {remote: true, memory: 2048, timeout: 5m}")
    app_dir = make_app(
        index(FUNC.format(name="f", extra=""), remote, WORKFLOW, host),
        {"add.lua": ADD, "flow.lua": FLOW},
    )
    plan = plan_app(load_registry(app_dir), "units-ok")
    (planned,) = plan.workflow_hosts
    assert planned.activity_size == LambdaSize(plan.function_size.memory, 300)
    assert planned.activity_visibility_timeout == 1800
    assert plan.needs_table and plan.process_hosts == ()
    assert not plan_app(load_registry(HELLO), "units-hello").needs_table


def test_the_chat_example_plans_a_host_and_its_service():
    plan = plan_app(load_registry(CHAT), "units-chat")
    (host,) = plan.process_hosts
    assert (host.id, host.size.timeout, host.visibility_timeout) == ("app:chat", 30, 60)
    assert [s.id for s in plan.services] == ["app:lobby"]


def test_the_plan_starts_the_services_the_runtime_starts(tmp_path):
    from runtime.processes.supervision import tree_children
    from runtime.processes.worker import service_start

    files = {"add.lua": ADD, "job.lua": JOB, "flow.lua": FLOW}
    registry = load_registry(write_app(tmp_path / "jobs", JOBS, files))
    children = tree_children(registry)
    runtime_starts = [
        s.id
        for s in registry.of_kind(ServiceEntry)
        if s.lifecycle.auto_start
        and s.id not in children
        and service_start(registry, s) is not None
    ]
    plan = plan_app(registry, "units-jobs")
    assert [s.id for s in plan.services] == runtime_starts == ["jobs:ticker", "jobs:pool"]


def test_the_services_digest_follows_the_service_entries():
    services = load_registry(CHAT).of_kind(ServiceEntry)
    digest = services_digest(services)
    assert services_digest(services) == digest
    moved = [dataclasses.replace(s, file="rooms/_index.yaml") for s in services]
    assert services_digest(moved) == digest
    changed = [dataclasses.replace(s, args=("lobby", 10)) for s in services]
    assert services_digest(changed) != digest
    assert services_digest([]) != digest


def test_a_failed_dependency_install_stops_synth_with_pips_message(monkeypatch, tmp_path):
    def fail(self: LambdaBundle, target: Path) -> None:
        raise SynthError(
            "pip could not install the Lambda dependencies:", ["No matching distribution"]
        )

    monkeypatch.setattr(LambdaBundle, "_pip_install", fail)
    app = cdk.App(outdir=str(tmp_path / "out"))
    with pytest.raises(SynthError, match="No matching distribution"):
        UnitsStack(
            app,
            "units-nopip",
            registry=load_registry(HELLO),
            settings=Settings(app_dir=HELLO, stack_name="units-nopip"),
            bundle=LambdaBundle(cache_dir=tmp_path / "cache"),
        )
    # Nothing half-installed is left to be mistaken for a cached install.
    assert list((tmp_path / "cache").iterdir()) == []


def test_plan_of_the_hello_example():
    plan = plan_app(load_registry(HELLO), "units-hello")
    assert [f.id for f in plan.hosted] == ["app:greet", "app:hello", "app:greet_many"]
    assert plan.remote == ()
    assert [r.key for r in plan.routes] == ["GET /hello/{name}", "POST /hello"]


def test_app_py_reports_a_broken_app_and_exits_1(make_app: MakeApp, tmp_path):
    app_dir = make_app("version: '1.0'\nnamespace: app\nentries: [\n")
    # The command line's -c wins over the environment, as the CDK CLI's does.
    result = subprocess.run(
        [sys.executable, "app.py", "-c", f"app={app_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "UNITS_APP": str(HELLO), "CDK_OUTDIR": str(tmp_path / "out")},
    )
    assert result.returncode == 1
    assert "failed to load" in result.stderr
    assert "YAML syntax error at line" in result.stderr
    assert "Traceback" not in result.stderr


def test_app_py_takes_context_options_like_the_cdk_cli():
    from app import parse_context

    assert parse_context(["-c", "app=examples/chat", "--context", "arch=x86_64"]) == {
        "app": "examples/chat",
        "arch": "x86_64",
    }
    assert parse_context(["-c", "stack=a=b"]) == {"stack": "a=b"}
    with pytest.raises(SystemExit):
        parse_context(["-c", "app"])


# -- store and cloudstorage ------------------------------------------------------------------


def test_storage_table_and_bucket(synth):
    (table,) = synth.resources("storage", "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    (bucket,) = synth.resources("storage", "AWS::S3::Bucket").values()
    bp = bucket["Properties"]
    assert bp["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bp["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert bucket["DeletionPolicy"] == "Retain"
    (policy,) = synth.resources("storage", "AWS::S3::BucketPolicy").values()
    denies = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in denies
    )
    # Only stacks with these entries get them.
    assert synth.resources("hello", "AWS::S3::Bucket") == {}


def test_storage_environment_and_grants(synth):
    runners = list(lambdas(synth, "storage").values())
    assert len(runners) == 2  # the function Lambda and the remote function
    for fn in runners:
        variables = fn["Environment"]["Variables"]
        assert "UNITS_STORE_TABLE" in variables and "UNITS_BUCKETS" in variables
    granted: dict[str, set[str]] = {}
    for _role, statement in statements(synth, "storage"):
        for action in as_list(statement["Action"]):
            if action.startswith(("dynamodb:", "s3:")):
                granted.setdefault(
                    " ".join(render(r) for r in as_list(statement["Resource"])), set()
                ).add(action)
    store = [acts for res, acts in granted.items() if "StoreTable" in res]
    assert store and all(acts == set(storage.STORE_ACTIONS) for acts in store)
    named = [acts for res, acts in granted.items() if "my-existing-bucket" in res]
    assert set().union(*named) == set(storage.OBJECT_ACTIONS) | set(storage.BUCKET_ACTIONS)
    own = [acts for res, acts in granted.items() if "Bucket0" in res]
    assert set().union(*own) == set(storage.OBJECT_ACTIONS) | set(storage.BUCKET_ACTIONS)


def test_sql_password_grants_are_exactly_the_named_secret_and_parameter(synth):
    reads: dict[str, list[str]] = {}
    for _role, statement in statements(synth, "storage"):
        for action in as_list(statement["Action"]):
            if action.startswith(("secretsmanager:", "ssm:")):
                reads.setdefault(action, []).append(
                    " ".join(render(r) for r in as_list(statement["Resource"]))
                )
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-db"
    parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/app/db-password"
    assert set(reads) == {"secretsmanager:GetSecretValue", "ssm:GetParameter"}
    assert set(reads["secretsmanager:GetSecretValue"]) == {f"{secret} {secret}-??????"}
    assert set(reads["ssm:GetParameter"]) == {parameter}
    # One grant per function runner (the function Lambda and the remote function).
    assert len(reads["ssm:GetParameter"]) == 2
    # Stacks without such entries get none.
    for _role, statement in statements(synth, "hello"):
        assert not any(
            a.startswith(("secretsmanager:", "ssm:")) for a in as_list(statement["Action"])
        )


def test_queue_entries_become_queues_with_dead_letter_queues_and_alarms(synth):
    queues = synth.resources("queues", "AWS::SQS::Queue")
    by_name = {k: q["Properties"] for k, q in queues.items()}
    tasks = next(
        p for k, p in by_name.items() if "Queueapptasks" in k and "dlq" not in k and "Dead" not in k
    )
    # Six times the slowest consumer's Lambda timeout (20 s), and max_attempts receives.
    assert tasks["VisibilityTimeout"] == 120
    assert tasks["RedrivePolicy"]["maxReceiveCount"] == 4
    assert tasks["SqsManagedSseEnabled"] is True
    orders = next(p for p in by_name.values() if p.get("QueueName") == "orders.fifo")
    assert orders["FifoQueue"] is True and orders["VisibilityTimeout"] == 180  # 6 x 30 s
    spare = next(p for k, p in by_name.items() if "Queueappspare" in k)
    assert "Queueapptasksdlq" in json.dumps(spare["RedrivePolicy"])
    # Own DLQs for tasks, orders (FIFO) and tasks_dlq; spare uses tasks_dlq.
    dlqs = [k for k in queues if "DeadLetters" in k]
    assert len(dlqs) == 3
    alarms = [
        a
        for a in synth.resources("queues", "AWS::CloudWatch::Alarm").values()
        if "dead-letter queue" in a["Properties"].get("AlarmDescription", "")
    ]
    assert len(alarms) == 3


def test_queue_consumers_are_lambdas_with_event_sources_and_least_privilege(synth):
    consumers = by_handler(synth, "queues", "handlers.queue_consumer.handler")
    assert len(consumers) == 2
    slow = next(
        c for c in consumers if c["Environment"]["Variables"]["UNITS_QUEUE_CONSUMER"] == "app:work"
    )
    assert (slow["MemorySize"], slow["Timeout"]) == (1024, 20)
    assert slow["Environment"]["Variables"]["UNITS_HOME_FUNCTIONS"] == "app:slow"
    mappings = [
        m["Properties"]
        for m in synth.resources("queues", "AWS::Lambda::EventSourceMapping").values()
    ]
    assert len(mappings) == 2
    work = next(m for m in mappings if m["BatchSize"] == 10)
    assert work["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sorted(m["ScalingConfig"]["MaximumConcurrency"] for m in mappings) == [2, 5]
    for fn in lambdas(synth, "queues").values():
        assert "UNITS_QUEUES" in fn["Environment"]["Variables"]
    # Receive/delete only for the consumers, each on its own queue; send for every runner.
    receivers: dict[str, list[str]] = {}
    senders: set[str] = set()
    for role, statement in statements(synth, "queues"):
        actions = as_list(statement["Action"])
        resources = " ".join(render(r) for r in as_list(statement["Resource"]))
        if "sqs:ReceiveMessage" in actions:
            assert "sqs:DeleteMessage" in actions
            receivers.setdefault(role, []).append(resources)
        if "sqs:SendMessage" in actions:
            senders.add(role)
    assert len(receivers) == 2
    assert all(len(r) == 1 and "DeadLetters" not in r[0] for r in receivers.values())
    assert len(senders) == 3  # the function Lambda and the two consumers


def test_the_integrations_example_synthesizes_to_its_outside_resources(synth):
    """examples/integrations: a bucket, the store's table, the queue with its DLQ and its
    consumer's Lambda and event source; the HTTP API; nothing else needed by hand."""
    kinds = Counter(r["Type"] for r in synth.json["integrations"]["Resources"].values())
    assert kinds["AWS::S3::Bucket"] >= 1
    assert kinds["AWS::SQS::Queue"] == 2  # the queue and its dead-letter queue
    assert kinds["AWS::Lambda::EventSourceMapping"] == 1  # the consumer
    assert kinds["AWS::DynamoDB::Table"] >= 1  # the store's
    assert kinds["AWS::ApiGatewayV2::Api"] == 1
    consumers = by_handler(synth, "integrations", "handlers.queue_consumer.handler")
    assert len(consumers) == 1


def test_the_integrations_example_names_its_resources_in_outputs(synth):
    """The outputs `units resources` reads a deployed stack's stores, buckets and queues by."""
    outputs = synth.json["integrations"]["Outputs"]
    storage = synth.stacks["integrations"].storage
    assert outputs["StoreTableName"]["Value"] == {
        "Ref": logical_id(synth, "integrations", storage.table)
    }
    assert json.loads(outputs["Stores"]["Value"]) == {"app:cache": "m#app:cache"}
    bucket = storage.buckets["app:files"]
    assert json.loads(render(outputs["Buckets"]["Value"])) == {
        "app:files": f"<{logical_id(synth, 'integrations', bucket)}>"
    }
    assert json.loads(render(outputs["Queues"]["Value"])).keys() == {"app:quotes"}
    assert json.loads(render(outputs["QueueDeadLetterQueues"]["Value"])).keys() == {"app:quotes"}
    assert "StoreTableName" not in synth.json["hello"]["Outputs"]
    assert "Buckets" not in synth.json["hello"]["Outputs"]


# -- production: stages, recursion, alarms, throttling, retention ----------------------------------

#: Every stack of the fixture but ``layout`` (the hello example again, bundled for this machine).
STACKS = ("hello", "shop", "chat", "jobs", "flows", "storage", "queues", "integrations", "prod")


def queue_ref(value: Any) -> str | None:
    """The logical id of a queue an ARN (``Fn::GetAtt [Queue, Arn]``) points at."""
    if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        return value["Fn::GetAtt"][0]
    return None


def feeds_itself(synth: Synth, name: str) -> dict[str, bool]:
    """Per Lambda of the stack: whether it may send to a queue that is one of its event sources
    (from the template: its event source mappings' queues and its role's sqs:SendMessage)."""
    functions = lambdas(synth, name)
    sources: dict[str, set[str]] = {f: set() for f in functions}
    for mapping in synth.resources(name, "AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        sources[props["FunctionName"]["Ref"]].add(queue_ref(props["EventSourceArn"]))
    sends: dict[str, set[str]] = {}
    for role, statement in statements(synth, name):
        if "sqs:SendMessage" in as_list(statement["Action"]):
            targets = {queue_ref(r) for r in as_list(statement["Resource"])}
            sends.setdefault(role, set()).update(targets - {None})
    return {
        f: bool(sources[f] & sends.get(props["Role"]["Fn::GetAtt"][0], set()))
        for f, props in functions.items()
    }


def test_recursive_loops_are_allowed_exactly_where_a_lambda_feeds_its_own_event_source(synth):
    allowed_handlers = set()
    for name in STACKS:
        feeding = feeds_itself(synth, name)
        for logical, props in lambdas(synth, name).items():
            assert (props.get("RecursiveLoop") == "Allow") == feeding[logical], (name, logical)
            assert props.get("RecursiveLoop") in (None, "Allow")
            if feeding[logical]:
                allowed_handlers.add(props["Handler"])
    # Not vacuous: the workers (their own FIFO and delay queues) and the consumers (their
    # function may publish to the queue that feeds it) are the ones; the activity Lambda's
    # queue is fed by the step only, which Step Functions invokes.
    assert allowed_handlers == {
        "handlers.process_worker.handler",
        "handlers.queue_consumer.handler",
    }
    for host in synth.stacks["jobs"].processes.workers.values():
        assert props_of(synth, "jobs", host.function)["RecursiveLoop"] == "Allow"
    for driver in synth.stacks["flows"].workflows.drivers.values():
        for unit in (driver.step, driver.activity):
            assert "RecursiveLoop" not in props_of(synth, "flows", unit.function)


def test_every_alarm_notifies_the_alarm_topic(synth):
    for name in STACKS:
        stack = synth.stacks[name]
        topic = logical_id(synth, name, stack.alarm_topic.topic)
        alarms = synth.resources(name, "AWS::CloudWatch::Alarm")
        assert alarms
        for alarm in alarms.values():
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}], name
        (policy,) = synth.resources(name, "AWS::SNS::TopicPolicy").values()
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert synth.json[name]["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": topic}
    assert synth.resources("hello", "AWS::SNS::Subscription") == {}
    (subscription,) = synth.resources("prod", "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


def alarms_on(synth: Synth, name: str, metric: str) -> list[dict[str, Any]]:
    return [
        a["Properties"]
        for a in synth.resources(name, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric
    ]


def test_an_alarm_on_the_apis_5xx_answers(synth):
    for name in ("hello", "shop", "chat", "prod"):
        (alarm,) = alarms_on(synth, name, "5xx")
        assert (alarm["Namespace"], alarm["Statistic"], alarm["Period"]) == (
            "AWS/ApiGateway",
            "Sum",
            60,
        )
        assert alarm["Threshold"] == 1
        (dimension,) = alarm["Dimensions"]
        api = logical_id(synth, name, synth.stacks[name].api.api)
        assert dimension == {"Name": "ApiId", "Value": {"Ref": api}}
    assert alarms_on(synth, "jobs", "5xx") == []  # no endpoints, no API


def test_the_kits_error_metrics_are_alarmed(synth):
    """Errors that are replies (a function's ``nil, err``) or nacks never fail the Lambda, so
    the Lambda Errors alarms cannot see them: the kit's own metrics are alarmed."""
    for name in STACKS:
        (alarm,) = alarms_on(synth, name, "CallErrors")
        assert alarm["Namespace"] == "ComputeUnits"
        assert alarm["Dimensions"] == [{"Name": "service", "Value": synth.stacks[name].stack_name}]
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
        nacks = alarms_on(synth, name, "QueueMessagesNacked")
        assert len(nacks) == (1 if name in ("queues", "integrations") else 0), name
    # The names the handlers emit.
    assert (
        'name="Calls" if reply["ok"] else "CallErrors"'
        in (ROOT / "handlers" / "function.py").read_text()
    )
    assert 'name="QueueMessagesNacked"' in (ROOT / "handlers" / "queue_consumer.py").read_text()
    # And the service dimension they carry is the stack name (POWERTOOLS_SERVICE_NAME).
    for props in lambdas(synth, "hello").values():
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_SERVICE_NAME"] == "units-hello"
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ComputeUnits"


def test_an_age_alarm_on_every_event_source_queue(synth):
    for name in STACKS:
        sources = {
            queue_ref(m["Properties"]["EventSourceArn"])
            for m in synth.resources(name, "AWS::Lambda::EventSourceMapping").values()
        }
        thresholds = {}
        for alarm in alarms_on(synth, name, "ApproximateAgeOfOldestMessage"):
            assert (alarm["Namespace"], alarm["Statistic"]) == ("AWS/SQS", "Maximum")
            assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
            (dimension,) = alarm["Dimensions"]
            thresholds[dimension["Value"]["Fn::GetAtt"][0]] = alarm["Threshold"]
        assert set(thresholds) == sources, name
        stack = synth.stacks[name]
        for queues in stack.processes.queues.values() if stack.processes else []:
            # 15 minutes; the delay queue's messages may wait 15 more by design.
            assert thresholds[logical_id(synth, name, queues.queue)] == 900
            assert thresholds[logical_id(synth, name, queues.delays)] == 1800


def test_the_api_stage_is_throttled(synth):
    for name, (rate, burst) in {"shop": (100, 200), "prod": (50, 75)}.items():
        (stage,) = synth.resources(name, "AWS::ApiGatewayV2::Stage").values()
        assert stage["Properties"]["DefaultRouteSettings"] == {
            "ThrottlingRateLimit": rate,
            "ThrottlingBurstLimit": burst,
        }


def test_reserved_concurrency_is_the_remote_functions_deploy_setting(synth):
    far = synth.stacks["prod"].functions.remotes["app:far"].function
    assert props_of(synth, "prod", far)["ReservedConcurrentExecutions"] == 7
    for name in STACKS:
        reserved = [
            props.get("ReservedConcurrentExecutions") for props in lambdas(synth, name).values()
        ]
        assert reserved.count(None) == len(reserved) - (1 if name == "prod" else 0)


def test_reserved_concurrency_on_a_hosted_function_is_refused(make_app: MakeApp):
    app_dir = make_app(
        index(FUNC.format(name="a", extra="deploy: {reserved_concurrency: 5}")),
        {"add.lua": ADD},
    )
    with pytest.raises(SynthError, match=r"reserved_concurrency needs deploy\.remote: true"):
        build(app_dir)


def test_workflow_logging_can_be_raised(synth):
    for driver in synth.stacks["prod"].workflows.drivers.values():
        logging = props_of(synth, "prod", driver.machine)["LoggingConfiguration"]
        assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", True)


def test_a_production_stage_keeps_and_protects_its_tables(synth):
    def tables(name: str) -> list[dict[str, Any]]:
        return list(synth.resources(name, "AWS::DynamoDB::Table").values())

    prod = synth.assembly.get_stack_by_name("units-prod")
    assert prod.termination_protection is True
    assert len(tables("prod")) == 2  # the process/workflow table and the store table
    for table in tables("prod"):
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
        assert table["Properties"]["DeletionProtectionEnabled"] is True
    for name in ("chat", "storage"):  # a dev stage, as before stages existed
        assert synth.assembly.get_stack_by_name(f"units-{name}").termination_protection is False
        for table in tables(name):
            assert table["DeletionPolicy"] == "Delete"
            assert "DeletionProtectionEnabled" not in table["Properties"]
    # Buckets are the application's data: kept whatever the stage.
    for bucket in synth.resources("storage", "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"


def test_tags_and_description(synth):
    for name, stage in (("hello", "dev"), ("prod", "prod")):
        app = "hello" if name == "hello" else "prod"
        template = synth.json[name]
        assert template["Description"] == f"Compute Units application {app} (stage {stage})"
        expected = [
            {"Key": "app", "Value": app},
            {"Key": "kit", "Value": "compute-units"},
            {"Key": "stage", "Value": stage},
        ]
        tagged = 0
        for resource in template["Resources"].values():
            tags = resource.get("Properties", {}).get("Tags")
            if isinstance(tags, list):
                assert [t for t in tags if t["Key"] in ("app", "kit", "stage")] == expected
                tagged += 1
        assert tagged >= 5  # Lambdas, roles, log groups, the topic...
    (stage,) = synth.resources("hello", "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["Tags"] == {"app": "hello", "kit": "compute-units", "stage": "dev"}


def test_event_source_queues_keep_messages_as_long_as_their_dead_letter_queues(synth):
    for name in STACKS:
        for mapping in synth.resources(name, "AWS::Lambda::EventSourceMapping").values():
            queue = queue_ref(mapping["Properties"]["EventSourceArn"])
            props = synth.json[name]["Resources"][queue]["Properties"]
            assert props["MessageRetentionPeriod"] == 14 * 24 * 3600, (name, queue)


def test_templates_pass_cfn_lint(synth):
    from cfnlint.api import ManualArgs, lint

    for name in STACKS:
        matches = lint(json.dumps(synth.json[name]), config=ManualArgs(regions=["us-east-1"]))
        errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
        assert errors == [], name


def test_deployment_settings_from_context_then_environment(tmp_path):
    settings = Settings.resolve(
        {"stage": "prod-eu", "api_rate": "40"}.get,
        {
            "UNITS_APP": "apps/shop",
            "UNITS_STAGE": "dev",
            "UNITS_ALARM_EMAIL": "a@b.example",
            "UNITS_API_BURST": "60",
            "UNITS_WORKFLOW_LOG_LEVEL": "all",
            "UNITS_WORKFLOW_LOG_DATA": "true",
        },
        tmp_path,
    )
    assert (settings.stage, settings.production) == ("prod-eu", True)
    assert settings.stack_name == "units-shop-prod-eu"  # a stage beside the dev one
    assert settings.alarm_email == "a@b.example"
    assert (settings.api_rate, settings.api_burst) == (40, 60)
    assert (settings.workflow_log_level, settings.workflow_log_data) == ("ALL", True)
    default = Settings.resolve({}.get, {"UNITS_APP": "apps/shop"}, tmp_path)
    assert (default.stage, default.production, default.stack_name) == ("dev", False, "units-shop")
    assert (default.alarm_email, default.api_rate, default.api_burst) == (None, 100, 200)
    assert (default.workflow_log_level, default.workflow_log_data) == ("ERROR", False)
    for stage, production in (("production", True), ("prod", True), ("product", False)):
        assert Settings.resolve({"stage": stage}.get, {}, tmp_path).production is production
    bad = {
        "stage": "Prod!",
        "alarm_email": "nobody",
        "api_rate": "0",
        "api_burst": "lots",
        "workflow_log_level": "loud",
        "workflow_log_data": "maybe",
    }
    with pytest.raises(SynthError) as caught:
        Settings.resolve(bad.get, {}, tmp_path)
    text = str(caught.value) + " ".join(caught.value.problems)
    for key in ("stage 'Prod!'", "alarm email 'nobody'", "api_rate '0'", "api_burst 'lots'"):
        assert key in text
    assert "workflow log level 'LOUD'" in text and "workflow_log_data 'maybe'" in text


def test_the_ttl_attribute_is_the_runtimes():
    from infra.tables import TTL_ATTRIBUTE
    from runtime.aws.dynamodb import TTL_ATTRIBUTE as RUNTIME_TTL

    assert TTL_ATTRIBUTE == RUNTIME_TTL
