"""What every ``units`` command shares: exit codes, JSON arguments, tables, times, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from runtime.errors import UnitError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A command cannot go on: ``message`` goes to stderr, ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int) -> int:
    """Print ``message`` on stderr and return ``code``."""
    print(message, file=sys.stderr)
    return code


def progress(message: str) -> None:
    """A progress line on stderr (stdout stays the command's result)."""
    print(message, file=sys.stderr, flush=True)


def report(exc: UnitError) -> int:
    """A runtime error as the CLI shows it: ``KIND: message`` (and the trimmed traceback)."""
    message = f"{exc.kind}: {exc.message}"
    trace = exc.details.get("traceback") if exc.details else None
    if trace and trace.strip() != exc.message.strip():
        message += "\n" + trace
    return fail(message, EXIT_ERROR)


def parse_json(text: str, what: str) -> Any:
    """``text`` as one JSON value.

    Raises:
        CliError: a usage error naming ``what`` when it is not JSON.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{what} is not JSON: {text!r} ({exc.msg}); quote strings, e.g. '\"ada\"'",
            EXIT_USAGE,
        ) from None


def parse_json_args(raw: Sequence[str]) -> list[Any]:
    """Each of ``raw`` as one JSON value (``argument 1``, ``argument 2``... in errors)."""
    return [parse_json(text, f"argument {i}") for i, text in enumerate(raw, 1)]


def print_json(value: Any) -> None:
    """``value`` as one line of JSON on stdout."""
    print(json.dumps(value, ensure_ascii=False))


def when(timestamp: float | None) -> str:
    """A Unix time as ``2026-01-01T00:00:00Z`` ("-" for none)."""
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_text(error: dict[str, Any]) -> str:
    """An error as ``kind: message`` on one line (its message whole)."""
    message = " ".join(str(error.get("message", "")).split())
    return f"{error.get('kind') or 'Error'}: {message}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under headers in aligned columns (two spaces apart; the last one not padded)."""
    cells = [
        [str(h) for h in headers],
        *[["-" if c in (None, "") else str(c) for c in r] for r in rows],
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]))
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """``name  value`` lines, names aligned (``None`` values are left out)."""
    shown = [(k, v) for k, v in pairs if v is not None]
    width = max((len(k) for k, _ in shown), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in shown)


def compact(value: Any, limit: int = 60) -> str:
    """``value`` as short JSON for a table cell (cut at ``limit`` characters)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."
