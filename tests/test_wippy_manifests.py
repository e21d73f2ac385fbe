"""Wippy's own manifests load as they are: HTTP servers, routers and their endpoints, Temporal
clients and workers, Wippy's ``host:`` and ``lifecycle:`` blocks, ``input:``, ``process`` in
``modules:``, and the kinds with no meaning here skipped with one warning.

The manifests are written here in the shapes of Wippy's documentation; each test says what the
kit does with them: the routes they serve, the runs they start, the lines of the warning.
"""

from __future__ import annotations

import logging
import textwrap
import warnings
from pathlib import Path

import pytest

from runtime import manifest
from runtime.errors import NOT_FOUND, ManifestError, UnitError
from runtime.manifest import (
    EndpointEntry,
    HttpRouterEntry,
    HttpServiceEntry,
    ManifestWarning,
    ProcessHostEntry,
    RestartPolicy,
    ServiceEntry,
    TemporalClientEntry,
    TemporalWorkerEntry,
    WorkflowEntry,
    WorkflowHostEntry,
    load_app,
)
from runtime.testing import LocalCloud


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def index(entries: str, namespace: str = "app") -> str:
    body = textwrap.indent(textwrap.dedent(entries).strip(), "  ")
    return f'version: "1.0"\nnamespace: {namespace}\nentries:\n{body}\n'


def problems_of(root: Path, files: dict[str, str]) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_app(write(root, files))
    return caught.value.problems


def one_problem(root: Path, files: dict[str, str]) -> str:
    problems = problems_of(root, files)
    assert len(problems) == 1, problems
    return problems[0]


# -- HTTP: http.service, http.router, http.endpoint -------------------------------------------

ECHO = """
local http = require("http")
local function handler()
  local req = http.request()
  local res = http.response()
  res:write_json({ path = req:path(), id = req:param("id"), rest = req:param("rest") })
end
return { handler = handler }
"""
HTTP_APP = {
    "_index.yaml": index("""
        - name: gateway
          kind: http.service
          addr: ":8080"
          lifecycle: {auto_start: true}
        - name: api
          kind: http.router
          meta: {server: gateway}
          prefix: /api/v1
          middleware: [cors]
          options: {cors.allow.origins: "*"}
          auth: none
        - name: root
          kind: http.router
          meta: {server: app:gateway, comment: the site itself}
          prefix: /
        - name: echo
          kind: function.lua
          source: file://echo.lua
          modules: [http]
        - name: health
          kind: http.endpoint
          method: GET
          path: /health
          func: echo
          auth: none
        - name: hello
          kind: http.endpoint
          meta: {router: root}
          method: GET
          path: /hello
          func: echo
    """),
    "echo.lua": ECHO,
    "users/_index.yaml": index(
        """
        - name: list
          kind: http.endpoint
          meta: {router: app:api}
          method: GET
          path: /users
          func: app:echo
        - name: get
          kind: http.endpoint
          meta: {router: app:api}
          method: GET
          path: /users/{id}
          func: app:echo
        - name: files
          kind: http.endpoint
          meta: {router: app:api}
          method: GET
          path: /files/{rest...}
          func: app:echo
        - name: private
          kind: http.endpoint
          meta: {router: app:api}
          method: DELETE
          path: /users/{id}
          func: app:echo
          auth: iam
        """,
        namespace="app.users",
    ),
}


def test_a_routers_endpoints_are_routed_at_prefix_plus_path(tmp_path):
    registry = load_app(write(tmp_path, HTTP_APP))
    routes = {e.id: (e.method, e.path, e.auth, e.router) for e in registry.of_kind(EndpointEntry)}
    assert routes == {
        "app:health": ("GET", "/health", "none", None),  # the kit's standalone endpoint
        "app:hello": ("GET", "/hello", "iam", "app:root"),  # prefix "/" adds nothing
        "app.users:list": ("GET", "/api/v1/users", "none", "app:api"),
        "app.users:get": ("GET", "/api/v1/users/{id}", "none", "app:api"),
        "app.users:files": ("GET", "/api/v1/files/{rest...}", "none", "app:api"),
        "app.users:private": ("DELETE", "/api/v1/users/{id}", "iam", "app:api"),
    }
    files = registry.get("app.users:files")
    assert isinstance(files, EndpointEntry)
    assert (files.params, files.greedy) == (("rest",), "rest")
    router = registry.get("app:api")
    assert isinstance(router, HttpRouterEntry)
    assert (router.server, router.prefix, router.middleware) == (
        "app:gateway",
        "/api/v1",
        ("cors",),
    )
    server = registry.get("app:gateway")
    assert isinstance(server, HttpServiceEntry)
    assert (server.addr, server.port) == (":8080", 8080)


