"""The dev stack's cloud: the test harness's :class:`LocalCloud`, on the wall clock, served.

What it adds to the harness:

- an embedded moto server (``ThreadedMotoServer``, in this process) on a free port, so the CLI
  and any AWS tool can reach the same SQS, DynamoDB, Step Functions and Lambda with
  ``--endpoint-url``; the harness's own clients keep talking to the same backends in-process;
- wall-clock time: Step Functions' own wait timeouts (moto counts them in real seconds) are the
  durable timers, as in the cloud;
- a function Lambda name (``FunctionLambdaName``) whose invokes, through moto, run in the API's
  engine;
- one round of each event source (:meth:`DevCloud.pump_process_host`,
  :meth:`DevCloud.pump_activities`, :meth:`DevCloud.pump_queue_consumer`) for the pump threads;
- :meth:`DevCloud.reload`: new engines and hosts over the same resources, state and runs;
- log lines into a :class:`~runtime.dev.logs.LogHub`, and the last step error of each run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from runtime import manifest
from runtime.clock import WallClock
from runtime.dev.logs import SYSTEM_UNIT, LogHub
from runtime.errors import INTERNAL, UnitError
from runtime.processes.local import lambda_handler_for
from runtime.processes.store import CRASHED, EXITED
from runtime.processes.worker import WorkerCrash
from runtime.testing import REGION, LocalCloud
from runtime.workflows.host import StepCrash

#: The function Lambda's name in the dev stack's moto (the stack's is CloudFormation's).
FUNCTION_LAMBDA = "units-functions"

#: The loggers of moto's Step Functions interpreter (kept out of the terminal).
MOTO_STEP_FUNCTIONS = "moto.stepfunctions"

#: What :meth:`DevCloud.reload` replaces; the rest (moto, the clients, the invoke routing) stays.
_UNIT_ATTRIBUTES = (
    "registry",
    "processes",
    "consumers",
    "workflows",
    "_system",
    "engine",
    "engine_lock",
    "api",
    "_remote_names",
    "_units",
)


class DevCloud(LocalCloud):
    """An app on moto, served on localhost, on the wall clock. Use as a context manager."""

    _warn_on_load = False  # DevStack puts the load's warning in the stack's log

    def __init__(self, app_dir: str | Path, hub: LogHub, *, host: str = "127.0.0.1") -> None:
        # The shell's environment, as a deployment's: UNITS_ENV_<NAME> overrides, ${env:NAME} in
        # resource entries, UNITS_HTTP_CLIENT_PRIVATE_IP (the env module shows only the first).
        super().__init__(app_dir, clock=WallClock(), environ=dict(os.environ))  # type: ignore[arg-type]
        self.hub = hub
        self.server_host = host
        self.endpoint_url = ""
        #: Run id -> the error of its last step, while its steps fail (the driver retries them
        #: and then stops: the run is parked until the code is fixed).
        self.step_errors: dict[str, str] = {}
        #: Actors whose crash or exit has been logged.
        self._ended: set[str] = set()
        #: Called after anything that may have queued work (a step that dispatched activities).
        self.on_activity: Any = lambda: None
        self._server: Any = None
        self._moto_level = logging.NOTSET

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> DevCloud:
        # moto's Step Functions logs each failed state (with moto_fidelity's filter, in one
        # line) to stderr: the terminal has the stack's own "step failed" line for it already.
        moto_sfn = logging.getLogger(MOTO_STEP_FUNCTIONS)
        self._moto_level = moto_sfn.level
        moto_sfn.setLevel(logging.CRITICAL)
        try:
            super().__enter__()
        except BaseException:
            moto_sfn.setLevel(self._moto_level)
            raise
        try:
            # For the management API's reads; through mock_aws, like the hosts' own clients.
            self.dynamodb = boto3.client("dynamodb", region_name=REGION)
            self.sqs = boto3.client("sqs", region_name=REGION)
            self.sfn = boto3.client("stepfunctions", region_name=REGION)
            self._start_moto_server()
        except BaseException:
            super().__exit__(None, None, None)
            moto_sfn.setLevel(self._moto_level)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_executions()
        if self._server is not None:
            self._server.stop()
            self._server = None
        super().__exit__(*exc)
        logging.getLogger(MOTO_STEP_FUNCTIONS).setLevel(self._moto_level)

    def _start_moto_server(self) -> None:
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request of the CLI's polling to stderr; the hub has what matters.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.server_host, port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def _stop_executions(self) -> None:
        """Stop every driver execution still running, so moto's threads end with the stack
        (runs parked before a reload are not in the current hosts' books)."""
        machines = self.workflows.driver.machines.values() if self.workflows is not None else []
        sfn = self.workflows.sfn if self.workflows is not None else None
        for machine in machines:
            with contextlib.suppress(ClientError):
                listed = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")
                for execution in listed.get("executions", []):
                    with contextlib.suppress(ClientError):  # it ended meanwhile
                        sfn.stop_execution(executionArn=execution["executionArn"])

    # -- building (the harness's seams) ---------------------------------------------------------
    def _build_units(self) -> None:
        super()._build_units()
        # The API engine serves HTTP requests, management invokes and the function Lambda, from
        # several threads: one call at a time, as one Lambda instance would.
        self.engine_lock = threading.Lock()
        # Routed by name: moto hands an invoke to the backend without looking the function up,
        # so creating it (loading moto's IAM and Lambda models: a second of startup) buys
        # nothing; `units dev` never lists functions.
        self._homes[FUNCTION_LAMBDA] = (self.engine, self.engine_lock)
        if self.workflows is not None:
            self._watch_steps(self.workflows)
        if self.processes is not None:
            self._watch_ends(self.processes.system.store)

    def _watch_steps(self, workflows: Any) -> None:
        """Keep each run's last step error (and log it), so a failing run shows why at once
        rather than after the driver's retries run out."""
        inner = workflows.invoke

        def invoke(function_name: str, event: dict[str, Any]) -> dict[str, Any]:
            run_id = str(event.get("run_id", ""))
            try:
                reply = inner(function_name, event)
            except StepCrash:
                raise
            except Exception as exc:
                message = exc.message if isinstance(exc, UnitError) else repr(exc)
                if self.step_errors.get(run_id) != message:
                    self.hub.emit(
                        SYSTEM_UNIT, "error", f"step failed: {message}", {"run_id": run_id}
                    )
                self.step_errors[run_id] = message
                raise
            if "run_id" in reply:
                self.step_errors.pop(run_id, None)
            self.on_activity()
            return reply

        workflows.invoke = invoke

    def _watch_ends(self, store: Any) -> None:
        """Say when an actor crashes or exits: the worker records it in the snapshot only."""
        inner, inner_with = store.commit, store.commit_with

        def commit_with(snapshot: Any, puts: Any, *, first: bool = False) -> None:
            inner_with(snapshot, puts, first=first)  # a loop-style process's end
            said(snapshot)

        def commit(snapshot: Any, expected_version: int) -> None:
            inner(snapshot, expected_version)
            said(snapshot)

        def said(snapshot: Any) -> None:
            if snapshot.status not in (CRASHED, EXITED) or snapshot.pid in self._ended:
                return
            self._ended.add(snapshot.pid)  # said once, though an ended actor may commit again
            fields = {"pid": snapshot.pid}
            if snapshot.status == CRASHED:
                error = snapshot.error or {}
                message = f"crashed: {error.get('kind', INTERNAL)}: {error.get('message', '')}"
                self.hub.emit(snapshot.entry, "error", message, fields)
            else:
                self.hub.emit(snapshot.entry, "info", "exited", fields)

        store.commit = commit
        store.commit_with = commit_with

    def _new_engine(self, **kwargs: Any) -> Any:
        engine = super()._new_engine(**kwargs)

        def sink(level: str, message: str, fields: dict[str, Any]) -> None:
            # A workflow's lines carry no run id of their own; the running replay knows it.
            replay = engine.current_replay()
            if replay is not None and replay.process_context is not None:
                fields = {"pid": replay.run_id, **fields}  # a loop-style process's line
            elif replay is not None:
                fields = {"run_id": replay.run_id, **fields}
            self._log(level, message, fields)

        engine.log_sink = sink
        return engine

    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        self.hub.emit(str(fields.get("entry") or "app"), level, message, fields)

    # -- reloading ------------------------------------------------------------------------------
    def reload(self, registry: manifest.Registry) -> None:
        """Run ``registry``'s code from now on: new engines, process and workflow hosts and API
        over the same resources (created when new ones are declared), state and runs. Call it
        while nothing uses the current ones. On failure the current ones stay.

        Raises:
            Exception: what building the new ones raised (e.g. a queue whose attributes changed).
        """
        old = {name: getattr(self, name) for name in _UNIT_ATTRIBUTES}
        old_homes = dict(self._homes)
        self.registry = registry
        self._units = []
        try:
            self._build_units()
        except BaseException:
            with contextlib.suppress(Exception):
                self._close_units()
            for name, value in old.items():
                setattr(self, name, value)
            self._homes.clear()
            self._homes.update(old_homes)
            raise
        self._retire(old["workflows"], old["_units"])
        if self.processes is not None:
            self.processes.start_services()  # services the new manifest adds (idempotent)

    @staticmethod
    def _retire(workflows: Any, units: list[Any]) -> None:
        """Close the replaced engines. Parked driver executions are left running: their next
        step reaches the new workflow hosts (the invoke routing reads the current ones)."""
        if workflows is not None:
            for host in workflows.hosts.values():
                with host.lock:  # a step of moto's may be running in it
                    host.host.stepper.close()
        for close in reversed(units):
            if workflows is None or close != workflows.close:
                close()

    # -- event sources --------------------------------------------------------------------------
    def pump_process_host(self, host_id: str) -> bool:
        """One round of a process host's event sources (its delay queue, then its mailbox);
        True when anything was handled."""
        host = self.processes.hosts.get(host_id) if self.processes is not None else None
        if host is None:  # a reload removed it
            return False
        handler = lambda_handler_for(host.worker.handle)
        moved = host.delays.poll(handler, WorkerCrash)
        got = host.queue.poll(handler, WorkerCrash)
        return moved.received > 0 or got.received > 0

    def pump_queue_consumer(self, consumer_id: str) -> bool:
        """One batch of a ``queue.consumer``'s queue; True when anything was received."""
        if self.consumers is None:  # a reload removed every consumer
            return False
        return self.consumers.poll(consumer_id).received > 0

    def pump_activities(self, host_id: str) -> bool:
        """One round of a workflow host's activity queue; True when anything ran."""
        host = self.workflows.hosts.get(host_id) if self.workflows is not None else None
        if host is None:
            return False
        # A batch whose every record failed fails the activity Lambda as a whole (Powertools'
        # BatchProcessingError): the event source gives the batch back, as for a crash.
        died = (StepCrash, BatchProcessingError)
        return host.activities.poll(host.activity_handler, died).received > 0

    # -- what the management API reports --------------------------------------------------------
    def outputs(self) -> dict[str, str]:
        """The harness's outputs plus the function Lambda."""
        return {"FunctionLambdaName": FUNCTION_LAMBDA, **super().outputs()}
