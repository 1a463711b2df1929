"""The benchmarks' verdicts on ratios rest on this interval; it must be the textbook one."""

from __future__ import annotations

import random

import pytest

from bench.wrk import MedianInterval


@pytest.mark.parametrize(
    ("rounds", "low_rank", "coverage"),
    [
        # The order statistics and coverages of the binomial(n, 1/2) tables.
        (10, 2, 0.9785),
        (20, 6, 0.9586),
        (30, 10, 0.9572),
    ],
)
def test_the_interval_is_the_pair_of_order_statistics_of_the_tables(
    rounds: int, low_rank: int, coverage: float
) -> None:
    values = [float(rank) for rank in range(1, rounds + 1)]
    random.Random(rounds).shuffle(values)

    interval = MedianInterval.of(values)

    assert (interval.low, interval.high) == (low_rank, rounds + 1 - low_rank)
    assert interval.coverage == pytest.approx(coverage, abs=1e-4)


def test_too_few_values_get_the_whole_range_and_say_how_little_it_covers() -> None:
    interval = MedianInterval.of([0.9, 1.1, 1.0])

    assert (interval.low, interval.high) == (0.9, 1.1)
    assert interval.coverage == 0.75
    assert interval.describe() == "75.0% interval of the median 0.900-1.100"
