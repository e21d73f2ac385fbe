"""The direct-invoke protocol of the function Lambda, independent of Lambda itself.

Request: ``{"id": "ns:name", "args": [...], "context": {...}}`` (values in the codec's JSON form).
Reply: ``{"ok": true, "value": ...}`` or ``{"ok": false, "error": {"kind", "message"}}``.
Errors are replies, not Lambda failures: a Lambda failure would make callers retry.
"""

from __future__ import annotations

import json
from typing import Any

from runtime import codec
from runtime.aws.limits import payload_too_large
from runtime.engine import Engine
from runtime.errors import INVALID, UnitError

INVOKE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+$"},
        "args": {"type": "array"},
        "context": {"type": "object"},
    },
    "additionalProperties": False,
}


def error_reply(error: UnitError) -> dict[str, Any]:
    """The reply for a failed call."""
    return {"ok": False, "error": error.to_dict()}


def invoke(engine: Engine, event: dict[str, Any]) -> dict[str, Any]:
    """Run one direct invoke (already validated against :data:`INVOKE_SCHEMA`)."""
    try:
        args = codec.from_json_value(event.get("args") or [])
        context = codec.from_json_value(event.get("context") or {})
        value = engine.call(event["id"], args, context=context)
    except UnitError as exc:
        return error_reply(exc)
    except (TypeError, ValueError) as exc:
        return error_reply(UnitError(INVALID, f"bad invoke event: {exc}"))
    reply = {"ok": True, "value": codec.to_json_value(value)}
    # Lambda would drop an oversized reply with a bare "payload size exceeded"; say which call.
    too_large = payload_too_large(
        f"the result of {event['id']}", len(json.dumps(reply, ensure_ascii=False).encode())
    )
    if too_large:
        return error_reply(UnitError(INVALID, too_large))
    return reply
