"""Side by side with AWS Lambda durable functions: the same 50-step workflow written for
``aws-durable-execution-sdk-python`` and run in its local test runner, and written in Lua for
this kit and run in ``LocalCloud`` (issue 4).

python -m bench.durable_sdk     # this section alone; python -m bench runs it with the others

Each side gets a fresh harness per repetition (its set-up is not timed: ``LocalCloud`` takes
seconds to create its tables, queues and state machine in moto, the SDK's runner a millisecond),
and the timed span is start to result. Repetitions alternate between the sides so a busy patch
of the machine hits both; the figures are medians.

Read the ratio with what each side does per step:

- theirs: one in-process Lambda invocation runs all 50 steps inline (nothing suspends, so
  nothing is replayed); each step's START (not waited for) and SUCCEED (waited for) go to an
  in-memory stand-in of the durable execution service through the SDK's checkpoint batcher
  thread, one request per step. No AWS API is emulated, and most of its wall time is the
  batcher's timed waits (its 0.1 s stop-signal poll when the invocation ends, a 1 ms wait per
  blocking checkpoint), not CPU: compare the CPU rows.
- ours: the deployed design emulated by moto in this process. The driver's ASL (one Wake task)
  in moto's Step Functions interpreter invokes the step handler once; the step replays the
  run and runs the 50 activities INLINE (``funcs.call`` by default), each on the step's own
  engine, its outcome appended to the run's DynamoDB event log (one conditional PutItem: the
  checkpoint) before the code goes on, the way a durable-functions step runs in its
  invocation; then it ends its own task (SendTaskFailure, caught into Succeed). So the run
  is Wake + Done whatever its length, and the activity queue, the activity Lambda and
  SendTaskSuccess are not used (a queued activity would use them: ``bench/activities.py``
  prices both). The checked figure below says every activity ran inline. The replay-engine
  row is the same Lua workflow with no AWS call at all.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# As bench/__main__ does, for `python -m bench.durable_sdk` alone (before any runtime import).
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from bench.timing import Figure
from runtime import manifest
from runtime.clock import ManualClock
from runtime.durable import events as ev
from runtime.durable.replay import Replay
from runtime.engine import Engine
from runtime.testing import LocalCloud

try:
    from aws_durable_execution_sdk_python.context import DurableContext, durable_step
    from aws_durable_execution_sdk_python.execution import InvocationStatus, durable_execution
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
except ImportError:  # the optional `bench` extra is not installed
    durable_execution = None

STEPS = 50
REPEATS = 5
INPUT = {"steps": STEPS}

# -- the workflow, for this kit ------------------------------------------------------------------
MANIFEST = """\
version: "1.0"
namespace: bench
entries:
  - name: add_one
    kind: function.lua
    source: file://add_one.lua
    method: handler
  - name: steps
    kind: workflow.lua
    source: file://steps.lua
    modules: [funcs]
  - name: flows
    kind: workflow.host
"""
ADD_ONE_LUA = """\
return { handler = function(n) return n + 1 end }
"""
STEPS_LUA = """\
local funcs = require("funcs")

-- input.steps activities one after the other, each adding 1.
local function main(input)
  local n = 0
  for _ = 1, input.steps do
    n = funcs.call("bench:add_one", n)
  end
  return n
end

