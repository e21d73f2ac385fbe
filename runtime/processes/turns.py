"""One actor's turn: the envelopes of one batch applied to its state, effects buffered.

A :class:`Turn` is planned from the committed snapshot (or a spawn) and the new envelopes, run
as one scheduler task through ``kit.actor_turn`` (``lua/prelude.lua``), and turned into the
next snapshot by :meth:`Turn.finish`. Nothing leaves the turn before the commit: sends, spawns
and events sit in :attr:`TurnContext.outbox`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from runtime import codec
from runtime.errors import CANCELED, INTERNAL, INVALID, NOT_FOUND, TIMEOUT, CodecError, UnitError
from runtime.processes import envelope as env
from runtime.processes.context import ProcessContext
from runtime.processes.pids import is_pid
from runtime.processes.store import CRASHED, EXITED, RUNNING, OutboxEntry, Snapshot
from runtime.processes.system import ProcessSystem
from runtime.sandbox import lua_text, ran_out_of_time
from runtime.tracebacks import trim_traceback


def reply_id(cause: str, what: str) -> str:
    """A deterministic id for a reply made on behalf of a dead or unknown process."""
    return hashlib.sha1(f"reply|{what}|{cause}".encode()).hexdigest()


class TurnContext(ProcessContext):
    """``process.*`` inside an actor's turn: effects are buffered until the commit."""

    def __init__(self, system: ProcessSystem, snapshot: Snapshot) -> None:
        super().__init__(system)
        self.pid = snapshot.pid
        self.snapshot = snapshot
        self.outbox: list[tuple[env.Envelope, float]] = []
        self._count = 0

    def new_id(self) -> str:
        # Deterministic per commit: a turn that is redone after a lost race emits the same ids,
        # and a re-sent outbox entry is dropped by SQS deduplication.
        self._count += 1
        seed = f"{self.pid}|{self.snapshot.version + 1}|{self._count}"
        return hashlib.sha1(seed.encode()).hexdigest()

    def emit(self, envelope: env.Envelope, delay: float = 0.0) -> None:
        self._system().outbox_entry(envelope, delay)  # size check now, at the send
        self.outbox.append((envelope, delay))

    def linked(self, pid: str) -> None:
        if pid not in self.snapshot.links:
            self.snapshot.links.append(pid)

    def unlinked(self, pid: str) -> None:
        if pid in self.snapshot.links:
            self.snapshot.links.remove(pid)

    def set_options(self, options: dict[str, Any]) -> None:
        if "trap_links" in options:
            self.snapshot.trap_links = bool(options["trap_links"])

    def get_options(self) -> dict[str, Any]:
        return {"trap_links": self.snapshot.trap_links}

    def register(self, name: str, pid: str | None) -> None:
        if pid is not None and pid != self.pid:
            raise UnitError(INVALID, "an actor registers names for itself only")
        self._system().store.register(name, self.pid or "")
        if name not in self.snapshot.names:
            self.snapshot.names.append(name)

    def unregister(self, name: str) -> bool:
        released = super().unregister(name)
        if name in self.snapshot.names:
            self.snapshot.names.remove(name)
        return released


