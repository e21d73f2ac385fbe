"""Workflow hosts on this machine: the driver's ASL run by moto's own Step Functions interpreter.

For each ``workflow.host`` this creates, through boto3, what the stack creates: the driver
state machine (``asl.driver_definition``, the same document CDK deploys), the activity queue
and its dead-letter queue, and the run log in the kit's table. moto executes the state
machine in its own threads (``stepfunctions.execute_state_machine``); its Lambda tasks reach
the step handler here through :meth:`LocalWorkflows.invoke` (the harness routes moto's Lambda
invokes to it). The activity queue is polled like the Lambda event source would.

Time is the harness clock: a parked run's timer is its wait's ``TimeoutSecondsPath`` in the
cloud; here :meth:`LocalWorkflows.run` wakes the runs whose timers the clock has passed, instead
of waiting for moto's wall-clock timeout.

Each host's step Lambda and its activity Lambda get their own engine (their own Lua
state), as separate Lambdas would; moto's threads reach one engine at a time through a lock.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from runtime import manifest
from runtime.aws.dynamodb import create_table
from runtime.clock import Clock
from runtime.processes.event_source import QueuePoller
from runtime.processes.local import TABLE_NAME, lambda_handler_for, queue_name
from runtime.workflows import asl
from runtime.workflows.client import Workflows
from runtime.workflows.driver import ActivityQueues, Driver
from runtime.workflows.host import StepCrash, WorkflowHost
from runtime.workflows.log import EventLog

ACCOUNT = "123456789012"

#: Wall-clock seconds :meth:`LocalWorkflows.settle` waits for moto's threads before it reports
#: what is stuck (a run that never parks is a bug, not a slow machine).
SETTLE_DEADLINE = 30.0


def function_name(host_id: str, role: str) -> str:
    """The Lambda name the local stack gives a workflow host's ``role`` (step)."""
    return queue_name(host_id, f"-{role}")


class WorkflowsDidNotSettle(RuntimeError):
    """moto's executions did not all park or end within SETTLE_DEADLINE."""


@dataclass
class _Host:
    entry: manifest.WorkflowHostEntry
    host: WorkflowHost
    activity_host: WorkflowHost
    activities: QueuePoller
    dlq_url: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        def run(record: Any) -> None:
            self.activity_host.run_activity(json.loads(record.body))

        #: The activity Lambda: an SQS event in, a partial batch response out.
        self.activity_handler = lambda_handler_for(run, lambda: BatchProcessor(EventType.SQS))


