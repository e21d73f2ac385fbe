"""The wire format of everything a process receives: one JSON object per SQS message.

Every envelope has ``kind``, ``to`` (a pid) and ``id`` (unique per logical message: a redelivery
or a re-sent outbox entry carries the same id, which is how a turn recognises it). Values
(payloads, spawn arguments, results) are in the codec's JSON form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from runtime import codec

SPAWN = "spawn"
MESSAGE = "message"
EVENT = "event"
LINK = "link"
UNLINK = "unlink"
MONITOR = "monitor"
UNMONITOR = "unmonitor"
TERMINATE = "terminate"
#: A loop-style process's timer is due: it carries nothing; the process runs its due timers.
WAKE = "wake"
KINDS = frozenset({SPAWN, MESSAGE, EVENT, LINK, UNLINK, MONITOR, UNMONITOR, TERMINATE, WAKE})

#: Event names, as ``process.event`` exposes them to Lua.
EXIT = "EXIT"
LINK_DOWN = "LINK_DOWN"
CANCEL = "CANCEL"
EVENTS = frozenset({EXIT, LINK_DOWN, CANCEL})


class EnvelopeError(ValueError):
    """A message body that is not an envelope (a poison message)."""


@dataclass
class Envelope:
    """One message to process ``to``.

    ``fields`` carries what the kind needs: ``topic``/``payload`` for a message; ``entry``,
    ``args``, ``links``, ``monitors``, ``name``, ``service``, ``context`` for a spawn; ``event``,
    ``result``, ``reason`` for an event.
    """

    kind: str
    to: str
    id: str
    sender: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def to_body(self) -> str:
        """The SQS message body."""
        body = {"kind": self.kind, "to": self.to, "id": self.id, "from": self.sender}
        body.update(self.fields)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_body(cls, text: str) -> Envelope:
        """Parse a body written by :meth:`to_body`.

        Raises:
            EnvelopeError: naming what is wrong with it.
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise EnvelopeError(f"message body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise EnvelopeError("message body is not a JSON object")
        kind, to, ident = data.pop("kind", None), data.pop("to", None), data.pop("id", None)
        sender = data.pop("from", None)
        if not isinstance(kind, str) or kind not in KINDS:  # a list or dict is unhashable
            raise EnvelopeError(f"unknown envelope kind {kind!r}")
        if not isinstance(to, str) or not isinstance(ident, str) or not ident:
            raise EnvelopeError("envelope needs string 'to' and 'id'")
        if sender is not None and not isinstance(sender, str):
            raise EnvelopeError("envelope 'from' must be a pid")
        return cls(kind=kind, to=to, id=ident, sender=sender, fields=data)

    # -- typed views ------------------------------------------------------------------------
    @property
    def topic(self) -> str:
        return str(self.fields.get("topic", ""))

    def payload(self) -> Any:
        """The message payload as a Python value."""
        return codec.from_json_value(self.fields.get("payload"))

    @property
    def event(self) -> str:
        return str(self.fields.get("event", ""))


def message(to: str, ident: str, sender: str | None, topic: str, payload: Any) -> Envelope:
    """A user message; ``payload`` is a Python value."""
    fields = {"topic": topic, "payload": codec.to_json_value(payload)}
    return Envelope(MESSAGE, to, ident, sender, fields)


def event(
    to: str,
    ident: str,
    sender: str,
    name: str,
    result: dict[str, Any] | None = None,
    reason: str | None = None,
) -> Envelope:
    """An EXIT / LINK_DOWN / CANCEL event; ``result`` is ``{"value"?, "error"?}`` in JSON form."""
    fields: dict[str, Any] = {"event": name}
    if result is not None:
        fields["result"] = result
    if reason is not None:
        fields["reason"] = reason
    return Envelope(EVENT, to, ident, sender, fields)
