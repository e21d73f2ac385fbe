"""What one workflow activity costs, inline and queued separately (issue 14, "Accounting").

The method: in a fresh :class:`~runtime.testing.LocalCloud` on ``tests/apps/flows``, run the
workflow ``app:loop`` (``n`` sequential ``funcs.call("app:double", i)``, queued with
``queued``) once with ``SMALL`` activities and once with ``LARGE``, counting everything the run
does; the cost of one activity is the MARGINAL one, ``(count(LARGE) - count(SMALL)) /
(LARGE - SMALL)`` per counter (:func:`marginal`), so the run's fixed costs (its start, its
first and last step, the driver's Wake and Done states) are not smeared over its activities.
The whole-run totals are reported too: the goal "an inline workflow's transitions do not grow
with N" is read from them.

What is counted, and how honestly:

- AWS calls by ``service.Operation`` on every boto3 client of the workflow machinery, each
  attributed to the role that made it: the caller that starts the run, the ``step`` Lambda,
  the ``activity`` Lambda, or the SQS event source (Lambda's poller, which receives and
  deletes the activity queue's messages: billed SQS requests, not a Lambda). Left out, and
  shown apart: the harness's own calls (``sfn.DescribeExecution``: it asks moto whether a
  failing run's execution ended; the empty receives of its drain loop, where Lambda's event
  source long-polls an idle queue at a fixed rate whatever the load; the calls of a due-timer
  wake, :meth:`LocalWorkflows.run`'s ``notify``, which a deployed stack does not make: there
  the Wake task's timeout fires, the same one transition and no API call. ``app:loop`` has no
  timers, so that last one counts zero here, and the figures say so).
- DynamoDB WRU and RRU estimated from item sizes, and SQS requests (``bench/load.py``'s
  :class:`~bench.load.Meter`).
- Lambda invocations per role, and each role's CPU: the thread CPU time of its invocations
  outside boto3 calls (``time.thread_time``, so neither moto's work inside a call nor the
  other threads' turns on the GIL count). An inline activity runs inside the step's
  invocation, so its CPU is the step's: the marginal step CPU per activity is what an inline
  activity adds to the step Lambda's billed duration.
- Step Functions state transitions: every ``*StateEntered`` event of the run's executions'
  histories (Standard workflows bill each state entered), read with a client of its own.

Dollars per million activities at the list prices of ``runtime/costs.py``, with Lambda
duration modelled as ``bench/cost.py`` does (:func:`bench.cost.billed_ms`: the CPU measured
here at the Lambda's vCPU share plus a fixed wait per AWS call), per role and run, then the
marginal per activity.

python -m bench.activities
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# As bench/__main__ does, for `python -m bench.activities` alone (before any runtime import);
# only then: a test importing this module must not change the process's log level.
if __name__ == "__main__":
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3

from bench.load import HARNESS_OPS, Meter, _read_units, _write_units
from bench.timing import Figure, print_figures
from runtime import costs
from runtime.testing import REGION, LocalCloud

FLOWS = Path(__file__).resolve().parent.parent / "tests" / "apps" / "flows"
WORKFLOW = "app:loop"
#: The two run lengths compared: the marginal activity is their difference over LARGE - SMALL.
SMALL, LARGE = 1, 50
#: Runs of each length; the CPU figures are medians over them (the counts do not vary).
REPEATS = 3

#: The roles calls and CPU are attributed to.
CALLER, STEP, ACTIVITY, EVENT_SOURCE, TIMER = (
    "caller",
    "step",
    "activity",
    "event source",
    "timer wake (harness)",
)
#: The roles that are Lambda invocations (billed requests and duration).
LAMBDAS = (STEP, ACTIVITY)


# -- the arithmetic -----------------------------------------------------------------------------
def marginal(small: float, large: float, n_small: int = SMALL, n_large: int = LARGE) -> float:
    """What one more activity adds: the difference of two runs' counts over the difference of
    their activity counts (a run's fixed costs cancel out)."""
    if n_large <= n_small:
        raise ValueError(f"need more activities in the large run ({n_large} <= {n_small})")
    return (large - small) / (n_large - n_small)


def marginal_counts(
    small: Mapping[str, float],
    large: Mapping[str, float],
    n_small: int = SMALL,
    n_large: int = LARGE,
) -> dict[str, float]:
    """:func:`marginal` per key (a key missing from one run counts 0 there); keys whose
    marginal is 0 are left out, sorted by key."""
    out = {}
    for key in sorted(set(small) | set(large)):
        value = marginal(small.get(key, 0), large.get(key, 0), n_small, n_large)
        if value:
            out[key] = value
    return out


# -- counting ---------------------------------------------------------------------------------
@dataclass
class Role:
    """One role's part of a run: invocations (0 for a role that is not a Lambda), the boto3
    calls it made, and its thread CPU seconds outside them."""

    invocations: int = 0
    calls: int = 0
    cpu: float = 0.0


class RoleMeter(Meter):
    """:class:`bench.load.Meter` that also attributes each counted call to the role running on
    the calling thread, and keeps the thread CPU spent inside calls (to subtract from a role's
    own)."""

    def __init__(self) -> None:
        super().__init__()
        self.roles: dict[str, Role] = {}
        self.harness: Counter[str] = Counter()
        #: Capacity units by ``role service.Operation``: what each DynamoDB call costs.
        self.wru_by_op: Counter[str] = Counter()
        self.rru_by_op: Counter[str] = Counter()
        self._role = threading.local()

    def current(self) -> str:
        return getattr(self._role, "name", None) or CALLER

    @contextlib.contextmanager
    def acting(self, role: str, *, override: bool = False) -> Iterator[None]:
        """Calls on this thread meanwhile are ``role``'s. A Lambda (``override``) is always
        its own role (the activity Lambda inside the event source's poll); another role
        inside a Lambda stays the Lambda's (the activity's wake is not a timer wake)."""
        outer = getattr(self._role, "name", None)
        self._role.name = role if outer is None or override else outer
        try:
            yield
        finally:
            self._role.name = outer

    def cpu_in_calls(self) -> float:
        """Thread CPU seconds this thread has spent inside counted calls (moto's work)."""
        return getattr(self._role, "cpu_in_calls", 0.0)

    def _params(self, params: dict[str, Any], **kw: Any) -> None:
        super()._params(params, **kw)
        self._role.cpu_started = time.thread_time()

    def _after(self, event_name: str, parsed: Any = None, **kw: Any) -> None:
        started = getattr(self._role, "cpu_started", time.thread_time())
        self._role.cpu_in_calls = self.cpu_in_calls() + time.thread_time() - started
        _, service, op = event_name.split(".")
        name, role = f"{service}.{op}", self.current()
        empty_receive = op == "ReceiveMessage" and not (parsed or {}).get("Messages")
        with self._lock:
            if name in HARNESS_OPS or empty_receive:
                self.harness[name + (" (empty)" if empty_receive else "")] += 1
            elif role == TIMER:
                self.harness[f"{name} (timer wake)"] += 1
            else:
                self.roles.setdefault(role, Role()).calls += 1
                if service == "dynamodb":
                    params = getattr(self._local, "params", None) or {}
                    self.wru_by_op[f"{role} {op}"] += _write_units(op, params)
                    self.rru_by_op[f"{role} {op}"] += _read_units(op, params, parsed or {})
        if role == TIMER:
            return  # a deployed stack makes none of these: not in the tally either
        super()._after(event_name, parsed=parsed, **kw)
        if empty_receive:
            with self._lock:  # Meter counts every receive under calls; an empty one is harness
                self.tally.calls[name] -= 1
                if not self.tally.calls[name]:
                    del self.tally.calls[name]

    def lambda_(self, role: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` as one invocation of the Lambda ``role`` each call: counted, its calls
        attributed to it, its CPU outside calls added up."""

        def invocation(*args: Any, **kwargs: Any) -> Any:
            cpu, inside = time.thread_time(), self.cpu_in_calls()
            try:
                with self.acting(role, override=True):
                    return fn(*args, **kwargs)
            finally:
                own = (time.thread_time() - cpu) - (self.cpu_in_calls() - inside)
                with self._lock:
                    counted = self.roles.setdefault(role, Role())
                    counted.invocations += 1
                    counted.cpu += max(0.0, own)

        return invocation

    def as_role(self, role: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its calls attributed to ``role`` (not a Lambda: no invocation)."""

        def acted(*args: Any, **kwargs: Any) -> Any:
            with self.acting(role):
                return fn(*args, **kwargs)

        return acted


@dataclass
class RunCount:
    """Everything one run of ``n`` activities did."""

    n: int
    queued: bool
    calls: Counter[str]
    wru: float
    rru: float
    sqs_requests: int
    roles: dict[str, Role]
    transitions: int
    executions: int
    harness: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    wru_by_op: Counter[str] = field(default_factory=Counter)
    rru_by_op: Counter[str] = field(default_factory=Counter)

    def role(self, name: str) -> Role:
        return self.roles.get(name, Role())

    def flat(self) -> dict[str, float]:
        """Every counter by name, for :func:`marginal_counts`."""
        out: dict[str, float] = {f"call {op}": n for op, n in self.calls.items()}
        out.update(
            wru=self.wru,
            rru=self.rru,
            sqs=self.sqs_requests,
            transitions=self.transitions,
            calls=sum(self.calls.values()),
        )
        out.update({f"wru {op}": n for op, n in self.wru_by_op.items()})
        out.update({f"rru {op}": n for op, n in self.rru_by_op.items()})
        for name, role in self.roles.items():
            out[f"invocations {name}"] = role.invocations
            out[f"cpu {name}"] = role.cpu
            out[f"calls {name}"] = role.calls
        return out


def _instrument(cloud: LocalCloud) -> RoleMeter:
    flows = cloud.workflows
    assert flows is not None, f"{FLOWS} has no workflow host"
    meter = RoleMeter()
    clients = [flows.sqs, flows.sfn, flows.log.client, flows.queues.sqs]
    for fhost in flows.hosts.values():
        clients.append(fhost.activities.client)
        # LocalWorkflows.invoke (moto's Wake task) and run() (the event source) look these up
        # on the instance at each use, so the wrapped ones are what run.
        fhost.host.step = meter.lambda_(STEP, fhost.host.step)  # type: ignore[method-assign]
        fhost.activity_handler = meter.lambda_(ACTIVITY, fhost.activity_handler)
        poller = fhost.activities
        poller.poll = meter.as_role(EVENT_SOURCE, poller.poll)  # type: ignore[method-assign]
    # Called by a Lambda (the activity's wake) it is that Lambda's; called by nobody (the
    # harness's loop waking runs whose timers are due) it stands for a task timeout.
    flows.workflows.notify = meter.as_role(TIMER, flows.workflows.notify)  # type: ignore[method-assign]
    meter.attach(clients)
    return meter


def _ended_executions(cloud: LocalCloud, deadline: float = 30.0) -> list[str]:
    """The ARNs of every execution of the cloud's driver machines, once none is RUNNING (the
    run's last step sent SendTaskFailure; moto's thread then enters Done)."""
    flows = cloud.workflows
    assert flows is not None
    sfn = boto3.client("stepfunctions", region_name=REGION)  # not metered: the harness reads
    stop = time.monotonic() + deadline
    while True:
        executions = [
            e
            for machine in flows.driver.machines.values()
            for e in sfn.list_executions(stateMachineArn=machine)["executions"]
        ]
        if all(e["status"] != "RUNNING" for e in executions):
            return [e["executionArn"] for e in executions]
        if time.monotonic() > stop:
            raise RuntimeError(f"executions still running after {deadline} s: {executions}")
        time.sleep(0.01)


def transitions(arns: list[str]) -> int:
    """Standard-workflow state transitions of the executions: their ``*StateEntered`` events."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    entered = 0
    for arn in arns:
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            entered += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return entered


def count_run(n: int, queued: bool) -> RunCount:
    """One run of ``app:loop`` with ``n`` activities in a fresh cloud, counted."""
    args: dict[str, Any] = {"n": n, "queued": True} if queued else {"n": n}
    with LocalCloud(FLOWS) as cloud:
        meter = _instrument(cloud)
        started = time.perf_counter()
        run_id = cloud.start_workflow(WORKFLOW, args)
        ran = cloud.run_workflows()
        wall = time.perf_counter() - started
        arns = _ended_executions(cloud)
        tally, roles, harness = meter.take(), dict(meter.roles), Counter(meter.harness)
        result = cloud.result(run_id)
        assert result.status == "completed", result
        assert result.result["total"] == n * (n + 1), result.result
        assert ran == n, f"{ran} attempts ran for {n} activities"
        return RunCount(
            n=n,
            queued=queued,
            calls=tally.calls,
            wru=tally.wru,
            rru=tally.rru,
            sqs_requests=tally.sqs_standard + tally.sqs_fifo,
            roles=roles,
            transitions=transitions(arns),
            executions=len(arns),
            harness=harness,
            wall=wall,
            wru_by_op=Counter(meter.wru_by_op),
            rru_by_op=Counter(meter.rru_by_op),
        )


def _median_cpu(runs: list[RunCount]) -> RunCount:
    """The first run, each role's CPU replaced by the median over ``runs`` (the counts agree;
    checked)."""
    first = runs[0]
    for other in runs[1:]:
        assert other.calls == first.calls and other.transitions == first.transitions, (
            f"runs of {first.n} counted differently: {first.calls} vs {other.calls}"
        )
    roles = {
        name: Role(
            role.invocations,
            role.calls,
            statistics.median(r.role(name).cpu for r in runs),
        )
        for name, role in first.roles.items()
    }
    return RunCount(**{**first.__dict__, "roles": roles})


# -- dollars ----------------------------------------------------------------------------------
def lambda_usage(
    run: RunCount, memory_mb: int, billed_ms: Callable[[float, float], float]
) -> costs.Usage:
    """The run's Lambda requests and GB-seconds: per Lambda role, its invocations each billed
    its mean CPU and mean calls waited on (``billed_ms(cpu_seconds, calls)``)."""
    usage = costs.Usage()
    for name in LAMBDAS:
        role = run.role(name)
        if role.invocations:
            ms = billed_ms(role.cpu / role.invocations, role.calls / role.invocations)
            usage += costs.lambda_time(role.invocations, memory_mb, ms)
    return usage


def run_usage(
    run: RunCount, memory_mb: int, billed_ms: Callable[[float, float], float]
) -> costs.Usage:
    """What the whole run uses of each priced dimension."""
    return lambda_usage(run, memory_mb, billed_ms) + costs.Usage(
        sqs_standard_requests=run.sqs_requests,
        dynamodb_wru=run.wru,
        dynamodb_rru=run.rru,
        sfn_transitions=run.transitions,
    )


def marginal_usage(
    small: costs.Usage, large: costs.Usage, n_small: int, n_large: int
) -> costs.Usage:
    """:func:`marginal` of each dimension of two runs' usage."""
    return costs.Usage(
        **{
            name: marginal(getattr(small, name), getattr(large, name), n_small, n_large)
            for name in costs.Usage.__dataclass_fields__
        }
    )


@dataclass
class Accounting:
    """One kind of activity (inline or queued): the two runs, and the marginal per activity."""

    queued: bool
    small: RunCount
    large: RunCount

    @property
    def kind(self) -> str:
        return "queued" if self.queued else "inline"

    @property
    def per_activity(self) -> dict[str, float]:
        return marginal_counts(self.small.flat(), self.large.flat(), self.small.n, self.large.n)

    def usage(self, memory_mb: int, billed_ms: Callable[[float, float], float]) -> costs.Usage:
        """The marginal activity's usage (for the price rows)."""
        return marginal_usage(
            run_usage(self.small, memory_mb, billed_ms),
            run_usage(self.large, memory_mb, billed_ms),
            self.small.n,
            self.large.n,
        )


def account(queued: bool, repeats: int = REPEATS) -> Accounting:
    """Runs of SMALL and LARGE activities, alternating, ``repeats`` of each, after one run
    left out (the process's first LocalCloud pays first-call imports and compiles)."""
    count_run(SMALL, queued)
    small: list[RunCount] = []
    large: list[RunCount] = []
    for _ in range(repeats):
        small.append(count_run(SMALL, queued))
        large.append(count_run(LARGE, queued))
    return Accounting(queued, _median_cpu(small), _median_cpu(large))


#: This process's accountings, made once (bench.cost and bench.workflows both read them).
_DONE: dict[bool, Accounting] = {}


def accounting(queued: bool) -> Accounting:
    """:func:`account`, once per process per kind."""
    if queued not in _DONE:
        _DONE[queued] = account(queued)
    return _DONE[queued]


# -- figures ----------------------------------------------------------------------------------
def _ops(counts: Mapping[str, float], prefix: str = "call ") -> str:
    ops = {k[len(prefix) :]: v for k, v in counts.items() if k.startswith(prefix)}
    return ", ".join(f"{op} {v:g}" for op, v in ops.items()) or "none"


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def figures(acct: Accounting) -> list[Figure]:
    """Per activity (the marginal) and per whole run, for one kind."""
    from bench import cost  # here: bench.cost imports this module

    per = acct.per_activity
    kind, small, large = acct.kind, acct.small, acct.large
    usage = acct.usage(cost.MEMORY_MB, cost.billed_ms)
    lines = costs.dollars(usage)
    breakdown = ", ".join(f"{name} ${value * 1e6:.2f}" for name, value in lines.items())
    cpu = {name: per.get(f"cpu {name}", 0.0) * 1e3 for name in LAMBDAS}
    invocations = {name: per.get(f"invocations {name}", 0.0) for name in LAMBDAS}
    calls_by_role = {
        name: per.get(f"calls {name}", 0.0) for name in (CALLER, STEP, ACTIVITY, EVENT_SOURCE)
    }
    label = f"{kind} activity"
    method = f"(run of {large.n} - run of {small.n}) / {large.n - small.n}"
    harness = dict(large.harness)
    return [
        Figure(
            f"{label}: Step Functions state transitions",
            per.get("transitions", 0.0),
            "transitions",
            f"per activity, {method}; whole run: {small.transitions} at {small.n}, "
            f"{large.transitions} at {large.n} ({large.executions} execution)",
        ),
        Figure(
            f"{label}: AWS calls",
            per.get("calls", 0.0),
            "calls",
            f"{_ops(per)}; by role: "
            + ", ".join(f"{r} {v:g}" for r, v in calls_by_role.items() if v),
        ),
        Figure(
            f"{label}: DynamoDB WRU / RRU",
            per.get("wru", 0.0),
            "WRU",
            f"{_fmt(per.get('rru', 0.0))} RRU (estimated from item sizes); WRU: "
            f"{_ops(per, 'wru ')}; RRU: {_ops(per, 'rru ')}",
        ),
        Figure(
            f"{label}: SQS requests",
            per.get("sqs", 0.0),
            "requests",
            "send, the event source's receive and delete; its idle polls left out",
        ),
        Figure(
            f"{label}: Lambda invocations",
            sum(invocations.values()),
            "invocations",
            ", ".join(f"{r} {v:g}" for r, v in invocations.items()),
        ),
        Figure(
            f"{label}: Lambda CPU",
            sum(cpu.values()),
            "ms",
            ", ".join(f"{r} {v:.2f} ms" for r, v in cpu.items())
            + " (thread CPU outside AWS calls, this machine; an inline activity's is the step's)",
        ),
        Figure(
            f"{label}: $ per million, arm64",
            costs.per_million(usage),
            "$",
            f"x86_64 ${costs.per_million(usage, 'x86_64'):.2f}; {breakdown}; Lambda duration: "
            f"CPU at {cost.MEMORY_MB} MB's vCPU share + {cost.AWS_CALL_MS:.0f} ms per AWS call",
        ),
        Figure(
            f"{label}: whole run of {small.n}",
            sum(small.calls.values()),
            "calls",
            f"{small.transitions} transitions, {_fmt(small.wru)} WRU, {_fmt(small.rru)} RRU, "
            f"{small.sqs_requests} SQS; {_ops(dict(small.flat()))}",
        ),
        Figure(
            f"{label}: whole run of {large.n}",
            sum(large.calls.values()),
            "calls",
            f"{large.transitions} transitions, {_fmt(large.wru)} WRU, {_fmt(large.rru)} RRU, "
            f"{large.sqs_requests} SQS; {large.wall * 1e3:.0f} ms wall in the harness; left "
            f"out as the harness's: {harness or 'nothing'}",
        ),
    ]


def goals(inline: Accounting, queued: Accounting) -> list[Figure]:
    """The issue's goals, each a figure of 1 (met) or 0 (missed)."""
    from bench import cost

    i, q = inline.per_activity, queued.per_activity
    i_usd = costs.per_million(inline.usage(cost.MEMORY_MB, cost.billed_ms))
    q_usd = costs.per_million(queued.usage(cost.MEMORY_MB, cost.billed_ms))
    checks = [
        ("inline: 0 transitions per activity", i.get("transitions", 0.0) == 0),
        ("inline: at most 2 AWS calls per activity", i.get("calls", 0.0) <= 2),
        ("inline: at most $2 per million", i_usd <= 2),
        (
            f"inline: transitions of a run the same at {inline.small.n} and {inline.large.n}",
            inline.small.transitions == inline.large.transitions,
        ),
        ("queued: at most 1 transition per activity", q.get("transitions", 0.0) <= 1),
        ("queued: at most $30 per million", q_usd <= 30),
    ]
    return [Figure(f"goal, {name}", float(ok), "met" if ok else "MISSED") for name, ok in checks]


def run() -> list[Figure]:
    inline, queued = accounting(False), accounting(True)
    return [*figures(inline), *figures(queued), *goals(inline, queued)]


if __name__ == "__main__":
    print_figures(run())