def test_router_endpoints_are_served_by_the_http_api(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ManifestWarning)
        with LocalCloud(write(tmp_path, HTTP_APP)) as cloud:
            got = cloud.http("GET", "/api/v1/users/42")
            assert (got.status, got.body["id"], got.body["path"]) == (200, "42", "/api/v1/users/42")
            assert cloud.http("GET", "/api/v1/users").body["path"] == "/api/v1/users"
            assert cloud.http("GET", "/api/v1/files/a/b.txt").body["rest"] == "a/b.txt"
            assert cloud.http("GET", "/hello").status == 200
            assert cloud.http("GET", "/health").status == 200
            # The path as written, without its router's prefix, is no route.
            assert cloud.http("GET", "/users/42").status == 404
            assert cloud.http("POST", "/api/v1/users/42").status == 405


def test_a_router_prefix_and_a_trailing_slash_join_as_in_wippy(tmp_path):
    registry = load_app(
        write(
            tmp_path,
            {
                "_index.yaml": index("""
                    - {name: gw, kind: http.service, addr: "127.0.0.1:9090"}
                    - {name: users, kind: http.router, meta: {server: gw}, prefix: /api/users/}
                    - {name: f, kind: function.lua, source: file://echo.lua}
                    - {name: list, kind: http.endpoint, meta: {router: users}, method: GET, path: /, func: f}
                    - {name: one, kind: http.endpoint, meta: {router: users}, method: GET, path: "/{id}/", func: f}
                    - {name: bare, kind: http.router, meta: {server: gw}}
                    - {name: top, kind: http.endpoint, meta: {router: bare}, method: GET, path: /top, func: f}
                """),
                "echo.lua": ECHO,
            },
        )
    )
    paths = {e.name: e.path for e in registry.of_kind(EndpointEntry)}
    assert paths == {"list": "/api/users", "one": "/api/users/{id}", "top": "/top"}


def test_a_routers_jwt_auth_is_its_endpoints_default(tmp_path):
    registry = load_app(
        write(
            tmp_path,
            {
                "_index.yaml": index("""
                    - {name: gw, kind: http.service, addr: ":80"}
                    - name: api
                      kind: http.router
                      meta: {server: gw}
                      prefix: /api
                      auth: jwt
                      jwt: {issuer: "https://issuer.example.com", audience: [api]}
                    - {name: f, kind: function.lua, source: file://echo.lua}
                    - {name: me, kind: http.endpoint, meta: {router: api}, method: GET, path: /me, func: f}
                    - {name: open, kind: http.endpoint, meta: {router: api}, method: GET, path: /open, func: f, auth: none}
                """),
                "echo.lua": ECHO,
            },
        )
    )
    me, open_ = registry.get("app:me"), registry.get("app:open")
    assert isinstance(me, EndpointEntry) and isinstance(open_, EndpointEntry)
    assert me.auth == "jwt" and me.jwt is not None and me.jwt.audience == ("api",)
    assert (open_.auth, open_.jwt) == ("none", None)


