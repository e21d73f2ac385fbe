"""From a loaded application to what the stack deploys: Lambda sizes, remote functions, routes,
process hosts, workflow hosts and the services started on deploy.

Pure Python, no CDK: every check runs here, before any construct exists and before the (slow)
bundling starts, and every problem is reported together in one :class:`SynthError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from infra.errors import SynthError
from runtime.cors import CorsPolicy
from runtime.errors import ManifestError
from runtime.manifest import (
    Deploy,
    EndpointEntry,
    Entry,
    FunctionEntry,
    Jwt,
    ProcessEntry,
    ProcessHostEntry,
    Registry,
    ServiceEntry,
    WorkflowEntry,
    WorkflowHostEntry,
    load_app,
)

T = TypeVar("T")

#: API Gateway HTTP APIs end an integration after 30 s whatever the Lambda timeout.
API_INTEGRATION_TIMEOUT = 30
LAMBDA_NAME_MAX = 64
#: Step Functions state machine names: 1 to 80 characters (letters, digits, '-' and '_' keep
#: them usable in CloudWatch Logs too).
STATE_MACHINE_NAME_MAX = 80
#: SQS FIFO queues hand a Lambda at most 10 messages per batch.
FIFO_BATCH_MAX = 10
#: A standard queue's event source takes up to 10,000 per batch, but past 10 only with a
#: batching window (which delays every activity); the kit keeps to batches without one.
STANDARD_BATCH_MAX = 10
#: SQS accepts a redrive policy's ``maxReceiveCount`` from 1 to 1000.
MAX_RECEIVE_COUNT = (1, 1000)
#: Lambda's longest timeout, in seconds.
LAMBDA_TIMEOUT_MAX = 900
#: AWS recommends a queue visibility timeout of six times the consuming Lambda's timeout for
#: event source mappings (room for Lambda to retry a throttled batch).
VISIBILITY_PER_TIMEOUT = 6
#: What an SQS event source mapping accepts as ``ScalingConfig.MaximumConcurrency``.
ESM_CONCURRENCY = (2, 1000)
#: Lambda's limit on the total size of a function's environment variables.
ENVIRONMENT_LIMIT_BYTES = 4096
#: Generous upper bound of one queue URL in the environment: ``https://sqs.<region>.amazonaws.com/
#: <account>/`` (about 60 characters) plus a CloudFormation-generated name (at most 80). It
#: bounds a state machine ARN too: ``arn:<partition>:states:<region>:<account>:stateMachine:``
#: (about 60) plus a name of at most 80.
_QUEUE_URL_BOUND = 140
#: What the other variables every Lambda carries take at most (app folder, Powertools,
#: table name, the worker's or workflow Lambda's host id), leaving the rest for the JSON maps.
_OTHER_VARIABLES_BOUND = 700

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
class ProcessHost:
    """A ``process.host``: its entry, its worker Lambda's size, and its queues' visibility
    timeout (whole seconds, at least the worker's timeout)."""

    entry: ProcessHostEntry
    size: LambdaSize
    visibility_timeout: int

    @property
    def id(self) -> str:
        """The host id (``ns:name``): the key of the queue maps and the worker's host."""
        return self.entry.id


@dataclass(frozen=True, slots=True)
class WorkflowHost:
    """A ``workflow.host``: its entry, its driver state machine's fixed name, the sizes of its
    step and activity Lambdas, and its activity queue's visibility timeout (whole
    seconds, six times the activity Lambda's timeout)."""

    entry: WorkflowHostEntry
    machine_name: str
    step_size: LambdaSize
    activity_size: LambdaSize
    activity_visibility_timeout: int

    @property
    def id(self) -> str:
        """The host id (``ns:name``): the key of the machine and activity queue maps."""
        return self.entry.id


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
    integration timeout. ``process_hosts`` get a queue set and a worker Lambda each;
    ``workflow_hosts`` a driver state machine, step/activity Lambdas and an activity
    queue each; both keep their state in the one table (:attr:`needs_table`). ``services``
    are the ``process.service`` entries started on deploy (tree children are started by their
    tree), and ``services_digest`` changes whenever any service entry does. ``cors`` is the
    HTTP API's CORS configuration (the routers' ``cors`` middleware), or None.
    ``warnings`` are worth showing but do not stop the synth.
    """

    hosted: tuple[FunctionEntry, ...]
    remote: tuple[RemoteFunction, ...]
    function_size: LambdaSize
    api_size: LambdaSize
    routes: tuple[Route, ...]
    process_hosts: tuple[ProcessHost, ...] = ()
    workflow_hosts: tuple[WorkflowHost, ...] = ()
    services: tuple[ServiceEntry, ...] = ()
    services_digest: str = ""
    cors: CorsPolicy | None = None
    warnings: tuple[str, ...] = ()

    @property
    def remote_names(self) -> dict[str, str]:
        """``{entry id: Lambda function name}``, the map the runtime reads to invoke them."""
        return {r.entry.id: r.function_name for r in self.remote}

    @property
    def needs_table(self) -> bool:
        """Whether the stack has the DynamoDB table: process snapshots and names, and workflow
        event logs, live in the same one."""
        return bool(self.process_hosts or self.workflow_hosts)


def load_registry(app_dir: str | Path) -> Registry:
    """Load the application folder; a loader failure becomes a SynthError with its problems."""
    try:
        return load_app(app_dir)
    except ManifestError as exc:
        raise SynthError(f"the application folder {app_dir} failed to load:", exc.problems) from exc


def plan_app(registry: Registry, stack_name: str) -> DeployPlan:
    """Check ``registry`` for what this stack can deploy and decide the Lambdas and routes."""
    problems: list[str] = []
    functions = registry.of_kind(FunctionEntry)
    hosted = tuple(f for f in functions if not f.deploy.remote)
    remote = tuple(
        RemoteFunction(f, lambda_function_name(stack_name, f.id), _size([f.deploy]))
        for f in functions
        if f.deploy.remote
    )
    problems += _name_clashes(remote)
    problems += [
        f"{_where(f)}: deploy.reserved_concurrency needs deploy.remote: true (it reserves "
        "concurrency for the function's own Lambda; the others share the function Lambda)"
        for f in hosted
        if f.deploy.reserved_concurrency is not None
    ]
    routes = tuple(_route(e) for e in registry.of_kind(EndpointEntry))
    problems += _route_clashes(routes)
    function_size = _size(f.deploy for f in hosted)
    hosts = registry.of_kind(ProcessHostEntry)
    for host in hosts:
        problems += _host_problems(host)
    problems += _process_problems(registry, hosts)
    flow_hosts = registry.of_kind(WorkflowHostEntry)
    for flow_host in flow_hosts:
        problems += _workflow_host_problems(flow_host)
    problems += _workflow_problems(registry, flow_hosts)
    # An activity may be any function, a remote one too (invoked, and waited for).
    activity_size = LambdaSize(function_size.memory, _size(f.deploy for f in functions).timeout)
    workflow_hosts = tuple(
        _workflow_host(h, stack_name, function_size.memory, activity_size) for h in flow_hosts
    )
    problems += _machine_name_clashes(workflow_hosts)
    problems += _environment_problems(
        hosts, flow_hosts, remote, [q.id for q in registry.of_kind("queue.queue")]
    )
    if problems:
        raise SynthError(
            f"the application in {registry.root} cannot be deployed by this stack:", problems
        )
    api_size = LambdaSize(function_size.memory, min(function_size.timeout, API_INTEGRATION_TIMEOUT))
    services = registry.of_kind(ServiceEntry)
    return DeployPlan(
        hosted=hosted,
        remote=remote,
        function_size=function_size,
        api_size=api_size,
        routes=routes,
        process_hosts=tuple(_process_host(h, function_size) for h in hosts),
        workflow_hosts=workflow_hosts,
        services=tuple(auto_started(services)),
        services_digest=services_digest(services),
        cors=registry.cors,
        warnings=tuple(_slow_routes(registry, routes)),
    )


def auto_started(services: list[ServiceEntry]) -> list[ServiceEntry]:
    """The services the deploy starts: ``auto_start`` ones that run something and that no tree
    starts as its child (the rule of ``runtime.processes.worker.start_services``)."""
    children = {child for s in services for child in s.children}
    return [
        s
        for s in services
        if s.lifecycle.auto_start
        and s.id not in children
        and (s.children or (s.process and s.host))
    ]


def services_digest(services: list[ServiceEntry]) -> str:
    """A digest of every service entry: the deploy-time start runs again when it changes."""
    described = []
    for service in services:
        fields = dataclasses.asdict(service)
        fields.pop("file")  # where the entry is written is no part of what it runs
        described.append(fields)
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def state_machine_name(stack_name: str, host_id: str) -> str:
    """``<stack>-<namespace>-<name>`` of a workflow host's driver, shortened with a hash past 80.

    Fixed (not CloudFormation-generated) because the step Lambda's environment and policy need
    the machine's ARN while the machine's definition needs the step Lambda's: built from the
    name, the ARN depends on nothing, which breaks that cycle.
    """
    name = _NOT_NAME_CHAR.sub("-", f"{stack_name}-{host_id}")
    if len(name) <= STATE_MACHINE_NAME_MAX:
        return name
    digest = hashlib.sha256(f"{stack_name}\0{host_id}".encode()).hexdigest()[:8]
    return f"{name[: STATE_MACHINE_NAME_MAX - 9]}-{digest}"


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


def _process_host(host: ProcessHostEntry, function_size: LambdaSize) -> ProcessHost:
    # The worker runs the hosted functions an actor calls in process, so it gets their memory.
    return ProcessHost(
        entry=host,
        size=LambdaSize(function_size.memory, math.ceil(host.lambda_timeout)),
        visibility_timeout=math.ceil(host.visibility_timeout),
    )


def _workflow_host(
    host: WorkflowHostEntry, stack_name: str, memory: int, activity: LambdaSize
) -> WorkflowHost:
    # The activity Lambda runs hosted functions in process (the function Lambda's memory) and
    # invokes remote ones, waiting for them: its timeout fits the slowest function of either
    # kind. The step Lambda gets the same memory: it runs inline activities, the same
    # functions (and Lambda bills per millisecond, so it costs nothing at rest).
    return WorkflowHost(
        entry=host,
        machine_name=state_machine_name(stack_name, host.id),
        step_size=LambdaSize(memory, math.ceil(host.step_timeout)),
        activity_size=activity,
        activity_visibility_timeout=VISIBILITY_PER_TIMEOUT * activity.timeout,
    )


def _host_problems(host: ProcessHostEntry) -> list[str]:
    # The manifest loader checks these too; a registry built another way must not reach CDK
    # (or AWS) with them, where the errors would be far less clear.
    problems = []
    where = _where(host)
    if not 1 <= host.batch_size <= FIFO_BATCH_MAX:
        problems.append(
            f"{where}: batch_size {host.batch_size} is out of range: an SQS FIFO event source "
            f"takes 1 to {FIFO_BATCH_MAX} messages per batch"
        )
    low, high = ESM_CONCURRENCY
    if host.max_concurrency is not None and not low <= host.max_concurrency <= high:
        problems.append(
            f"{where}: max_concurrency {host.max_concurrency} is out of range: an SQS event "
            f"source mapping's maximum concurrency is {low} to {high} (leave it out for no cap)"
        )
    if math.ceil(host.visibility_timeout) < math.ceil(host.lambda_timeout):
        problems.append(
            f"{where}: visibility_timeout ({host.visibility_timeout:g} s) is shorter than "
            f"lambda_timeout ({host.lambda_timeout:g} s): SQS would hand a batch to a second "
            "worker while the first may still be running it; make visibility_timeout at least "
            "lambda_timeout"
        )
    return problems


def _workflow_host_problems(host: WorkflowHostEntry) -> list[str]:
    # As for process hosts: the loader checks these, a registry built another way must not
    # reach CloudFormation with them.
    problems = []
    where = _where(host)
    if not 1 <= host.activity_batch_size <= STANDARD_BATCH_MAX:
        problems.append(
            f"{where}: activity_batch_size {host.activity_batch_size} is out of range: the "
            f"activity queue's event source takes 1 to {STANDARD_BATCH_MAX} messages per batch "
            "(more would need a batching window, which delays every activity)"
        )
    low, high = ESM_CONCURRENCY
    if host.max_concurrency is not None and not low <= host.max_concurrency <= high:
        problems.append(
            f"{where}: max_concurrency {host.max_concurrency} is out of range: an SQS event "
            f"source mapping's maximum concurrency is {low} to {high} (leave it out for no cap)"
        )
    low, high = MAX_RECEIVE_COUNT
    if not low <= host.activity_max_receive_count <= high:
        problems.append(
            f"{where}: activity_max_receive_count {host.activity_max_receive_count} is out of "
            f"range: SQS redrives after {low} to {high} receives"
        )
    if not 0 < host.step_timeout <= LAMBDA_TIMEOUT_MAX:
        problems.append(
            f"{where}: step_timeout {host.step_timeout:g} s is out of range: a Lambda runs for "
            f"at most {LAMBDA_TIMEOUT_MAX} s"
        )
    return problems


def _workflow_problems(registry: Registry, hosts: list[WorkflowHostEntry]) -> list[str]:
    if hosts and not registry.of_kind(WorkflowEntry):
        return [
            f"{_where(host)}: the workflow host has no workflow to run: the application has no "
            "workflow.lua entries (add one, or remove the host)"
            for host in hosts
        ]
    return []


def _process_problems(registry: Registry, hosts: list[ProcessHostEntry]) -> list[str]:
    processes = registry.of_kind(ProcessEntry)
    if hosts and not processes:
        return [
            f"{_where(host)}: the process host has no process to run: the application has no "
            "process.lua entries (add one, or remove the host)"
            for host in hosts
        ]
    return []


def _environment_problems(
    hosts: list[ProcessHostEntry],
    flow_hosts: list[WorkflowHostEntry],
    remote: tuple[RemoteFunction, ...],
    queues: list[str] = (),  # type: ignore[assignment]
) -> list[str]:
    # Every Lambda carries the URL of every process host's two queues, every workflow host's
    # state machine ARN and activity queue URL, every remote function's name and every
    # queue.queue's URL; Lambda refuses an environment over 4 KB at deploy time, long after
    # synth.
    size = _OTHER_VARIABLES_BOUND
    size += sum(len(q) + 6 + _QUEUE_URL_BOUND for q in queues)
    size += sum(2 * (len(h.id) + 6 + _QUEUE_URL_BOUND) for h in [*hosts, *flow_hosts])
    size += sum(len(r.entry.id) + len(r.function_name) + 6 for r in remote)
    if size <= ENVIRONMENT_LIMIT_BYTES:
        return []
    return [
        f"{len(hosts)} process hosts, {len(flow_hosts)} workflow hosts and {len(remote)} remote "
        f"functions{f' and {len(queues)} queues' if queues else ''} may not fit in a Lambda's "
        f"environment (up to about {size} bytes of the "
        f"{ENVIRONMENT_LIMIT_BYTES} Lambda allows; every Lambda carries all queue URLs, state "
        "machine ARNs and remote function names): use fewer process or workflow hosts"
    ]


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


def _clashes(items: Iterable[T], key: Callable[[T], str]) -> Iterable[tuple[T, T]]:
    """``(item, first)`` for each item whose key an earlier ``first`` already had."""
    seen: dict[str, T] = {}
    for item in items:
        first = seen.setdefault(key(item), item)
        if first is not item:
            yield item, first


def _name_clashes(remote: tuple[RemoteFunction, ...]) -> list[str]:
    return [
        f"{_where(r.entry)}: its Lambda name '{r.function_name}' is the same as remote "
        f"function '{first.entry.id}''s (':' and '.' both become '-'); rename one"
        for r, first in _clashes(remote, lambda r: r.function_name)
    ]


def _machine_name_clashes(hosts: tuple[WorkflowHost, ...]) -> list[str]:
    return [
        f"{_where(host.entry)}: its state machine name '{host.machine_name}' is the same "
        f"as workflow host '{first.id}''s (':' and '.' both become '-'); rename one"
        for host, first in _clashes(hosts, lambda h: h.machine_name)
    ]


def _route_clashes(routes: tuple[Route, ...]) -> list[str]:
    # The loader already refuses two endpoints of one method and path shape; this guards the
    # translation to API Gateway's syntax, where parameter names do not tell routes apart.
    return [
        f"{_where(route.endpoint)}: route {route.key} collides with '{first.endpoint.id}' "
        f"({first.key}) in API Gateway"
        for route, first in _clashes(routes, lambda r: re.sub(r"\{[^}]*\}", "{}", r.key))
    ]


def _slow_routes(registry: Registry, routes: tuple[Route, ...]) -> Iterable[str]:
    for route in routes:
        func = registry.find(route.endpoint.func)
        if isinstance(func, FunctionEntry) and func.deploy.timeout > API_INTEGRATION_TIMEOUT:
            yield (
                f"{_where(route.endpoint)}: '{func.id}' may run {func.deploy.timeout:g} s, but "
                f"the HTTP API gives up on a request after {API_INTEGRATION_TIMEOUT} s"
            )
