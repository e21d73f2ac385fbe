"""A Wippy-shaped application synthesizes: its router's endpoints are API Gateway routes at
prefix + path, its temporal.worker is a workflow host (a driver state machine and an activity
queue capped by the worker's activity concurrency), its process.host's ``host.workers`` caps
the worker's event source, and the load's warning is a synth warning.

One stack in its own App (module scope), as tests/test_infra.py synthesizes its stacks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest

if shutil.which("node") is None:
    # Not a skip, as in tests/test_infra.py: `make test` puts Node.js on PATH.
    raise RuntimeError("the CDK needs Node.js: run the tests with `make test`, or put node on PATH")

_NODE = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
os.environ.setdefault(
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", _NODE.strip().lstrip("v").split(".")[0]
)

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Annotations, Match  # noqa: E402

from infra.nag import apply_checks  # noqa: E402
from infra.plan import load_registry, plan_app  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stack import UnitsStack  # noqa: E402
from runtime.manifest import TemporalWorkerEntry  # noqa: E402
from tests.conftest import write_app  # noqa: E402

WIPPY = """
version: "1.0"
namespace: app
entries:
  - name: gateway
    kind: http.service
    addr: ":8080"
    lifecycle: {auto_start: true}
  - name: api
    kind: http.router
    meta: {server: gateway}
    prefix: /api/v1
    auth: none
    middleware: [cors]
    options:
      cors.allow.origins: "https://app.example.com, https://admin.example.com"
      cors.allow.methods: "GET,POST,*"
      cors.expose.headers: X-Request-Id
      cors.allow.credentials: true
      cors.max.age: 600
  - name: temporal_client
    kind: temporal.client
    address: "localhost:7233"
  - name: worker
    kind: temporal.worker
    client: temporal_client
    task_queue: orders
    worker_options: {max_concurrent_activity_execution_size: 50}
  - name: processes
    kind: process.host
    host: {workers: 32, queue_size: 1024}
    lifecycle: {auto_start: true}
  - name: terminal
    kind: terminal.host
  - name: counter
    kind: process.lua
    source: file://counter.lua
  - name: counter.service
    kind: process.service
    process: counter
    host: processes
    input: [0]
    lifecycle: {auto_start: true}
  - name: order
    kind: workflow.lua
    source: file://order.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
  - name: get_user
    kind: function.lua
    source: file://user.lua
    meta: {temporal: {activity: {worker: app:worker}}}
  - name: get_user.endpoint
    kind: http.endpoint
    meta: {router: api}
    method: GET
    path: /users/{id}
    func: get_user
  - name: list_users.endpoint
    kind: http.endpoint
    meta: {router: api}
    method: GET
    path: /users
    func: get_user
"""
FILES = {
    "counter.lua": "local c = {}\nfunction c.init(n) return {n = n} end\n"
    "function c.handle(s, m) return s end\nreturn c\n",
    "order.lua": "return { main = function(input) return input end }\n",
    "user.lua": "return { handler = function() return {} end }\n",
}


class Synth:
    def __init__(self, stack: UnitsStack) -> None:
        self.stack = stack
        assembly = cdk.App.of(stack).synth()
        self.json = assembly.get_stack_by_name(stack.stack_name).template

    def resources(self, kind: str) -> dict[str, Any]:
        return {k: r for k, r in self.json["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    app_dir = write_app(tmp_path_factory.mktemp("wippy"), WIPPY, FILES)
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    stack = UnitsStack(
        app,
        "units-wippy",
        registry=load_registry(app_dir),
        settings=Settings(app_dir=app_dir, stack_name="units-wippy"),
    )
    apply_checks(app)
    return Synth(stack)


def test_router_endpoints_are_api_gateway_routes_at_prefix_plus_path(synth):
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]["AuthorizationType"]
        for r in synth.resources("AWS::ApiGatewayV2::Route").values()
    }
    assert routes == {"GET /api/v1/users/{id}": "NONE", "GET /api/v1/users": "NONE"}


def test_the_routers_cors_is_the_apis_cors_configuration(synth):
    (api,) = synth.resources("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["CorsConfiguration"] == {
        "AllowOrigins": ["https://app.example.com", "https://admin.example.com"],
        "AllowMethods": ["GET", "POST", "*"],
        # Wippy's default headers, and no default for the rest of API Gateway's fields.
        "AllowHeaders": ["Origin", "Content-Type", "Accept", "Authorization", "X-Requested-With"],
        "ExposeHeaders": ["X-Request-Id"],
        "AllowCredentials": True,
        "MaxAge": 600,
    }
    # API Gateway answers the preflights: no OPTIONS route is made for them.
    keys = [
        r["Properties"]["RouteKey"] for r in synth.resources("AWS::ApiGatewayV2::Route").values()
    ]
    assert not any(key.startswith("OPTIONS") for key in keys)


def test_the_temporal_worker_is_a_workflow_host(synth):
    plan = synth.stack.plan
    (host,) = plan.workflow_hosts
    assert isinstance(host.entry, TemporalWorkerEntry) and host.id == "app:worker"
    machines = synth.resources("AWS::StepFunctions::StateMachine")
    assert [m["Properties"]["StateMachineName"] for m in machines.values()] == [host.machine_name]
    workflows = synth.stack.workflows
    assert workflows is not None and set(workflows.queues) == {"app:worker"}
    caps = [
        m["Properties"]["ScalingConfig"]["MaximumConcurrency"]
        for m in synth.resources("AWS::Lambda::EventSourceMapping").values()
        if "ScalingConfig" in m["Properties"]
    ]
    # The activity queue's (worker_options) and the process host's queues' (host.workers).
    assert set(caps) == {32, 50} and caps.count(50) == 1


def test_the_service_starts_with_its_input(synth):
    (service,) = synth.stack.plan.services
    assert (service.id, service.args) == ("app:counter.service", (0,))


def test_the_load_warning_is_a_synth_warning(synth):
    found = Annotations.from_stack(synth.stack).find_warning(
        "*", Match.string_like_regexp("entry 'app:terminal' \\(terminal.host\\): skipped")
    )
    assert len(found) == 1


def test_the_plan_needs_no_synth(tmp_path):
    registry = load_registry(write_app(tmp_path, WIPPY, FILES))
    plan = plan_app(registry, "units-wippy")
    assert [r.key for r in plan.routes] == ["GET /api/v1/users/{id}", "GET /api/v1/users"]
    assert [h.id for h in plan.process_hosts] == ["app:processes"]
    assert plan.process_hosts[0].entry.max_concurrency == 32
