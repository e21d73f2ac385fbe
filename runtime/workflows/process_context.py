"""``process.*`` inside a workflow: sends and spawns become recorded commands of the run."""

from __future__ import annotations

from typing import Any

from runtime import codec
from runtime.errors import INVALID, UnitError
from runtime.processes.context import ProcessContext


class WorkflowProcessContext(ProcessContext):
    """What ``process`` does for a workflow's code: its pid is the run's address; a send is a
    ``MessageSent`` command and a spawn on a workflow host a child run, both carried out by the
    step once they are in the log, so a replay never sends or starts anything twice."""

    def __init__(self, replay: Any, workflows: Any) -> None:
        super().__init__(None, workflows)
        self.replay = replay
        self.pid = f"{replay.context.host}/{replay.run_id}"

    def spawn(
        self,
        entry_id: str,
        host: str,
        args: list[Any],
        *,
        link: bool = False,
        monitor: bool = False,
        name: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> str:
        if not self._workflow_host(host):
            raise UnitError(
                INVALID,
                f"process.spawn of '{entry_id}' on '{host}' from a workflow: a workflow starts "
                "child workflows on a workflow.host; to start an actor, call a function (an "
                "activity) that spawns it",
            )
        if link or name or context:
            raise UnitError(
                INVALID, "a child workflow takes no link, name or context: use spawn_monitored"
            )
        if len(args) > 1:
            raise UnitError(INVALID, "a workflow takes one input value (pass a table)")
        wire = codec.to_json_value(args[0] if args else None)
        child = self.replay.child(entry_id, host, wire, None, monitor=monitor)
        return f"{host}/{child}"

    def send(self, dest: str, topic: str, payload: Any) -> None:
        if not dest:
            raise UnitError(INVALID, "process.send: empty destination")
        self.replay.send(dest, topic, codec.to_json_value(payload))

    def control(self, kind: str, pid: str) -> None:
        raise UnitError(
            INVALID,
            f"process.{kind} in a workflow: a workflow watches its children with "
            "spawn_monitored (EXIT on process.events())",
        )

    def terminate(self, pid: str) -> None:
        raise UnitError(INVALID, "process.terminate in a workflow: call a function that does it")

    def cancel(self, pid: str, reason: str | None) -> None:
        raise UnitError(INVALID, "process.cancel in a workflow: call a function that does it")

    def register(self, name: str, pid: str | None) -> None:
        raise UnitError(
            INVALID, "process.registry in a workflow: start it by name (workflow.start options)"
        )
