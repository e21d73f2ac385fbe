"""bench/loops.py at its quick size: issue 15's goal checks come out in the shape the README
quotes, and the load check's invariant holds (every message once, in order)."""

from __future__ import annotations

import pytest

from bench import loops


@pytest.fixture(scope="module")
def report() -> loops.Report:
    return loops.run_report(loops.QUICK)


def test_the_load_check_loses_duplicates_and_reorders_nothing(report: loops.Report) -> None:
    load = report.load
    assert (load.processes, load.messages) == (loops.QUICK.processes, loops.QUICK.messages)
    assert (load.lost, load.duplicated, load.reordered, load.dead_letters) == (0, 0, 0, 0)
    loops.check(report)  # raises on any miss
    # Several messages of one process reached the worker in one batch.
    total = loops.merged(load.samples)
    assert total.process_batches < total.messages


def test_a_warm_loop_process_writes_once_per_batch_and_reads_nothing(
    report: loops.Report,
) -> None:
    for layout in report.layouts:
        loop = loops.merged(layout.samples["loop"])
        handler = loops.merged(layout.samples["handler"])
        assert loop.process_batches > 0 and loop.invocations > 0
        assert loop.worker.writes == loop.process_batches  # one append per process per batch
        assert loop.worker.reads == 0
        # SQS: as many calls per message as the handler-style actor doing the same work.
        assert loop.worker.sqs + loop.source.sqs == handler.worker.sqs + handler.source.sqs
        assert loop.cpu_us() > 0 and handler.cpu_us() > 0


def test_the_cold_curve_replays_each_journal_from_dynamodb(report: loops.Report) -> None:
    assert [c.messages for c in report.cold] == list(loops.QUICK.journals)
    for cold in report.cold:
        assert cold.events > cold.messages  # the start, the messages, the cold batches' own
        best = cold.best()
        assert best.worker.count("dynamodb", {"Query"}) >= 1 and best.wall > 0


def test_the_figures_name_every_goal(report: loops.Report) -> None:
    rows = loops.figures(report)
    names = [f.name for f in rows]
    assert sum("writes / reads per process per batch" in n for n in names) == 3
    assert sum(n.strip() == "loop / handler CPU" for n in names) == 2
    assert any(n.strip().startswith("goal:") and "replayed" in n for n in names)
    wrong = next(f for f in rows if "lost / duplicated / reordered" in f.name)
    assert wrong.value == 0 and "zero lost, zero duplicated, order kept" in wrong.note
    dollars = [f for f in rows if f.name.startswith("$ per million messages")]
    assert len(dollars) == 4 and all(f.value > 0 for f in dollars)


def test_the_verdict_counts_lost_duplicated_and_reordered_numbers() -> None:
    assert loops.verdict([1, 2, 3], 3) == (0, 0, False)
    assert loops.verdict([1, 3], 3) == (1, 0, False)
    assert loops.verdict([1, 2, 2, 3], 3) == (0, 1, False)
    assert loops.verdict([2, 1, 3], 3) == (0, 0, True)
    assert loops.verdict([1, 2, 3, 9], 3) == (0, 1, False)
    assert loops.verdict([], 2) == (2, 0, False)
