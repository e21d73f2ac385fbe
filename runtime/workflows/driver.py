"""The two AWS services a run talks to besides its log: Step Functions (the driver executions,
woken through task tokens) and the activity queue (SQS), both through boto3."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from runtime.durable.events import Event
from runtime.errors import INVALID, NOT_FOUND, UnitError
from runtime.workflows import asl

#: Errors of SendTaskSuccess meaning the wait this token belonged to is over (woken already,
#: timed out, execution ended): the run has moved on, nothing to do.
_STALE_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})

#: SQS SendMessageBatch takes at most this many entries.
_SQS_BATCH = 10


class Driver:
    """Starts driver executions, wakes parked ones and ends them."""

    def __init__(self, sfn: Any, machines: dict[str, str]) -> None:
        self.sfn = sfn
        self.machines = machines

    def machine(self, host: str) -> str:
        try:
            return self.machines[host]
        except KeyError:
            known = ", ".join(sorted(self.machines)) or "none"
            raise UnitError(
                INVALID, f"no workflow host '{host}' (workflow hosts: {known})"
            ) from None

    def start(
        self, host: str, run_id: str, generation: int = 0, timeout: int = asl.PARK_FOREVER
    ) -> str:
        """Start the run's ``generation``-th execution, its first wait ``timeout`` seconds at
        most; starting it again is a no-op."""
        name = asl.execution_name(run_id, generation)
        machine = self.machine(host)
        try:
            arn = self.sfn.start_execution(
                stateMachineArn=machine,
                name=name,
                input=json.dumps(asl.task_state(run_id, timeout)),
            )["executionArn"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            return self.execution_arn(host, run_id, generation)
        return arn

    def execution_arn(self, host: str, run_id: str, generation: int) -> str:
        name = asl.execution_name(run_id, generation)
        return self.machine(host).replace(":stateMachine:", ":execution:") + ":" + name

    def latest(self, host: str, run_id: str) -> tuple[int, dict[str, Any]]:
        """The run's newest execution: its generation and ``DescribeExecution`` reply.

        One call per execution the run has had (a rollover every 1,000 steps, a resume), so
        this is for operators' commands, not for every step.

        Raises:
            UnitError: NOT_FOUND when the run never had an execution on ``host``.
        """
        found: tuple[int, dict[str, Any]] | None = None
        generation = 0
        while True:
            arn = self.execution_arn(host, run_id, generation)
            try:
                found = generation, self.sfn.describe_execution(executionArn=arn)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
                    raise
                if found is None:
                    raise UnitError(NOT_FOUND, f"run {run_id} has no driver execution") from None
                return found
            generation += 1

    def start_next(self, step_input: asl.StepInput, timeout: int) -> str:
        """Start the execution that continues this one's run (a rollover)."""
        generation = asl.generation_of(step_input["execution"]) + 1
        for host, arn in self.machines.items():
            if arn == step_input["state_machine"]:
                return self.start(host, step_input["run_id"], generation, timeout)
        raise UnitError(INVALID, f"unknown state machine {step_input['state_machine']}")

    def wake(self, token: str, state: asl.TaskState) -> bool:
        """End the wait ``token`` belongs to, the next one being ``state``; False when that
        wait was already over."""
        try:
            self.sfn.send_task_success(taskToken=token, output=json.dumps(state))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _STALE_TOKEN_ERRORS:
                return False
            raise
        return True

    def end(self, token: str, error: str, cause: str = "") -> bool:
        """End the execution through the Catch for ``error`` (asl.ENDING_ERRORS); False when
        the wait was already over."""
        try:
            self.sfn.send_task_failure(
                taskToken=token, error=error[: asl.MAX_ERROR_CHARS], cause=cause
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _STALE_TOKEN_ERRORS:
                return False
            raise
        return True


def activity_key(run_id: str, event: Event) -> str:
    """An activity attempt's idempotency key: the run and the command's sequence number."""
    return f"{run_id}:{event.seq}"


class ActivityQueues:
    """Sends scheduled activities to their workflow host's activity queue."""

    def __init__(self, sqs: Any, queues: dict[str, str]) -> None:
        self.sqs = sqs
        self.queues = queues
        self.sent = 0

    def dispatch(self, host: str, run_id: str, scheduled: list[Event]) -> None:
        """One message per ``ActivityScheduled`` event, in batches of ten."""
        url = self.queues.get(host)
        if url is None:
            raise UnitError(INVALID, f"no activity queue for workflow host '{host}'")
        bodies = [json.dumps(_message(run_id, e), ensure_ascii=False) for e in scheduled]
        for start in range(0, len(bodies), _SQS_BATCH):
            chunk = bodies[start : start + _SQS_BATCH]
            reply = self.sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)],
            )
            self.sent += 1
            if reply.get("Failed"):
                failed = reply["Failed"][0]
                raise RuntimeError(
                    f"activity queue refused {len(reply['Failed'])} messages: "
                    f"{failed.get('Code')}: {failed.get('Message')}"
                )


def _message(run_id: str, scheduled: Event) -> dict[str, Any]:
    """The activity queue's message for one attempt; ``deadline`` (epoch seconds) when the
    attempt has a timeout, the same deadline the step enforces."""
    body = {
        "run_id": run_id,
        "cmd": scheduled.cmd,
        "seq": scheduled.seq,
        "id": scheduled.fields["id"],
        "args": scheduled.fields.get("args", []),
        "attempt": scheduled.fields.get("attempt", 1),
        "key": activity_key(run_id, scheduled),
    }
    timeout = scheduled.fields.get("timeout")
    if timeout is not None:
        body["deadline"] = scheduled.time + float(timeout)
    return body
