"""SQS records thrown at the process worker and the workflow activity handler, and Step
Functions inputs thrown at the workflow host's step and wake operations, over one small app in
the harness (moto). A record either succeeds or comes back as a batch item failure (never an
exception out of the handler, never another record's failure); a step or wake either answers
or raises a clear error (UnitError with kind and message, or a KeyError/TypeError naming the
missing or mistyped field of an input Step Functions would never send). Afterwards the same
workers serve normal work."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ParamValidationError
from hypothesis import example, given
from hypothesis import strategies as st

from runtime.errors import UnitError
from runtime.processes.local import lambda_handler_for
from runtime.testing import LocalCloud
from runtime.workflows.log import LogConflict
from tests.conftest import write_app
from tests.fuzz.conftest import fuzz

INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: workers
    kind: process.host
    max_receive_count: 2
  - name: counter
    kind: process.lua
    source: file://counter.lua
  - name: double
    kind: function.lua
    source: file://double.lua
  - name: flows
    kind: workflow.host
  - name: twice
    kind: workflow.lua
    source: file://twice.lua
    modules: [funcs]
"""
FILES = {
    "counter.lua": """
        local counter = {}
        function counter.init(n) return { n = n or 0 } end
        function counter.handle(state, msg)
          if msg:topic() == "inc" then state.n = state.n + msg:payload():data() end
          return state
        end
        return counter
    """,
    "double.lua": "return { handler = function(x) return x * 2 end }\n",
    "twice.lua": """
        local funcs = require("funcs")
        return { main = function(x) return funcs.call("app:double", funcs.call("app:double", x)) end }
    """,
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    app = write_app(tmp_path_factory.mktemp("handlers"), INDEX, FILES)
    with LocalCloud(app) as c:
        # Real things for the fuzz to aim at: a live actor and a finished run.
        c.pid = c.spawn("app:counter", "app:workers", 1)
        c.drain()
        c.run_id = c.start_workflow("app:twice", 5)
        c.run_workflows()
        assert c.result(c.run_id).result == 20
        yield c


_IDS = itertools.count()

TEXT = st.text(max_size=12)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    TEXT,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(TEXT, st.integers(), max_size=2),
)


# -- SQS: the process worker --------------------------------------------------------------------


@st.composite
def envelopes(draw, pid: str) -> Any:
    kind = draw(
        st.one_of(
            st.sampled_from(
                ["spawn", "message", "event", "link", "unlink", "monitor", "unmonitor", "terminate"]
            ),
            JUNK,
        )
    )
    to = draw(
        st.one_of(st.just(pid), st.just("app:workers/" + "0" * 32), st.just("app:other/x"), JUNK)
    )
    body: dict[str, Any] = {
        "kind": kind,
        "to": to,
        "id": draw(st.one_of(st.just(f"id{next(_IDS)}"), JUNK)),
    }
    for name in draw(
        st.lists(
            st.sampled_from(
                [
                    "topic",
                    "payload",
                    "entry",
                    "args",
                    "links",
                    "monitors",
                    "name",
                    "service",
                    "context",
                    "event",
                    "result",
                    "reason",
                    "from",
                    "generation",
                    "host",
                ]
            ),
            max_size=5,
            unique=True,
        )
    ):
        body[name] = draw(
            st.one_of(
                JUNK,
                st.sampled_from(
                    [
                        "inc",
                        "app:counter",
                        "app:double",
                        "EXIT",
                        "CANCEL",
                        "LINK_DOWN",
                        pid,
                        {"$bytes": "!"},
                        {"value": 1},
                    ]
                ),
            )
        )
    return body


