"""moto's Step Functions interpreter logs no more than Step Functions would: the driver's own
control flow (a run's end, a Wake's timeout that is the run's timer) not at all, any other
failed state in one short line instead of its parse tree (about 4 KB a step); and in the dev
stack, not in the terminal at all (the stack says "step failed" itself)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runtime.dev.cloud import MOTO_STEP_FUNCTIONS
from runtime.dev.logs import LogHub
from runtime.dev.stack import DevStack
from runtime.testing import LocalCloud
from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: flows
    kind: workflow.host
  - name: f
    kind: function.lua
    source: file://f.lua
  - name: w
    kind: workflow.lua
    source: file://w.lua
    modules: [funcs]
"""
FILES = {
    "f.lua": "return { handler = function(n) return n * 2 end }",
    "w.lua": """
        local funcs = require("funcs")
        return { main = function() return funcs.call("app:f", 21) end }
    """,
}


def moto_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("moto.stepfunctions")]


def test_a_failing_step_is_one_short_line_and_a_run_that_ends_is_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.workflows import asl

    monkeypatch.setattr(asl, "STEP_RETRY_MAX_ATTEMPTS", 0)  # park at once (moto sleeps)
    caplog.set_level(logging.WARNING)
    files = {**FILES, "broken.lua": 'error("boom")'}
    index = INDEX + "  - {name: broken, kind: workflow.lua, source: file://broken.lua}\n"
    with LocalCloud(write_app(tmp_path / "app", index, files)) as cloud:
        quiet = cloud.start_workflow("app:w")
        cloud.run_workflows()
        assert cloud.result(quiet).result == 42
        assert moto_records(caplog) == []  # ended through the driver's Completed: no line
        broken = cloud.start_workflow("app:broken")
        cloud.run_workflows()
        assert cloud.result(broken).status == "parked"
    lines = [r.getMessage() for r in moto_records(caplog)]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Exception=FailureEventException, Error=UnitError, Details=")
    assert len(lines[0]) <= 300 and "\n" not in lines[0]
    assert "StateTaskServiceLambda|" not in lines[0] and "PayloadBinding" not in lines[0]


def test_the_dev_stack_keeps_moto_out_of_the_terminal(tmp_path: Path) -> None:
    logger = logging.getLogger(MOTO_STEP_FUNCTIONS)
    before = logger.level
    with DevStack(write_app(tmp_path / "app", INDEX, FILES), port=0, hub=LogHub()):
        assert not logger.isEnabledFor(logging.ERROR)
    assert logger.level == before
