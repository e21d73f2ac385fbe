"""Timing helpers: the best of several interleaved repeats, so A and B see the same machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Figure:
    """One measured row: a name, a value and its unit, and an optional note."""

    name: str
    value: float
    unit: str
    note: str = ""


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    """Microseconds per call of ``fn`` over one batch of ``calls``."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def side_by_side(
    subjects: dict[str, Callable[[], object]], calls: int, repeats: int = 7
) -> dict[str, float]:
    """Best microseconds per call of each subject, batches interleaved across subjects.

    Interleaving means a slow patch of the machine (the other core busy, a GC) hits every subject
    alike; the minimum over repeats is the least disturbed figure.
    """
    for fn in subjects.values():  # warm: compile, caches, first-call imports
        per_call_us(fn, max(1, calls // 10))
    best = {name: float("inf") for name in subjects}
    for _ in range(repeats):
        for name, fn in subjects.items():
            best[name] = min(best[name], per_call_us(fn, calls))
    return best


def print_figures(figures: list[Figure]) -> None:
    """The rows as ``python -m bench`` prints them, for a section run alone."""
    print("| measure | value | note |\n|---|---|---|")
    for f in figures:
        value = f"{f.value:.2f}" if f.value < 100 else f"{f.value:.0f}"
        print(f"| {f.name} | {value} {f.unit} | {f.note} |")
