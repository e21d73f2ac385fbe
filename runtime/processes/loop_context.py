"""``process.*`` inside a loop-style process: every effect is a journaled command.

The code of a loop process is replayed on a cold worker, so nothing it does may reach the world
twice or answer differently: envelopes it sends (messages, spawns, links, cancels) are
``EnvelopeSent`` commands carried out after the append with deterministic ids; what depends on
the world (a registered name, a lookup, a workflow started or signalled) is a recorded call
whose outcome a replay reads back. Links, monitors, names and options are rebuilt by the replay
itself: the code's own calls and the controls it received are in the journal.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from runtime import codec
from runtime.durable import events as ev
from runtime.errors import INVALID, UnitError
from runtime.processes import envelope as env
from runtime.processes.context import ProcessContext
from runtime.processes.pids import is_pid
from runtime.processes.system import ProcessSystem

#: The options ``process.set_options`` takes in a loop process (Wippy's list).
OPTIONS = frozenset({"trap_links", "upgradable"})


class LoopContext(ProcessContext):
    """What ``process`` does for one loop process's code (``replay.process_context``)."""

    def __init__(self, system: ProcessSystem, replay: Any, pid: str, workflows: Any) -> None:
        super().__init__(system, workflows)
        self.replay = replay
        self.pid = pid
        started = replay.history[0].fields
        self.links: list[str] = list(started.get("links") or [])
        self.monitors: list[str] = list(started.get("monitors") or [])
        self.names: list[str] = list(started.get("names") or [])
        self.trap_links = bool(started.get("trap_links"))
        self.upgradable = False
        #: Children started by ``process.exec``: pid -> the channel its EXIT goes to.
        self.exec_waiters: dict[str, Any] = {}
        self._count = 0

    # -- ids --------------------------------------------------------------------------------
    def new_id(self) -> str:
        # Deterministic per generation: a replay (or a batch redone after a lost race) makes
        # the same envelopes, and SQS drops a re-sent one by its deduplication id.
        self._count += 1
        seed = f"{self.pid}|{self.replay.base}|{self._count}"
        return hashlib.sha1(seed.encode()).hexdigest()

    def child_pid(self, host: str, ident: str) -> str | None:
        return f"{host}/{uuid.uuid5(uuid.NAMESPACE_URL, ident)}"

    # -- effects ----------------------------------------------------------------------------
    def emit(self, envelope: env.Envelope, delay: float = 0.0) -> None:
        entry = self._system().outbox_entry(envelope, delay)  # the size check, at the send
        fields = {"to": envelope.to, "id": envelope.id, "body": entry.body}
        if delay:
            fields["delay"] = delay
        command = self.replay.command(ev.ENVELOPE_SENT, envelope.to, fields, lambda _e: None)
        command.done = True  # nothing comes back

    def once(self, what: str, call: Callable[[], Any]) -> Any:
        """``call()``'s value, made once and recorded; its error raised again on replay."""

        def run() -> dict[str, Any]:
            try:
                return {"value": codec.to_json_value(call())}
            except UnitError as exc:
                return {"error": exc.to_dict()}

        outcome = self.replay.recorded(what, run)
        if "error" in outcome:
            raise UnitError.from_dict(outcome["error"])
        return codec.from_json_value(outcome.get("value"))

    def resolve(self, dest: str) -> str:
        if is_pid(dest):
            return dest
        return str(
            self.once("process.registry.lookup", lambda: super(LoopContext, self).resolve(dest))
        )

    # -- operations ---------------------------------------------------------------------------
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
        start = super().spawn
        if self._workflow_host(host):
            return str(
                self.once(
                    "workflow.start",
                    lambda: start(entry_id, host, args, link=link, monitor=monitor, name=name),
                )
            )
        return start(entry_id, host, args, link=link, monitor=monitor, name=name, context=context)

    def send(self, dest: str, topic: str, payload: Any) -> None:
        if self._workflow_run(dest):
            self.once(
                "workflow.signal", lambda: super(LoopContext, self).send(dest, topic, payload)
            )
            return
        super().send(dest, topic, payload)

    def terminate(self, pid: str) -> None:
        if self._workflow_run(pid):
            self.once("workflow.terminate", lambda: super(LoopContext, self).terminate(pid))
            return
        super().terminate(pid)

    def cancel(self, pid: str, reason: str | None) -> None:
        if self._workflow_run(pid):
            self.once("workflow.cancel", lambda: super(LoopContext, self).cancel(pid, reason))
            return
        super().cancel(pid, reason)

    def exec(self, entry_id: str, host: str, args: list[Any]) -> int:
        """``process.exec``: spawn monitored; the EXIT goes to the channel returned (the code
        waits on it: a durable wait, nothing is held open meanwhile)."""
        if self._workflow_host(host):
            raise UnitError(
                INVALID, "process.exec of a workflow: use workflow.exec (or spawn_monitored)"
            )
        child = self.spawn(entry_id, host, args, monitor=True)
        channel = self.replay.scheduler.new_channel(1)
        self.exec_waiters[child] = channel
        return channel.id

    def set_options(self, options: dict[str, Any]) -> None:
        for key, value in options.items():
            if key not in OPTIONS:
                raise UnitError(INVALID, f"process.set_options: option {key} is not supported")
            if not isinstance(value, bool):
                raise UnitError(INVALID, f"process.set_options: {key} must be a boolean")
        if "trap_links" in options:
            self.trap_links = bool(options["trap_links"])
        if "upgradable" in options:
            self.upgradable = bool(options["upgradable"])

    def get_options(self) -> dict[str, Any]:
        return {"trap_links": self.trap_links, "upgradable": self.upgradable}

    def register(self, name: str, pid: str | None) -> None:
        owner = pid or self.pid or ""
        store = self._system().store
        self.once("process.registry.register", lambda: store.register(name, owner))
        if owner == self.pid and name not in self.names:
            self.names.append(name)

    def lookup(self, name: str) -> str | None:
        store = self._system().store
        found = self.once("process.registry.lookup", lambda: store.lookup(name))
        return str(found) if found is not None else None

    def unregister(self, name: str) -> bool:
        store = self._system().store
        released = bool(
            self.once("process.registry.unregister", lambda: store.unregister(name, self.pid or ""))
        )
        if name in self.names:
            self.names.remove(name)
        return released

    # -- bookkeeping ----------------------------------------------------------------------------
    def linked(self, pid: str) -> None:
        if pid not in self.links:
            self.links.append(pid)

    def unlinked(self, pid: str) -> None:
        if pid in self.links:
            self.links.remove(pid)

    def controlled(self, kind: str, other: str) -> None:
        """Another process linked, unlinked, monitored or unmonitored this one."""
        if kind == env.LINK:
            self.linked(other)
        elif kind == env.UNLINK:
            self.unlinked(other)
        elif kind == env.MONITOR and other not in self.monitors:
            self.monitors.append(other)
        elif kind == env.UNMONITOR and other in self.monitors:
            self.monitors.remove(other)
