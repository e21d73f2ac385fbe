"""Starting and talking to workflow runs from anywhere: functions, processes, other workflows,
the API, the CLI and the harness.

A run's address is ``<workflow host>/<run id>``, shaped like a pid, so ``process.send`` to it is
a signal and ``process.terminate``/``process.cancel`` work on it as on an actor. Every operation
that leaves news for a run (a signal, a cancel, a terminate, an activity's or a child's result)
posts to its inbox first and then wakes its driver (:meth:`Workflows.notify`); a parking step
does the mirror image (store the token, then look at the inbox), so news that lands while the
run is between its step and its wait is never lost.
"""

from __future__ import annotations

import uuid
from typing import Any

from runtime import manifest
from runtime.aws.dynamodb import expires_at
from runtime.clock import Clock
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.errors import ALREADY_EXISTS, INVALID, NOT_FOUND, UnitError
from runtime.workflows import asl
from runtime.workflows.driver import Driver
from runtime.workflows.log import EventLog, LogConflict
from runtime.workflows.step import post_signal, started_event

#: What ``start`` does when a run already holds the requested workflow name.
CONFLICT_POLICIES = ("fail", "use_existing", "terminate_existing")


def run_address(host: str, run_id: str) -> str:
    """The pid-shaped address of a run."""
    return f"{host}/{run_id}"


