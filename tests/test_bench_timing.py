"""The bench's interleaved rounds: rotation, warm-up rounds discarded, paired ratios."""

from bench.timing import interleaved_samples, median_ratio


def test_rounds_rotate_the_order_and_drop_the_warm_up():
    order: list[str] = []
    subjects = {name: (lambda n=name: order.append(n)) for name in "abc"}
    samples = interleaved_samples(subjects, calls=1, repeats=3, warm_rounds=1)
    assert order == list("abc" + "bca" + "cab" + "abc")
    assert {name: len(values) for name, values in samples.items()} == {"a": 3, "b": 3, "c": 3}


def test_median_ratio_pairs_rounds():
    assert median_ratio([2.0, 9.0, 3.0], [1.0, 3.0, 1.0]) == 3.0