HTTP_BASE = """
- {name: gw, kind: http.service, addr: ":8080"}
- {name: f, kind: function.lua, source: file://echo.lua}
"""


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            "- {name: api, kind: http.router, prefix: /api}",
            "_index.yaml: entry 'app:api' field 'meta.server': missing (a router names its "
            "http.service here)",
            id="router-without-server",
        ),
        pytest.param(
            "- {name: api, kind: http.router, meta: {server: gateway}}",
            "_index.yaml: entry 'app:api' field 'meta.server': 'app:gateway' is not defined",
            id="router-server-undefined",
        ),
        pytest.param(
            "- {name: api, kind: http.router, meta: {server: f}}",
            "entry 'app:api' field 'meta.server': 'app:f' is a function.lua, expected http.service",
            id="router-server-wrong-kind",
        ),
        pytest.param(
            "- {name: api, kind: http.router, meta: {server: gw}, middleware: [cros]}",
            "entry 'app:api' field 'middleware': unknown middleware 'cros' (did you mean 'cors'?)",
            id="unknown-middleware",
        ),
        pytest.param(
            "- {name: api, kind: http.router, meta: {server: gw}, prefix: api}",
            "entry 'app:api' field 'prefix': prefix 'api' must start with '/'",
            id="prefix-without-slash",
        ),
        pytest.param(
            "- {name: e, kind: http.endpoint, meta: {router: nope}, method: GET, path: /x, func: f}",
            "entry 'app:e' field 'meta.router': 'app:nope' is not defined",
            id="endpoint-router-undefined",
        ),
        pytest.param(
            "- {name: e, kind: http.endpoint, meta: {router: gw}, method: GET, path: /x, func: f}",
            "entry 'app:e' field 'meta.router': 'app:gw' is a http.service, expected http.router",
            id="endpoint-router-wrong-kind",
        ),
        pytest.param(
            "- {name: e, kind: http.endpoint, method: TRACE, path: /x, func: f}",
            "entry 'app:e' field 'method': TRACE cannot be routed: API Gateway HTTP APIs do not "
            "take it",
            id="trace",
        ),
        pytest.param(
            "- {name: e, kind: http.endpoint, method: GET, path: x, func: f}",
            "entry 'app:e' field 'path': path 'x' must start with '/'",
            id="endpoint-path",
        ),
        pytest.param(
            "- {name: api, kind: http.router, meta: {server: gw}, prefix: /api}\n"
            "- {name: a, kind: http.endpoint, meta: {router: api}, method: GET, path: /x, func: f}\n"
            "- {name: b, kind: http.endpoint, method: GET, path: /api/x, func: f}",
            "entry 'app:b' field 'path': route GET /api/x is the same as 'app:a' (GET /api/x)",
            id="same-route-through-a-router",
        ),
        pytest.param(
            "- {name: api, kind: http.router, meta: {server: gw}, prefix: '/files/{rest...}'}\n"
            "- {name: a, kind: http.endpoint, meta: {router: api}, method: GET, path: /x, func: f}",
            "entry 'app:a' field 'path': '{rest...}' must be the last segment of path "
            "'/files/{rest...}/x' (router 'app:api' prefix '/files/{rest...}')",
            id="greedy-prefix",
        ),
        pytest.param(
            "- {name: a, kind: http.router, meta: {server: gw}, prefix: /a}\n"
            "- {name: b, kind: http.router, meta: {server: gw}, prefix: /b}\n"
            "- {name: x1, kind: http.endpoint, meta: {router: a}, method: GET, path: /x, func: f}\n"
            "- {name: x2, kind: http.endpoint, meta: {router: b}, method: GET, path: /x, func: f}\n"
            "- {name: oops, kind: function.lua}",
            "entry 'app:oops' field 'source': missing (required for function.lua)",
            id="same-path-under-two-routers-is-no-clash",
        ),
        pytest.param(
            "- {name: gw2, kind: http.service, addr: localhost}",
            "entry 'app:gw2' field 'addr': invalid address 'localhost' (expected ':8080' or "
            "'host:8080')",
            id="bad-addr",
        ),
        pytest.param(
            "- {name: gw2, kind: http.service, lifecycle: {auto_start: true}}",
            "entry 'app:gw2' field 'addr': missing (required for http.service)",
            id="service-without-addr",
        ),
        pytest.param(
            "- {name: gw2, kind: http.service, addr: ':81', timeouts: {read: soon}}",
            "entry 'app:gw2' field 'timeouts.read': invalid duration 'soon'",
            id="service-timeouts",
        ),
    ],
)
def test_bad_http_entries_name_the_entry_and_field(tmp_path, entries, expected):
    problems = problems_of(tmp_path, {"_index.yaml": index(HTTP_BASE + entries), "echo.lua": ECHO})
    assert len(problems) == 1 and expected in problems[0], problems


# -- Temporal: temporal.client, temporal.worker, meta.temporal -------------------------------

ORDER = """
local funcs = require("funcs")
local function main(order)
  local charged, err = funcs.call("app:charge", order.amount)
  if err then return nil, err end
  return { order = order.id, charged = charged }
end
return { main = main }
"""
CHARGE = "return { charge = function(amount) return amount * 2 end }\n"
START = """
local function start(order)
  local pid, err = process.spawn("app:order", "app:worker", order)
  if err then error(err) end
  return pid
end
return { start = start }
"""
TEMPORAL_APP = {
    "_index.yaml": index("""
        - name: temporal_client
          kind: temporal.client
          address: "localhost:7233"
          namespace: default
          auth: {type: none}
          lifecycle: {auto_start: true}
        - name: worker
          kind: temporal.worker
          client: temporal_client
          task_queue: orders
          worker_options:
            max_concurrent_activity_execution_size: 50
            max_concurrent_workflow_task_execution_size: 10
          lifecycle:
            auto_start: true
            depends_on: [app:temporal_client]
        - name: other
          kind: workflow.host
        - name: order
          kind: workflow.lua
          source: file://order.lua
          method: main
          modules: [funcs, time]
          meta:
            temporal:
              workflow: {worker: app:worker}
        - name: charge
          kind: function.lua
          source: file://charge.lua
          method: charge
          meta:
            temporal:
              activity: {worker: app:worker, local: true}
        - name: start
          kind: function.lua
          source: file://start.lua
          method: start
          modules: [process]
    """),
    "order.lua": ORDER,
    "charge.lua": CHARGE,
    "start.lua": START,
}