@st.composite
def sqs_records(draw, pid: str) -> dict[str, Any]:
    shape = draw(st.integers(0, 5))
    if shape == 0:
        body = draw(TEXT)
    elif shape == 1:
        body = json.dumps(draw(JUNK))
    else:
        body = json.dumps(draw(envelopes(pid)))
    group = draw(st.one_of(st.just(pid), st.just("g"), st.none(), TEXT))
    attributes = {
        "ApproximateReceiveCount": draw(st.sampled_from(["1", "2", "9", "x"])),
        "SentTimestamp": "1700000000000",
        "SenderId": "AIDA",
        "ApproximateFirstReceiveTimestamp": "1700000000000",
        "SequenceNumber": draw(st.sampled_from([str(10**19 + next(_IDS)), "1", "x", ""])),
        "MessageDeduplicationId": "d",
    }
    if group is not None:
        attributes["MessageGroupId"] = group
    return {
        "messageId": f"m{next(_IDS)}",
        "receiptHandle": "rh",
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:units-app-workers.fifo",
        "awsRegion": "us-east-1",
    }


def _check_batch(reply: Any, records: list[dict[str, Any]]) -> None:
    assert isinstance(reply, dict) and isinstance(reply.get("batchItemFailures"), list), reply
    ids = {r["messageId"] for r in records}
    assert {f["itemIdentifier"] for f in reply["batchItemFailures"]} <= ids


@fuzz(60)
@given(data=st.data())
@example(data=None)
def test_process_worker_answers_every_batch(cloud, data):
    if data is None:
        # Found by this fuzzer: an unhashable kind (a list) raised TypeError out of the worker,
        # failing the whole batch, every actor's messages with it.
        good = {"kind": "message", "to": cloud.pid, "id": "good", "topic": "noop"}
        bodies = [{"kind": [], "to": cloud.pid, "id": "x"}, good]
        records = [
            {
                "messageId": f"poison{i}",
                "receiptHandle": "rh",
                "body": json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "MessageGroupId": cloud.pid,
                    "SequenceNumber": str(10**19 + i),
                },
            }
            for i, body in enumerate(bodies)
        ]
        reply = lambda_handler_for(cloud.processes.hosts["app:workers"].worker.handle)(
            {"Records": records}
        )
        assert [f["itemIdentifier"] for f in reply["batchItemFailures"]] == ["poison0"]
        return
    records = data.draw(st.lists(sqs_records(cloud.pid), min_size=1, max_size=4))
    worker = cloud.processes.hosts["app:workers"].worker
    reply = lambda_handler_for(worker.handle)({"Records": records})
    _check_batch(reply, records)


# -- SQS: the activity handler ------------------------------------------------------------------