@dataclass
class Turn:
    """The plan and the outcome of one actor's turn."""

    system: ProcessSystem
    snapshot: Snapshot
    envelopes: list[env.Envelope]
    context: TurnContext = field(init=False)
    status: str = RUNNING
    stop: int = 0
    result: Any = None
    error: dict[str, Any] | None = None
    trace: str | None = None
    #: The Lua state: the one the turn starts from, then the one it ended with (None when it
    #: never ran: the stored state stands).
    lua_state: Any = None

    def __post_init__(self) -> None:
        self.context = TurnContext(self.system, self.snapshot)
        #: The state the turn started from, kept when the new one cannot be stored.
        self.base_state = self.snapshot.state

    # -- planning ----------------------------------------------------------------------------
    def lua_items(self, engine: Any) -> Any:
        """The Lua list ``kit.actor_turn`` applies (controls are ``skip``: Python does them)."""
        state, lua_codec = engine.state, engine.codec
        items = []
        for envelope in self.envelopes:
            kind = envelope.kind
            if kind == env.SPAWN:
                args = lua_codec.to_lua(codec.from_json_value(envelope.fields.get("args") or []))
                items.append(state.table(kind=b"init", args=state.k["pack_array"](args)))
            elif kind == env.MESSAGE:
                data = lua_codec.to_lua(envelope.payload(), "payload")
                sender = envelope.sender.encode() if envelope.sender else None
                msg = state.k["new_message"](envelope.topic.encode(), sender, data)
                items.append(state.table(kind=b"message", msg=msg))
            elif kind == env.EVENT:
                items.append(state.table(kind=b"event", ev=self._event(engine, envelope)))
            elif kind == env.TERMINATE:
                items.append(state.table(kind=b"terminate"))
            else:
                items.append(state.table(kind=b"skip"))
        return state.table(*items)

    def _event(self, engine: Any, envelope: env.Envelope) -> Any:
        fields = envelope.fields
        return lua_event(
            engine, envelope.event, envelope.sender, fields.get("result"), fields.get("reason")
        )

    # -- outcome -----------------------------------------------------------------------------
    def record(self, engine: Any, values: tuple[Any, ...]) -> Any:
        """Take ``kit.actor_turn``'s return values; return the Lua state to keep."""
        status, stop, lua_state = (*values, None, None, None)[:3]
        extra = values[3] if len(values) > 3 else None
        self.stop = int(stop or 0)
        status = status.decode() if isinstance(status, bytes) else str(status)
        if status == "exited":
            self.status = EXITED
            try:
                self.result = codec.to_json_value(engine.codec.to_python(extra, "exit value"))
            except CodecError as exc:
                self._crash(INVALID, f"process.exit: {exc.message}")
        elif status == "crashed":
            error = engine.error_from_value(engine.state.get(extra, b"err"))
            trace = engine.state.get(extra, b"trace")
            self.trace = trim_traceback(lua_text(trace)) if trace is not None else None
            kind = error.kind
            if ran_out_of_time(error.message):
                kind = TIMEOUT
            elif "not enough memory" in error.message:
                error = UnitError(INTERNAL, f"memory limit exceeded ({error.message})")
            self._crash(kind, error.message)
        elif status == "terminated":
            who = self.envelopes[self.stop - 1].sender or "a function"
            self._crash(CANCELED, f"terminated by {who}")
        return lua_state

    def _crash(self, kind: str, message: str) -> None:
        self.status = CRASHED
        self.error = {"kind": kind, "message": message}
        self.result = None

    def crash_before_start(self, kind: str, message: str) -> None:
        """The turn could not run at all (a bad entry, a taken name): the actor crashes."""
        self.lua_state = None
        self.stop = 1
        self._crash(kind, message)

    def finish(self, state_json: str | None) -> Snapshot:
        """The snapshot to commit: new state, version, applied ids, outbox."""
        snap = self.snapshot
        self._apply_controls()
        snap.version += 1
        if state_json is not None:
            snap.state = state_json
        snap.applied = [e.id for e in self.envelopes]
        snap.status = self.status
        outbox = [self.system.outbox_entry(e, d) for e, d in self.context.outbox]
        if self.status != RUNNING:
            snap.result = self.result
            snap.error = self.error
            outbox += self._exit_notices()
            outbox += self._dead_replies(self.envelopes[self.stop :])
        snap.outbox = outbox
        return snap

    def _apply_controls(self) -> None:
        snap = self.snapshot
        for envelope in self.envelopes[: self.stop or len(self.envelopes)]:
            other = envelope.sender
            if other is None:
                continue
            if envelope.kind == env.LINK and other not in snap.links:
                snap.links.append(other)
            elif envelope.kind == env.UNLINK and other in snap.links:
                snap.links.remove(other)
            elif envelope.kind == env.MONITOR and other not in snap.monitors:
                snap.monitors.append(other)
            elif envelope.kind == env.UNMONITOR and other in snap.monitors:
                snap.monitors.remove(other)
            elif (
                envelope.kind == env.EVENT
                and envelope.event == env.LINK_DOWN
                and other in snap.links
            ):
                # The link is gone with the process (a trapping actor lives on without it).
                snap.links.remove(other)

    def _exit_notices(self) -> list[OutboxEntry]:
        return exit_notices(self.system, self.snapshot)

    def _dead_replies(self, envelopes: list[env.Envelope]) -> list[OutboxEntry]:
        return dead_replies(self.system, self.snapshot, envelopes)