def test_a_temporal_worker_is_a_workflow_host(tmp_path):
    registry = load_app(write(tmp_path, TEMPORAL_APP))
    worker = registry.get("app:worker")
    assert isinstance(worker, TemporalWorkerEntry) and isinstance(worker, WorkflowHostEntry)
    assert (worker.client, worker.task_queue, worker.max_concurrency) == (
        "app:temporal_client",
        "orders",
        50,
    )
    assert [h.id for h in registry.of_kind(WorkflowHostEntry)] == ["app:worker", "app:other"]
    assert [h.id for h in registry.of_kind("temporal.worker")] == ["app:worker"]
    client = registry.get("app:temporal_client")
    assert isinstance(client, TemporalClientEntry)
    assert (client.address, client.temporal_namespace) == ("localhost:7233", "default")
    order = registry.get("app:order")
    assert isinstance(order, WorkflowEntry) and order.worker == "app:worker"
    warning = registry.warning or ""
    assert "entry 'app:temporal_client': accepted, not used: there is no Temporal server" in warning
    assert (
        "entry 'app:worker' field 'worker_options': max_concurrent_workflow_task_execution_size:"
        " not applied" in warning
    )


def test_a_workflow_on_a_temporal_worker_runs_end_to_end(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ManifestWarning)
        with LocalCloud(write(tmp_path, TEMPORAL_APP)) as cloud:
            # process.spawn with the temporal.worker as the host, as Wippy code does.
            pid = cloud.call("app:start", {"id": "o-1", "amount": 21})
            assert pid.startswith("app:worker/")
            cloud.run_workflows()
            result = cloud.result(pid)
            assert (result.status, result.result) == ("completed", {"order": "o-1", "charged": 42})
            # A start that names no host runs on the worker the workflow is registered on,
            # although the app has two workflow hosts.
            run_id = cloud.start_workflow("app:order", {"id": "o-2", "amount": 1})
            cloud.run_workflows()
            assert cloud.workflows.workflows.describe(run_id)["host"] == "app:worker"
            assert cloud.result(run_id).result == {"order": "o-2", "charged": 2}


TEMPORAL_BASE = """
- {name: c, kind: temporal.client, address: "localhost:7233"}
- {name: f, kind: function.lua, source: file://charge.lua}
- {name: wf, kind: workflow.lua, source: file://order.lua, modules: [funcs]}
"""


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            "- {name: w, kind: temporal.worker, task_queue: q}",
            "_index.yaml: entry 'app:w' field 'client': missing (required for temporal.worker)",
            id="worker-without-client",
        ),
        pytest.param(
            "- {name: w, kind: temporal.worker, client: c}",
            "entry 'app:w' field 'task_queue': missing (required for temporal.worker)",
            id="worker-without-task-queue",
        ),
        pytest.param(
            "- {name: w, kind: temporal.worker, client: f, task_queue: q}",
            "entry 'app:w' field 'client': 'app:f' is a function.lua, expected temporal.client",
            id="worker-client-wrong-kind",
        ),
        pytest.param(
            "- {name: w, kind: temporal.worker, client: c, task_queue: q,"
            " worker_options: {max_concurent_activity_execution_size: 5}}",
            "field 'worker_options.max_concurent_activity_execution_size': unknown field for "
            "'worker_options' (did you mean 'max_concurrent_activity_execution_size'?)",
            id="worker-option-typo",
        ),
        pytest.param(
            "- {name: w, kind: temporal.worker, client: c, task_queue: q, max_concurrency: 5,"
            " worker_options: {max_concurrent_activity_execution_size: 5}}",
            "entry 'app:w' field 'worker_options': give one of "
            "worker_options.max_concurrent_activity_execution_size and max_concurrency",
            id="worker-two-caps",
        ),
        pytest.param(
            "- {name: c2, kind: temporal.client, namespace: default}",
            "entry 'app:c2' field 'address': missing (required for temporal.client)",
            id="client-without-address",
        ),
        pytest.param(
            "- {name: c2, kind: temporal.client, address: 'x:1', auth: {type: password}}",
            "entry 'app:c2' field 'auth.type': invalid value 'password' (expected one of: none, "
            "api_key, mtls)",
            id="client-auth-type",
        ),
        pytest.param(
            "- {name: wf2, kind: workflow.lua, source: file://order.lua, modules: [funcs],"
            " meta: {temporal: {workflow: {worker: app:nope}}}}",
            "entry 'app:wf2' field 'meta.temporal.workflow.worker': 'app:nope' is not defined",
            id="workflow-worker-undefined",
        ),
        pytest.param(
            "- {name: f2, kind: function.lua, source: file://charge.lua,"
            " meta: {temporal: {activity: {worker: app:c}}}}",
            "entry 'app:f2' field 'meta.temporal.activity.worker': 'app:c' is a temporal.client, "
            "expected temporal.worker or workflow.host",
            id="activity-worker-wrong-kind",
        ),
        pytest.param(
            "- {name: wf2, kind: workflow.lua, source: file://order.lua, modules: [funcs],"
            " meta: {temporal: {workflow: {name: x}}}}",
            "entry 'app:wf2' field 'meta.temporal.workflow.worker': missing (required for "
            "'meta.temporal.workflow')",
            id="workflow-meta-without-worker",
        ),
    ],
)
def test_bad_temporal_entries_name_the_entry_and_field(tmp_path, entries, expected):
    files = {"_index.yaml": index(TEMPORAL_BASE + entries), "order.lua": ORDER}
    problems = problems_of(tmp_path, {**files, "charge.lua": CHARGE})
    assert len(problems) == 1 and expected in problems[0], problems


