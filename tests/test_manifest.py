"""The manifest loader: a whole application folder, checked as one, all problems at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runtime import manifest
from runtime.errors import INVALID, NOT_FOUND, ManifestError, UnitError
from runtime.manifest import (
    Deploy,
    EndpointEntry,
    FunctionEntry,
    Intensity,
    Jwt,
    LibraryEntry,
    Lifecycle,
    ProcessEntry,
    ProcessHostEntry,
    RestartPolicy,
    RetryPolicy,
    ServiceEntry,
    WorkflowEntry,
    WorkflowHostEntry,
    load_app,
    resolve_ref,
)
from runtime.modules import MODULE_NAMES

LUA = "return { handler = function() return 1 end }\n"


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> dedented text, or bytes as is) under ``root``; return ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def index(entries: str, namespace: str = "app") -> str:
    """An ``_index.yaml`` with the given (dedented) entries block."""
    body = textwrap.indent(textwrap.dedent(entries).strip(), "  ")
    return f'version: "1.0"\nnamespace: {namespace}\nentries:\n{body}\n'


def problems_of(root: Path, files: dict[str, str]) -> list[str]:
    """Load an app that must fail; return its problems."""
    with pytest.raises(ManifestError) as exc:
        load_app(write(root, files))
    return exc.value.problems


def one_problem(root: Path, files: dict[str, str]) -> str:
    problems = problems_of(root, files)
    assert len(problems) == 1, problems
    return problems[0]


FULL_APP = {
    "_index.yaml": index("""
        - name: text
          kind: library.lua
          source: file://lib/text.lua
          modules: [json]
        - name: greet
          kind: function.lua
          source: file://greet.lua
          modules: [funcs, time]
          imports: {text: text}
          env: {GREETING: hello}
          meta: {owner: team-a}
          deploy: {memory: 1024, timeout: 2m, remote: true}
          retry:
            initial_interval: 250ms
            backoff_coefficient: 1.5
            maximum_attempts: 4
            non_retryable: [@INVALID@, @NOT_FOUND@]
          timeout: 1500
        - name: plain
          kind: function.lua
          source: file://greet.lua
        - name: hello.get
          kind: http.endpoint
          method: get
          path: /hello/{name}/files/{rest...}
          func: greet
        - name: hello.post
          kind: http.endpoint
          method: POST
          path: /hello
          func: app:greet
          auth: jwt
          jwt: {issuer: "https://issuer.example.com/", audience: api}
    """),
    "greet.lua": LUA,
    "lib/text.lua": "return {}\n",
    "workers/_index.yaml": index(
        """
        - name: counter
          kind: process.lua
          source: file://counter.lua
          imports: {text: app:text}
        - name: host
          kind: process.host
          batch_size: 5
          max_concurrency: 20
          visibility_timeout: 5m
          lambda_timeout: 60s
        - name: counter.svc
          kind: process.service
          process: counter
          host: host
          args: [1, {a: b}]
          registry_name: counter
          lifecycle:
            auto_start: false
            restart: {type: transient, max_attempts: 3, initial_delay: 2s, max_delay: 1m}
        - name: root
          kind: process.service
          children: [counter.svc]
          strategy: one_for_all
          intensity: {max_restarts: 10, period: 1m}
        """,
        namespace="app.workers",
    ),
    "workers/counter.lua": "return {}\n",
    "flows/_index.yaml": index(
        """
        - name: order
          kind: workflow.lua
          source: file://order.lua
          modules: [workflow, funcs]
          retry: {maximum_interval: 10s}
        - name: wfhost
          kind: workflow.host
          step_timeout: 2m
        """,
        namespace="app.flows",
    ),
    "flows/order.lua": "return {}\n",
}
# The error kinds as the runtime spells them, whichever spelling that is.
FULL_APP["_index.yaml"] = (
    FULL_APP["_index.yaml"].replace("@INVALID@", INVALID).replace("@NOT_FOUND@", NOT_FOUND)
)


def test_full_app_with_every_kind(tmp_path):
    reg = load_app(write(tmp_path, FULL_APP))
    assert reg.root == tmp_path.resolve()
    assert list(reg.entries) == [
        "app:text", "app:greet", "app:plain", "app:hello.get", "app:hello.post",
        "app.flows:order", "app.flows:wfhost",
        "app.workers:counter", "app.workers:host", "app.workers:counter.svc", "app.workers:root",
    ]  # fmt: skip

    greet = reg.get("app:greet")
    assert isinstance(greet, FunctionEntry)
    assert (greet.id, greet.namespace, greet.name, greet.kind) == (
        "app:greet", "app", "greet", "function.lua",
    )  # fmt: skip
    assert greet.file == "_index.yaml"
    assert greet.source == "file://greet.lua"
    assert greet.source_path == (tmp_path / "greet.lua").resolve()
    assert greet.source_name == "greet.lua"
    assert greet.code == LUA
    assert greet.method == "handler"
    assert greet.modules == ("funcs", "time")
    assert greet.imports == {"text": "app:text"}
    assert greet.env == {"GREETING": "hello"}
    assert greet.meta == {"owner": "team-a"}
    assert greet.deploy == Deploy(memory=1024, timeout=120.0, remote=True)
    assert greet.retry == RetryPolicy(
        initial_interval=0.25,
        backoff_coefficient=1.5,
        maximum_interval=25.0,
        maximum_attempts=4,
        non_retryable=(INVALID, NOT_FOUND),
    )
    assert greet.timeout == 1.5

    plain = reg.get("app:plain")
    assert isinstance(plain, FunctionEntry)
    assert (plain.modules, plain.imports, plain.env, plain.meta) == ((), {}, {}, {})
    assert (plain.deploy, plain.retry, plain.timeout) == (Deploy(), None, None)
    assert Deploy() == Deploy(memory=512, timeout=30.0, remote=False)

    lib = reg.get("app:text")
    assert isinstance(lib, LibraryEntry)
    assert lib.source_name == "lib/text.lua" and lib.modules == ("json",)

    get = reg.get("app:hello.get")
    assert isinstance(get, EndpointEntry)
    assert (get.method, get.func, get.auth, get.jwt) == ("GET", "app:greet", "iam", None)
    assert (get.params, get.greedy) == (("name", "rest"), "rest")
    post = reg.get("app:hello.post")
    assert isinstance(post, EndpointEntry)
    assert (post.params, post.greedy, post.auth) == ((), None, "jwt")
    assert post.jwt == Jwt(issuer="https://issuer.example.com/", audience=("api",))

    counter = reg.get("app.workers:counter")
    assert isinstance(counter, ProcessEntry)
    assert counter.method is None
    assert counter.imports == {"text": "app:text"}
    assert counter.file == "workers/_index.yaml"
    assert counter.source_name == "workers/counter.lua"

    host = reg.get("app.workers:host")
    assert isinstance(host, ProcessHostEntry)
    assert (host.batch_size, host.max_concurrency, host.max_receive_count) == (5, 20, 5)
    assert (host.visibility_timeout, host.lambda_timeout) == (300.0, 60.0)

    svc = reg.get("app.workers:counter.svc")
    assert isinstance(svc, ServiceEntry)
    assert (svc.process, svc.host) == ("app.workers:counter", "app.workers:host")
    assert svc.args == (1, {"a": "b"})
    assert svc.registry_name == "counter"
    assert svc.lifecycle == Lifecycle(
        auto_start=False,
        restart=RestartPolicy(type="transient", max_attempts=3, initial_delay=2.0, max_delay=60.0),
    )
    assert (svc.children, svc.strategy, svc.intensity) == ((), "one_for_one", Intensity())
    root = reg.get("app.workers:root")
    assert isinstance(root, ServiceEntry)
    assert (root.process, root.host) == (None, None)
    assert root.children == ("app.workers:counter.svc",)
    assert root.strategy == "one_for_all"
    assert root.intensity == Intensity(max_restarts=10, period=60.0)

    order = reg.get("app.flows:order")
    assert isinstance(order, WorkflowEntry)
    assert order.method == "main"
    assert order.retry == RetryPolicy(maximum_interval=10.0)
    wfhost = reg.get("app.flows:wfhost")
    assert isinstance(wfhost, WorkflowHostEntry)
    assert (wfhost.activity_batch_size, wfhost.activity_max_receive_count) == (10, 5)
    assert (wfhost.step_timeout, wfhost.max_concurrency) == (120.0, None)


def test_defaults_of_hosts_services_and_policies(tmp_path):
    reg = load_app(
        write(
            tmp_path,
            {
                "_index.yaml": index("""
                    - {name: p, kind: process.lua, source: file://p.lua}
                    - {name: h, kind: process.host}
                    - {name: s, kind: process.service, process: p, host: h}
                    - {name: w, kind: workflow.lua, source: file://p.lua}
                """),
                "p.lua": "return {}\n",
            },
        )
    )
    host = reg.get("app:h")
    assert isinstance(host, ProcessHostEntry)
    assert (host.batch_size, host.max_concurrency, host.max_receive_count) == (10, None, 5)
    assert (host.visibility_timeout, host.lambda_timeout) == (60.0, 30.0)
    svc = reg.get("app:s")
    assert isinstance(svc, ServiceEntry)
    assert (svc.args, svc.registry_name, svc.children) == ((), None, ())
    # Wippy's default: a service is not started unless it says auto_start: true.
    assert svc.lifecycle == Lifecycle(auto_start=False, restart=RestartPolicy())
    assert RestartPolicy() == RestartPolicy(
        type="permanent", max_attempts=0, initial_delay=1.0, max_delay=90.0, backoff_factor=2.0
    )
    assert svc.intensity == Intensity(max_restarts=3, period=5.0)
    wf = reg.get("app:w")
    assert isinstance(wf, WorkflowEntry)
    assert wf.retry == RetryPolicy(
        initial_interval=1.0,
        backoff_coefficient=2.0,
        maximum_interval=100.0,
        maximum_attempts=0,
        non_retryable=(),
    )


def test_registry_api(tmp_path):
    reg = load_app(write(tmp_path, FULL_APP))
    assert len(reg) == 11
    assert "app:greet" in reg and "app:nope" not in reg
    assert [e.id for e in reg][:2] == ["app:text", "app:greet"]
    assert reg.find("app:nope") is None
    assert reg.find("app:greet") is reg.get("app:greet")
    assert [e.id for e in reg.of_kind("function.lua")] == ["app:greet", "app:plain"]
    assert [e.id for e in reg.of_kind(FunctionEntry)] == ["app:greet", "app:plain"]
    assert len(reg.of_kind(manifest.CodeEntry)) == 5
    assert reg.of_kind(EndpointEntry)[0].path == "/hello/{name}/files/{rest...}"
    with pytest.raises(ValueError, match=r"unknown kind 'function\.lau'"):
        reg.of_kind("function.lau")
    with pytest.raises(UnitError) as exc:
        reg.get("app:gret")
    assert exc.value.kind == NOT_FOUND
    assert exc.value.message == "no entry 'app:gret' (did you mean 'app:greet'?)"
    with pytest.raises(UnitError, match=r"no entry 'zzz'$"):
        reg.get("zzz")


def test_resolve_ref():
    assert resolve_ref("greet", "app.x") == "app.x:greet"
    assert resolve_ref("other.ns:greet", "app") == "other.ns:greet"
    for bad in ("", ":x", "app:", "a b", "1ns:x"):
        with pytest.raises(ValueError, match="invalid reference"):
            resolve_ref(bad, "app")


F = "- {name: f, kind: function.lua, source: file://f.lua}\n"


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            "- {name: x, kind: function.lau, source: file://f.lua}",
            "_index.yaml: entry 'app:x' field 'kind': unknown kind 'function.lau' (did you mean "
            "'function.lua'?) (the kit runs: function.lua, library.lua, process.lua, "
            "workflow.lua, process.host, workflow.host, temporal.worker, temporal.client, "
            "process.service, http.service, http.router, http.endpoint, store.memory, "
            "store.kv.raft, store.kv.crdt, config.aws, cloudstorage.s3, fs.directory, "
            "db.sql.sqlite, db.sql.postgres, db.sql.mysql, queue.driver.memory, "
            "queue.driver.sqs, queue.queue, queue.consumer; the other kinds of Wippy are "
            "skipped with a warning)",
            id="unknown-kind",
        ),
        pytest.param(
            "- {name: x, kind: function.lua}",
            "_index.yaml: entry 'app:x' field 'source': missing (required for function.lua)",
            id="missing-source",
        ),
        pytest.param(
            "- {name: v, kind: fs.directory}",
            "_index.yaml: entry 'app:v' field 'directory': missing (required for fs.directory)",
            id="fs-directory-missing",
        ),
        pytest.param(
            "- {name: v, kind: fs.directory, directory: /d, mode: 0755}",
            "_index.yaml: entry 'app:v' field 'mode': invalid value 493 (write the mode as a "
            'quoted octal string, e.g. "0755")',
            id="fs-mode-unquoted",
        ),
        pytest.param(
            "- {name: v, kind: fs.directory, directory: /d, mode: '0999'}",
            "_index.yaml: entry 'app:v' field 'mode': invalid value '0999' (expected octal "
            'permission bits, e.g. "0755")',
            id="fs-mode-not-octal",
        ),
        pytest.param(
            "- {name: v, kind: fs.directory, directory: /d, base: home}",
            "_index.yaml: entry 'app:v' field 'base': invalid value 'home' (expected one of: "
            "project, module)",
            id="fs-base",
        ),
        pytest.param(
            F + "- {kind: function.lua, source: file://f.lua}",
            "_index.yaml: entry #2 field 'name': missing",
            id="missing-name",
        ),
        pytest.param(
            "- {name: x, source: file://f.lua}",
            "_index.yaml: entry 'app:x' field 'kind': missing (expected one of: function.lua",
            id="missing-kind",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: /x}",
            "_index.yaml: entry 'app:e' field 'func': missing (required for http.endpoint)",
            id="missing-func",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, sourse: file://f.lua}",
            "_index.yaml: entry 'app:x' field 'sourse': unknown field for function.lua "
            "(did you mean 'source'?)",
            id="unknown-field",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, deploy: {memroy: 256}}",
            "entry 'app:x' field 'deploy.memroy': unknown field for 'deploy' "
            "(did you mean 'memory'?)",
            id="unknown-nested-field",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, deploy: {memory: 512MB}}",
            "entry 'app:x' field 'deploy.memory': expected an integer, got a string '512MB'",
            id="wrong-type",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, deploy: {memory: 64}}",
            "field 'deploy.memory': must be between 128 and 10240, got 64",
            id="out-of-range",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, modules: json}",
            "entry 'app:x' field 'modules': expected a list, got a string 'json'",
            id="modules-not-a-list",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, timeout: soon}",
            "entry 'app:x' field 'timeout': invalid duration 'soon'",
            id="bad-duration",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, deploy: {timeout: 20m}}",
            "field 'deploy.timeout': must be between 1s and 900s, got 1200s",
            id="duration-out-of-range",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://nope.lua}",
            "_index.yaml: entry 'app:x' field 'source': file 'nope.lua' not found",
            id="source-missing",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: f.lua}",
            "field 'source': invalid source 'f.lua' (expected 'file://",
            id="source-without-scheme",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, modules: [json, jsn]}",
            "entry 'app:x' field 'modules': unknown module 'jsn' (did you mean 'json'?) (this "
            f"kit provides: {', '.join(sorted(MODULE_NAMES))})",
            id="unknown-module",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, modules: [json, json]}",
            "field 'modules': 'json' is listed twice",
            id="duplicate-module",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, method: end}",
            "field 'method': 'end' is a Lua keyword",
            id="method-keyword",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, env: {api_url: x}}",
            "field 'env': invalid key 'api_url' (expected an upper-case name",
            id="env-key",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, env: {PORT: 8080}}",
            "field 'env.PORT': expected a string, got an integer 8080",
            id="env-value",
        ),
        pytest.param(
            "- {name: x, kind: function.lua, source: file://f.lua, imports: {l: nope}}",
            "_index.yaml: entry 'app:x' field 'imports.l': 'app:nope' is not defined",
            id="dangling-import",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: /x, func: nope}",
            "_index.yaml: entry 'app:e' field 'func': 'app:nope' is not defined",
            id="dangling-func",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: /x, func: g}",
            "entry 'app:e' field 'func': 'app:g' is not defined (did you mean 'app:f'?)",
            id="dangling-func-suggestion",
        ),
        pytest.param(
            "- {name: lib, kind: library.lua, source: file://f.lua}\n"
            "- {name: e, kind: http.endpoint, method: GET, path: /x, func: lib}",
            "_index.yaml: entry 'app:e' field 'func': 'app:lib' is a library.lua, "
            "expected function.lua",
            id="wrong-kind-ref",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: FETCH, path: /x, func: f}",
            "field 'method': invalid value 'FETCH' (expected one of: GET, POST, PUT, PATCH,",
            id="bad-http-method",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: x/y, func: f}",
            "field 'path': path 'x/y' must start with '/'",
            id="path-no-slash",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: '/a/{rest...}/b', func: f}",
            "field 'path': '{rest...}' must be the last segment of path '/a/{rest...}/b'",
            id="path-greedy-not-last",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: '/a/{id}/{id}', func: f}",
            "field 'path': parameter 'id' appears twice in path '/a/{id}/{id}'",
            id="path-duplicate-param",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: '/a/{id}.json', func: f}",
            "field 'path': invalid segment '{id}.json' in path '/a/{id}.json'",
            id="path-partial-param",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: '/a//b', func: f}",
            "field 'path': invalid segment '' in path '/a//b'",
            id="path-empty-segment",
        ),
        pytest.param(
            F + "- {name: a, kind: http.endpoint, method: GET, path: '/u/{id}', func: f}\n"
            "- {name: b, kind: http.endpoint, method: get, path: '/u/{uid}', func: f}",
            "_index.yaml: entry 'app:b' field 'path': route GET /u/{uid} is the same as "
            "'app:a' (GET /u/{id})",
            id="duplicate-route",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: /x, func: f, auth: jwt,"
            " jwt: {audience: [api]}}",
            "_index.yaml: entry 'app:e' field 'jwt.issuer': missing (required for 'jwt')",
            id="jwt-without-issuer",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: /x, func: f, auth: jwt}",
            "entry 'app:e' field 'jwt': missing (required when auth is jwt)",
            id="jwt-block-missing",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: /x, func: f,"
            " jwt: {issuer: 'https://i.example', audience: a}}",
            "entry 'app:e' field 'jwt': only allowed with auth: jwt (auth is iam)",
            id="jwt-without-auth-jwt",
        ),
        pytest.param(
            F + "- {name: e, kind: http.endpoint, method: GET, path: /x, func: f, auth: jwt,"
            " jwt: {issuer: 'http://i.example', audience: a}}",
            "field 'jwt.issuer': invalid issuer 'http://i.example' (expected an https:// URL)",
            id="jwt-issuer-not-https",
        ),
        pytest.param(
            "- {name: h, kind: process.host, visibility_timeout: 10s, lambda_timeout: 30s}",
            "entry 'app:h' field 'visibility_timeout': visibility_timeout (10s) must be at "
            "least lambda_timeout (30s)",
            id="visibility-below-lambda-timeout",
        ),
        pytest.param(
            "- {name: h, kind: process.host, batch_size: 11}",
            "field 'batch_size': must be between 1 and 10, got 11",
            id="batch-size",
        ),
        pytest.param(
            "- {name: h, kind: process.host}\n- {name: s, kind: process.service, host: h}",
            "entry 'app:s' field 'process': missing (required unless children are given)",
            id="service-without-process",
        ),
        pytest.param(
            "- {name: p, kind: process.lua, source: file://f.lua}\n"
            "- {name: s, kind: process.service, process: p}",
            "entry 'app:s' field 'host': missing (required with process)",
            id="service-without-host",
        ),
        pytest.param(
            "- {name: p, kind: process.lua, source: file://f.lua}\n"
            "- {name: h, kind: process.host}\n"
            "- {name: s, kind: process.service, process: p, host: h, strategy: one_for_all}",
            "entry 'app:s' field 'strategy': only meaningful with children",
            id="strategy-without-children",
        ),
        pytest.param(
            "- {name: p, kind: process.lua, source: file://f.lua}\n"
            "- {name: s, kind: process.service, process: p, host: p}",
            "entry 'app:s' field 'host': 'app:p' is a process.lua, expected process.host",
            id="service-host-wrong-kind",
        ),
        pytest.param(
            "- {name: p, kind: process.lua, source: file://f.lua}\n"
            "- {name: h, kind: process.host}\n"
            "- {name: s, kind: process.service, process: p, host: h,"
            " lifecycle: {restart: {type: sometimes}}}",
            "field 'lifecycle.restart.type': invalid value 'sometimes' (expected one of: "
            "permanent, transient, temporary)",
            id="restart-type",
        ),
        pytest.param(
            "- {name: w, kind: workflow.lua, source: file://f.lua, retry: {non_retryable: [OOPS]}}",
            "field 'retry.non_retryable': unknown error kind 'OOPS' (expected one of: ",
            id="retry-non-retryable",
        ),
        pytest.param(
            "- {name: w, kind: workflow.lua, source: file://f.lua,"
            " retry: {initial_interval: 10s, maximum_interval: 1s}}",
            "field 'retry.maximum_interval': maximum_interval (1s) must be at least "
            "initial_interval (10s)",
            id="retry-max-below-initial",
        ),
        pytest.param(
            "- {name: x, kind: library.lua, source: file://f.lua, method: handler}",
            "entry 'app:x' field 'method': unknown field for library.lua",
            id="library-has-no-method",
        ),
        pytest.param(
            "- {name: 'a b', kind: library.lua, source: file://f.lua}",
            "_index.yaml: entry #1 field 'name': invalid name 'a b'",
            id="bad-name",
        ),
        pytest.param(
            "- {name: x, kind: library.lua, source: file://f.lua, meta: [1]}",
            "entry 'app:x' field 'meta': expected a mapping",
            id="meta-not-a-mapping",
        ),
        pytest.param(
            "- just a string",
            "_index.yaml: entry #1: expected a mapping with name and kind",
            id="entry-not-a-mapping",
        ),
    ],
)
def test_bad_entry(tmp_path, entries, expected):
    problem = one_problem(tmp_path, {"_index.yaml": index(entries), "f.lua": LUA})
    assert expected in problem


def test_duplicate_id_across_two_files(tmp_path):
    problem = one_problem(
        tmp_path,
        {
            "_index.yaml": index("- {name: hello, kind: library.lua, source: file://f.lua}"),
            "f.lua": LUA,
            "other/_index.yaml": index("- {name: hello, kind: library.lua, source: file://g.lua}"),
            "other/g.lua": LUA,
        },
    )
    assert (
        problem
        == "other/_index.yaml: entry 'app:hello': duplicate id (first defined in _index.yaml)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'version: "1.0"\nnamespace: app\nentries:\n  - name: x\n   kind: library.lua\n',
            "_index.yaml: YAML syntax error at line 5, column 4:",
            id="syntax",
        ),
        pytest.param(
            'version: "1.0"\nnamespace: app\nentries:\n  - name: x\n    name: y\n',
            "_index.yaml: YAML error at line 5, column 5: duplicate key 'name'",
            id="duplicate-key",
        ),
        pytest.param(
            'version: "2.0"\nnamespace: app\nentries: []\n',
            "_index.yaml field 'version': unsupported version '2.0' (expected \"1.0\", quoted)",
            id="bad-version",
        ),
        pytest.param(
            "version: 1.0\nnamespace: app\nentries: []\n",
            "_index.yaml field 'version': unsupported version 1.0",
            id="unquoted-version",
        ),
        pytest.param(
            "namespace: app\nentries: []\n",
            "_index.yaml field 'version': missing",
            id="missing-version",
        ),
        pytest.param(
            'version: "1.0"\nentries: []\n',
            "_index.yaml field 'namespace': missing (expected dotted identifiers",
            id="missing-namespace",
        ),
        pytest.param(
            'version: "1.0"\nnamespace: app..x\nentries: []\n',
            "_index.yaml field 'namespace': invalid namespace 'app..x'",
            id="bad-namespace",
        ),
        pytest.param(
            'version: "1.0"\nnamespace: app\nentires: []\n',
            "_index.yaml field 'entires': unknown top-level key (did you mean 'entries'?)",
            id="unknown-top-level-key",
        ),
        pytest.param(
            'version: "1.0"\nnamespace: app\nentries: {a: 1}\n',
            "_index.yaml field 'entries': expected a list of entries",
            id="entries-not-a-list",
        ),
        pytest.param("- 1\n", "_index.yaml: expected a mapping", id="not-a-mapping"),
    ],
)
def test_bad_file(tmp_path, text, expected):
    problem = one_problem(tmp_path, {"_index.yaml": text})
    assert problem.startswith(expected), problem


def test_source_outside_the_app_folder_is_refused(tmp_path):
    (tmp_path / "secret.lua").write_text(LUA)
    app = tmp_path / "app"
    problem = one_problem(
        app, {"_index.yaml": index("- {name: x, kind: library.lua, source: file://../secret.lua}")}
    )
    assert problem == (
        "_index.yaml: entry 'app:x' field 'source': file '../secret.lua' is outside the "
        "application folder"
    )


def test_source_paths_are_relative_to_the_yaml_folder(tmp_path):
    reg = load_app(
        write(
            tmp_path,
            {
                "_index.yaml": index("- {name: a, kind: library.lua, source: file://sub/a.lua}"),
                "sub/a.lua": LUA,
                "sub/_index.yaml": index(
                    "- {name: b, kind: library.lua, source: file://../sub/a.lua}", "app.sub"
                ),
            },
        )
    )
    assert reg.get("app:a").source_name == reg.get("app.sub:b").source_name == "sub/a.lua"


def test_source_must_be_utf8(tmp_path):
    problem = one_problem(
        tmp_path,
        {
            "_index.yaml": index("- {name: x, kind: library.lua, source: file://x.lua}"),
            "x.lua": b"return '\xff'\n",
        },
    )
    assert (
        problem
        == "_index.yaml: entry 'app:x' field 'source': file 'x.lua' is not valid UTF-8 (byte 8)"
    )


def test_cycle_in_service_children(tmp_path):
    problems = problems_of(
        tmp_path,
        {
            "_index.yaml": index("""
                - {name: a, kind: process.service, children: [b]}
                - {name: b, kind: process.service, children: [c]}
                - {name: c, kind: process.service, children: [a]}
            """)
        },
    )
    assert problems == [
        "_index.yaml: entry 'app:a' field 'children': cycle: app:a -> app:b -> app:c -> app:a"
    ]


def test_child_with_two_parents(tmp_path):
    problem = one_problem(
        tmp_path,
        {
            "_index.yaml": index("""
                - {name: p, kind: process.lua, source: file://f.lua}
                - {name: h, kind: process.host}
                - {name: c, kind: process.service, process: p, host: h}
                - {name: t1, kind: process.service, children: [c]}
                - {name: t2, kind: process.service, children: [app:c]}
            """),
            "f.lua": LUA,
        },
    )
    assert (
        problem
        == "_index.yaml: entry 'app:t2' field 'children': 'app:c' already has a parent ('app:t1')"
    )


def test_circular_imports_between_libraries(tmp_path):
    problem = one_problem(
        tmp_path,
        {
            "_index.yaml": index("""
                - {name: a, kind: library.lua, source: file://f.lua, imports: {b: b}}
                - {name: b, kind: library.lua, source: file://f.lua, imports: {a: a}}
            """),
            "f.lua": LUA,
        },
    )
    assert (
        problem
        == "_index.yaml: entry 'app:a' field 'imports': circular import: app:a -> app:b -> app:a"
    )


def test_multiple_problems_across_files_are_reported_together(tmp_path):
    problems = problems_of(
        tmp_path,
        {
            "_index.yaml": index("""
                - {name: ok, kind: function.lua, source: file://f.lua}
                - {name: x, kind: function.lau, source: file://f.lua}
                - {name: y, kind: function.lua, source: file://f.lua, modules: [jsn], timeout: soon}
            """),
            "f.lua": LUA,
            "workers/_index.yaml": index(
                "- {name: c, kind: function.lua, source: file://nope.lua}", "app.workers"
            ),
        },
    )
    assert len(problems) == 4, problems
    assert "entry 'app:x' field 'kind': unknown kind 'function.lau'" in problems[0]
    assert "entry 'app:y' field 'modules': unknown module 'jsn'" in problems[1]
    assert "entry 'app:y' field 'timeout': invalid duration 'soon'" in problems[2]
    assert problems[3] == (
        "workers/_index.yaml: entry 'app.workers:c' field 'source': file 'nope.lua' not found"
    )
    # The exception's message carries them all too.
    with pytest.raises(ManifestError, match="4 problems"):
        load_app(tmp_path)


def test_references_to_a_broken_entry_are_not_reported_twice(tmp_path):
    problem = one_problem(
        tmp_path,
        {
            "_index.yaml": index("""
                - {name: f, kind: function.lau, source: file://f.lua}
                - {name: e, kind: http.endpoint, method: GET, path: /x, func: f}
            """),
            "f.lua": LUA,
        },
    )
    assert "unknown kind 'function.lau'" in problem


def test_load_is_all_or_nothing(tmp_path):
    app = write(
        tmp_path,
        {
            "_index.yaml": index("- {name: good, kind: function.lua, source: file://f.lua}"),
            "f.lua": LUA,
            "bad/_index.yaml": index("- {name: bad, kind: function.lua, source: file://x.lua}"),
        },
    )
    result = None
    with pytest.raises(ManifestError) as exc:
        result = load_app(app)
    assert result is None
    assert exc.value.problems == [
        "bad/_index.yaml: entry 'app:bad' field 'source': file 'x.lua' not found"
    ]
    (app / "bad" / "x.lua").write_text(LUA)
    assert [e.id for e in load_app(app)] == ["app:good", "app:bad"]


def test_missing_folder_and_folder_without_index(tmp_path):
    with pytest.raises(ManifestError) as exc:
        load_app(tmp_path / "nope")
    assert exc.value.problems == [f"{tmp_path / 'nope'}: application folder not found"]
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    write(tmp_path / "empty" / ".hidden", {"_index.yaml": index("[]")})
    with pytest.raises(ManifestError) as exc:
        load_app(tmp_path / "empty")
    assert exc.value.problems == [
        f"{tmp_path / 'empty'}: no _index.yaml found in the application folder"
    ]


def test_example_app_loads():
    reg = load_app(Path(__file__).resolve().parent.parent / "examples" / "hello")
    greet = reg.get("app:greet")
    assert isinstance(greet, FunctionEntry) and greet.imports == {"text": "app:text"}
    assert [e.params for e in reg.of_kind(EndpointEntry)] == [("name",), ()]
