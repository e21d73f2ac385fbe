"""Activity retry policies: which one applies to a call, and what it says after a failure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from runtime import manifest
from runtime.durations import parse_duration
from runtime.errors import INVALID, UnitError
from runtime.errors import KINDS as ERROR_KINDS

_FIELDS = {
    "initial_interval",
    "backoff_coefficient",
    "maximum_interval",
    "maximum_attempts",
    "non_retryable",
}


def policy_for(
    registry: manifest.Registry, workflow_id: str, activity_id: str, options: Any
) -> manifest.RetryPolicy:
    """The call's ``with_options({retry = ...})`` over the activity's manifest ``retry`` over
    the workflow's default."""
    workflow = registry.get(workflow_id)
    activity = registry.find(activity_id)
    base = getattr(activity, "retry", None) or getattr(workflow, "retry", None)
    policy = base or manifest.RetryPolicy()
    if not options:
        return policy
    if not isinstance(options, dict) or set(options) - _FIELDS:
        unknown = sorted(set(options) - _FIELDS) if isinstance(options, dict) else options
        raise UnitError(INVALID, f"with_options retry: unknown fields {unknown}")
    changes: dict[str, Any] = {}
    try:
        for name in ("initial_interval", "maximum_interval"):
            if name in options:
                changes[name] = parse_duration(options[name])
        if "backoff_coefficient" in options:
            changes["backoff_coefficient"] = float(options["backoff_coefficient"])
        if "maximum_attempts" in options:
            changes["maximum_attempts"] = int(options["maximum_attempts"])
        if "non_retryable" in options:
            kinds = tuple(options["non_retryable"] or ())
            bad = [k for k in kinds if k not in ERROR_KINDS]
            if bad:
                raise ValueError(f"non_retryable: unknown error kinds {bad}")
            changes["non_retryable"] = kinds
    except (TypeError, ValueError) as exc:
        raise UnitError(INVALID, f"with_options retry: {exc}") from None
    if "initial_interval" in changes and "maximum_interval" not in changes:
        changes["maximum_interval"] = 100 * changes["initial_interval"]
    return replace(policy, **changes)


def next_delay(policy: manifest.RetryPolicy, attempt: int, error_kind: str) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None when the failure is final."""
    if error_kind in policy.non_retryable:
        return None
    if policy.maximum_attempts and attempt >= policy.maximum_attempts:
        return None
    delay = policy.initial_interval * policy.backoff_coefficient ** (attempt - 1)
    return min(delay, policy.maximum_interval or delay)
