"""From a loaded application to what the stack deploys: Lambda sizes, remote functions, routes.

Pure Python, no CDK: every check runs here, before any construct exists and before the (slow)
bundling starts, and every problem is reported together in one :class:`SynthError`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.errors import SynthError
from runtime.errors import ManifestError
from runtime.manifest import (
    Deploy,
    EndpointEntry,
    Entry,
    FunctionEntry,
    Jwt,
    Registry,
    load_app,
)

#: API Gateway HTTP APIs end an integration after 30 s whatever the Lambda timeout.
API_INTEGRATION_TIMEOUT = 30
LAMBDA_NAME_MAX = 64
#: Entry kinds whose hosts this stack does not provision yet, with what they need.
NOT_PROVISIONED = {
    "process.host": "an SQS FIFO queue and a worker Lambda",
    "workflow.host": "a Step Functions driver and step/activity Lambdas",
    "process.service": "a process host and the auto-start custom resource",
}

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}")
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class LambdaSize:
    """Memory (MB) and timeout (whole seconds) of one Lambda."""

    memory: int
    timeout: int


@dataclass(frozen=True, slots=True)
class RemoteFunction:
    """A ``deploy.remote`` function: its entry, its Lambda's physical name and size."""

    entry: FunctionEntry
    function_name: str
    size: LambdaSize


@dataclass(frozen=True, slots=True)
class Route:
    """One API Gateway route: ``method`` and ``path`` in API Gateway's syntax (``{rest+}``)."""

    endpoint: EndpointEntry
    method: str
    path: str
    auth: str
    jwt: Jwt | None

    @property
    def key(self) -> str:
        """The route key API Gateway identifies the route by (``GET /hello/{name}``)."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class DeployPlan:
    """What the stack builds for one application.

    ``hosted`` are the functions the function Lambda (and every other Lambda, in process) runs;
    ``function_size`` fits the largest of them; ``api_size`` is the same capped at the HTTP API
    integration timeout. ``warnings`` are worth showing but do not stop the synth.
    """

    hosted: tuple[FunctionEntry, ...]
    remote: tuple[RemoteFunction, ...]
    function_size: LambdaSize
    api_size: LambdaSize
    routes: tuple[Route, ...]
    warnings: tuple[str, ...] = ()

    @property
    def remote_names(self) -> dict[str, str]:
        """``{entry id: Lambda function name}``, the map the runtime reads to invoke them."""
        return {r.entry.id: r.function_name for r in self.remote}


def load_registry(app_dir: str | Path) -> Registry:
    """Load the application folder; a loader failure becomes a SynthError with its problems."""
    try:
        return load_app(app_dir)
    except ManifestError as exc:
        raise SynthError(f"the application folder {app_dir} failed to load:", exc.problems) from exc


def plan_app(registry: Registry, stack_name: str) -> DeployPlan:
    """Check ``registry`` for what this stack can deploy and decide the Lambdas and routes."""
    problems = [_not_provisioned(e) for e in registry if e.kind in NOT_PROVISIONED]
    functions = registry.of_kind(FunctionEntry)
    hosted = tuple(f for f in functions if not f.deploy.remote)
    remote = tuple(
        RemoteFunction(f, lambda_function_name(stack_name, f.id), _size([f.deploy]))
        for f in functions
        if f.deploy.remote
    )
    problems += _name_clashes(remote)
    routes = tuple(_route(e) for e in registry.of_kind(EndpointEntry))
    problems += _route_clashes(routes)
    if problems:
        raise SynthError(
            f"the application in {registry.root} cannot be deployed by this stack:", problems
        )
    function_size = _size(f.deploy for f in hosted)
    api_size = LambdaSize(function_size.memory, min(function_size.timeout, API_INTEGRATION_TIMEOUT))
    return DeployPlan(
        hosted=hosted,
        remote=remote,
        function_size=function_size,
        api_size=api_size,
        routes=routes,
        warnings=tuple(_slow_routes(registry, routes)),
    )


def lambda_function_name(stack_name: str, entry_id: str) -> str:
    """``<stack>-<namespace>-<name>`` in Lambda's alphabet, shortened with a hash past 64.

    Remote functions get fixed names (not CloudFormation-generated ones) because every Lambda
    carries the name map in its environment: generated names would make two remote functions
    that may call each other depend on each other, a cycle CloudFormation refuses.
    """
    name = _NOT_NAME_CHAR.sub("-", f"{stack_name}-{entry_id}")
    if len(name) <= LAMBDA_NAME_MAX:
        return name
    digest = hashlib.sha256(f"{stack_name}\0{entry_id}".encode()).hexdigest()[:8]
    return f"{name[: LAMBDA_NAME_MAX - 9]}-{digest}"


def api_gateway_path(path: str) -> str:
    """The manifest's ``{rest...}`` greedy parameter is API Gateway's ``{rest+}``."""
    return _PARAM.sub(lambda m: f"{{{m[1]}+}}" if m[2] else m[0], path)


def _size(deploys: Iterable[Deploy]) -> LambdaSize:
    """The smallest Lambda that fits every one of ``deploys`` (the defaults when none)."""
    deploys = list(deploys) or [Deploy()]
    return LambdaSize(
        memory=max(d.memory for d in deploys),
        timeout=math.ceil(max(d.timeout for d in deploys)),
    )


def _route(endpoint: EndpointEntry) -> Route:
    return Route(
        endpoint=endpoint,
        method=endpoint.method,
        path=api_gateway_path(endpoint.path),
        auth=endpoint.auth,
        jwt=endpoint.jwt,
    )


def _where(entry: Entry) -> str:
    return f"{entry.file}: entry '{entry.id}'"


def _not_provisioned(entry: Entry) -> str:
    return (
        f"{_where(entry)}: {entry.kind} entries are not provisioned by this stack yet (they need "
        f"{NOT_PROVISIONED[entry.kind]}); it deploys functions and the HTTP API only"
    )


def _name_clashes(remote: tuple[RemoteFunction, ...]) -> list[str]:
    seen: dict[str, RemoteFunction] = {}
    problems = []
    for r in remote:
        first = seen.setdefault(r.function_name, r)
        if first is not r:
            problems.append(
                f"{_where(r.entry)}: its Lambda name '{r.function_name}' is the same as remote "
                f"function '{first.entry.id}''s (':' and '.' both become '-'); rename one"
            )
    return problems


def _route_clashes(routes: tuple[Route, ...]) -> list[str]:
    # The loader already refuses two endpoints of one method and path shape; this guards the
    # translation to API Gateway's syntax, where parameter names do not tell routes apart.
    seen: dict[str, Route] = {}
    problems = []
    for route in routes:
        shape = re.sub(r"\{[^}]*\}", "{}", route.key)
        first = seen.setdefault(shape, route)
        if first is not route:
            problems.append(
                f"{_where(route.endpoint)}: route {route.key} collides with '{first.endpoint.id}' "
                f"({first.key}) in API Gateway"
            )
    return problems


def _slow_routes(registry: Registry, routes: tuple[Route, ...]) -> Iterable[str]:
    for route in routes:
        func = registry.find(route.endpoint.func)
        if isinstance(func, FunctionEntry) and func.deploy.timeout > API_INTEGRATION_TIMEOUT:
            yield (
                f"{_where(route.endpoint)}: '{func.id}' may run {func.deploy.timeout:g} s, but "
                f"the HTTP API gives up on a request after {API_INTEGRATION_TIMEOUT} s"
            )
