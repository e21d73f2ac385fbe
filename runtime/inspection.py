"""Read-only views of a stack's processes and workflow runs, for the CLI and the dev viewer.

Everything here is a read: given boto3 clients and the resource names a stack reports (its
table, its queues, its driver state machines), it lists processes and runs, shows one of each,
and works out what a run is waiting for. Nothing is written, nothing is cached.

The layout read is the one :mod:`runtime.processes.store` and :mod:`runtime.workflows.log`
write into the kit's single table:

- ``pk = "p#<pid>", sk = "actor"``: a process snapshot (``entry``, ``host``, ``status``,
  ``version``, ``state`` as codec JSON text, the rest in ``meta`` JSON);
- ``pk = "r#<run>", sk = "run"``: a workflow run's index item; ``sk = "e#<first seq>"``: chunks of
  its events (see :mod:`runtime.workflows.log`).

Listing processes or runs is a **Scan** of the whole table with a filter: DynamoDB reads (and
bills) every item, events and inbox items included, and returns the few that match. That is
fine on a dev stack or a small deployed one; on a busy table it costs one read unit per 4 KB of
the table per listing, so scripts should prefer the per-item reads (:meth:`Inspector.process`,
:meth:`Inspector.run`), which are one ``GetItem`` or one ``Query`` each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from runtime.durable import events as ev
from runtime.durable.journal import Journal
from runtime.errors import NOT_FOUND, UnitError
from runtime.processes.pids import is_pid
from runtime.processes.store import ActorStore
from runtime.workflows.driver import Driver
from runtime.workflows.log import EventLog

#: Scan filter and projection of process snapshots (``status`` is a DynamoDB reserved word).
#: Loop processes' journal chunks ride in the same Scan (keys only: where each append began).
_PROCESS_FILTER = "(sk = :actor OR begins_with(sk, :e)) AND begins_with(pk, :p)"
_PROCESS_PROJECTION = "pk, sk, entry, host, #s, version, meta"
#: Scan filter and projection of workflow run index items.
_RUN_FILTER = "sk = :run AND begins_with(pk, :r)"
_RUN_PROJECTION = "pk, workflow, host, #s, started, closed, parent"

#: What a command waits for, by its event type, and the field naming what it runs.
_PENDING_KINDS = {
    ev.ACTIVITY_SCHEDULED: "activity",
    ev.TIMER_STARTED: "timer",
    ev.CHILD_STARTED: "child",
}


@dataclass
class ProcessSummary:
    """One process as ``units ps`` lists it."""

    pid: str
    entry: str
    host: str
    status: str
    #: Registered names the process holds (released when it ends).
    names: list[str] = field(default_factory=list)
    version: int = 0
    started: float = 0.0
    updated: float = 0.0
    parent: str | None = None
    service: str | None = None
    #: ``handler`` (init/handle over a state) or ``loop`` (Wippy's main over a journal).
    style: str = "handler"
    #: A loop process's journal: the sequence number where its last append began.
    journal: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProcessDetail(ProcessSummary):
    """One process in full: its state and how it is wired to others."""

    #: The committed state, in the codec's JSON form.
    state: Any = None
    links: list[str] = field(default_factory=list)
    monitors: list[str] = field(default_factory=list)
    trap_links: bool = False
    #: What ``process.exit`` returned (codec JSON form), once exited.
    result: Any = None
    #: ``{"kind", "message", ...}`` once crashed.
    error: dict[str, Any] | None = None
    #: Consecutive restarts so far, for a service.
    attempt: int = 0


@dataclass
class QueueDepth:
    """A process host's queues, in SQS's approximate counts."""

    host: str
    #: Messages waiting in the mailbox queue.
    queued: int = 0
    #: Messages a worker holds right now (received, not yet deleted).
    in_flight: int = 0
    #: Delayed sends (restart backoff) waiting in the delay queue.
    delayed: int = 0
    #: Messages that failed too often and sit in the dead-letter queue.
    dead_letters: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunSummary:
    """One workflow run as ``units workflow list`` lists it."""

    run_id: str
    workflow: str
    host: str
    status: str
    started: float
    closed: float | None = None
    #: The run id of the workflow that started this one as its child.
    parent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PendingCommand:
    """A command in a run's history with no outcome yet: what the run is waiting for."""

    #: ``activity``, ``timer`` or ``child``.
    kind: str
    #: The command's number (its outcome will carry the same ``cmd``).
    cmd: int
    #: The sequence number of the event that recorded it, and when.
    seq: int
    since: float
    #: The activity's function id or the child's workflow id; ``timer`` for a timer.
    target: str
    #: For a timer: when it fires.
    fire_at: float | None = None
    #: For an activity: which attempt this is (1 first).
    attempt: int | None = None
    #: For a child: its run id.
    child_run: str | None = None
    #: For a retry timer: the ``cmd`` of the failed attempt it waits to retry.
    retry_of: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ParkedError:
    """Why a run that is still ``running`` in its index has no driver: its last driver
    execution failed (a step that kept failing, e.g. a NonDeterminism after a code change)."""

    execution_arn: str
    error: str
    cause: str
    #: FAILED, TIMED_OUT or ABORTED.
    status: str
    #: The error as a person reads it, ``kind: message`` (the cause of a failed Lambda task
    #: is the function's error as JSON, which this unpacks).
    message: str = ""

    def __post_init__(self) -> None:
        if not self.message:
            self.message = readable_error(self.error, self.cause)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def readable_error(error: str, cause: str) -> str:
    """A driver execution's ``error`` and ``cause`` as ``kind: message`` on one line.

    A step that raised fails its Lambda task with the exception's type as the error and
    Lambda's JSON (``errorType``, ``errorMessage``, ``stackTrace``) as the cause; a UnitError's
    message already leads with its kind (``Internal: order.lua:3: ...``)."""
    message = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        message = str(parsed["errorMessage"])
        error = str(parsed.get("errorType") or error)
    message = " ".join(message.split())
    if error in ("UnitError", "") and message:
        return message
    return f"{error}: {message}" if message else error


