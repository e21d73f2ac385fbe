"""Journal events: what a durable coroutine (a workflow run, a loop-style process) did, in
order, with gapless sequence numbers.

Commands the code issued (``ActivityScheduled``, ``TimerStarted``) carry ``cmd``, the number of
the command in the order the code issues them; their outcomes (``ActivityCompleted``,
``ActivityFailed``, ``TimerFired``, or a cancel: ``ActivityCanceled``, ``TimerCanceled``) carry
the same ``cmd``. Replay matches commands by ``cmd``
and delivers outcomes in history order, which is what makes a replay take the same path.
Values are in the codec's JSON form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import CANCELED, INVALID, UnitError

WORKFLOW_STARTED = "WorkflowStarted"
WORKFLOW_COMPLETED = "WorkflowCompleted"
WORKFLOW_FAILED = "WorkflowFailed"
#: Ended from outside (``process.terminate``, the CLI): the code got no say.
WORKFLOW_TERMINATED = "WorkflowTerminated"
ACTIVITY_SCHEDULED = "ActivityScheduled"
ACTIVITY_COMPLETED = "ActivityCompleted"
ACTIVITY_FAILED = "ActivityFailed"
TIMER_STARTED = "TimerStarted"
TIMER_FIRED = "TimerFired"
#: A timer the run no longer waits for: stopped by the code (``reason`` ``stopped``), or a
#: ``time.after`` whose channel the code can no longer reach (``unreachable``, decided at the
#: end of a step and recorded, so a replay drops it at the same point). No ``TimerFired``
#: follows.
TIMER_CANCELED = "TimerCanceled"
#: ``future:cancel()`` of an activity not yet settled: ``cmd`` is what it was waiting on (an
#: attempt in flight or the timer before its next attempt); no further attempt is scheduled,
#: and a late outcome of the attempt is dropped.
ACTIVITY_CANCELED = "ActivityCanceled"
#: A message sent to the run (``process.send`` to its id): no command, delivered in order.
SIGNAL_RECEIVED = "SignalReceived"
#: ``process.cancel`` of the run: a CANCEL event on ``process.events()``; no command.
CANCEL_REQUESTED = "CancelRequested"
#: A child run the code started (``workflow.exec``, ``process.spawn`` of a workflow).
CHILD_STARTED = "ChildStarted"
CHILD_COMPLETED = "ChildCompleted"
CHILD_FAILED = "ChildFailed"
#: ``process.send`` from the run (to a process or another run), carried out after the append.
MESSAGE_SENT = "MessageSent"
#: ``workflow.continue_as_new(input)``: the end of a generation of the run's history; the next
#: event is the ``WorkflowStarted`` of the next generation (same run id, fresh history).
WORKFLOW_CONTINUED = "WorkflowContinuedAsNew"
#: ``workflow.version(change_id, min, max)`` on first execution: the version this run takes.
VERSION_MARKER = "VersionMarker"
#: Random bytes workflow code drew (``crypto.random.*``, an encryption's nonce) on first
#: execution: ``index`` (the draw's number in the run), ``size``, ``what`` drew them and
#: ``bytes`` (base64). A replay hands the code the same bytes, as Wippy's side effects do.
RANDOM_RECORDED = "RandomRecorded"


# -- loop-style processes (their driver: runtime/processes/loop.py) ---------------------------
#: The first event of a process's journal generation: ``entry`` and ``args`` of its ``main``.
PROCESS_STARTED = "ProcessStarted"
#: ``main`` returned (``result``) / failed or was stopped (``error``): the process ended.
PROCESS_EXITED = "ProcessExited"
PROCESS_CRASHED = "ProcessCrashed"
#: ``process.upgrade(id, ...)``: the end of a generation; the next one starts ``entry`` with
#: ``args`` (same pid, the messages not yet taken carried over).
PROCESS_UPGRADED = "ProcessUpgraded"
#: A message from the mailbox (``topic``, ``payload``, ``from``, the envelope ``id``).
MESSAGE_RECEIVED = "MessageReceived"
#: An EXIT / LINK_DOWN / CANCEL from the mailbox (``event``, ``from``, ``result``, ``reason``).
EVENT_RECEIVED = "EventReceived"
#: Another process linked, unlinked, monitored or unmonitored this one (``control``, ``from``).
CONTROL_RECEIVED = "ControlReceived"
#: ``process.terminate`` of this process: it ends with no say.
TERMINATE_RECEIVED = "TerminateReceived"
#: A command: an envelope the process sends (a message, a spawn, a link...), carried out after
#: the append with its ``id`` as the SQS deduplication id (``to``, ``body``, ``delay``).
ENVELOPE_SENT = "EnvelopeSent"
#: After a loop process's batch, when it changed: the ids of the messages it was given and has
#: not taken yet (what ``units state`` and the viewer show as its inbox). Replay ignores it.
INBOX_UNREAD = "InboxUnread"
#: The outcome of a call whose answer depends on the world (a name registered or looked up):
#: ``index`` (its number in the generation), ``what``, and ``value`` or ``error``. A replay
#: hands the code the recorded outcome and never calls again.
CALL_RECORDED = "CallRecorded"

#: Events recording a command; the code must issue the same command at the same ``cmd``.
COMMANDS = frozenset(
    {ACTIVITY_SCHEDULED, TIMER_STARTED, CHILD_STARTED, MESSAGE_SENT, ENVELOPE_SENT}
)
#: The first event of a generation.
STARTS = frozenset({WORKFLOW_STARTED, PROCESS_STARTED})
#: Messages delivered to ``process.inbox()`` / ``process.listen``.
MESSAGES = frozenset({SIGNAL_RECEIVED, MESSAGE_RECEIVED})

#: On the first event a step took from its inbox: how many it took. They are delivered to the
#: code together, before it runs on (a non-blocking select sees them all), on a replay too.
BATCH = "batch"
#: On a generation's WorkflowStarted: the signals the previous one held unread, delivered
#: first (a continue-as-new loses no signal).
CARRIED = "carried"
#: On the first event of a batch the generation's first step took: it was delivered before the
#: code first ran (a replay delivers it there too).
AT_START = "at_start"
#: Events that complete a command (a cancel leaves it with no outcome to wait for).
OUTCOMES = frozenset(
    {
        ACTIVITY_COMPLETED,
        ACTIVITY_FAILED,
        TIMER_FIRED,
        CHILD_COMPLETED,
        CHILD_FAILED,
        TIMER_CANCELED,
        ACTIVITY_CANCELED,
    }
)
#: Outcomes that drop a command instead of delivering anything to the code.
DROPS = frozenset({TIMER_CANCELED, ACTIVITY_CANCELED})
#: Commands the step carries out after appending them (activities sent, children started).
DISPATCHED = frozenset({ACTIVITY_SCHEDULED, CHILD_STARTED, MESSAGE_SENT})
#: Events that end a run.
ENDINGS = frozenset(
    {WORKFLOW_COMPLETED, WORKFLOW_FAILED, WORKFLOW_TERMINATED, PROCESS_EXITED, PROCESS_CRASHED}
)

#: The run index's status after each ending.
STATUS_OF_ENDING = {
    WORKFLOW_COMPLETED: "completed",
    WORKFLOW_FAILED: "failed",
    WORKFLOW_TERMINATED: "terminated",
    PROCESS_EXITED: "exited",
    PROCESS_CRASHED: "crashed",
}


#: The most one value (an input, a result, a payload) may take in a history event: a DynamoDB
#: item holds 400 KB, and the event's keys, type and other fields need some of it.
VALUE_LIMIT_BYTES = 350 * 1024


def check_size(what: str, value: Any) -> None:
    """Refuse a value (in the codec's JSON form) too large for a history event.

    Raises:
        UnitError: INVALID, naming ``what``, its size and the limit.
    """
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > VALUE_LIMIT_BYTES:
        raise UnitError(
            INVALID,
            f"{what}: {size} bytes, over the {VALUE_LIMIT_BYTES} bytes (350 KB) a workflow "
            "event holds; keep large values elsewhere (S3, a table) and pass their key",
        )


def terminated_error(reason: str) -> dict[str, str]:
    """The error a terminated run ends with (its index, its driver's Fail, its parent)."""
    return {"kind": CANCELED, "message": f"terminated: {reason}"}


@dataclass
class Event:
    """One history event. ``seq`` is assigned when it is appended to the log."""

    type: str
    time: float
    fields: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    @property
    def cmd(self) -> int:
        return int(self.fields.get("cmd", 0))

    def to_dict(self) -> dict[str, Any]:
        """The event as the harness's ``history()`` and the log show it."""
        return {"seq": self.seq, "type": self.type, "time": self.time, **self.fields}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        rest = {k: v for k, v in data.items() if k not in ("seq", "type", "time")}
        return cls(type=data["type"], time=float(data["time"]), fields=rest, seq=int(data["seq"]))
