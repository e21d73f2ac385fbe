"""Who is calling the ``process`` module: an actor inside its turn, or anything else.

An actor's effects are buffered (:class:`TurnContext`, in :mod:`runtime.processes.turns`);
a function's happen at once (:class:`DirectContext`). Both build the same envelopes.
"""

from __future__ import annotations

import uuid
from typing import Any

from runtime.errors import INTERNAL, INVALID, UnitError
from runtime.processes import envelope as env
from runtime.processes.system import ProcessSystem


class ProcessContext:
    """The ``process`` module's operations for one kind of caller."""

    pid: str | None = None

    def __init__(self, system: ProcessSystem | None, workflows: Any = None) -> None:
        self.system = system
        #: :class:`runtime.workflows.client.Workflows`, when the app has workflow hosts: a
        #: spawn on a workflow host starts a run, a send to a run's address is a signal.
        self.workflows = workflows

    def _workflow_host(self, host: str) -> bool:
        return self.workflows is not None and self.workflows.is_host(host)

    def _workflow_run(self, dest: str) -> bool:
        return self.workflows is not None and self.workflows.owns(dest)

    # -- what subclasses decide -----------------------------------------------------------------
    def emit(self, envelope: env.Envelope, delay: float = 0.0) -> None:
        raise NotImplementedError

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def child_pid(self, host: str, ident: str) -> str | None:
        """The pid a spawn with envelope id ``ident`` gives its child (None: a fresh one)."""
        return None

    def resolve(self, dest: str) -> str:
        """A pid, given a pid or a registered name."""
        return self._system().resolve(dest)

    def _system(self) -> ProcessSystem:
        if self.system is None:
            raise UnitError(
                INTERNAL,
                "processes are not available here: no process host queues are configured "
                "(run under LocalCloud, units dev, or a deployed stack)",
            )
        return self.system

    def _need_pid(self, what: str) -> str:
        if self.pid is None:
            raise UnitError(INVALID, f"{what} needs a calling process; a function has no pid")
        return self.pid

    # -- operations -----------------------------------------------------------------------------
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
        if self._workflow_host(host):
            if link or monitor:
                raise UnitError(
                    INVALID,
                    "process.spawn_linked/spawn_monitored of a workflow: only a workflow can "
                    "monitor another (workflow.exec, or spawn_monitored inside a workflow)",
                )
            if len(args) > 1:
                raise UnitError(INVALID, "a workflow takes one input value (pass a table)")
            # The id is this caller's next id: a turn that is redone starts the same run.
            started = self.workflows.start(
                entry_id, args[0] if args else None, host=host, name=name, run_id=self.new_id()
            )
            return f"{host}/{started}"
        system = self._system()
        if link or monitor:
            self._need_pid("process.spawn_linked/spawn_monitored")
        ident = self.new_id()
        envelope = system.spawn_envelope(
            entry_id,
            host,
            args,
            ident=ident,
            pid=self.child_pid(host, ident),
            sender=self.pid,
            link=link,
            monitor=monitor,
            name=name,
            context=context,
        )
        self.emit(envelope)
        if link:
            self.linked(envelope.to)
        return envelope.to

    def send(self, dest: str, topic: str, payload: Any) -> None:
        if self._workflow_run(dest):
            self.workflows.signal(dest, topic, payload, sender=self.pid)
            return
        system = self._system()
        system.check_topic(topic)
        to = self.resolve(dest)
        self.emit(env.message(to, self.new_id(), self.pid, topic, payload))

    def control(self, kind: str, pid: str) -> None:
        me = self._need_pid(f"process.{kind}")
        to = self.resolve(pid)
        if to == me:
            raise UnitError(INVALID, f"process.{kind}: a process cannot {kind} itself")
        if kind == env.LINK:
            self.linked(to)
        elif kind == env.UNLINK:
            self.unlinked(to)
        self.emit(env.Envelope(kind, to, self.new_id(), me))

    def terminate(self, pid: str) -> None:
        if self._workflow_run(pid):
            self.workflows.terminate(pid, f"terminated by {self.pid or 'a function'}")
            return
        to = self.resolve(pid)
        self.emit(env.Envelope(env.TERMINATE, to, self.new_id(), self.pid))

    def cancel(self, pid: str, reason: str | None) -> None:
        if self._workflow_run(pid):
            self.workflows.cancel(pid, reason, sender=self.pid)
            return
        to = self.resolve(pid)
        sender = self.pid or "function"
        self.emit(env.event(to, self.new_id(), sender, env.CANCEL, reason=reason or "canceled"))

    def set_options(self, options: dict[str, Any]) -> None:
        self._need_pid("process.set_options")

    def get_options(self) -> dict[str, Any]:
        self._need_pid("process.get_options")
        return {}

    def register(self, name: str, pid: str | None) -> None:
        owner = pid or self._need_pid("process.registry.register without a pid")
        self._system().store.register(name, owner)

    def lookup(self, name: str) -> str | None:
        return self._system().store.lookup(name)

    def unregister(self, name: str) -> bool:
        me = self._need_pid("process.registry.unregister")
        return self._system().store.unregister(name, me)

    # -- hooks for the actor's own bookkeeping --------------------------------------------------
    def linked(self, pid: str) -> None:
        """This caller is now linked to ``pid`` (actors record it)."""

    def unlinked(self, pid: str) -> None:
        """This caller is no longer linked to ``pid``."""


class DirectContext(ProcessContext):
    """Functions (and the harness, CLI, API): every effect is sent at once."""

    def emit(self, envelope: env.Envelope, delay: float = 0.0) -> None:
        system = self._system()
        system.mailboxes.send([system.outbox_entry(envelope, delay)])