def pending_commands(history: list[dict[str, Any]]) -> list[PendingCommand]:
    """The activities, timers and children ``history`` scheduled and holds no outcome for, in
    the order they were issued. Fired timers are not pending, nor what the run dropped (an
    ``ActivityCanceled`` or ``TimerCanceled``: a canceled activity's attempt or retry timer, a
    stopped timer, a ``time.after`` its code can no longer reach); neither is anything once the run
    has ended (its last event is an ending), nor what an earlier generation left open before
    a ``workflow.continue_as_new`` (command numbers start again in each generation).
    ``history`` is event dicts as :meth:`Inspector.history` returns them (``type``, ``seq``,
    ``time`` and the fields)."""
    if history and history[-1]["type"] in ev.ENDINGS:
        return []
    starts = [i for i, e in enumerate(history) if e["type"] == ev.WORKFLOW_CONTINUED]
    if starts:
        history = history[starts[-1] + 1 :]
    settled = {int(e.get("cmd", 0)) for e in history if e["type"] in ev.OUTCOMES}
    pending = []
    for event in history:
        kind = _PENDING_KINDS.get(event["type"])
        cmd = int(event.get("cmd", 0))
        if kind is None or cmd in settled:
            continue
        pending.append(
            PendingCommand(
                kind=kind,
                cmd=cmd,
                seq=int(event["seq"]),
                since=float(event["time"]),
                target=str(event.get("id", "timer")),
                fire_at=event.get("fire_at") if kind == "timer" else None,
                attempt=event.get("attempt") if kind == "activity" else None,
                child_run=event.get("run_id") if kind == "child" else None,
                retry_of=event.get("retry_of"),
            )
        )
    return pending