return { main = main }
"""

# -- the workflow, for the durable SDK -----------------------------------------------------------
if durable_execution is not None:

    @durable_step
    def add_one(step_context: Any, n: int) -> int:
        return n + 1

    @durable_execution
    def steps_workflow(event: dict[str, Any], context: DurableContext) -> int:
        n = 0
        for _ in range(event["steps"]):
            n = context.step(add_one(n))
        return n


def _write_app(folder: Path) -> Path:
    for name, text in (
        ("_index.yaml", MANIFEST),
        ("add_one.lua", ADD_ONE_LUA),
        ("steps.lua", STEPS_LUA),
    ):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


class _Sample:
    """Wall and process CPU seconds of one timed span (CPU of every thread: the SDK's batcher
    and moto's Step Functions threads do part of the work)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> _Sample:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def _theirs(steps: int, counted: Counter[str]) -> _Sample:
    """One run in a fresh DurableFunctionTestRunner; counts its checkpoint requests."""
    with DurableFunctionTestRunner(handler=steps_workflow) as runner:
        client = runner._service_client  # the in-memory service the SDK checkpoints to
        checkpoint = client.checkpoint

        def counting(*args: Any, **kwargs: Any) -> Any:
            counted["checkpoint"] += 1
            return checkpoint(*args, **kwargs)

        client.checkpoint = counting
        with _Sample() as sample:
            result = runner.run(input=json.dumps({"steps": steps}), execution_timeout=60)
    assert result.status is InvocationStatus.SUCCEEDED, result.error
    assert json.loads(result.result) == steps, result.result
    return sample


def _ours(app: Path, steps: int, counted: Counter[str]) -> _Sample:
    """One run in a fresh LocalCloud; counts the AWS API calls of the workflow machinery and
    the attempts run inline (``counted["inline attempts"]``, all of them: checked)."""
    with LocalCloud(app) as cloud:
        flows = cloud.workflows

        def count(event_name: str, **_: object) -> None:
            counted[event_name.split(".")[1]] += 1  # before-call.<service>.<operation>

        for client in (flows.sqs, flows.sfn, flows.log.client):
            client.meta.events.register("before-call.*.*", count)
        with _Sample() as sample:
            run_id = cloud.start_workflow("bench:steps", {"steps": steps})
            cloud.run_workflows()
            result = cloud.result(run_id)
    assert result.status == "completed", result.error
    assert result.result == steps, result.result
    inline = sum(h.host.stepper.inline.attempts for h in flows.hosts.values())
    assert inline == steps, f"{inline} of {steps} activities ran inline"
    counted["inline attempts"] += inline
    return sample


def _replay_only(app: Path) -> float:
    """Seconds for the Lua workflow on the replay engine alone: sticky resume after each
    activity, each activity called on an engine of its own, no AWS round in between."""
    registry = manifest.load_app(app)
    flow, activities = Engine(registry, clock=ManualClock()), Engine(registry, clock=ManualClock())
    try:
        start = time.perf_counter()
        now = flow.clock.now()
        history = [ev.Event(ev.WORKFLOW_STARTED, now, {"input": INPUT}, seq=1)]
        replay = Replay(flow, "bench:steps", "bench", history)
        result = replay.resume([], now)
        while result.status == "running":
            outcomes = [
                ev.Event(
                    ev.ACTIVITY_COMPLETED,
                    now,
                    {"cmd": a.cmd, "value": activities.call(a.fields["id"], a.fields["args"])},
                )
                for a in result.new_activities
            ]
            result = replay.resume(outcomes, now)
        elapsed = time.perf_counter() - start
        replay.close()
    finally:
        flow.close()
        activities.close()
    assert result.status == "completed" and result.result == STEPS, result
    return elapsed


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def _spread(samples: list[float]) -> str:
    return f"{min(samples) * 1e3:.0f}–{max(samples) * 1e3:.0f} ms"


def run() -> list[Figure]:
    if durable_execution is None:
        print(
            "  skipped: aws-durable-execution-sdk-python(-testing) is not installed; "
            "`make bench` installs it (pip install -e '.[bench]')",
            file=sys.stderr,
        )
        return []
    theirs: list[_Sample] = []
    ours: list[_Sample] = []
    their_calls: Counter[str] = Counter()
    our_calls: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="bench-durable-") as tmp:
        app = _write_app(Path(tmp))
        _theirs(1, Counter())  # warm: first-call imports on both sides, Lua compile
        _ours(app, 1, Counter())
        subjects: list[tuple[Callable[[], _Sample], list[_Sample]]] = [
            (lambda: _theirs(STEPS, their_calls), theirs),
            (lambda: _ours(app, STEPS, our_calls), ours),
        ]
        for _ in range(REPEATS):
            for measure, samples in subjects:
                samples.append(measure())
        replay_only = statistics.median(_replay_only(app) for _ in range(REPEATS))
    their_wall = _median_ms([s.wall for s in theirs])
    our_wall = _median_ms([s.wall for s in ours])
    their_cpu = _median_ms([s.cpu for s in theirs])
    our_cpu = _median_ms([s.cpu for s in ours])
    per_activity = REPEATS * STEPS
    inline = our_calls.pop("inline attempts", 0)
    our_total = sum(our_calls.values()) / per_activity
    breakdown = ", ".join(f"{n / per_activity:g} {svc}" for svc, n in sorted(our_calls.items()))
    medians = f"median of {REPEATS}, alternating"
    return [
        Figure(
            f"{STEPS}-step workflow, durable SDK local runner",
            their_wall,
            "ms",
            f"{medians} ({_spread([s.wall for s in theirs])}); in-process, in-memory "
            "checkpoint service",
        ),
        Figure(
            f"{STEPS}-activity workflow, ours in LocalCloud",
            our_wall,
            "ms",
            f"{medians} ({_spread([s.wall for s in ours])}); Step Functions, DynamoDB, SQS in moto",
        ),
        Figure("wall time, ours / durable SDK", our_wall / their_wall, "x"),
        Figure("CPU per workflow, durable SDK", their_cpu, "ms", "all threads"),
        Figure("CPU per workflow, ours in LocalCloud", our_cpu, "ms", "all threads, moto's too"),
        Figure("CPU, ours / durable SDK", our_cpu / their_cpu, "x"),
        Figure(
            f"{STEPS}-activity workflow, ours on the replay engine alone",
            replay_only * 1e3,
            "ms",
            f"median of {REPEATS}; the same Lua on fresh engines, no AWS round between activities",
        ),
        Figure(
            "durable SDK checkpoint requests per step",
            their_calls["checkpoint"] / per_activity,
            "calls",
            "to its in-memory service",
        ),
        Figure(
            "our AWS API calls per activity",
            our_total,
            "calls",
            f"the whole run's over its {STEPS} activities (its start and end included): "
            f"{breakdown}; {inline / per_activity:.0%} of the activities ran inline",
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(f"{figure.name}: {figure.value:.2f} {figure.unit}  {figure.note}")