# -- process.host and process.service with Wippy's blocks -------------------------------------

COUNTER = """
local counter = {}
function counter.init(name, start) return { name = name, n = start } end
function counter.handle(state, msg) state.n = state.n + msg:payload():data() return state end
return counter
"""
PROCESS_APP = {
    "_index.yaml": index("""
        - name: processes
          kind: process.host
          host:
            workers: 32
            queue_size: 1024
            local_queue_size: 256
          lifecycle: {auto_start: true}
        - name: counter
          kind: process.lua
          source: file://counter.lua
        - name: db
          kind: db.sql.sqlite
          file: ./data/app.db
          lifecycle: {auto_start: true}
        - name: counter.service
          kind: process.service
          process: app:counter
          host: app:processes
          input: ["apples", 10]
          registry_name: apples
          lifecycle:
            auto_start: true
            start_timeout: 10s
            stop_timeout: 10s
            stable_threshold: 5s
            depends_on: [app:db]
            restart:
              initial_delay: 2s
              max_delay: 1m
              backoff_factor: 3.0
              jitter: 0.2
              max_attempts: 10
    """),
    "counter.lua": COUNTER,
}


def test_wippy_host_and_lifecycle_blocks_are_mapped_or_reported(tmp_path):
    registry = load_app(write(tmp_path, PROCESS_APP))
    host = registry.get("app:processes")
    assert isinstance(host, ProcessHostEntry) and host.max_concurrency == 32
    service = registry.get("app:counter.service")
    assert isinstance(service, ServiceEntry)
    assert service.args == ("apples", 10)
    assert service.lifecycle.auto_start is True
    assert service.lifecycle.restart == RestartPolicy(
        max_attempts=10, initial_delay=2.0, max_delay=60.0, backoff_factor=3.0
    )
    lines = registry.warnings
    assert (
        "_index.yaml: entry 'app:processes' field 'host': queue_size, local_queue_size: ignored:"
        " an SQS queue and its worker Lambda have no such capacity to set" in lines
    )
    for name in ("start_timeout", "stop_timeout", "stable_threshold", "depends_on"):
        assert any(
            line.startswith(
                f"_index.yaml: entry 'app:counter.service' field 'lifecycle.{name}': not applied:"
            )
            for line in lines
        ), name
    assert (
        "_index.yaml: entry 'app:counter.service' field 'lifecycle.restart.jitter': not applied: "
        "restart delays have no jitter here" in lines
    )
    # depends_on a database entry is fine: nothing follows it (it opens on first use).
    assert registry.get("app:db").kind == "db.sql.sqlite"
    # A host's lifecycle with auto_start: true says what happens anyway: no line for it.
    assert not any("'app:processes' field 'lifecycle'" in line for line in lines)


