"""The dev stack's event sources: a thread per queue consumer, as Lambda's SQS event source
mappings would run the worker and activity Lambdas.

A pump runs rounds of its source back to back while they find work, and otherwise waits for the
doorbell (rung by whatever may have queued work in this process: a request, a step, another
pump's round) or :data:`IDLE_WAIT`, whichever comes first; work queued from outside (the CLI
talking to the moto server) is picked up within that wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from runtime.dev.gate import Gate

#: Seconds an idle pump waits before polling again without a ring.
IDLE_WAIT = 0.2

#: Seconds a pump backs off after its round raised (the error is reported, not repeated).
ERROR_BACKOFF = 1.0


class Doorbell:
    """Wakes waiting pumps. A ring between two waits is not lost: waiters compare counts."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._rings = 0

    def ring(self) -> None:
        with self._cond:
            self._rings += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Wait until rung after ``seen`` (or ``timeout``); return the count to pass next."""
        with self._cond:
            if self._rings == seen:
                self._cond.wait(timeout)
            return self._rings


class Pump:
    """Runs ``round()`` (True when it handled anything) in a thread, under the gate's shared
    side, until :meth:`stop`."""

    def __init__(
        self,
        name: str,
        round_: Callable[[], bool],
        *,
        gate: Gate,
        bell: Doorbell,
        on_error: Callable[[str, BaseException], None],
    ) -> None:
        self.name = name
        self._round = round_
        self._gate = gate
        self._bell = bell
        self._on_error = on_error
        self._stop = threading.Event()
        #: Set once a round has found nothing to do (its queue drained at least once).
        self.idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"units-dev-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it finishes its round) and wake it."""
        self._stop.set()
        self._bell.ring()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        seen = 0
        failing = False
        while not self._stop.is_set():
            try:
                with self._gate.shared():
                    busy = self._round()
                failing = False
            except Exception as exc:
                if not failing:  # once per run of failures, not once a second
                    self._on_error(self.name, exc)
                failing = True
                self._stop.wait(ERROR_BACKOFF)
                continue
            if busy:
                self._bell.ring()  # its sends may be another pump's work
                continue
            self.idle.set()
            seen = self._bell.wait(seen, IDLE_WAIT)
