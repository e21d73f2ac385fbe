"""Activity options and retry policies: which apply to a call, and what a failure means.

A call's options are Wippy's (``funcs.new():with_options({["activity.retry_policy"] = {...},
["activity.start_to_close_timeout"] = "30s"})``, also spelled ``temporal.activity.*``; see
Wippy's ``en/temporal/activities.md``): option durations are strings or milliseconds. The
policy is the call's ``retry_policy`` over the activity entry's manifest ``retry:`` over the
workflow's. A failure is final when the error says it is not retryable
(``err:retryable() == false``), when its kind is one of the policy's non-retryable kinds, or
when the attempts are spent, as Temporal decides for Wippy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from runtime import manifest
from runtime.durations import parse_duration
from runtime.errors import INTERNAL, INVALID, UnitError, kind_of

_POLICY_FIELDS = {
    "initial_interval": "initial_interval",
    "initialinterval": "initial_interval",
    "backoff_coefficient": "backoff_coefficient",
    "backoffcoefficient": "backoff_coefficient",
    "maximum_interval": "maximum_interval",
    "maximuminterval": "maximum_interval",
    "maximum_attempts": "maximum_attempts",
    "maximumattempts": "maximum_attempts",
    "non_retryable_error_types": "non_retryable",
    "nonretryableerrortypes": "non_retryable",
}


@dataclass(frozen=True, slots=True)
class ActivityOptions:
    """What a call's options say about its activity: the retry policy, and the timeout of
    one attempt (None: the function entry's own)."""

    policy: manifest.RetryPolicy
    timeout: float | None = None
    #: False: the call goes through the activity queue, not inline in the step (the call's
    #: ``activity.local`` option, else the function's ``meta.temporal.activity.local``).
    local: bool | None = None


def _option(options: dict[str, Any], name: str) -> Any:
    for key in (f"activity.{name}", f"temporal.activity.{name}"):
        if key in options:
            return options[key]
    return None


def activity_options(
    registry: manifest.Registry,
    workflow_id: str,
    activity_id: str,
    options: dict[str, Any] | None,
    timeout: float | None = None,
) -> ActivityOptions:
    """The policy and attempt timeout of one call from ``options`` (the executor's
    with_options table) and ``timeout`` (its ``timeout``, in seconds).

    Raises:
        UnitError: INVALID for an option whose value is not what Wippy documents.
    """
    workflow = registry.get(workflow_id)
    activity = registry.find(activity_id)
    base = getattr(activity, "retry", None) or getattr(workflow, "retry", None)
    policy = base or manifest.RetryPolicy()
    options = options or {}
    raw_policy = _option(options, "retry_policy")
    if raw_policy is not None:
        policy = _policy_from(policy, raw_policy)
    start_to_close = _option(options, "start_to_close_timeout")
    if start_to_close is not None:
        try:
            timeout = parse_duration(start_to_close)
        except ValueError as exc:
            raise UnitError(INVALID, f"activity.start_to_close_timeout: {exc}") from None
    local = _option(options, "local")
    if local is not None and not isinstance(local, bool):
        raise UnitError(INVALID, f"activity.local: expected true or false, got {local!r}")
    if local is None:
        local = getattr(activity, "activity_local", None)
    return ActivityOptions(policy, timeout, local)


def _policy_from(policy: manifest.RetryPolicy, raw: Any) -> manifest.RetryPolicy:
    if not isinstance(raw, dict):
        raise UnitError(INVALID, "activity.retry_policy: expected a table of policy fields")
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        field = _POLICY_FIELDS.get(str(key).lower())
        if field is None:
            raise UnitError(
                INVALID,
                f"activity.retry_policy: unknown field '{key}' (fields: initial_interval, "
                "backoff_coefficient, maximum_interval, maximum_attempts, "
                "non_retryable_error_types)",
            )
        try:
            if field in ("initial_interval", "maximum_interval"):
                changes[field] = parse_duration(value)
            elif field == "backoff_coefficient":
                changes[field] = _number(value)
            elif field == "maximum_attempts":
                changes[field] = _integer(value)
            else:
                changes[field] = _kinds(value)
        except (TypeError, ValueError) as exc:
            raise UnitError(INVALID, f"activity.retry_policy.{key}: {exc}") from None
    if changes.get("initial_interval") == 0:
        del changes["initial_interval"]  # zero means the default, as in Temporal
    if "initial_interval" in changes and "maximum_interval" not in changes:
        changes["maximum_interval"] = 100 * changes["initial_interval"]
    return replace(policy, **changes)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"expected an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"must be 0 (unlimited) or more, got {value!r}")
    return int(value)


def _kinds(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of error kinds")
    # Kinds are matched as Wippy writes them ("Invalid"); a constant's name means its kind.
    return tuple(kind_of(v) or v for v in value)


def next_delay(
    policy: manifest.RetryPolicy, attempt: int, error_kind: str, retryable: bool | None = None
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None when the failure is final."""
    if retryable is False:
        return None
    if (error_kind or INTERNAL) in policy.non_retryable:
        return None
    if policy.maximum_attempts and attempt >= policy.maximum_attempts:
        return None
    delay = policy.initial_interval * policy.backoff_coefficient ** (attempt - 1)
    return min(delay, policy.maximum_interval or delay)