class LocalWorkflows:
    """Creates every workflow host's resources and runs their handlers in-process."""

    def __init__(
        self,
        registry: manifest.Registry,
        clock: Clock,
        *,
        dynamodb: Any,
        sqs: Any,
        sfn: Any,
        region: str,
        new_engine: Any,
        fault: Any = None,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.sqs = sqs
        self.sfn = sfn
        self.region = region
        # The process hosts may have made it: one table for both, as in the stack.
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            create_table(dynamodb, TABLE_NAME)
        self.log = EventLog(dynamodb, TABLE_NAME)
        hosts = registry.of_kind(manifest.WorkflowHostEntry)
        machines: dict[str, str] = {}
        queues: dict[str, str] = {}
        dlqs: dict[str, str] = {}
        self._routes: dict[str, tuple[str, str]] = {}
        for host in hosts:
            machines[host.id] = self._create_machine(host)
            queues[host.id], dlqs[host.id] = self._create_queues(host)
        self._in_flight = 0
        self._active = 0
        self._changed = threading.Condition()
        # Executions set in motion (started, or woken from a park) are counted as the calls
        # take effect at moto, not when they return to the caller: a step that dies right after
        # its SendTaskSuccess landed has still woken a run, and settle() must wait for it.
        for operation in ("StartExecution", "SendTaskSuccess"):
            sfn.meta.events.register(f"after-call.sfn.{operation}", self._set_in_motion)
        #: Every execution this harness started, for close() to stop: one whose first step has
        #: not run yet would otherwise run it in whatever harness is open by then.
        self._started: set[str] = set()
        self.driver = Driver(sfn, machines)
        self.workflows = Workflows(registry, self.log, self.driver, clock)
        self.queues = ActivityQueues(sqs, queues)
        self.engines: list[Any] = []
        self.hosts: dict[str, _Host] = {}
        for host in hosts:
            step_engine = new_engine()
            activity_engine = new_engine()
            for engine in (step_engine, activity_engine):
                engine.workflows = self.workflows
                self.engines.append(engine)
            self.hosts[host.id] = _Host(
                host,
                WorkflowHost(
                    step_engine,
                    self.workflows,
                    self.queues,
                    fault=fault,
                    step_seconds=host.step_timeout,
                ),
                WorkflowHost(activity_engine, self.workflows, self.queues),
                QueuePoller(
                    sqs,
                    queues[host.id],
                    batch_size=host.activity_batch_size,
                    visibility_timeout=30,
                    region=region,
                ),
                dlqs[host.id],
            )
        #: Parked runs and the clock time their timer is due (None: they wait for news only).
        self._parked: dict[str, float | None] = {}
        #: Each run's current driver execution.
        self._executions: dict[str, str] = {}
        self.errors: list[str] = []
        #: Runs whose last step raised: their execution may fail once its Retry gives up.
        self._erring: set[str] = set()
        #: Runs whose driver execution failed while the run was running (``error``,
        #: ``cause``): parked until :meth:`Workflows.resume`.
        self.failed: dict[str, dict[str, str]] = {}
        #: Driver executions a step ended (done, failed, rolled over) that moto's thread may
        #: not have closed yet: :meth:`settle` waits for their status to leave RUNNING.
        self._ending: set[str] = set()

    def _set_in_motion(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code < 300:
            if "executionArn" in parsed:
                with self._changed:
                    self._started.add(parsed["executionArn"])
            self._moved(+1)

    def _moved(self, delta: int) -> None:
        with self._changed:
            self._in_flight += delta
            self._changed.notify_all()

    # -- resources ------------------------------------------------------------------------------
    def _create_machine(self, host: manifest.WorkflowHostEntry) -> str:
        name = function_name(host.id, "step")
        self._routes[name] = (host.id, "step")
        definition = asl.driver_definition(
            f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"
        )
        return self.sfn.create_state_machine(
            name=queue_name(host.id, "-driver"),
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/units-driver",
            type="STANDARD",
        )["stateMachineArn"]

    def _create_queues(self, host: manifest.WorkflowHostEntry) -> tuple[str, str]:
        dlq = self.sqs.create_queue(QueueName=queue_name(host.id, "-activities-dlq"))["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        redrive = {
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": host.activity_max_receive_count,
        }
        url = self.sqs.create_queue(
            QueueName=queue_name(host.id, "-activities"),
            Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "30"},
        )["QueueUrl"]
        return url, dlq

    # -- moto's Lambda tasks --------------------------------------------------------------------
    def routes(self, function_name_: str) -> bool:
        """Whether a Lambda invoke of ``function_name_`` is one of these hosts' step."""
        return function_name_ in self._routes

    def invoke(self, function_name_: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run the step handler for a Wake task of a driver execution (moto's thread); raises
        what the handler raises (the task fails, the driver's Retry runs)."""
        host_id, _ = self._routes[function_name_]
        host = self.hosts[host_id]
        run_id = event["run_id"]
        with self._changed:
            self._active += 1
        try:
            with host.lock:
                with self._changed:
                    self._executions[run_id] = event["execution"]
                with self._noting_failure(run_id):
                    reply = host.host.step(event)  # type: ignore[arg-type]
            with self._changed:
                self._erring.discard(run_id)
                if reply["kind"] == "park":
                    self._parked[run_id] = reply.get("due")
                else:  # it goes on (counted when its wake landed), or its execution ended
                    self._parked.pop(run_id, None)
                if reply["kind"] in _ENDING_REPLIES:
                    self._ending.add(event["execution"])
                # Every invocation that returns has ended its task's part: parked, or set the
                # next one in motion (counted +1 when it landed), or ended the execution.
                self._in_flight -= 1
                self._changed.notify_all()
            return reply
        except StepCrash:
            raise
        except Exception as exc:
            self.errors.append(f"step of {run_id}: {exc!r}")
            raise
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def _noting_failure(self, run_id: str) -> Iterator[None]:
        """Remember a run whose step raised: its execution may fail once its Retry
        gives up, which :meth:`settle` then finds out."""
        try:
            yield
        except BaseException:
            with self._changed:
                self._erring.add(run_id)
            raise

    # -- driving --------------------------------------------------------------------------------
    def run(self, max_rounds: int = 10_000) -> int:
        """Drive every run until all are blocked on timers (not yet due) or signals, or ended:
        let moto's executions settle, run the queued activities, wake runs whose timers are
        due, again. Returns the number of activity attempts run (queued and inline)."""
        ran = 0
        inline_before = self._inline_attempts()
        for _ in range(max_rounds):
            self.settle()
            progressed = False
            for host in self.hosts.values():
                # A batch whose every record failed makes the Lambda fail as a whole (so the
                # event source retries it), as a crashed one does.
                result = host.activities.poll(
                    host.activity_handler, (StepCrash, BatchProcessingError)
                )
                ran += result.deleted
                progressed = progressed or result.received > 0
            for run_id in self._due():
                progressed = self.workflows.notify(run_id) or progressed
            if not progressed:
                return ran + self._inline_attempts() - inline_before
        raise WorkflowsDidNotSettle(f"runs still busy after {max_rounds} rounds")

    def _inline_attempts(self) -> int:
        return sum(h.host.stepper.inline.attempts for h in self.hosts.values())

    def _due(self) -> list[str]:
        now = self.clock.now()
        with self._changed:
            return [r for r, due in self._parked.items() if due is not None and due <= now]

    def settle(self) -> None:
        """Wait until no handler runs and every execution set in motion has parked or ended
        (failed, too: a step that kept failing until its Retry gave up); an execution a step
        ended is waited for until moto has closed it (its status is no longer RUNNING)."""
        deadline = time.monotonic() + SETTLE_DEADLINE
        while True:
            with self._changed:
                busy = bool(self._active or self._in_flight)
                ending = set() if busy else set(self._ending)
                if not busy and not ending:
                    return
                if time.monotonic() > deadline:
                    raise WorkflowsDidNotSettle(
                        f"{self._in_flight} workflow executions did not park or end"
                        f" ({len(ending)} not closed by moto): "
                        + ("; ".join(self.errors[-3:]) or "no handler error")
                    )
                if busy:
                    self._changed.wait(timeout=0.1 if self._erring else 0.5)
                erring = [r for r in self._erring if r in self._executions]
            # Outside the lock: moto's threads may need it meanwhile.
            if ending:
                closed = self._closed(ending)
                with self._changed:
                    self._ending -= closed
                    if closed != ending:  # moto's thread is on its last states: a moment
                        self._changed.wait(timeout=0.01)
                continue
            for run_id in erring:
                self._reap(run_id)

    def _closed(self, arns: set[str]) -> set[str]:
        """Those of ``arns`` whose execution is no longer RUNNING (or not this harness's)."""
        closed = set()
        for arn in arns:
            try:
                status = self.sfn.describe_execution(executionArn=arn)["status"]
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                    raise
                status = "GONE"
            if status != "RUNNING":
                closed.add(arn)
        return closed

    def _reap(self, run_id: str) -> None:
        """Count the run's execution as ended if it failed (its Retry gave up)."""
        try:
            execution = self.sfn.describe_execution(executionArn=self._executions[run_id])
        except ClientError as exc:  # not this harness's (a stray from an earlier one)
            if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            with self._changed:
                self._erring.discard(run_id)
            return
        if execution["status"] == "RUNNING":
            return
        with self._changed:
            if run_id not in self._erring:
                return
            self._erring.discard(run_id)
            self._parked.pop(run_id, None)
            self._in_flight -= 1
            if execution["status"] != "SUCCEEDED":
                self.failed[run_id] = {
                    "error": execution.get("error", execution["status"]),
                    "cause": _error_message(execution.get("cause", "")),
                }

    def dead_letters(self, host: str) -> list[str]:
        """Activity messages that reached ``host``'s dead-letter queue."""
        reply = self.sqs.receive_message(QueueUrl=self.hosts[host].dlq_url, MaxNumberOfMessages=10)
        return [m["Body"] for m in reply.get("Messages", [])]

    def close(self) -> None:
        """Stop the executions (their threads end) and drop the kept replays. Every one, not
        only the parked: one waiting out a Retry would otherwise wake up later and invoke
        whatever harness is running then."""
        for arn in self._started | set(self._executions.values()):
            self._stop(arn)
        for host in self.hosts.values():
            host.host.stepper.close()

    def _stop(self, arn: str) -> None:
        # moto cannot stop an execution whose thread has not built its environment yet (an
        # AttributeError inside moto): wait for the thread, briefly.
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self.sfn.stop_execution(executionArn=arn)
                return
            except ClientError:  # it ended meanwhile: nothing to stop
                return
            except AttributeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


#: The step's replies after which its driver execution ends (asl.py's Done, Failed and
#: RolledOver states).
_ENDING_REPLIES = frozenset({"done", "failed", "rollover"})


def _error_message(cause: str) -> str:
    """The message of a Lambda task's failure (its cause is the function's error as JSON)."""
    try:
        error = json.loads(cause)
    except ValueError:
        return cause
    return str(error.get("errorMessage", cause)) if isinstance(error, dict) else cause
