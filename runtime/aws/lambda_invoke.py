"""Remote function calls: a Lambda invoke of the function's own Lambda."""

from __future__ import annotations

import json
import os
from typing import Any

from runtime import codec
from runtime.aws.clients import LazyClient
from runtime.aws.limits import payload_too_large
from runtime.errors import INTERNAL, INVALID, UnitError

#: Environment variable holding ``{"ns:name": "lambda-function-name", ...}`` for remote functions.
REMOTE_FUNCTIONS_ENV = "UNITS_REMOTE_FUNCTIONS"


class LambdaInvoker:
    """Invokes remote function entries with the direct-invoke event of ``handlers/function.py``."""

    def __init__(self, client: Any, function_names: dict[str, str]) -> None:
        self.client = client
        self.function_names = dict(function_names)

    @classmethod
    def from_environment(cls, client: Any = None) -> LambdaInvoker:
        """Read the function-name map the stack put in the environment."""
        names = json.loads(os.environ.get(REMOTE_FUNCTIONS_ENV, "{}") or "{}")
        return cls(client if client is not None else LazyClient("lambda"), names)

    def __call__(self, entry_id: str, args: list[Any], context: dict[str, Any]) -> Any:
        name = self.function_names.get(entry_id)
        if name is None:
            raise UnitError(
                INTERNAL, f"no Lambda function is configured for remote function {entry_id}"
            )
        payload = codec.dumps({"id": entry_id, "args": args, "context": context})
        too_large = payload_too_large(f"the call of {entry_id}", len(payload.encode()))
        if too_large:
            raise UnitError(INVALID, too_large)
        reply = self.client.invoke(FunctionName=name, Payload=payload.encode())
        body = reply["Payload"].read()
        if reply.get("FunctionError"):
            raise UnitError(
                INTERNAL, f"{entry_id}: the Lambda failed: {body[:500].decode(errors='replace')}"
            )
        answer = json.loads(body)
        if not answer.get("ok"):
            raise UnitError.from_dict(answer.get("error") or {})
        return codec.from_json_value(answer.get("value"))
