"""Collects each fault point's outcome and prints them as one table after the run."""

from __future__ import annotations

from typing import Any

import pytest

#: (unit, handler, AWS call, mode) -> outcome, filled by the matrix tests.
OUTCOMES: dict[tuple[str, str, str, str], str] = {}


@pytest.fixture
def outcomes() -> dict[tuple[str, str, str, str], str]:
    return OUTCOMES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not OUTCOMES:
        return
    rows = [("unit", "handler", "AWS call", "fault", "outcome")]
    rows += [(*key, outcome) for key, outcome in sorted(OUTCOMES.items())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    terminalreporter.section("fault matrix: points x outcomes")
    for row in rows:
        terminalreporter.write_line(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        )
