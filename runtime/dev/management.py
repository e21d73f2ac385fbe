"""The management JSON API under ``/_units/api/``: what the viewer and the CLI read and do.

Only the dev server has it; the deployed API never routes ``/_units``. Values cross in the
codec's JSON form (binary strings as ``{"$bytes": ...}``), as in a Lambda invoke.

=======  =====================================  ==============================================
method   path (under ``/_units/api/``)          answer
=======  =====================================  ==============================================
GET      ``outputs``                            ``{endpoint_url, region, api_url, outputs}``
GET      ``status``                             ``{app, loaded, error, generation, ...}``
GET      ``logs?after=N``                       ``{lines: [{seq, time, unit, level, message,
                                                fields}], next}``
POST     ``invoke`` ``{id, args, context}``     ``{value}``
GET      ``processes?status=``                  ``{processes: [...], queues: [...]}``
GET      ``processes/<pid or name>``            one process: state, links, monitors...
POST     ``processes/spawn``                    ``{id, host, args, name}`` -> ``{pid}``
POST     ``processes/send``                     ``{dest, topic, payload}`` -> ``{ok}``
GET      ``workflows?status=&workflow=``        ``{runs: [...]}``
GET      ``workflows/<run>``                    ``{run, history, pending, parked, step_error}``
POST     ``workflows/start``                    ``{id, input, host, name, conflict}`` ->
                                                ``{run_id, address}``
POST     ``workflows/<run>/signal``             ``{topic, payload}`` -> ``{ok}``
POST     ``workflows/<run>/cancel``             ``{reason}`` -> ``{ok}``
POST     ``workflows/<run>/terminate``          ``{reason}`` -> ``{ok, terminated}``
POST     ``workflows/<run>/resume``             ``{ok}``: a parked run's next driver execution
=======  =====================================  ==============================================

Errors are ``{"error": {"kind", "message"}}`` with the status of the kind, as the HTTP API
answers a function's ``nil, err`` (``NOT_FOUND`` 404, ``INVALID`` 400...).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from runtime import codec, function_service, manifest
from runtime.errors import INVALID, NOT_FOUND, UnitError
from runtime.http_api import STATUS_OF_KIND
from runtime.inspection import Inspector
from runtime.processes.context import DirectContext
from runtime.testing import REGION
from runtime.workflows.client import run_address

if TYPE_CHECKING:
    from runtime.dev.stack import DevStack

PREFIX = "/_units/api/"


@dataclass
class Reply:
    """A JSON answer."""

    status: int
    body: Any


class ManagementApi:
    """Answers ``/_units/api/`` requests against a running :class:`DevStack`."""

    def __init__(self, stack: DevStack) -> None:
        self.stack = stack
        # (method, first path segment) -> handler(rest of the path, query, body)
        self._routes: dict[tuple[str, str], Callable[[str, dict[str, str], Any], Any]] = {
            ("GET", "outputs"): self._outputs,
            ("GET", "status"): self._status,
            ("GET", "logs"): self._logs,
            ("POST", "invoke"): self._invoke,
            ("GET", "processes"): self._processes,
            ("POST", "processes"): self._process_action,
            ("GET", "workflows"): self._workflows,
            ("POST", "workflows"): self._workflow_action,
        }

    def handle(self, method: str, path: str, query: str, body: bytes) -> Reply:
        """Answer one request; ``path`` starts with :data:`PREFIX`."""
        head, _, rest = path[len(PREFIX) :].partition("/")
        handler = self._routes.get((method, head))
        if handler is None:
            known = any(key[1] == head for key in self._routes)
            kind_status = 405 if known else 404
            return _error(kind_status, INVALID if known else NOT_FOUND, f"no {method} {path}")
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            data = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as exc:
            return _error(400, INVALID, f"the body is not JSON: {exc.msg}")
        if method == "POST" and not isinstance(data, dict):
            return _error(400, INVALID, "the body must be a JSON object")
        try:
            with self.stack.gate.shared():  # not while a reload swaps the engines and hosts
                return Reply(200, handler(unquote(rest), params, data))
        except UnitError as exc:
            return _error(STATUS_OF_KIND.get(exc.kind, 500), exc.kind, exc.message)

    # -- the stack ------------------------------------------------------------------------------
    def _outputs(self, rest: str, query: dict[str, str], body: Any) -> Any:
        cloud = self.stack.cloud
        outputs = cloud.outputs()
        if cloud.registry.of_kind(manifest.EndpointEntry):  # the stack has an API then too
            outputs["ApiUrl"] = self.stack.url + "/"  # HttpApi.url's form: with the slash
        return {
            "endpoint_url": cloud.endpoint_url,
            "region": REGION,
            "api_url": self.stack.url,
            "outputs": outputs,
        }

    def _status(self, rest: str, query: dict[str, str], body: Any) -> Any:
        return self.stack.status()

    def _logs(self, rest: str, query: dict[str, str], body: Any) -> Any:
        after = _int(query.get("after", "0"), "after")
        limit = _int(query.get("limit", "1000"), "limit")
        lines, next_seq = self.stack.hub.since(after, max(1, min(limit, 10_000)))
        return {"lines": [line.to_dict() for line in lines], "next": next_seq}

    def _invoke(self, rest: str, query: dict[str, str], body: Any) -> Any:
        if not isinstance(body.get("id"), str):
            raise UnitError(INVALID, 'give the function: {"id": "ns:name", "args": [...]}')
        if not isinstance(body.get("args", []), list):
            raise UnitError(INVALID, "args must be a JSON array")
        cloud = self.stack.cloud
        with cloud.engine_lock:
            reply = function_service.invoke(cloud.engine, body)
        self.stack.bell.ring()
        if not reply["ok"]:
            raise UnitError.from_dict(reply["error"])
        return {"value": reply["value"]}

    # -- processes ------------------------------------------------------------------------------
    def _inspector(self) -> Inspector:
        cloud = self.stack.cloud
        outputs = cloud.outputs()
        if "ProcessTableName" not in outputs:
            raise UnitError(NOT_FOUND, f"{cloud.app_dir} has no process or workflow hosts")
        return Inspector(
            cloud.dynamodb,
            outputs["ProcessTableName"],
            sqs=cloud.sqs,
            sfn=cloud.sfn,
            queues=json.loads(outputs.get("ProcessQueues", "{}")),
            delay_queues=json.loads(outputs.get("ProcessDelayQueues", "{}")),
            dead_letter_queues=json.loads(outputs.get("ProcessDeadLetterQueues", "{}")),
            machines=json.loads(outputs.get("WorkflowMachines", "{}")),
        )

    def _processes(self, rest: str, query: dict[str, str], body: Any) -> Any:
        inspector = self._inspector()
        if rest:
            return inspector.process(rest).to_dict()
        return {
            "processes": [p.to_dict() for p in inspector.processes(query.get("status"))],
            "queues": [q.to_dict() for q in inspector.queue_depths()],
        }

    def _process_action(self, rest: str, query: dict[str, str], body: Any) -> Any:
        cloud = self.stack.cloud
        if cloud.processes is None:
            raise UnitError(NOT_FOUND, f"{cloud.app_dir} has no process.host entries")
        context = DirectContext(cloud.processes.system)
        if rest == "spawn":
            args = codec.from_json_value(_list(body.get("args", []), "args"))
            pid = context.spawn(_text(body, "id"), _text(body, "host"), args, name=body.get("name"))
            result: dict[str, Any] = {"pid": pid}
        elif rest == "send":
            payload = codec.from_json_value(body.get("payload"))
            context.send(_text(body, "dest"), _text(body, "topic"), payload)
            result = {"ok": True}
        else:
            raise UnitError(NOT_FOUND, f"no process action '{rest}' (spawn, send)")
        self.stack.bell.ring()
        return result

    # -- workflows ------------------------------------------------------------------------------
    def _workflows(self, rest: str, query: dict[str, str], body: Any) -> Any:
        inspector = self._inspector()
        if not rest:
            runs = inspector.runs(query.get("status"), query.get("workflow"))
            failing = self.stack.cloud.step_errors
            return {"runs": [{**r.to_dict(), "step_error": failing.get(r.run_id)} for r in runs]}
        run_id = self._run_id(rest)
        run = inspector.run(run_id)
        run["address"] = run_address(run["host"], run_id)
        history = inspector.history(run_id)
        parked = None
        if run["status"] == "running":
            found = inspector.parked_error(run_id, run["host"])
            parked = found.to_dict() if found is not None else None
        return {
            "run": run,
            "history": history,
            "pending": [p.to_dict() for p in inspector.pending(run_id)],
            "parked": parked,
            "step_error": self.stack.cloud.step_errors.get(run_id),
        }

    def _workflow_action(self, rest: str, query: dict[str, str], body: Any) -> Any:
        cloud = self.stack.cloud
        if rest == "start":
            run_id = cloud.start_workflow(
                _text(body, "id"),
                codec.from_json_value(body.get("input")),
                body.get("host"),
                name=body.get("name"),
                conflict=body.get("conflict") or "fail",
            )
            host = cloud.workflows.workflows.log.describe(run_id)["host"]  # type: ignore[union-attr]
            result: dict[str, Any] = {"run_id": run_id, "address": run_address(host, run_id)}
        else:
            target, _, action = rest.rpartition("/")
            run_id = self._run_id(target)
            if action == "signal":
                payload = codec.from_json_value(body.get("payload"))
                cloud.signal(run_id, _text(body, "topic"), payload)
                result = {"ok": True}
            elif action == "cancel":
                cloud.cancel_workflow(run_id, body.get("reason"))
                result = {"ok": True}
            elif action == "terminate":
                done = cloud.terminate_workflow(run_id, body.get("reason") or "terminated")
                result = {"ok": True, "terminated": done}
            elif action == "resume":
                cloud.resume_workflow(run_id)
                cloud.step_errors.pop(run_id, None)
                result = {"ok": True}
            else:
                raise UnitError(
                    NOT_FOUND,
                    f"no workflow action '{action}' (start, signal, cancel, terminate, resume)",
                )
        self.stack.bell.ring()
        return result

    def _run_id(self, address: str) -> str:
        """A run id from a run id or a run's address (``<host>/<run id>``)."""
        workflows = self.stack.cloud.workflows
        if workflows is None:
            raise UnitError(NOT_FOUND, f"{self.stack.cloud.app_dir} has no workflow.host entries")
        return workflows.workflows.run_id_of(address)


def _error(status: int, kind: str, message: str) -> Reply:
    return Reply(status, {"error": {"kind": kind, "message": message}})


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UnitError(INVALID, f"{name} must be an integer, not {text!r}") from None


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise UnitError(INVALID, f"'{name}' is required (a string)")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnitError(INVALID, f"'{name}' must be a JSON array")
    return value
