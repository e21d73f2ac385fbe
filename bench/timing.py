"""Timing helpers: the best of several interleaved repeats, so A and B see the same machine."""

from __future__ import annotations

import statistics
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


def interleaved_samples(
    subjects: dict[str, Callable[[], object]],
    calls: int,
    repeats: int,
    warm_rounds: int = 2,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Microseconds per call of each subject in each of ``repeats`` rounds, for medians.

    Each round times one batch of ``calls`` per subject, the subjects' order rotated from one
    round to the next (none always runs right after another, so a drift or the other core's
    bursts fall on each alike); the first ``warm_rounds`` rounds are run and discarded (caches,
    pools, first-call imports, the CPU's clock). Round ``i``'s samples of two subjects were taken
    moments apart, so their ratio is a paired figure (see :func:`median_ratio`). ``cpu``, when
    given, gets the same rounds' CPU microseconds per call of this thread (what waiting on the
    other core or on the scheduler does not inflate).
    """
    names = list(subjects)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(warm_rounds + repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.thread_time()
            value = per_call_us(subjects[name], calls)
            used = (time.thread_time() - started) / calls * 1e6
            if round_ >= warm_rounds:
                samples[name].append(value)
                if cpu is not None:
                    cpu.setdefault(name, []).append(used)
    return samples


def median_ratio(a: list[float], b: list[float]) -> float:
    """The median of the per-round ratios ``a[i] / b[i]`` of two subjects' samples."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def print_figures(figures: list[Figure]) -> None:
    """The rows as ``python -m bench`` prints them, for a section run alone."""
    print("| measure | value | note |\n|---|---|---|")
    for f in figures:
        value = f"{f.value:.2f}" if f.value < 100 else f"{f.value:.0f}"
        print(f"| {f.name} | {value} {f.unit} | {f.note} |")