@st.composite
def activity_records(draw, run_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {}
    for name, good in [
        ("run_id", run_id),
        ("key", f"k{next(_IDS)}"),
        ("seq", 2),
        ("cmd", 1),
        ("id", "app:double"),
        ("args", [3]),
        ("attempt", 1),
        ("deadline", None),
    ]:
        if draw(st.integers(0, 4)):
            message[name] = draw(st.one_of(st.just(good), JUNK, st.just("app:twice")))
    body = json.dumps(message) if draw(st.integers(0, 5)) else draw(TEXT)
    return {
        "messageId": f"a{next(_IDS)}",
        "receiptHandle": "rh",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:units-app-flows-activities",
    }


@fuzz(60)
@given(data=st.data())
@example(data=None)
def test_activity_handler_answers_every_batch(cloud, data):
    if data is None:  # an unknown run: recorded nowhere, no exception out of the handler
        records = [
            {
                "messageId": "x",
                "receiptHandle": "rh",
                "attributes": {},
                "body": json.dumps(
                    {
                        "run_id": "no-such-run",
                        "key": "k",
                        "seq": 1,
                        "cmd": 1,
                        "id": "app:double",
                        "args": [1],
                    }
                ),
            }
        ]
    else:
        records = data.draw(st.lists(activity_records(cloud.run_id), min_size=1, max_size=3))
    try:
        reply = cloud.workflows.hosts["app:flows"].activity_handler({"Records": records})
    except BatchProcessingError as exc:
        # Powertools' BatchProcessor (as handlers/activity.py builds it) raises when every
        # record failed: SQS then retries the whole batch, the same as all of them reported.
        assert len(exc.child_exceptions) == len(records)
    else:
        _check_batch(reply, records)


# -- Step Functions: the step operation ------------------------------------------------------

#: What a step may raise for an input the driver never sends: clear errors. (botocore's
#: ParamValidationError names the parameter and the type.)
CLEAR = (UnitError, LogConflict, KeyError, TypeError, ValueError, ParamValidationError)


def _clear(exc: BaseException) -> bool:
    if isinstance(exc, UnitError):
        return bool(exc.kind and exc.message)
    return isinstance(exc, CLEAR) and bool(str(exc))


EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:x:y--0"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:x"


@st.composite
def step_inputs(draw, run_id: str) -> dict[str, Any]:
    good = {
        "run_id": draw(st.one_of(st.just(run_id), st.just("no-such-run"), TEXT)),
        "token": draw(st.one_of(TEXT, JUNK)),
        "timeout": draw(st.one_of(st.integers(-1, 10**8), JUNK)),
        "rearm": draw(st.one_of(st.booleans(), JUNK)),
        "entered": draw(st.one_of(st.just("2026-11-25T10:00:01Z"), JUNK)),
        "execution": draw(st.one_of(st.just(EXECUTION), TEXT)),
        "started": draw(
            st.one_of(st.just("2026-11-25T10:00:00Z"), st.just("2001-01-01T00:00:00Z"), JUNK)
        ),
        "state_machine": MACHINE,
    }
    return {k: v for k, v in good.items() if draw(st.integers(0, 6))}


@fuzz(40)
@given(data=st.data())
@example(data=None)
def test_step_answers_or_raises_a_clear_error(cloud, data):
    host = cloud.workflows.hosts["app:flows"].host
    if data is None:  # the full input, of a run that ended: stepping it again reports the end
        step_input = {
            "run_id": cloud.run_id,
            "token": "a-token-of-an-ended-wait",
            "timeout": 60,
            "rearm": False,
            "entered": "2026-11-25T10:00:01Z",
            "execution": EXECUTION,
            "started": "2026-11-25T10:00:00Z",
            "state_machine": MACHINE,
        }
        # Its end goes to the token, which Step Functions finds stale: nothing else changes.
        assert host.step(step_input)["kind"] == "done"  # type: ignore[arg-type]
        assert cloud.result(cloud.run_id).status == "completed"
        return
    step_input = data.draw(step_inputs(cloud.run_id))
    try:
        reply = host.step(step_input)  # type: ignore[arg-type]
    except Exception as exc:
        assert _clear(exc), repr(exc)
    else:
        assert reply["kind"] in ("step", "park", "rearm", "done", "failed", "rollover"), reply


def test_a_step_input_that_is_not_the_drivers_is_refused_before_anything_is_read(cloud):
    host = cloud.workflows.hosts["app:flows"].host
    with pytest.raises(UnitError, match="not a workflow step input") as exc:
        host.step({"run_id": "never-started", "steps": 1})  # type: ignore[typeddict-item]
    assert exc.value.kind == "Invalid"


def test_a_park_for_an_unknown_run_leaves_no_trace(cloud):
    """Found by the fuzzer (for the wake Lambda this replaced): a token must never be stored
    unconditionally, which would create a stray run row that describe then trips over."""
    host = cloud.workflows.hosts["app:flows"].host
    step_input = {
        "run_id": "never-started",
        "token": "t",
        "timeout": 60,
        "rearm": True,  # park only: straight to storing the token
        "entered": "2026-11-25T10:00:01Z",
        "execution": EXECUTION,
        "started": "2026-11-25T10:00:00Z",
        "state_machine": MACHINE,
    }
    with pytest.raises(UnitError, match="no workflow run never-started"):
        host.step(step_input)  # type: ignore[arg-type]
    with pytest.raises(UnitError) as exc:
        cloud.workflows.workflows.describe("never-started")
    assert exc.value.kind == "NotFound"


def test_the_workers_serve_normal_work_afterwards(cloud):
    cloud.send(cloud.pid, "inc", 41)
    cloud.drain()
    assert cloud.state(cloud.pid) == {"n": 42}
    run_id = cloud.start_workflow("app:twice", 1)
    cloud.run_workflows()
    assert cloud.result(run_id).result == 4