class Inspector:
    """Reads one stack's processes and runs.

    ``dynamodb`` and ``table`` are required; ``sqs`` with the queue maps (host id -> queue URL,
    as in the stack's ``ProcessQueues``, ``ProcessDelayQueues``, ``ProcessDeadLetterQueues``
    outputs) is needed for :meth:`queue_depths`; ``sfn`` with ``machines`` (host id -> driver
    state machine ARN, the ``WorkflowMachines`` output) for :meth:`parked_error`.
    """

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        sqs: Any = None,
        sfn: Any = None,
        queues: dict[str, str] | None = None,
        delay_queues: dict[str, str] | None = None,
        dead_letter_queues: dict[str, str] | None = None,
        machines: dict[str, str] | None = None,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.sqs = sqs
        self.sfn = sfn
        self.queues = dict(queues or {})
        self.delay_queues = dict(delay_queues or {})
        self.dead_letter_queues = dict(dead_letter_queues or {})
        self.machines = dict(machines or {})
        self.store = ActorStore(dynamodb, table)
        self.log = EventLog(dynamodb, table)

    # -- processes ------------------------------------------------------------------------------
    def processes(self, status: str | None = None) -> list[ProcessSummary]:
        """Every process (or those with ``status``: running, exited, crashed), oldest first.

        Cost: a Scan of the whole table (see the module docstring); states and journal
        chunks are projected out (their keys tell where a loop process's journal is), but
        DynamoDB still bills for reading them.
        """
        values: dict[str, Any] = {":actor": {"S": "actor"}, ":p": {"S": "p#"}, ":e": {"S": "e#"}}
        found: list[ProcessSummary] = []
        journals: dict[str, int] = {}
        for item in self._scan(_PROCESS_FILTER, _PROCESS_PROJECTION, values, {"#s": "status"}):
            sk = item["sk"]["S"]
            if sk.startswith("e#"):
                pid = item["pk"]["S"][2:]
                journals[pid] = max(journals.get(pid, 0), int(sk[2:]))
            elif status is None or item["status"]["S"] == status:
                found.append(_summary(item))
        for summary in found:
            summary.journal = journals.get(summary.pid)
        return sorted(found, key=lambda p: (p.started, p.pid))

    def resolve(self, pid_or_name: str) -> str:
        """The pid of ``pid_or_name`` (a pid is returned as is; a name is looked up).

        Raises:
            UnitError: NOT_FOUND for a name nobody holds.
        """
        if is_pid(pid_or_name):
            return pid_or_name
        pid = self.store.lookup(pid_or_name)
        if pid is None:
            raise UnitError(NOT_FOUND, f"no process is named '{pid_or_name}'")
        return pid

    def process(self, pid_or_name: str) -> ProcessDetail:
        """One process in full (a consistent ``GetItem``; a name costs one more).

        Raises:
            UnitError: NOT_FOUND for an unknown pid or name.
        """
        pid = self.resolve(pid_or_name)
        snap = self.store.load(pid)
        if snap is None:
            raise UnitError(NOT_FOUND, f"no process {pid}")
        loop = self._loop_state(snap) if snap.style == "loop" else None
        detail = ProcessDetail(
            pid=snap.pid,
            entry=snap.entry,
            host=snap.host,
            status=snap.status,
            names=list(snap.names),
            version=snap.version,
            started=snap.started,
            updated=snap.updated,
            parent=snap.parent,
            service=snap.service,
            state=loop if loop is not None else json.loads(snap.state),
            style=snap.style,
            links=list(snap.links),
            monitors=list(snap.monitors),
            trap_links=snap.trap_links,
            result=snap.result,
            error=snap.error,
            attempt=snap.attempt,
        )
        if loop is not None and snap.status == "running":
            # A running loop process's links and monitors are in its journal, not its item.
            detail.links, detail.monitors = loop.pop("links"), loop.pop("monitors")
        elif loop is not None:
            loop.pop("links"), loop.pop("monitors")
        return detail

    def _loop_state(self, snap: Any) -> dict[str, Any]:
        """What a loop process holds: its journal generation's length and the messages it was
        given and has not taken (its inbox), from the journal (one paged ``Query``)."""
        base = int(json.loads(snap.state or "{}").get("base", 0))
        events = Journal(self.dynamodb, self.table, "p#", noun="process").load(snap.pid, base)
        unread: list[str] = []
        for event in events:
            if event.type == ev.INBOX_UNREAD:
                unread = list(event.fields.get("ids") or [])
        wanted = set(unread)
        inbox = [
            {k: e.fields.get(k) for k in ("topic", "from", "payload")}
            for e in events
            if e.type == ev.MESSAGE_RECEIVED and e.fields.get("id") in wanted
        ]
        started = events[0].fields if events else {}
        links, monitors = _wiring(started, events)
        return {
            "generation": int(started.get("generation", 1)),
            "journal_events": len(events),
            "inbox": inbox,
            "links": links,
            "monitors": monitors,
        }

    def queue_depths(self) -> list[QueueDepth]:
        """Each process host's mailbox, delay and dead-letter counts (one
        ``GetQueueAttributes`` per queue; SQS's counts are approximate)."""
        if self.sqs is None:
            return []
        depths = []
        for host in sorted(self.queues):
            mailbox = self._counts(self.queues[host])
            delays = self._counts(self.delay_queues.get(host))
            dead = self._counts(self.dead_letter_queues.get(host))
            depths.append(
                QueueDepth(
                    host=host,
                    queued=mailbox.get("ApproximateNumberOfMessages", 0),
                    in_flight=mailbox.get("ApproximateNumberOfMessagesNotVisible", 0),
                    delayed=sum(delays.values()),
                    dead_letters=dead.get("ApproximateNumberOfMessages", 0),
                )
            )
        return depths

    def _counts(self, url: str | None) -> dict[str, int]:
        if not url:
            return {}
        reply = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
        return {k: int(v) for k, v in reply.get("Attributes", {}).items()}

    # -- workflow runs --------------------------------------------------------------------------
    def runs(self, status: str | None = None, workflow: str | None = None) -> list[RunSummary]:
        """Every run (or those with ``status``: running, completed, failed, terminated; or of
        ``workflow``), newest first.

        Cost: a Scan of the whole table (see the module docstring).
        """
        values: dict[str, Any] = {":run": {"S": "run"}, ":r": {"S": "r#"}}
        condition = _RUN_FILTER
        if status is not None:
            condition += " AND #s = :status"
            values[":status"] = {"S": status}
        if workflow is not None:
            condition += " AND workflow = :wf"
            values[":wf"] = {"S": workflow}
        found = [
            _run_summary(item)
            for item in self._scan(condition, _RUN_PROJECTION, values, {"#s": "status"})
        ]
        return sorted(found, key=lambda r: (-r.started, r.run_id))

    def run(self, run_id: str) -> dict[str, Any]:
        """The run's index (``run_id``, ``workflow``, ``host``, ``status``, ``started``,
        ``closed``, ``parent``, and ``result`` or ``error`` once ended); one ``GetItem``.

        Raises:
            UnitError: NOT_FOUND for an unknown run.
        """
        return self.log.describe(run_id)

    def history(self, run_id: str, after: int = 0) -> list[dict[str, Any]]:
        """The run's events from ``after + 1`` on, as dicts with ``seq``, ``type``, ``time``
        and the event's fields; one to three queries (see
        :meth:`~runtime.workflows.log.EventLog.load`).

        Raises:
            UnitError: NOT_FOUND for an unknown run (only checked when ``after`` is 0).
        """
        events = [e.to_dict() for e in self.log.load(run_id, after=after)]
        if not events and after == 0:
            raise UnitError(NOT_FOUND, f"no workflow run {run_id}")
        return events

    def pending(self, run_id: str) -> list[PendingCommand]:
        """What the run waits for: :func:`pending_commands` of its history."""
        return pending_commands(self.history(run_id))

    def parked_error(self, run_id: str, host: str) -> ParkedError | None:
        """The error of the run's last driver execution, when it ended without ending the run
        (the run is parked: it needs a fix and a restart of its driver); None while the
        driver runs (or when ``host`` has no known machine). Call it for runs whose index says
        ``running``: an ended run's driver is expected to have stopped. Costs one
        ``DescribeExecution`` per execution the run has had (one, plus one per rollover), and
        one more that finds no next one."""
        if self.sfn is None or host not in self.machines:
            return None
        try:
            _, last = Driver(self.sfn, self.machines).latest(host, run_id)
        except UnitError as exc:
            if exc.kind != NOT_FOUND:
                raise
            return None  # no driver execution at all (yet)
        if last["status"] in ("RUNNING", "SUCCEEDED", "PENDING_REDRIVE"):
            return None
        return ParkedError(
            execution_arn=last["executionArn"],
            error=str(last.get("error", "")),
            cause=str(last.get("cause", "")),
            status=last["status"],
        )

    # -- scanning -------------------------------------------------------------------------------
    def _scan(
        self, condition: str, projection: str, values: dict[str, Any], names: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": condition,
            "ProjectionExpression": projection,
            "ExpressionAttributeValues": values,
            "ExpressionAttributeNames": names,
        }
        while True:
            reply = self.dynamodb.scan(**kwargs)
            yield from reply.get("Items", [])
            if "LastEvaluatedKey" not in reply:
                return
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def _wiring(started: dict[str, Any], events: list[Any]) -> tuple[list[str], list[str]]:
    """A loop process's links and monitors as its journal has them: those it started with,
    the links and unlinks it sent, and what other processes linked, monitored or went down."""
    links, monitors = list(started.get("links") or []), list(started.get("monitors") or [])

    def change(group: list[str], pid: str, add: bool) -> None:
        if add and pid not in group:
            group.append(pid)
        elif not add and pid in group:
            group.remove(pid)

    for event in events:
        fields = event.fields
        if event.type == ev.CONTROL_RECEIVED:
            kind, other = fields.get("control"), str(fields.get("from"))
            if kind in ("link", "unlink"):
                change(links, other, kind == "link")
            else:
                change(monitors, other, kind == "monitor")
        elif event.type == ev.EVENT_RECEIVED and fields.get("event") == "LINK_DOWN":
            change(links, str(fields.get("from")), False)
        elif event.type == ev.ENVELOPE_SENT:
            body = json.loads(fields.get("body") or "{}")
            if body.get("kind") in ("link", "unlink"):
                change(links, str(body.get("to")), body["kind"] == "link")
            elif body.get("kind") == "spawn" and body.get("links"):
                change(links, str(body.get("to")), True)
    return links, monitors


def _summary(item: dict[str, Any]) -> ProcessSummary:
    meta = json.loads(item["meta"]["S"])
    return ProcessSummary(
        pid=item["pk"]["S"][2:],
        entry=item["entry"]["S"],
        host=item["host"]["S"],
        status=item["status"]["S"],
        names=list(meta.get("names") or []),
        version=int(item["version"]["N"]),
        started=float(meta.get("started") or 0.0),
        updated=float(meta.get("updated") or 0.0),
        parent=meta.get("parent"),
        service=meta.get("service"),
        style=str(meta.get("style") or "handler"),
    )


def _run_summary(item: dict[str, Any]) -> RunSummary:
    return RunSummary(
        run_id=item["pk"]["S"][2:],
        workflow=item["workflow"]["S"],
        host=item.get("host", {}).get("S", ""),
        status=item["status"]["S"],
        started=float(item["started"]["N"]),
        closed=float(item["closed"]["N"]) if "closed" in item else None,
        parent=item["parent"]["S"] if "parent" in item else None,
    )


__all__ = [
    "Inspector",
    "ParkedError",
    "PendingCommand",
    "ProcessDetail",
    "ProcessSummary",
    "QueueDepth",
    "RunSummary",
    "pending_commands",
]
