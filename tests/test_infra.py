"""The CDK app: what the stack holds for an application, bundling, cdk-nag, and bad input.

One synthesis for the whole module (a module-scoped fixture, three stacks in one App): the hello
example (arm64, the default), a small app with remote functions and iam/none/jwt routes, and
the hello example bundled for x86_64 and *this* machine's Python, so that the bundle can be
imported and run here to prove its layout (a bundle for Lambda's Python 3.12 on aarch64 cannot
load its lupa extension on this machine). Bad input is checked without synthesizing: the stack
refuses it before any construct or bundle is made.

The Lambda dependencies are installed by pip from PyPI on the first run and then cached (see
``infra/bundling.py``), so later runs need no network.
"""

from __future__ import annotations

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

from infra import environment  # noqa: E402
from infra.bundling import BUNDLE_INFO, RUNTIME_PROVIDED, LambdaBundle, runtime_requirements  # noqa: E402
from infra.errors import SynthError  # noqa: E402
from infra.nag import apply_checks  # noqa: E402
from infra.plan import api_gateway_path, lambda_function_name, load_registry, plan_app  # noqa: E402
from infra.settings import Settings  # noqa: E402
from infra.stack import UnitsStack  # noqa: E402
from tests.conftest import EXAMPLES, ROOT, MakeApp, write_app  # noqa: E402

HELLO = EXAMPLES / "hello"
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


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk.out")
    shop = write_app(tmp_path_factory.mktemp("apps") / "shop", SHOP, {"add.lua": ADD})
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


def lambdas(synth: Synth, name: str) -> dict[str, dict[str, Any]]:
    """Lambda functions of a stack by logical id, their properties."""
    return {k: r["Properties"] for k, r in synth.resources(name, "AWS::Lambda::Function").items()}


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
    assert counts["AWS::CloudWatch::Alarm"] == 2
    assert counts["AWS::Logs::LogGroup"] == 3  # two Lambdas and the API access log
    assert counts["AWS::ApiGatewayV2::Api"] == 1
    assert counts["AWS::ApiGatewayV2::Stage"] == 1
    assert counts["AWS::ApiGatewayV2::Integration"] == 1
    assert counts["AWS::ApiGatewayV2::Route"] == 2
    assert counts["AWS::ApiGatewayV2::Authorizer"] == 0


def test_shop_resource_counts(synth):
    counts = Counter(r["Type"] for r in synth.json["shop"]["Resources"].values())
    assert counts["AWS::Lambda::Function"] == 4  # function, API, and the two remote functions
    assert counts["AWS::CloudWatch::Alarm"] == 4
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


def test_no_wildcard_actions_and_star_resources_only_for_xray(synth):
    for name in synth.stacks:
        for _, statement in statements(synth, name):
            actions = as_list(statement["Action"])
            assert not any("*" in action for action in actions), statement
            if "*" in as_list(statement["Resource"]):
                assert set(actions) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
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
    for name in ("hello", "shop"):
        alarmed = set()
        for alarm in synth.resources(name, "AWS::CloudWatch::Alarm").values():
            props = alarm["Properties"]
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
    assert not list(bundle.rglob("__pycache__"))
    installed = {p.name.split("-")[0].lower() for p in bundle.glob("*.dist-info")}
    assert {"lupa", "pyyaml", "aws_lambda_powertools"} <= installed
    assert not installed & {n.replace("-", "_") for n in RUNTIME_PROVIDED}
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    assert size < 50 * 1024 * 1024, f"bundle is {size / 1e6:.1f} MB unzipped"


def test_the_bundled_handler_imports_and_runs_from_the_bundle_alone(synth):
    """The x86_64 bundle for this machine's Python, imported with nothing but the stdlib and
    the bundle on ``sys.path``, then boto3 after it (the Lambda runtime provides boto3)."""
    bundle = synth.asset_dir("layout")
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "boto3").is_dir())
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(bundle)!r})
        sys.path.append({site!r})
        import handlers.function as fn

        class Context:
            function_name = "units-test"
            memory_limit_in_mb = 512
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:units-test"
            aws_request_id = "req-1"

        reply = fn.handler({{"id": "app:greet", "args": ["ada"]}}, Context())
        modules = ["lupa", "yaml", "aws_lambda_powertools", "runtime", "handlers"]
        files = {{m: sys.modules[m].__file__ for m in modules}}
        print(json.dumps({{"reply": reply, "files": files, "app": str(fn.ENGINE.registry.root)}}))
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


def test_process_and_workflow_hosts_are_not_silently_ignored(make_app: MakeApp):
    app_dir = make_app(
        index(
            FUNC.format(name="f", extra=""),
            "  - {name: workers, kind: process.host}\n",
            "  - {name: flows, kind: workflow.host}\n",
        ),
        {"add.lua": ADD},
    )
    with pytest.raises(SynthError) as caught:
        build(app_dir)
    problems = caught.value.problems
    assert len(problems) == 2
    assert (
        "'app:workers': process.host entries are not provisioned by this stack yet" in problems[0]
    )
    assert "'app:flows': workflow.host" in problems[1]


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
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "UNITS_APP": str(app_dir), "CDK_OUTDIR": str(tmp_path / "out")},
    )
    assert result.returncode == 1
    assert "failed to load" in result.stderr
    assert "YAML syntax error at line" in result.stderr
    assert "Traceback" not in result.stderr
