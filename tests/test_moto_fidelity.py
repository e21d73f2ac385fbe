"""moto's Step Functions answers as the real service does where the kit can tell the difference
(runtime/moto_fidelity.py): a spent task token is refused, a stopped execution stays stopped, a
task failure keeps its cause."""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace

import pytest

from runtime import moto_fidelity
from runtime.moto_fidelity import ExecutionStopped
from runtime.testing import LocalCloud
from runtime.workflows import asl
from tests.conftest import ROOT

FLOWS = ROOT / "tests" / "apps" / "flows"


def test_a_spent_task_token_is_refused_with_task_timed_out():
    with LocalCloud(FLOWS) as cloud:
        run_id = cloud.start_workflow("app:approval", {"wait": "1h"})
        cloud.run_workflows()
        assert cloud.workflows is not None
        token, _ = cloud.workflows.log.wait(run_id)
        assert token, "the run did not park"
        sfn = cloud.workflows.sfn
        state = json.dumps(asl.task_state(run_id, 3600))
        sfn.send_task_success(taskToken=token, output=state)  # the wait ends: the run steps
        with pytest.raises(sfn.exceptions.TaskTimedOut):
            sfn.send_task_success(taskToken=token, output=state)
        cloud.run_workflows()
        # The driver reads it as stale.
        assert cloud.workflows.driver.wake(token, asl.task_state(run_id)) is False
        cloud.signal(run_id, "approve", "mia")
        cloud.run_workflows()
        assert cloud.result(run_id).result == {"approved": True, "by": "mia", "noted": {}}


class _Execution:
    """What the Retry's frame holds as ``env``: only whether the execution still runs."""

    def __init__(self, running: bool) -> None:
        self.running = running

    def is_running(self) -> bool:
        return self.running


def _retry_wait(wait: moto_fidelity._StoppableRetryWait, env: _Execution, seconds: float) -> None:
    # The wait finds the execution in its caller's frame, as in moto's retrier.
    wait.sleep(seconds)


def test_a_stopped_execution_never_runs_its_retried_state():
    slept: list[float] = []
    wait = moto_fidelity._StoppableRetryWait(SimpleNamespace(sleep=slept.append))
    _retry_wait(wait, _Execution(running=True), 2.0)
    assert slept == [2.0]
    with pytest.raises(ExecutionStopped, match="stopped while it waited out a Retry"):
        _retry_wait(wait, _Execution(running=False), 4.0)


def test_a_retry_wait_on_the_clock_ends_as_soon_as_the_execution_is_stopped():
    import time

    wait = moto_fidelity._StoppableRetryWait(time)
    started = time.monotonic()
    with pytest.raises(ExecutionStopped):
        _retry_wait(wait, _Execution(running=False), 600.0)
    assert time.monotonic() - started < 1.0  # not the 600 s the Retry asked for


def test_the_harness_installs_every_patch_and_takes_them_back():
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager
    from moto.stepfunctions.responses import StepFunctionResponse

    def patched():
        return (
            retrier_decl.time,
            CallbackPoolManager.notify,
            StepFunctionResponse.send_task_failure,
        )

    before = patched()
    with LocalCloud(FLOWS):
        assert isinstance(retrier_decl.time, moto_fidelity._StoppableRetryWait)
        assert all(now is not then for now, then in zip(patched()[1:], before[1:], strict=True))
    assert patched() == before


def test_a_failed_runs_execution_carries_its_error_and_cause():
    with LocalCloud(FLOWS) as cloud:
        run_id = cloud.start_workflow("app:bulky", {"size": 400_000, "big_result": True})
        cloud.run_workflows()
        assert cloud.result(run_id).status == "failed"
        flows = cloud.workflows
        assert flows is not None
        arn = flows._executions[run_id]
        deadline = time.monotonic() + 10  # the end lands in moto's thread, after the index
        while (execution := flows.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end"
            time.sleep(0.01)
        error = cloud.result(run_id).error
        assert execution["status"] == "FAILED" and execution["error"] == "Workflow.Failed"
        assert execution["cause"] == f"{error['kind']}: {error['message']}"


def test_the_drivers_endings_are_not_logged_as_errors_and_crashes_still_are(caplog):
    with LocalCloud(FLOWS) as cloud:
        cloud.start_workflow("app:bulky", {"size": 400_000, "big_result": True})  # fails
        done = cloud.start_workflow("app:loop", {"n": 1})  # completes
        cloud.run_workflows()
        assert cloud.result(done).status == "completed"
        logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert not any("Error=Workflow.Failed" in m or "Error=Completed" in m for m in logged)
        from runtime.moto_fidelity import _StepFunctionsDumps

        crash = logging.LogRecord(
            "x", logging.ERROR, "", 0, "%s at '%s'", ("Error=StepCrash, Details=", "..."), None
        )
        assert _StepFunctionsDumps().filter(crash)
