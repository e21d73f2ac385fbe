"""A failing activity attempt says so: one WARNING line (logger ``units.workflows``) with the
activity, its run, the attempt number and the error, inline or queued; `units workflow history`
shows the error whole. Without it, a run started with input its activity refuses retries for
ever in silence."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runtime.cli.workflows import _event_line
from runtime.testing import LocalCloud
from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: flows
    kind: workflow.host
  - name: reserve
    kind: function.lua
    source: file://reserve.lua
  - name: order
    kind: workflow.lua
    source: file://order.lua
    modules: [funcs]
"""

FILES = {
    # Indexes a field the input may lack: the error examples/orders gave a bad order.
    "reserve.lua": """
        return { handler = function(order)
          return { items = #order.items, why = string.rep("x", 80) .. " the end" }
        end }
    """,
    "order.lua": """
        local funcs = require("funcs")
        return { main = function(order)
          local executor = funcs.new():with_options({
            ["activity.local"] = not order.queued,
            ["activity.retry_policy"] = { initial_interval = "1s", maximum_attempts = 3 },
          })
          local value, err = executor:call("app:reserve", order)
          return { err = err and err:message() }
        end }
    """,
}


@pytest.fixture
def cloud(tmp_path: Path):
    with LocalCloud(write_app(tmp_path / "app", INDEX, FILES)) as c:
        yield c


def attempt_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "units.workflows"]


@pytest.mark.parametrize("queued", [False, True], ids=["inline", "queued"])
def test_each_failed_attempt_logs_one_warning_with_its_number_and_error(
    cloud: LocalCloud, caplog: pytest.LogCaptureFixture, queued: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="units.workflows")
    run_id = cloud.start_workflow("app:order", {"id": "bad", "queued": queued})
    cloud.run_workflows()
    cloud.advance_time(1)  # the first retry's timer
    cloud.advance_time(2)  # the second's
    assert cloud.result(run_id).status == "completed"
    lines = attempt_lines(caplog)
    assert [(r.levelno, r.attempt, r.run_id) for r in lines] == [
        (logging.WARNING, n, run_id) for n in (1, 2, 3)
    ]
    message = lines[0].getMessage()
    assert message.startswith("activity app:reserve failed (attempt 1): Internal: reserve.lua:2:")
    assert "attempt to get length of a nil value (field 'items')" in message
    assert "\n" not in message


def test_history_shows_the_error_whole(cloud: LocalCloud) -> None:
    run_id = cloud.start_workflow("app:order", {"id": "bad"})
    cloud.run_workflows()
    failed = next(e for e in cloud.history(run_id) if e["type"] == "ActivityFailed")
    failed["error"]["message"] += " " + "y" * 200 + " the end"  # longer than any cell
    line = _event_line(failed)
    assert "error=Internal: reserve.lua:2: attempt to get length of a nil value" in line
    assert line.endswith(" the end")


def test_the_dev_terminal_shows_the_line_under_the_activity_and_its_run() -> None:
    import io

    from runtime.dev.logs import HubHandler, LogHub
    from runtime.durable.attempts import _failed

    out = io.StringIO()
    handler = HubHandler(LogHub(out, color=False))
    handler.attach()
    try:
        _failed("orders:reserve", "run-1", 2, {"kind": "Internal", "message": "a\n  b"})
    finally:
        handler.detach()
    assert (
        out.getvalue()
        .rstrip("\n")
        .endswith(
            "orders:reserve [run-1] warning activity orders:reserve failed (attempt 2): "
            "Internal: a b logger=units.workflows"
        )
    )