def test_a_services_input_is_what_its_process_starts_with(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ManifestWarning)
        with LocalCloud(write(tmp_path, PROCESS_APP)) as cloud:
            cloud.drain()
            pid = cloud.lookup("apples")
            assert pid is not None
            cloud.send(pid, "add", 5)
            cloud.drain()
            assert cloud.state(pid) == {"name": "apples", "n": 15}


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            "- {name: h, kind: process.host, host: {workers: 4}, max_concurrency: 4}",
            "entry 'app:h' field 'host.workers': give one of host.workers (Wippy's) and "
            "max_concurrency",
            id="workers-and-max-concurrency",
        ),
        pytest.param(
            "- {name: h, kind: process.host, host: {worker: 4}}",
            "entry 'app:h' field 'host.worker': unknown field for 'host' (did you mean 'workers'?)",
            id="host-typo",
        ),
        pytest.param(
            "- {name: h, kind: process.host, host: {workers: 0}}",
            "entry 'app:h' field 'host.workers': must be at least 1, got 0",
            id="no-workers",
        ),
        pytest.param(
            "- {name: h, kind: process.host}\n"
            "- {name: s, kind: process.service, process: p, host: h, input: [1], args: [1]}",
            "entry 'app:s' field 'args': give one of input (Wippy's name) and args",
            id="input-and-args",
        ),
        pytest.param(
            "- {name: h, kind: process.host}\n"
            "- {name: s, kind: process.service, process: p, host: h, input: {a: 1}}",
            "entry 'app:s' field 'input': expected a list, got a mapping",
            id="input-not-a-list",
        ),
        pytest.param(
            "- {name: h, kind: process.host}\n"
            "- {name: s, kind: process.service, process: p, host: h,"
            " lifecycle: {depends_on: [app:database]}}",
            "entry 'app:s' field 'lifecycle.depends_on': 'app:database' is not defined",
            id="depends-on-undefined",
        ),
        pytest.param(
            "- {name: h, kind: process.host}\n"
            "- {name: s, kind: process.service, process: p, host: h,"
            " lifecycle: {start_timeout: forever}}",
            "entry 'app:s' field 'lifecycle.start_timeout': invalid duration 'forever'",
            id="lifecycle-duration",
        ),
        pytest.param(
            "- {name: h, kind: process.host}\n"
            "- {name: s, kind: process.service, process: p, host: h,"
            " lifecycle: {auto_strat: true}}",
            "entry 'app:s' field 'lifecycle.auto_strat': unknown field for 'lifecycle' (did you "
            "mean 'auto_start'?)",
            id="lifecycle-typo",
        ),
    ],
)
def test_bad_process_entries_name_the_entry_and_field(tmp_path, entries, expected):
    base = "- {name: p, kind: process.lua, source: file://counter.lua}\n"
    problems = problems_of(tmp_path, {"_index.yaml": index(base + entries), "counter.lua": COUNTER})
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_single_worker_becomes_the_smallest_event_source_cap(tmp_path):
    registry = load_app(
        write(
            tmp_path, {"_index.yaml": index("- {name: h, kind: process.host, host: {workers: 1}}")}
        )
    )
    host = registry.get("app:h")
    assert isinstance(host, ProcessHostEntry) and host.max_concurrency == 2
    assert registry.warnings == (
        "_index.yaml: entry 'app:h' field 'host.workers': 1 workers become max_concurrency 2: an "
        "SQS event source runs 2 to 1000 Lambdas at once",
    )


# -- modules: Wippy's globals and the modules not provided yet ---------------------------------

MODULES_LUA = """
local function globals()
  local p = require("process")
  local c = require("channel")
  return p == process and c == channel
end
local function sql()
  local ok, err = pcall(require, "excel")
  return tostring(err)
end
local function store()
  local ok, err = pcall(require, "treesitter")
  return tostring(err)
end
return { globals = globals, sql = sql, store = store }
"""
MODULES_APP = {
    "_index.yaml": index("""
        - {name: globals, kind: function.lua, source: file://m.lua, method: globals,
           modules: [process, channel, time]}
        - {name: sql, kind: function.lua, source: file://m.lua, method: sql, modules: [excel, json, treesitter]}
        - {name: store, kind: function.lua, source: file://m.lua, method: store}
    """),
    "m.lua": MODULES_LUA,
}


def test_process_and_channel_may_be_listed_and_required(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ManifestWarning)
        with LocalCloud(write(tmp_path, MODULES_APP)) as cloud:
            assert cloud.call("app:globals") is True


def test_a_wippy_module_the_kit_lacks_loads_with_a_warning_and_fails_at_require(tmp_path):
    registry = load_app(write(tmp_path, MODULES_APP))
    assert registry.warnings == (
        "_index.yaml: entry 'app:sql' field 'modules': excel, treesitter: not available in this kit "
        "yet; require() of them fails at the call",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ManifestWarning)
        with LocalCloud(tmp_path) as cloud:
            listed = cloud.call("app:sql")
            assert "entry app:sql: module 'excel' is not available in this kit yet" in listed
            # Not listed either: the same answer, not "add it to modules:".
            unlisted = cloud.call("app:store")
            assert (
                "entry app:store: module 'treesitter' is not available in this kit yet" in unlisted
            )


def test_a_name_that_is_no_wippy_module_is_still_refused(tmp_path):
    problem = one_problem(
        tmp_path,
        {
            "_index.yaml": index(
                "- {name: f, kind: function.lua, source: file://m.lua, modules: [sqll]}"
            ),
            "m.lua": MODULES_LUA,
        },
    )
    assert "entry 'app:f' field 'modules': unknown module 'sqll' (did you mean 'sql'?)" in problem


