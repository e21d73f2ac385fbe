"""The dev stack's log: every unit's lines in one numbered buffer, echoed to the terminal.

Application lines (the Lua ``logger``), the dev server's access lines and the stack's own notices
(reloads, handler errors) all go through :meth:`LogHub.emit`. The viewer and ``units logs`` read
the buffer by sequence number (``GET /_units/api/logs?after=N``); the terminal gets one line
each, colored by unit when it is a TTY.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

#: Lines kept for the management API; older ones drop off (the terminal saw them).
CAPACITY = 10_000

#: The unit name of the stack's own lines.
SYSTEM_UNIT = "units"

# Foreground colors that read on dark and light terminals (no black, white or grey).
_PALETTE = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
_LEVEL_COLORS = {"warn": 33, "warning": 33, "error": 31, "critical": 31}


@dataclass
class LogRecord:
    """One line: ``unit`` is the entry that logged it (or ``http``, ``units``)."""

    seq: int
    time: float
    unit: str
    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LogHub:
    """A bounded, numbered buffer of log lines; thread-safe. ``out`` (None: no echo) gets each
    line as it is emitted."""

    def __init__(
        self, out: TextIO | None = None, *, color: bool | None = None, capacity: int = CAPACITY
    ) -> None:
        self._lines: collections.deque[LogRecord] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._seq = 0
        self.out = out
        self.color = _wants_color(out) if color is None else color

    def emit(
        self, unit: str, level: str, message: str, fields: dict[str, Any] | None = None
    ) -> LogRecord:
        """Record one line (and print it)."""
        with self._lock:
            self._seq += 1
            record = LogRecord(self._seq, time.time(), unit, level, message, dict(fields or {}))
            self._lines.append(record)
            if self.out is not None:
                try:
                    self.out.write(format_line(record, self.color) + "\n")
                    self.out.flush()
                except (OSError, ValueError):  # a closed terminal must not stop the stack
                    self.out = None
        return record

    def since(self, after: int = 0, limit: int = 1000) -> tuple[list[LogRecord], int]:
        """Up to ``limit`` lines numbered above ``after``, and the number to ask after next."""
        with self._lock:
            found = [r for r in self._lines if r.seq > after][:limit]
            last = self._seq
        # After a restart of the stack a client may ask past the end: send it back to the end.
        return found, found[-1].seq if found else min(max(after, 0), last)


class HubHandler(logging.Handler):
    """Python logging of the kit's own modules (a poison message, a failed turn, a service that
    gave up) into the hub, as the stack's lines."""

    #: The loggers the runtime writes to.
    LOGGERS = ("units", "runtime")

    def __init__(self, hub: LogHub) -> None:
        super().__init__(logging.WARNING)
        self.hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f": {record.exc_info[1]!r}"
        # A line about one unit (a failed activity attempt) is shown under its name and run.
        fields: dict[str, Any] = {"logger": record.name}
        if getattr(record, "run_id", None):
            fields["run_id"] = record.run_id
        unit = getattr(record, "unit", None) or SYSTEM_UNIT
        self.hub.emit(unit, record.levelname.lower(), message, fields)

    def attach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)

    def detach(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)


def format_line(record: LogRecord, color: bool) -> str:
    """``12:00:01 app:hello [pid] info  message k=v``: the unit and its process or run id first,
    so lines of one actor or run are easy to follow."""
    clock = time.strftime("%H:%M:%S", time.localtime(record.time))
    fields = dict(record.fields)
    fields.pop("entry", None)  # it is the unit
    who = fields.pop("pid", None) or fields.pop("run_id", None)
    unit = record.unit + (f" [{who}]" if who else "")
    extras = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
    level = record.level.lower()
    text = f"{record.message} {extras}".rstrip()
    if not color:
        return f"{clock} {unit} {level:<5} {text}"
    unit_color = _PALETTE[zlib.crc32(record.unit.encode()) % len(_PALETTE)]
    level_text = f"{level:<5}"
    if level in _LEVEL_COLORS:
        level_text = f"\x1b[{_LEVEL_COLORS[level]}m{level_text}\x1b[0m"
    return f"\x1b[2m{clock}\x1b[0m \x1b[{unit_color}m{unit}\x1b[0m {level_text} {text}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _wants_color(out: TextIO | None) -> bool:
    # https://no-color.org: any value of NO_COLOR turns color off.
    if out is None or "NO_COLOR" in os.environ:
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def terminal_hub() -> LogHub:
    """A hub echoing to this process's stdout (the terminal of ``units dev``)."""
    return LogHub(sys.stdout)
