"""Clocks: where "now" comes from, and how waiting for a deadline happens.

Functions and processes read the wall clock in production. Tests and the local harness use
:class:`ManualClock`, whose waits return at once after moving time forward, so a test that sleeps
an hour of Lua time takes microseconds and is deterministic.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """The time source a unit sees."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def wait_until(self, deadline: float, wakeup: threading.Event | None = None) -> None:
        """Return once ``now() >= deadline``, or earlier when ``wakeup`` is set."""
        ...


class WallClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def wait_until(self, deadline: float, wakeup: threading.Event | None = None) -> None:
        delay = deadline - time.time()
        if delay <= 0:
            return
        if wakeup is None:
            time.sleep(delay)
        else:
            wakeup.wait(delay)


class ManualClock:
    """A clock that only moves when told to (``advance``) or when something waits on it.

    Waiting for a deadline jumps straight to it: nothing else can happen meanwhile in a
    single-threaded harness, so skipping the gap is the same as sleeping through it.
    """

    #: Waits jump instead of sleeping, so real I/O must finish before time moves on.
    virtual = True

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` if it is later than now."""
        with self._lock:
            self._now = max(self._now, float(when))

    def wait_until(self, deadline: float, wakeup: threading.Event | None = None) -> None:
        if wakeup is not None and wakeup.is_set():
            return
        self.set(deadline)