# -- kinds with no meaning here: skipped, one warning -----------------------------------------

SKIPPING_APP = {
    "_index.yaml": index("""
        - name: terminal
          kind: terminal.host
          hide_logs: false
          lifecycle: {auto_start: true}
        - name: f
          kind: function.lua
          source: file://f.lua
          pool: {type: adaptive, max_size: 512}
        - name: sum
          kind: function.wasm
          source: file://sum.wasm
          transport: payload
        - name: sum.endpoint
          kind: http.endpoint
          method: GET
          path: /sum
          func: sum
        - name: helpers
          kind: library.lua.bc
          source: file://helpers.bc
        - name: uses_helpers
          kind: function.lua
          source: file://f.lua
          imports: {helpers: helpers}
        - name: templates
          kind: template.set
          engine: {development_mode: false}
        - name: policy
          kind: security.policy
          policy: {actions: "*", resources: "*", effect: allow}
        - name: os_env
          kind: env.storage.os
        - name: requirement
          kind: ns.requirement
          targets: [{entry: app:f, path: .meta.router}]
    """),
    "f.lua": "return { handler = function() return 'ok' end }\n",
}


def test_kinds_with_no_meaning_here_are_skipped_in_one_warning(tmp_path, caplog):
    registry = load_app(write(tmp_path, SKIPPING_APP))
    assert sorted(registry.entries) == ["app:f"]
    assert {s.id: s.kind for s in registry.skipped.values()} == {
        "app:terminal": "terminal.host",
        "app:sum": "function.wasm",
        "app:sum.endpoint": "http.endpoint",
        "app:helpers": "library.lua.bc",
        "app:uses_helpers": "function.lua",
        "app:templates": "template.set",
        "app:policy": "security.policy",
        "app:os_env": "env.storage.os",
        "app:requirement": "ns.requirement",
    }
    lines = registry.warnings
    assert lines[0] == (
        "_index.yaml: entry 'app:terminal' (terminal.host): skipped: there is no terminal on AWS "
        "serverless (run CLI code with `units invoke`)"
    )
    assert (
        "_index.yaml: entry 'app:sum.endpoint' (http.endpoint): skipped: needs 'app:sum' "
        "(function.wasm), which is skipped" in lines
    )
    assert (
        "_index.yaml: entry 'app:uses_helpers' (function.lua): skipped: needs 'app:helpers' "
        "(library.lua.bc), which is skipped" in lines
    )
    assert (
        "_index.yaml: entry 'app:f' field 'pool': ignored: a Lambda instance runs one call at a "
        "time and Lambda adds instances" in lines
    )
    assert len(lines) == 10  # nine skipped entries and the pool
    text = registry.warning or ""
    assert text.startswith(f"{registry.root}: loaded; 9 entries skipped")
    assert text.count("\n") == len(lines)
    # Asked for by id, a skipped entry says why it is not there.
    with pytest.raises(UnitError) as caught:
        registry.get("app:terminal")
    assert caught.value.kind == NOT_FOUND
    assert "'app:terminal' is a terminal.host, which this kit skips" in caught.value.message
    assert registry.of_kind("terminal.host") == []
    # Shown once per process: announcing the same warning again stays quiet.
    with caplog.at_level(logging.WARNING, logger="units.manifest"):
        assert manifest.announce(registry) is True
        assert manifest.announce(load_app(tmp_path)) is False
    assert [r.getMessage() for r in caplog.records if r.name == "units.manifest"] == [text]


def test_the_harness_issues_the_warning_once(tmp_path):
    with (
        pytest.warns(ManifestWarning) as caught,
        LocalCloud(write(tmp_path, SKIPPING_APP)) as cloud,
    ):
        assert cloud.call("app:f") == "ok"
        assert cloud.warnings == load_app(tmp_path).warnings
    assert len([w for w in caught if issubclass(w.category, ManifestWarning)]) == 1
    assert "app:terminal" in str(caught[0].message)


def test_an_app_that_is_all_honoured_has_no_warning(tmp_path):
    registry = load_app(
        write(
            tmp_path, {"_index.yaml": index("- {name: h, kind: process.host, host: {workers: 8}}")}
        )
    )
    assert (registry.warnings, registry.warning, registry.skipped) == ((), None, {})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ManifestWarning)  # entering must not warn
        with LocalCloud(tmp_path) as cloud:
            assert cloud.warnings == ()


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("terminal.hots", "did you mean 'terminal.host'?"),
        ("http.routr", "did you mean 'http.router'?"),
        ("temporal.workr", "did you mean 'temporal.worker'?"),
        ("process.services", "did you mean 'process.service'?"),
        ("nonsense", "the kit runs: function.lua"),
    ],
)
def test_an_unknown_kind_still_fails(tmp_path, kind, hint):
    problem = one_problem(tmp_path, {"_index.yaml": index(f"- {{name: x, kind: {kind}}}")})
    assert problem.startswith(f"_index.yaml: entry 'app:x' field 'kind': unknown kind '{kind}'")
    assert hint in problem


