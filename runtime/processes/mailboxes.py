"""Sending envelopes to process hosts' SQS FIFO queues, now or later.

FIFO queues take no per-message delay, so a delayed send (a service's restart backoff) goes to
the host's standard *delay queue* with ``DelaySeconds`` (at most 15 minutes) and a due time in
its body; the worker forwards it to the FIFO queue once due, re-delaying what is not due yet.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

from runtime.clock import Clock
from runtime.errors import INVALID, NOT_FOUND, UnitError
from runtime.processes.store import OutboxEntry

#: SQS's message size limit.
MESSAGE_LIMIT_BYTES = 1024 * 1024
MAX_DELAY_SECONDS = 900
_BATCH = 10


def check_size(body: str, what: str) -> None:
    """Raise INVALID when ``body`` would not fit in one SQS message."""
    size = len(body.encode())
    if size > MESSAGE_LIMIT_BYTES:
        raise UnitError(
            INVALID,
            f"{what} is {size} bytes; an SQS message holds at most {MESSAGE_LIMIT_BYTES} bytes",
        )


class Mailboxes:
    """The hosts' queues. ``queues`` and ``delay_queues`` map host ids to queue URLs.

    ``hold_delays`` is for virtual clocks (the test harness): delays are then kept by the due
    time alone, because SQS (and moto) count ``DelaySeconds`` in wall time.
    """

    def __init__(
        self,
        client: Any,
        queues: dict[str, str],
        delay_queues: dict[str, str],
        clock: Clock,
        *,
        hold_delays: bool = False,
    ) -> None:
        self.client = client
        self.queues = dict(queues)
        self.delay_queues = dict(delay_queues)
        self.clock = clock
        self.hold_delays = hold_delays

    def check_host(self, host: str) -> None:
        """Raise NOT_FOUND unless ``host`` is a process host of this application."""
        if host not in self.queues:
            known = ", ".join(sorted(self.queues)) or "none"
            raise UnitError(NOT_FOUND, f"no process host '{host}' (process hosts: {known})")

    def send(self, entries: list[OutboxEntry]) -> int:
        """Send ``entries`` in order (batched per queue); return the number of SQS calls."""
        now_by_queue: dict[str, list[OutboxEntry]] = defaultdict(list)
        later: list[OutboxEntry] = []
        for entry in entries:
            self.check_host(entry.host)
            (later if entry.delay > 0 else now_by_queue[self.queues[entry.host]]).append(entry)
        calls = 0
        for url, batch in now_by_queue.items():
            for start in range(0, len(batch), _BATCH):
                self._send_batch(url, batch[start : start + _BATCH], fifo=True)
                calls += 1
        for entry in later:
            self.send_delayed(entry)
            calls += 1
        return calls

    def send_delayed(self, entry: OutboxEntry) -> None:
        """Send ``entry`` to its host's delay queue, due ``entry.delay`` seconds from now."""
        due = self.clock.now() + entry.delay
        body = json.dumps(
            {
                "due": due,
                "host": entry.host,
                "group": entry.group,
                "dedup": entry.dedup,
                "body": entry.body,
            }
        )
        self._to_delay_queue(entry.host, body, entry.delay)

    def forward_if_due(self, delay_body: str) -> bool:
        """Handle one delay-queue message: forward it when due, else re-delay it.

        Returns False only when it must stay where it is (a held delay not due yet).
        """
        data = json.loads(delay_body)
        remaining = float(data["due"]) - self.clock.now()
        if remaining <= 0:
            entry = OutboxEntry(data["host"], data["group"], data["body"], data["dedup"])
            self._send_batch(self.queues[entry.host], [entry], fifo=True)
            return True
        if self.hold_delays:
            return False
        self._to_delay_queue(data["host"], delay_body, remaining)
        return True

    def _to_delay_queue(self, host: str, body: str, delay: float) -> None:
        seconds = 0 if self.hold_delays else min(MAX_DELAY_SECONDS, math.ceil(delay))
        self.client.send_message(
            QueueUrl=self.delay_queues[host], MessageBody=body, DelaySeconds=seconds
        )

    def _send_batch(self, url: str, entries: list[OutboxEntry], *, fifo: bool) -> None:
        batch = []
        for i, entry in enumerate(entries):
            item: dict[str, Any] = {"Id": str(i), "MessageBody": entry.body}
            if fifo:
                item["MessageGroupId"] = entry.group
                item["MessageDeduplicationId"] = entry.dedup
            batch.append(item)
        reply = self.client.send_message_batch(QueueUrl=url, Entries=batch)
        failed = reply.get("Failed") or []
        if failed:
            reasons = "; ".join(f"{f.get('Code')}: {f.get('Message')}" for f in failed)
            raise RuntimeError(f"SQS refused {len(failed)} of {len(batch)} messages: {reasons}")
