"""Cumulative metric points become deltas per series: what was counted between two exports."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentwatch.collector.otlp.metrics import (
    KIND_GAUGE,
    KIND_HISTOGRAM,
    KIND_SUM,
    TEMPORALITY_CUMULATIVE,
    TEMPORALITY_DELTA,
    TEMPORALITY_NONE,
    MetricPoint,
)
from agentwatch.collector.otlp.temporality import DeltaConverter

STARTED = 1_700_000_000 * 10**9  # when the converter started, in unix nanoseconds
SECOND = 10**9


def counter(
    value: float,
    time_s: float,
    *,
    start_s: float = 1,
    series: bytes = b"s",
    monotonic: bool = True,
    temporality: int = TEMPORALITY_CUMULATIVE,
) -> MetricPoint:
    """A Sum point; times in seconds after STARTED."""
    return MetricPoint(
        "tokens",
        KIND_SUM,
        temporality,
        monotonic,
        "",
        "agent",
        {},
        "scope",
        {},
        series,
        STARTED + int(start_s * SECOND),
        STARTED + int(time_s * SECOND),
        value=value,
    )


def histogram(buckets: tuple[int, ...], total: float, time_s: float, *, start_s: float = 1) -> MetricPoint:
    return MetricPoint(
        "latency",
        KIND_HISTOGRAM,
        TEMPORALITY_CUMULATIVE,
        False,
        "s",
        "agent",
        {},
        "scope",
        {},
        b"h",
        STARTED + int(start_s * SECOND),
        STARTED + int(time_s * SECOND),
        count=sum(buckets),
        total=total,
        bucket_counts=buckets,
        bounds=tuple(float(i) for i in range(1, len(buckets))),
    )


def deltas(converter: DeltaConverter, points: list[MetricPoint]) -> list[MetricPoint]:
    return [d for d in map(converter.delta, points) if d is not None]


increments = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30)


@given(increments)
def test_the_deltas_of_a_series_add_up_to_its_last_cumulative_value(steps: list[int]) -> None:
    converter = DeltaConverter(started_ns=STARTED)
    running, points = 0, []
    for i, step in enumerate(steps):
        running += step
        points.append(counter(running, time_s=2 + i))
    out = deltas(converter, points)
    assert sum(d.value or 0 for d in out) == running
    assert all(d.temporality == TEMPORALITY_DELTA and (d.value or 0) >= 0 for d in out)


@given(increments, st.randoms(use_true_random=False))
def test_duplicates_and_late_retries_are_ignored(steps: list[int], rng: random.Random) -> None:
    """Every point may be sent again later (an exporter retrying): the total does not move."""
    converter = DeltaConverter(started_ns=STARTED)
    running, sent = 0, []
    for i, step in enumerate(steps):
        running += step
        point = counter(running, time_s=2 + i)
        sent.append(point)
        if rng.random() < 0.5:
            sent.append(rng.choice(sent))  # this one again, or an earlier one
    out = deltas(converter, sent)
    assert sum(d.value or 0 for d in out) == running
    assert converter.out_of_order == len(sent) - len(steps)


@given(st.lists(increments, min_size=1, max_size=5))
def test_a_restart_is_a_reset_counted_from_zero(runs: list[list[int]]) -> None:
    """A program restarting (a new start time) starts its series again: the deltas add up to
    what every run counted."""
    converter = DeltaConverter(started_ns=STARTED)
    time_s, points = 2.0, []
    for steps in runs:
        start_s, running = time_s - 0.5, 0
        for step in steps:
            running += step
            points.append(counter(running, time_s=time_s, start_s=start_s))
            time_s += 1
    out = deltas(converter, points)
    assert sum(d.value or 0 for d in out) == sum(sum(steps) for steps in runs)
    assert converter.resets == len(runs) - 1


def test_a_counter_going_down_is_a_reset() -> None:
    converter = DeltaConverter(started_ns=STARTED)
    out = deltas(converter, [counter(10, 2), counter(15, 3), counter(4, 4), counter(6, 5)])
    assert [d.value for d in out] == [10, 5, 4, 2]
    assert converter.resets == 1


def test_a_point_of_a_replaced_run_is_ignored() -> None:
    converter = DeltaConverter(started_ns=STARTED)
    out = deltas(converter, [counter(10, 2), counter(3, 6, start_s=5), counter(12, 4)])
    assert [d.value for d in out] == [10, 3]
    assert converter.out_of_order == 1


def test_the_first_point_of_a_series_older_than_the_converter_is_only_a_base() -> None:
    """Its value may have been counted before agentwatch watched: only what follows counts."""
    converter = DeltaConverter(started_ns=STARTED)
    out = deltas(converter, [counter(100, 2, start_s=-60), counter(130, 3, start_s=-60)])
    assert [d.value for d in out] == [30]
    assert converter.baselines == 1


@pytest.mark.parametrize(
    "first",
    [dataclasses.replace(counter(7, 2), start_ns=0), counter(7, 2, start_s=2)],
    ids=["start time not set", "start time equal to time"],
)
def test_a_first_point_without_a_usable_start_time_is_only_a_base(first: MetricPoint) -> None:
    converter = DeltaConverter(started_ns=STARTED)
    assert converter.delta(first) is None
    assert converter.baselines == 1


def test_delta_points_and_gauges_pass_through() -> None:
    converter = DeltaConverter(started_ns=STARTED)
    delta = counter(5, 2, temporality=TEMPORALITY_DELTA)
    gauge = dataclasses.replace(counter(-3, 2), kind=KIND_GAUGE, temporality=TEMPORALITY_NONE)
    assert converter.delta(delta) is delta and converter.delta(gauge) is gauge
    assert converter.series == 0


def test_a_non_monotonic_sum_may_go_down_without_a_reset() -> None:
    converter = DeltaConverter(started_ns=STARTED)
    out = deltas(converter, [counter(5, 2, monotonic=False), counter(2, 3, monotonic=False)])
    assert [d.value for d in out] == [5, -3]
    assert converter.resets == 0


@given(st.lists(st.tuples(*[st.integers(min_value=0, max_value=1000)] * 3), min_size=1, max_size=20))
def test_histogram_deltas_add_up_bucket_by_bucket(steps: list[tuple[int, int, int]]) -> None:
    converter = DeltaConverter(started_ns=STARTED)
    buckets, points = (0, 0, 0), []
    for i, step in enumerate(steps):
        buckets = tuple(a + b for a, b in zip(buckets, step, strict=True))
        points.append(histogram(buckets, float(sum(buckets)), time_s=2 + i))
    out = deltas(converter, points)
    added = [sum(d.bucket_counts[i] for d in out) for i in range(3)]
    assert tuple(added) == buckets
    assert sum(d.count or 0 for d in out) == sum(buckets)
    assert sum(d.total or 0 for d in out) == pytest.approx(sum(buckets))


def test_a_histogram_whose_bounds_change_starts_again() -> None:
    converter = DeltaConverter(started_ns=STARTED)
    first = histogram((1, 2), 3.0, 2)
    moved = dataclasses.replace(histogram((2, 2), 5.0, 3), bounds=(2.0,))
    out = deltas(converter, [first, moved])
    assert [d.bucket_counts for d in out] == [(1, 2), (2, 2)]
    assert converter.resets == 1


def test_the_series_table_is_bounded_and_forgets_the_least_recently_updated() -> None:
    converter = DeltaConverter(max_series=3, started_ns=STARTED)
    for name in (b"a", b"b", b"c"):
        converter.delta(counter(1, 2, series=name))
    converter.delta(counter(2, 3, series=b"a"))  # a is now the most recent
    converter.delta(counter(1, 2, series=b"d"))  # b goes
    converter.delta(counter(1, 2, series=b"e"))  # c goes
    assert (converter.series, converter.evicted) == (3, 2)
    assert converter.delta(counter(3, 4, series=b"a")) is not None  # a was kept
    assert converter.delta(counter(5, 4, series=b"b")) is not None  # b starts again, from zero
    assert converter.evicted == 3


def test_a_point_with_no_recorded_value_forgets_its_series() -> None:
    converter = DeltaConverter(started_ns=STARTED)
    converter.delta(counter(4, 2))
    assert converter.delta(dataclasses.replace(counter(0, 3), value=None)) is None
    assert converter.series == 0