def test_a_skipped_entry_still_needs_a_name_and_a_unique_id(tmp_path):
    problems = problems_of(
        tmp_path,
        {
            "_index.yaml": index("""
                - {kind: terminal.host}
                - {name: t, kind: terminal.host}
                - {name: t, kind: exec.native}
            """)
        },
    )
    assert problems == [
        "_index.yaml: entry #1 field 'name': missing",
        "_index.yaml: entry 'app:t': duplicate id (first defined in _index.yaml)",
    ]


def test_units_invoke_shows_the_warning_and_runs(tmp_path, caplog, capsys):
    from runtime.cli import main

    app = write(tmp_path, SKIPPING_APP)
    with caplog.at_level(logging.WARNING, logger="units.manifest"):
        code = main(["invoke", "app:f", "--app", str(app)])
    assert (code, capsys.readouterr().out.strip()) == (0, '"ok"')
    shown = [r.getMessage() for r in caplog.records if r.name == "units.manifest"]
    assert len(shown) == 1 and "entry 'app:terminal' (terminal.host): skipped" in shown[0]


def test_units_dev_shows_the_warning_once_and_again_when_it_changes(tmp_path):
    import io

    from runtime.dev import DevStack
    from runtime.dev.logs import LogHub
    from tests.devapp import edit, wait_for

    app = write(tmp_path, SKIPPING_APP)
    terminal = io.StringIO()
    with DevStack(app, port=0, hub=LogHub(terminal), watch_interval=0.05):
        assert terminal.getvalue().count("(terminal.host): skipped") == 1
        # A reload with the same warning does not repeat it.
        edit(app / "f.lua", "return { handler = function() return 'changed' end }\n")
        wait_for(lambda: terminal.getvalue().count("reloaded") == 1, "the first reload")
        assert terminal.getvalue().count("(terminal.host): skipped") == 1
        # One that changes it shows the new one.
        index_file = app / "_index.yaml"
        edit(index_file, index_file.read_text() + "  - {name: exec, kind: exec.native}\n")
        wait_for(lambda: terminal.getvalue().count("reloaded") == 2, "the second reload")
        assert terminal.getvalue().count("(terminal.host): skipped") == 2
        assert "entry 'app:exec' (exec.native): skipped" in terminal.getvalue()


def test_the_same_note_on_several_entries_is_one_line(tmp_path):
    registry = load_app(
        write(
            tmp_path,
            {
                "_index.yaml": index("""
                    - {name: a, kind: function.lua, source: file://f.lua, pool: {type: inline}}
                    - {name: b, kind: function.lua, source: file://f.lua, pool: {max_size: 8}}
                    - name: c
                      kind: function.lua
                      source: file://f.lua
                      security: [{action: eval.run, resource: ""}]
                    - {name: gw, kind: http.service, addr: ":80"}
                    - {name: r, kind: http.router, meta: {server: gw}}
                    - name: e
                      kind: http.endpoint
                      meta: {router: r}
                      method: GET
                      path: /e
                      func: a
                      post_middleware: [endpoint_firewall]
                """),
                "f.lua": "return { handler = function() return 1 end }\n",
            },
        )
    )
    assert registry.warnings[0] == (
        "2 entries (app:a, app:b) field 'pool': ignored: a Lambda instance runs one call at a "
        "time and Lambda adds instances"
    )
    assert (
        "_index.yaml: entry 'app:c' field 'security': ignored: the security module is not "
        "provided by this kit" in registry.warnings
    )
    assert (
        "_index.yaml: entry 'app:e' field 'post_middleware': ignored: middleware is applied by a "
        "router, not an endpoint" in registry.warnings
    )


def test_imports_take_any_lua_entry_as_wippy_does(tmp_path):
    app = write(
        tmp_path,
        {
            "_index.yaml": index("""
                - {name: helper, kind: function.lua, source: file://helper.lua, method: double}
                - {name: user, kind: function.lua, source: file://user.lua, imports: {h: helper}}
            """),
            "helper.lua": "local M = {}\nfunction M.double(x) return 2 * x end\nreturn M\n",
            "user.lua": "local h = require('h')\n"
            "return { handler = function(x) return h.double(x) + 1 end }\n",
        },
    )
    with LocalCloud(app) as cloud:
        assert cloud.call("app:user", 20) == 41
