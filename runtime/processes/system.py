"""What spawning and sending need, whoever does it: the manifest, the store, the mailboxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime import codec, manifest
from runtime.clock import Clock
from runtime.errors import INVALID, NOT_FOUND, UnitError
from runtime.processes import envelope as env
from runtime.processes.mailboxes import Mailboxes, check_size
from runtime.processes.pids import host_of, is_pid, new_pid
from runtime.processes.store import ActorStore, OutboxEntry
from runtime.processes.supervision import SUPERVISOR_ID, supervisor_entry

SUPERVISOR = supervisor_entry()


@dataclass
class ProcessSystem:
    """The processes of one application on one set of queues and one table."""

    registry: manifest.Registry
    store: ActorStore
    mailboxes: Mailboxes
    clock: Clock

    # -- checks -------------------------------------------------------------------------------
    def check_host(self, host: str) -> manifest.ProcessHostEntry:
        found = self.registry.find(host)
        if not isinstance(found, manifest.ProcessHostEntry):
            hosts = ", ".join(e.id for e in self.registry.of_kind(manifest.ProcessHostEntry))
            raise UnitError(
                NOT_FOUND, f"no process host '{host}' (process hosts: {hosts or 'none'})"
            )
        self.mailboxes.check_host(host)
        return found

    def check_process_entry(self, entry_id: str) -> manifest.ProcessEntry:
        if entry_id == SUPERVISOR_ID:
            return SUPERVISOR
        found = self.registry.find(entry_id)
        if found is None:
            raise UnitError(NOT_FOUND, f"no process entry '{entry_id}'")
        if isinstance(found, manifest.WorkflowEntry):
            raise UnitError(
                INVALID,
                f"{entry_id} is a workflow.lua: start it on a workflow.host, not a process.host",
            )
        if not isinstance(found, manifest.ProcessEntry):
            raise UnitError(INVALID, f"{entry_id} is a {found.kind}, not a process.lua")
        return found

    @staticmethod
    def check_topic(topic: str) -> None:
        if not topic:
            raise UnitError(INVALID, "process.send: the topic is empty")
        if topic.startswith("@"):
            raise UnitError(INVALID, f"topic '{topic}': topics starting with '@' are reserved")

    def resolve(self, dest: str) -> str:
        """A pid, given a pid or a registered name."""
        if is_pid(dest):
            return dest
        found = self.store.lookup(dest)
        if found is None:
            raise UnitError(NOT_FOUND, f"no process is named '{dest}'")
        return found

    # -- envelopes ----------------------------------------------------------------------------
    def spawn_envelope(
        self,
        entry_id: str,
        host: str,
        args: list[Any],
        *,
        ident: str,
        sender: str | None,
        link: bool = False,
        monitor: bool = False,
        name: str | None = None,
        context: dict[str, Any] | None = None,
        service: str | None = None,
        generation: int = 0,
        attempt: int = 0,
        pid: str | None = None,
    ) -> env.Envelope:
        """The envelope that creates a process (its pid is the envelope's ``to``)."""
        self.check_host(host)
        self.check_process_entry(entry_id)
        fields: dict[str, Any] = {
            "entry": entry_id,
            "args": codec.to_json_value(list(args)),
            "links": [sender] if link and sender else [],
            "monitors": [sender] if monitor and sender else [],
        }
        if name:
            fields["name"] = name
        if context:
            fields["context"] = codec.to_json_value(context)
        if service:
            fields["service"] = service
            fields["generation"] = generation
            fields["attempt"] = attempt
        return env.Envelope(env.SPAWN, pid or new_pid(host), ident, sender, fields)

    def outbox_entry(self, envelope: env.Envelope, delay: float = 0.0) -> OutboxEntry:
        body = envelope.to_body()
        check_size(body, f"the message to {envelope.to}")
        return OutboxEntry(host_of(envelope.to), envelope.to, body, envelope.id, delay)
