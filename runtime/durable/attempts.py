"""One activity attempt, wherever it runs: its idempotency key, the context the function gets,
and the outcome event fields its result or error becomes.

The activity Lambda (a queued attempt, :meth:`runtime.workflows.host.WorkflowHost.run_activity`)
and the step (an inline one, :mod:`runtime.durable.inline`) both go through here, so an
attempt's outcome is recorded the same way whichever ran it.
"""

from __future__ import annotations

import logging
from typing import Any

from runtime import codec
from runtime.durable import events as ev
from runtime.errors import TIMEOUT, UnitError

#: One WARNING line per failed attempt (the dev stack shows it under the activity's name).
log = logging.getLogger("units.workflows")


def key(run_id: str, seq: int) -> str:
    """An attempt's idempotency key: the run and its ``ActivityScheduled`` event's number."""
    return f"{run_id}:{seq}"


def context(run_id: str, idempotency_key: str, attempt: int) -> dict[str, Any]:
    """What the function finds in ``ctx`` for one attempt."""
    return {"idempotency_key": idempotency_key, "run_id": run_id, "attempt": attempt}


def expired(name: str) -> UnitError:
    """The error of an attempt whose deadline passed before it could start."""
    return UnitError(TIMEOUT, f"activity {name} expired before it ran")


def outcome(
    name: str,
    cmd: int,
    value: Any,
    error: UnitError | None,
    limit: float | None,
    *,
    run_id: str,
    attempt: int,
    logged: bool = True,
) -> tuple[str, dict[str, Any]]:
    """``ActivityCompleted`` with the value, or ``ActivityFailed`` with the error; a TIMEOUT
    within ``limit`` (the seconds the attempt had) says how long it waited. A failure is
    logged: one WARNING line with the activity, the run, the attempt and the error (the
    retries that follow are the step's; a run whose input its activity refuses would
    otherwise retry in silence)."""
    if error is not None:
        fields = error.to_dict()
        if error.kind == TIMEOUT and limit is not None and limit > 0:
            fields["message"] = f"activity {name} did not answer within {limit:g}s"
        if logged:
            _failed(name, run_id, attempt, fields)
        return ev.ACTIVITY_FAILED, {"cmd": cmd, "error": fields}
    try:
        wire = codec.to_json_value(value)
        ev.check_size(f"the result of activity {name}", wire)
    except UnitError as exc:
        # The same call would return the same value: no retry can help.
        fields = {**exc.to_dict(), "final": True}
        if logged:
            _failed(name, run_id, attempt, fields)
        return ev.ACTIVITY_FAILED, {"cmd": cmd, "error": fields}
    return ev.ACTIVITY_COMPLETED, {"cmd": cmd, "value": wire}


def _failed(name: str, run_id: str, attempt: int, error: dict[str, Any]) -> None:
    message = " ".join(str(error.get("message", "")).split())  # one line, whatever it holds
    log.warning(
        "activity %s failed (attempt %d): %s: %s",
        name,
        attempt,
        error.get("kind"),
        message,
        extra={"unit": name, "run_id": run_id, "attempt": attempt},
    )