class Workflows:
    """Workflow runs of one application: start, signal, cancel, terminate, describe."""

    def __init__(
        self, registry: manifest.Registry, log: EventLog, driver: Driver, clock: Clock
    ) -> None:
        self.registry = registry
        self.log = log
        self.driver = driver
        self.clock = clock
        self.hosts = [h.id for h in registry.of_kind(manifest.WorkflowHostEntry)]

    # -- addresses ----------------------------------------------------------------------------
    def is_host(self, host: str) -> bool:
        return host in self.hosts

    def owns(self, address: str) -> bool:
        """Whether ``address`` is a run's address (its host part is a workflow host)."""
        host, sep, _ = address.rpartition("/")
        return bool(sep) and host in self.hosts

    def run_id_of(self, address: str) -> str:
        """The run id of an address or of a bare run id."""
        host, sep, run_id = address.rpartition("/")
        return run_id if sep and host in self.hosts else address

    def host_for(self, host: str | None) -> str:
        if host is not None:
            if host not in self.hosts:
                known = ", ".join(self.hosts) or "none in this application"
                raise UnitError(NOT_FOUND, f"no workflow host '{host}' (workflow hosts: {known})")
            return host
        if len(self.hosts) == 1:
            return self.hosts[0]
        if not self.hosts:
            raise UnitError(INVALID, "the application has no workflow.host entry to run on")
        raise UnitError(INVALID, f"name the workflow host: one of {', '.join(self.hosts)}")

    # -- starting -----------------------------------------------------------------------------
    def start(
        self,
        workflow_id: str,
        input_: Any = None,
        *,
        host: str | None = None,
        name: str | None = None,
        conflict: str = "fail",
        parent: str | None = None,
        parent_cmd: int | None = None,
        parent_seq: int | None = None,
        run_id: str | None = None,
    ) -> str:
        """Create a run and start its driver; returns the run id.

        ``name`` makes the start idempotent: a second start under the same name follows
        ``conflict`` (``fail``: ALREADY_EXISTS; ``use_existing``: the existing run's id;
        ``terminate_existing``: terminate it, then start a new run under the name).
        ``run_id`` fixes the id (a child's id is derived from its parent's history, so a
        replayed parent starts the same child).
        """
        if host is None:  # the host the workflow is registered on (meta.temporal.workflow)
            host = getattr(self.registry.find(workflow_id), "worker", None)
        host = self.host_for(host)
        # Checked before the name is claimed: a refused start takes no name.
        started = started_event(self.registry, workflow_id, input_, self.clock.now())
        if conflict not in CONFLICT_POLICIES:
            raise UnitError(
                INVALID, f"unknown conflict policy '{conflict}': {', '.join(CONFLICT_POLICIES)}"
            )
        run_id = run_id or str(uuid.uuid4())
        if name is not None:
            existing = self.log.claim_name(name, run_id, self.clock.now())
            if existing is not None and existing != run_id:
                if conflict == "use_existing":
                    return existing
                if conflict == "fail":
                    raise UnitError(
                        ALREADY_EXISTS, f"workflow name '{name}' is taken by run {existing}"
                    )
                self.terminate(existing, f"replaced by a new run under the name '{name}'")
                if not self.log.move_name(name, existing, run_id):
                    raise UnitError(
                        ALREADY_EXISTS, f"workflow name '{name}' was taken again meanwhile"
                    )
        try:
            self.log.create_run(
                run_id,
                workflow_id,
                started,
                host=host,
                parent=parent,
                parent_cmd=parent_cmd,
                parent_seq=parent_seq,
                name=name,
            )
        except UnitError as exc:
            if exc.kind != ALREADY_EXISTS or self.log.describe(run_id)["workflow"] != workflow_id:
                raise
            # The same start again (a retried step or turn): the run exists, so does its
            # driver, unless the first attempt died in between; starting it is idempotent.
        self.driver.start(host, run_id)
        return run_id

    # -- talking to runs ----------------------------------------------------------------------
    def signal(self, address: str, topic: str, payload: Any, sender: str | None = None) -> None:
        """Leave a message for the run (its code reads it from ``process.inbox()`` or
        ``process.listen(topic)``) and wake it.

        Raises:
            UnitError: NOT_FOUND for an unknown run, INVALID for one that has ended.
        """
        run_id = self.run_id_of(address)
        self._check_running(run_id, "signal")
        post_signal(self.log, run_id, topic, payload, sender, self.clock.now())
        self.notify(run_id)

    def cancel(self, address: str, reason: str | None = None, sender: str | None = None) -> None:
        """Ask the run to stop: a CANCEL event on its ``process.events()`` channel; the code
        decides what to clean up and how to end."""
        run_id = self.run_id_of(address)
        self._check_running(run_id, "cancel")
        fields = {"reason": reason or "canceled", "from": sender}
        self.log.post(run_id, ev.CANCEL_REQUESTED, fields, self.clock.now())
        self.notify(run_id)

    def terminate(self, address: str, reason: str = "terminated") -> bool:
        """End the run now, without running its code; False if it had ended already.

        The ending is appended like a step's events (a step running at the same time loses
        its append, then finds the run ended); the parent, if any, hears of it.
        """
        run_id = self.run_id_of(address)
        while True:
            history = self.log.load(run_id)
            if not history:
                raise UnitError(NOT_FOUND, f"no workflow run {run_id}")
            if history[-1].type in ev.ENDINGS:
                return False
            now = max(self.clock.now(), history[-1].time)
            ending = Event(ev.WORKFLOW_TERMINATED, now, {"reason": reason}, seq=len(history) + 1)
            try:
                self.log.append(run_id, [ending])
            except LogConflict:
                continue
            break
        error = ev.terminated_error(reason)
        # A marker in the inbox: a step storing its token right now sees news and wakes the
        # driver, whose next step finds the ending. Posted before the close, which writes the
        # run's TTL on what its inbox holds too.
        self.log.post(run_id, ev.WORKFLOW_TERMINATED, {"reason": reason}, now)
        expires = expires_at(self.registry, self.log.describe(run_id)["host"], now)
        self.log.close_run(run_id, "terminated", now, {"error": error}, expires=expires)
        self.notify(run_id)
        self.report_to_parent(run_id, "terminated", {"error": error})
        return True

    def resume(self, address: str) -> str:
        """Start a new driver execution for a run whose driver stopped while the run was still
        running (its step kept failing: a non-determinism error, a bug, an outage), typically
        after deploying a fix. The run goes on from its log; returns the execution's ARN.

        Raises:
            UnitError: NOT_FOUND for an unknown run, INVALID when it has ended or its driver
                is still running.
        """
        run_id = self.run_id_of(address)
        host = self._check_running(run_id, "resume")["host"]
        generation, execution = self.driver.latest(host, run_id)
        if execution["status"] == "RUNNING":
            raise UnitError(INVALID, f"cannot resume run {run_id}: its driver execution is running")
        return self.driver.start(host, run_id, generation + 1)

    def notify(self, run_id: str) -> bool:
        """Wake the run's driver if it is parked; False when it was not (it is stepping, or
        about to park: the step looks at the inbox after storing its token).

        The next wait's timeout is the run's next timer, as the parked step left it. Two
        wakers may both send the token; Step Functions refuses the second as stale."""
        token, next_timer = self.log.wait(run_id)
        if not token:
            return False
        until = None if next_timer is None else next_timer - self.clock.now()
        return self.driver.wake(token, asl.task_state(run_id, asl.wait_seconds(until)))

    def report_to_parent(self, run_id: str, status: str, outcome: dict[str, Any]) -> None:
        """Post the end of a child run to its parent's inbox (once) and wake the parent."""
        info = self.log.describe(run_id)
        parent = info.get("parent")
        if not parent:
            return
        event_type = ev.CHILD_COMPLETED if status == "completed" else ev.CHILD_FAILED
        fields = {
            "cmd": info["parent_cmd"],
            "command_seq": info["parent_seq"],
            "child": run_id,
            **outcome,
        }
        self.log.post_once(parent, f"child:{run_id}", event_type, fields, self.clock.now())
        # Also when it was posted before: the step that posted it may have died before waking.
        self.notify(parent)

    # -- reading ------------------------------------------------------------------------------
    def describe(self, address: str) -> dict[str, Any]:
        """The run's index: workflow, host, status, times, and result or error once ended."""
        return self.log.describe(self.run_id_of(address))

    def history(self, address: str) -> list[dict[str, Any]]:
        """The run's events as dicts with a ``type``."""
        run_id = self.run_id_of(address)
        events = self.log.load(run_id)
        if not events:
            raise UnitError(NOT_FOUND, f"no workflow run {run_id}")
        return [e.to_dict() for e in events]

    def _check_running(self, run_id: str, what: str) -> dict[str, Any]:
        """The run's index, once it is known to be running."""
        info = self.log.describe(run_id)
        if info["status"] != "running":
            status = info["status"]
            raise UnitError(INVALID, f"cannot {what} run {run_id}: it has ended ({status})")
        return info
