"""The test harness application authors (and the kit's own tests) use.

::

    from runtime.testing import LocalCloud

    def test_hello():
        with LocalCloud("examples/hello") as cloud:
            assert cloud.call("app:greet", "Ada") == "Hello, Ada!"
            result = cloud.http("GET", "/hello/Ada")
            assert result.status == 200

Everything AWS is moto, in-process (``mock_aws``): remote functions are real Lambda functions in
moto whose invokes are routed to an in-process engine, exactly as a Lambda invoke would reach the
function Lambda. Time is a :class:`~runtime.clock.ManualClock`: ``time.sleep`` in Lua returns at
once with the clock moved forward.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from runtime import codec, cors, function_service, manifest, moto_fidelity
from runtime.apigw_events import http_event
from runtime.aws.lambda_invoke import LambdaInvoker
from runtime.clock import ManualClock
from runtime.durable.events import MESSAGE_RECEIVED
from runtime.durable.journal import Journal
from runtime.engine import Engine, Limits
from runtime.errors import NOT_FOUND, UnitError
from runtime.http_api import HttpApi
from runtime.local_queues import LocalConsumers
from runtime.processes.context import DirectContext
from runtime.processes.local import TABLE_NAME, LocalProcesses, drain_rounds
from runtime.processes.store import Snapshot
from runtime.processes.worker import FAULT_POINTS, WorkerStats
from runtime.queue_consumer import CONSUMER_FAULT_POINTS
from runtime.resources import create_local_resources
from runtime.routes import Match
from runtime.workflows.host import STEP_FAULT_POINTS
from runtime.workflows.local import LocalWorkflows

REGION = "us-east-1"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def lambda_name(entry_id: str) -> str:
    """The Lambda function name the harness gives a remote function (the stack prefixes its own
    name instead; the runtime reads the names from UNITS_REMOTE_FUNCTIONS either way)."""
    return "units-" + entry_id.replace(":", "-").replace(".", "-")


@dataclass
class HttpResult:
    """An HTTP answer: ``body`` is decoded JSON when the content type is JSON, else text."""

    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes = b""


@dataclass
class LogLine:
    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


class LocalCloud:
    """An application loaded into an in-process moto cloud."""

    #: Whether entering issues the load's warning (:class:`~runtime.manifest.ManifestWarning`)
    #: through Python's warnings; the dev stack shows it in its own log instead.
    _warn_on_load = True

    def __init__(
        self,
        app_dir: str | Path,
        *,
        clock: ManualClock | None = None,
        limits: Limits | None = None,
        environ: dict[str, str] | None = None,
        auto_start: bool = True,
    ) -> None:
        self.app_dir = Path(app_dir)
        self.auto_start = auto_start
        self._faults: list[_Fault] = []
        self.clock = clock or ManualClock()
        self.limits = limits
        self.environ = dict(environ or {})
        self.logs: list[LogLine] = []
        self._stack: list[Any] = []

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> LocalCloud:
        from moto import mock_aws

        self.registry = manifest.load_app(self.app_dir)
        if self.registry.warning and self._warn_on_load:
            # pytest lists it once in its warnings summary (per test line that loads the app).
            warnings.warn(manifest.ManifestWarning(self.registry.warning), stacklevel=2)
        self._saved_env = {k: os.environ.get(k) for k in _FAKE_CREDENTIALS}
        for key, value in _FAKE_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        self._mock = mock_aws(
            config={
                "lambda": {"use_docker": False},
                # moto's own interpreter runs the workflow driver's ASL (runtime/workflows/local.py)
                "stepfunctions": {"execute_state_machine": True},
            }
        )
        self._mock.start()
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @property
    def warnings(self) -> tuple[str, ...]:
        """The load's warning lines: Wippy entries skipped and settings not applied (README,
        "An application folder")."""
        return self.registry.warnings

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self._stack):
            undo()
        self._stack.clear()
        self._mock.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _start(self) -> None:
        self.lambda_client = boto3.client("lambda", region_name=REGION)
        #: Lambda name -> (engine, lock) of the functions whose invokes run in this process.
        self._homes: dict[str, tuple[Engine, threading.Lock]] = {}
        self._route_invokes()
        # moto made to answer as Step Functions does where the kit can tell the difference.
        self._stack.append(moto_fidelity.refuse_spent_task_tokens())
        self._stack.append(moto_fidelity.stop_retries_of_stopped_executions())
        self._stack.append(moto_fidelity.pass_task_failure_causes())
        moto_fidelity.quiet_driver_endings()
        self._units: list[Any] = []
        self._stack.append(self._close_units)
        self._build_units()
        if self.processes is not None and self.auto_start:
            self.processes.start_services()

    def _build_units(self) -> None:
        """The engines, process and workflow hosts and the API over ``self.registry``, with
        the resources they use (created unless they exist, so the dev stack can rebuild them
        over the same cloud when the code changes). Closers go to ``self._units``."""
        if getattr(self, "_fs_root", None) is None:
            # One folder per cloud for the fs.directory volumes, kept across the dev stack's
            # rebuilds and removed with the cloud, as moto's state is.
            self._fs_root = tempfile.mkdtemp(prefix="units-fs-")
            folder = self._fs_root
            self._stack.append(lambda: shutil.rmtree(folder, ignore_errors=True))
        self.resources = create_local_resources(
            self.registry, REGION, self.environ, fs_root=self._fs_root
        )
        self.processes: LocalProcesses | None = None
        system = None
        if self.registry.of_kind(manifest.ProcessHostEntry):
            self.processes = LocalProcesses(
                self.registry,
                self.clock,
                dynamodb=boto3.client("dynamodb", region_name=REGION),
                sqs=boto3.client("sqs", region_name=REGION),
                region=REGION,
                new_engine=self._new_engine,
                fault=self._fault,
            )
            self._units.append(self.processes.close)
            system = self.processes.system
        self._system = system
        self.workflows: LocalWorkflows | None = None
        if self.registry.of_kind(manifest.WorkflowHostEntry):
            self.workflows = LocalWorkflows(
                self.registry,
                self.clock,
                dynamodb=boto3.client("dynamodb", region_name=REGION),
                sqs=boto3.client("sqs", region_name=REGION),
                sfn=boto3.client("stepfunctions", region_name=REGION),
                region=REGION,
                new_engine=lambda: self._new_engine(processes=system),
                fault=self._step_fault,
            )
            self._units.append(self.workflows.close)
            self._units.extend(engine.close for engine in self.workflows.engines)
            for engine in self.processes.engines if self.processes is not None else []:
                engine.workflows = self.workflows.workflows
        self._homes.clear()
        self._homes.update(self._create_remote_functions())
        if self.processes is not None:
            # As a worker Lambda: a remote function a process calls is its Lambda's invoke.
            for engine in self.processes.engines:
                engine.remote = LambdaInvoker(self.lambda_client, self._remote_names)
        self.consumers: LocalConsumers | None = None
        if self.registry.of_kind(manifest.QueueConsumerEntry):
            self.consumers = LocalConsumers(
                self.registry,
                self.resources,
                region=REGION,
                new_engine=self._consumer_engine,
                fault=self._fault,
            )
            self._units.append(self.consumers.close)
        self.engine = self._new_engine(
            remote=LambdaInvoker(self.lambda_client, self._remote_names), processes=system
        )
        self.engine.workflows = self.workflows.workflows if self.workflows is not None else None
        self._units.append(self.engine.close)
        self.api = HttpApi(self.engine)

    def _close_units(self) -> None:
        for close in reversed(self._units):
            close()
        self._units.clear()

    def _new_engine(self, **kwargs: Any) -> Engine:
        return Engine(
            self.registry,
            clock=self.clock,
            limits=self.limits,
            log_sink=self._log,
            environ=self.environ,
            resources=getattr(self, "resources", None),
            **kwargs,
        )

    def _consumer_engine(self, entry: manifest.QueueConsumerEntry) -> Engine:
        # As the consumer's Lambda: its function runs in process, remote or not (its Lambda
        # is its home), and the functions it calls run where they would run from any Lambda.
        engine = self._new_engine(
            remote=LambdaInvoker(self.lambda_client, self._remote_names),
            processes=self._system,
            home_functions=frozenset({entry.func}),
        )
        engine.workflows = self.workflows.workflows if self.workflows is not None else None
        return engine

    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        self.logs.append(LogLine(level, message, fields))

    def _create_remote_functions(self) -> dict[str, tuple[Engine, threading.Lock]]:
        """Create each remote function's Lambda in moto, with an engine to run its invokes."""
        self._remote_names: dict[str, str] = {}
        remote = [
            e for e in self.registry.of_kind(manifest.FunctionEntry) if e.deploy and e.deploy.remote
        ]
        if not remote:
            return {}
        names: dict[str, str] = {}
        homes: dict[str, tuple[Engine, threading.Lock]] = {}
        for entry in remote:
            name = lambda_name(entry.id)
            self._create_lambda(name, {"UNITS_HOME_FUNCTIONS": entry.id})
            names[entry.id] = name
            home = self._new_engine(home_functions=frozenset({entry.id}), processes=self._system)
            self._units.append(home.close)
            homes[name] = (home, threading.Lock())
        self._remote_names = names
        return homes

    def _create_lambda(self, name: str, variables: dict[str, str]) -> None:
        """A Lambda function in moto whose invokes ``_route_invokes`` runs here (its code is a
        placeholder); one that exists is kept (a rebuild over the same cloud)."""
        iam = boto3.client("iam", region_name=REGION)
        try:
            role = iam.create_role(
                RoleName="units-local-function",
                AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
            )["Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            role = iam.get_role(RoleName="units-local-function")["Role"]["Arn"]
        with contextlib.suppress(self.lambda_client.exceptions.ResourceConflictException):
            self.lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="handlers.function.handler",
                Code={"ZipFile": _placeholder_zip()},
                Environment={"Variables": variables},
            )

    def _route_invokes(self) -> None:
        from moto.awslambda_simple import models as simple

        homes = self._homes  # read per invoke: a rebuild replaces what it holds

        original = simple.LambdaSimpleBackend.invoke

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, *rest: Any
        ) -> bytes:
            name = (
                function_name.rsplit(":", 1)[-1] if ":function:" in function_name else function_name
            )
            event = json.loads(body) if body else {}
            workflows = self.workflows
            if workflows is not None and workflows.routes(name):
                try:
                    reply = workflows.invoke(name, event)
                except Exception as exc:  # a function error, as the Lambda service reports it
                    response_headers = rest[1] if len(rest) > 1 else {}
                    response_headers["x-amz-function-error"] = "Unhandled"
                    reply = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
                return json.dumps(reply).encode()
            target = homes.get(name)
            if target is None:
                return original(backend, function_name, qualifier, body, *rest)
            engine, lock = target
            with lock:
                reply = function_service.invoke(engine, event)
            return json.dumps(reply).encode()

        simple.LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
        self._stack.append(lambda: setattr(simple.LambdaSimpleBackend, "invoke", original))

    def outputs(self) -> dict[str, str]:
        """This cloud's resource names under the stack's CloudFormation output names
        (``infra/stack.py``), host maps as JSON strings, so tools that read a deployed stack's
        outputs (the CLI's targets, the inspection views) can read this cloud the same way.
        There is no function Lambda here, so no ``FunctionLambdaName``."""
        out = {"RemoteFunctions": json.dumps(self._remote_names, sort_keys=True)}
        if self.processes is not None or self.workflows is not None:
            out["ProcessTableName"] = TABLE_NAME
        if self.processes is not None:
            mailboxes = self.processes.system.mailboxes
            out["ProcessQueues"] = json.dumps(mailboxes.queues, sort_keys=True)
            out["ProcessDelayQueues"] = json.dumps(mailboxes.delay_queues, sort_keys=True)
            dead = {h: host.dlq_url for h, host in self.processes.hosts.items()}
            out["ProcessDeadLetterQueues"] = json.dumps(dead, sort_keys=True)
        if self.workflows is not None:
            out["WorkflowMachines"] = json.dumps(self.workflows.driver.machines, sort_keys=True)
            out["WorkflowActivityQueues"] = json.dumps(self.workflows.queues.queues, sort_keys=True)
            dead = {h: host.dlq_url for h, host in self.workflows.hosts.items()}
            out["WorkflowActivityDeadLetterQueues"] = json.dumps(dead, sort_keys=True)
        resources = self.resources
        if resources.store_table:
            out["StoreTableName"] = resources.store_table
            partitions = {e.id: e.partition for e in self.registry.of_kind(manifest.StoreEntry)}
            out["Stores"] = json.dumps(partitions, sort_keys=True)
        if resources.buckets:
            out["Buckets"] = json.dumps(resources.buckets, sort_keys=True)
        if resources.queues:
            out["Queues"] = json.dumps(resources.queues, sort_keys=True)
            out["QueueDeadLetterQueues"] = json.dumps(resources.dead_letter_queues, sort_keys=True)
        return out

    # -- functions ----------------------------------------------------------------------
    def call(self, entry_id: str, *args: Any, context: dict[str, Any] | None = None) -> Any:
        """Call a function entry as the function Lambda would; return its value.

        Raises:
            UnitError: carrying the Lua error's ``kind`` and ``message`` (and ``details``, e.g.
                the traceback trimmed to application code).
        """
        # Through the codec's JSON form, as a real invoke would carry the values.
        wire_args = codec.loads(codec.dumps(list(args)))
        return self.engine.call(entry_id, wire_args, context=context)

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> HttpResult:
        """Send a request through the API handler as API Gateway would."""
        event = http_event(method, path, body=body, headers=headers, query=query)
        reply = self.resolve_http(event)
        raw_body = reply.get("body") or ""
        data = base64.b64decode(raw_body) if reply.get("isBase64Encoded") else raw_body.encode()
        out_headers = {k.lower(): v for k, v in (reply.get("headers") or {}).items()}
        for key, values in (reply.get("multiValueHeaders") or {}).items():
            out_headers[key.lower()] = ", ".join(values)
        decoded: Any = data.decode("utf-8", "replace")
        if "json" in out_headers.get("content-type", "") and data:
            decoded = json.loads(data)
        return HttpResult(int(reply["statusCode"]), out_headers, decoded, data)

    def resolve_http(self, event: dict[str, Any]) -> dict[str, Any]:
        """Answer an API Gateway v2 event as the deployed API does: API Gateway's handling of
        the API's CORS configuration (preflights answered, headers added: :mod:`runtime.cors`),
        then the API Lambda. Routes are not authorized here."""
        return cors.through_gateway(
            self.registry.cors,
            event,
            lambda e: self.api.resolve(e, None),
            lambda path: isinstance(self.api.router.match("OPTIONS", path), Match),
        )

    def advance_time(self, seconds: float) -> None:
        """Move the harness clock forward. Durable timers of workflow runs that come due fire
        now (the runs step until blocked again); timers and delayed messages of processes
        (restart backoff) are handled by the next :meth:`drain`."""
        self.clock.advance(seconds)
        if self.workflows is not None:
            self.workflows.run()

    # -- workflows -------------------------------------------------------------------------------
    def _flows(self) -> LocalWorkflows:
        if self.workflows is None:
            raise UnitError(NOT_FOUND, f"{self.app_dir} has no workflow.host entries")
        return self.workflows

    def start_workflow(
        self,
        workflow_id: str,
        input: Any = None,
        host: str | None = None,
        *,
        name: str | None = None,
        conflict: str = "fail",
    ) -> str:
        """Start a run (its driver execution starts in moto at once); returns the run id.
        :meth:`run_workflows` drives it."""
        # The input goes through the codec's JSON form in start, as through a real start.
        return self._flows().workflows.start(
            workflow_id, input, host=host, name=name, conflict=conflict
        )

    def signal(self, run_id: str, topic: str, payload: Any = None) -> None:
        """Send the run a message (its ``process.inbox()`` / ``process.listen(topic)``)."""
        self._flows().workflows.signal(run_id, topic, payload)

    def cancel_workflow(self, run_id: str, reason: str | None = None) -> None:
        """A CANCEL event on the run's ``process.events()``: its code decides how to stop."""
        self._flows().workflows.cancel(run_id, reason)

    def terminate_workflow(self, run_id: str, reason: str = "terminated") -> bool:
        """End the run now, without running its code."""
        return self._flows().workflows.terminate(run_id, reason)

    def run_workflows(self) -> int:
        """Drive every run until all are blocked on timers or signals (or ended): activities
        run, due timers fire, children start. Returns the number of activities run."""
        return self._flows().run()

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """The run's events, oldest first, as dicts with a ``type`` (and ``seq``, ``time``)."""
        return self._flows().workflows.history(run_id)

    def result(self, run_id: str) -> WorkflowResult:
        """The run's status (running, completed, failed, terminated, or ``parked``: running,
        but its driver stopped because its step kept failing, the error says why) and its
        result or error."""
        flows = self._flows()
        info = flows.workflows.describe(run_id)
        result = codec.from_json_value(info["result"]) if "result" in info else None
        stopped = flows.failed.get(flows.workflows.run_id_of(run_id))
        if info["status"] == "running" and stopped is not None:
            error = {"kind": stopped["error"], "message": stopped["cause"]}
            return WorkflowResult("parked", None, error)
        return WorkflowResult(info["status"], result, info.get("error"))

    def resume_workflow(self, run_id: str) -> None:
        """Start a new driver execution for a parked run (after fixing what failed its step),
        as ``units workflow resume`` does; drive it with :meth:`run_workflows`."""
        flows = self._flows()
        flows.workflows.resume(run_id)
        flows.failed.pop(flows.workflows.run_id_of(run_id), None)

    def crash_step_at(self, point: str, run_id: str | None = None, times: int = 1) -> None:
        """Kill the step Lambda at ``point`` (one of ``STEP_FAULT_POINTS``) of ``run_id``'s
        next steps (any run when None), ``times`` times; the driver's Retry steps again."""
        if point not in STEP_FAULT_POINTS:
            raise ValueError(f"unknown fault point {point!r}; expected one of {STEP_FAULT_POINTS}")
        self._faults.append(_Fault(point, run_id, times))

    def _step_fault(self, point: str, run_id: str) -> bool:
        return self._fault(point, run_id)

    # -- processes -----------------------------------------------------------------------------
    def _procs(self) -> LocalProcesses:
        if self.processes is None:
            raise UnitError(NOT_FOUND, f"{self.app_dir} has no process.host entries")
        return self.processes

    def spawn(self, entry_id: str, host: str, *args: Any, name: str | None = None) -> str:
        """Spawn a process as a function would; it starts on the next :meth:`drain`."""
        return DirectContext(self._procs().system).spawn(entry_id, host, list(args), name=name)

    def send(self, dest: str, topic: str, payload: Any = None) -> None:
        """Send a message to a pid or registered name (delivered by :meth:`drain`)."""
        wire = codec.loads(codec.dumps(payload))
        DirectContext(self._procs().system).send(dest, topic, wire)

    def drain(self, max_rounds: int = 10_000) -> int:
        """Run the process workers and the queue consumers over their queues until all are
        empty, as the event sources would; the number of worker and consumer invocations."""
        rounds = [u.round for u in (self.processes, self.consumers) if u is not None]
        if not rounds:
            raise UnitError(
                NOT_FOUND, f"{self.app_dir} has no process.host or queue.consumer entries"
            )
        return drain_rounds(rounds, max_rounds)

    def publish(self, queue_id: str, data: Any, headers: dict[str, Any] | None = None) -> None:
        """Publish to a ``queue.queue`` as ``queue.publish`` would (delivered by :meth:`drain`)."""
        from runtime.message_queues import encode_body, send_request

        entry = self.registry.get(queue_id)
        if not isinstance(entry, manifest.QueueEntry):
            raise UnitError(NOT_FOUND, f"'{queue_id}' is not a queue.queue entry")
        import uuid

        request = send_request(
            queue_id,
            self.resources.queues[queue_id],
            encode_body(codec.loads(codec.dumps(data))),
            headers or {},
            fifo=entry.fifo,
            message_id=str(uuid.uuid4()),
        )
        self.resources.sqs.send_message(**request)

    def queue_dead_letters(self, queue_id: str) -> list[Any]:
        """The values that reached a ``queue.queue``'s dead-letter queue, decoded."""
        if self.consumers is None:
            raise UnitError(NOT_FOUND, f"{self.app_dir} has no queue.consumer entries")
        return self.consumers.dead_letters(queue_id)

    def consumer_stats(self, consumer_id: str) -> dict[str, int]:
        """How many messages a consumer handled, acked and nacked."""
        if self.consumers is None or consumer_id not in self.consumers.consumers:
            raise UnitError(NOT_FOUND, f"no queue.consumer '{consumer_id}'")
        c = self.consumers.consumers[consumer_id].consumer
        return {"handled": c.handled, "acked": c.acked, "nacked": c.nacked}

    def state(self, pid: str) -> Any:
        """The committed state of ``pid``, decoded."""
        return codec.loads(self._snapshot(pid).state)

    def status(self, pid: str) -> ProcessStatus:
        """``running``, ``exited`` (with ``result``) or ``crashed`` (with ``error``)."""
        snap = self._snapshot(pid)
        result = codec.from_json_value(snap.result) if snap.result is not None else None
        return ProcessStatus(snap.status, result, snap.error, snap.version)

    def journal(self, pid: str) -> list[dict[str, Any]]:
        """The events of a loop-style process's current journal generation, as dicts."""
        snap = self._snapshot(pid)
        if snap.style != "loop":
            raise UnitError(NOT_FOUND, f"{pid} is a handler-style actor: it has no journal")
        system = self._procs().system
        base = int(json.loads(snap.state or "{}").get("base", 0))
        journal = Journal(system.store.client, system.store.table, "p#", noun="process")
        return [e.to_dict() for e in journal.load(pid, after=base)]

    def received(self, pid: str, topic: str | None = None) -> list[Any]:
        """The payloads of the messages a loop-style process was given (of ``topic``, or all),
        in the order its journal has them (whether or not its code has read them yet)."""
        return [
            codec.from_json_value(e.get("payload"))
            for e in self.journal(pid)
            if e["type"] == MESSAGE_RECEIVED and topic in (None, e.get("topic"))
        ]

    def lookup(self, name: str) -> str | None:
        """The pid registered under ``name``, or None."""
        return self._procs().system.store.lookup(name)

    def dead_letters(self, host: str) -> list[str]:
        """Message bodies that reached ``host``'s dead-letter queue."""
        return self._procs().dead_letters(host)

    def worker_stats(self, host: str) -> WorkerStats:
        """AWS call and cache counters of ``host``'s worker."""
        return self._procs().hosts[host].worker.stats

    def crash_at(self, point: str, pid: str | None = None, times: int = 1) -> None:
        """Kill the worker at ``point`` (one of ``FAULT_POINTS``) of ``pid``'s turn (any pid
        when None), ``times`` times; the killed batch is redelivered by the next rounds."""
        if point not in FAULT_POINTS:
            raise ValueError(f"unknown fault point {point!r}; expected one of {FAULT_POINTS}")
        self._faults.append(_Fault(point, pid, times))

    def crash_consumer_at(self, point: str, message_id: str | None = None, times: int = 1) -> None:
        """Kill a queue consumer's Lambda at ``point`` (one of ``CONSUMER_FAULT_POINTS``) while
        it handles ``message_id`` (any message when None), ``times`` times; the killed batch is
        redelivered by the next rounds of :meth:`drain`."""
        if point not in CONSUMER_FAULT_POINTS:
            raise ValueError(
                f"unknown fault point {point!r}; expected one of {CONSUMER_FAULT_POINTS}"
            )
        self._faults.append(_Fault(point, message_id, times))

    def _fault(self, point: str, pid: str) -> bool:
        for fault in self._faults:
            if fault.point == point and fault.pid in (None, pid) and fault.times > 0:
                fault.times -= 1
                return True
        return False

    def _snapshot(self, pid: str) -> Snapshot:
        snap = self._procs().system.store.load(pid)
        if snap is None:
            raise UnitError(NOT_FOUND, f"no process {pid}")
        return snap


@dataclass
class ProcessStatus:
    """What :meth:`LocalCloud.status` reports."""

    status: str
    result: Any = None
    error: dict[str, Any] | None = None
    version: int = 0


@dataclass
class WorkflowResult:
    """What :meth:`LocalCloud.result` reports."""

    status: str
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass
class _Fault:
    point: str
    pid: str | None
    times: int


def _placeholder_zip() -> bytes:
    # moto stores the code but never runs it: invokes are routed to the in-process engine.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handlers/function.py", "# the kit's function handler runs in-process\n")
    return buf.getvalue()


@contextmanager
def local_cloud(app_dir: str | Path, **kwargs: Any) -> Iterator[LocalCloud]:
    """``with local_cloud(dir) as cloud:`` — the same as ``with LocalCloud(dir) as cloud:``."""
    with LocalCloud(app_dir, **kwargs) as cloud:
        yield cloud


__all__ = [
    "HttpResult",
    "LocalCloud",
    "LogLine",
    "UnitError",
    "WorkflowResult",
    "lambda_name",
    "local_cloud",
]