def lua_event(engine: Any, name: str, sender: str | None, result: Any, reason: Any) -> Any:
    """An EXIT / LINK_DOWN / CANCEL as Lua code sees it (``on_event``'s argument, a value of
    ``process.events()``): ``{kind, from, result = {value, error}, reason}``, the error an
    error object; ``result`` is in the envelope's JSON form."""
    state = engine.state
    fields: dict[str, Any] = {"kind": name.encode()}
    if sender:
        fields["from"] = str(sender).encode()
    if isinstance(result, dict):
        parts: dict[str, Any] = {}
        if "value" in result:
            parts["value"] = engine.codec.to_lua(codec.from_json_value(result["value"]))
        if result.get("error"):
            error = result["error"]
            parts["error"] = state.new_error(
                str(error.get("kind", INTERNAL)), str(error.get("message", ""))
            )
        fields["result"] = state.table(**parts)
    if reason is not None:
        fields["reason"] = str(reason).encode()
    return state.table(**fields)


def exit_notices(system: ProcessSystem, snap: Snapshot) -> list[OutboxEntry]:
    """What an ended process (``snap.status`` exited or crashed) tells the world: EXIT to its
    monitors and, when it crashed, LINK_DOWN to its links (as in Erlang, a normal exit does
    not take linked processes down)."""
    result: dict[str, Any] = (
        {"value": snap.result} if snap.status == EXITED else {"error": snap.error}
    )
    notices = []
    for i, pid in enumerate(snap.monitors):
        ident = reply_id(f"{snap.pid}|{snap.version}|m{i}", "exit")
        notices.append(env.event(pid, ident, snap.pid, env.EXIT, result))
    if snap.status == CRASHED:
        for i, pid in enumerate(snap.links):
            ident = reply_id(f"{snap.pid}|{snap.version}|l{i}", "link")
            notices.append(env.event(pid, ident, snap.pid, env.LINK_DOWN, result))
    return [system.outbox_entry(n) for n in notices]


def dead_replies(
    system: ProcessSystem, snapshot: Snapshot | None, envelopes: list[env.Envelope]
) -> list[OutboxEntry]:
    """What a dead (or never born) process answers: EXIT to a monitor, LINK_DOWN to a link."""
    if snapshot is None:
        result: dict[str, Any] = {"error": {"kind": NOT_FOUND, "message": "no such process"}}
        me = envelopes[0].to if envelopes else ""
    else:
        me = snapshot.pid
        if snapshot.status == EXITED:
            result = {"value": snapshot.result}
        else:
            result = {"error": snapshot.error or {"kind": INTERNAL, "message": "crashed"}}
    replies = []
    for envelope in envelopes:
        if envelope.sender is None or not is_pid(envelope.sender):
            continue
        if envelope.kind == env.MONITOR:
            name = env.EXIT
        elif envelope.kind == env.LINK:
            name = env.LINK_DOWN
        else:
            continue
        ident = reply_id(envelope.id, name)
        replies.append(system.outbox_entry(env.event(envelope.sender, ident, me, name, result)))
    return replies
