"""The latency sketch keeps every quantile within 1 % of the exact value at the same rank."""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable

import pytest
from ddsketch import DDSketch
from hypothesis import given
from hypothesis import strategies as st

from agentwatch.collector.sketch import (
    MAX_VALUE,
    MIN_VALUE,
    RELATIVE_ACCURACY,
    LatencySketch,
    MergedSketch,
    PackedSketch,
    key_of,
    value_of,
)

QUANTILES = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)
# The bound is exact up to float rounding at bucket edges.
BOUND = RELATIVE_ACCURACY * (1 + 1e-9)


def exact_quantile(sorted_values: list[float], q: float) -> float:
    """The oracle: the value at rank q·(n−1), rounded down — DDSketch's rank rule."""
    return sorted_values[math.floor(q * (len(sorted_values) - 1))]


def relative_error(estimate: float | None, exact: float) -> float:
    assert estimate is not None
    if exact == 0:
        return abs(estimate)
    return abs(estimate - exact) / abs(exact)


def _lognormal(rnd: random.Random) -> float:
    return rnd.lognormvariate(6.0, 1.0)


def _uniform(rnd: random.Random) -> float:
    return rnd.uniform(1.0, 5000.0)


def _exponential(rnd: random.Random) -> float:
    return rnd.expovariate(1 / 300.0) + 0.01


def _bimodal(rnd: random.Random) -> float:
    return rnd.gauss(80.0, 5.0) if rnd.random() < 0.7 else rnd.gauss(4000.0, 300.0)


def _constant(rnd: random.Random) -> float:
    return 1234.5


DISTRIBUTIONS: dict[str, Callable[[random.Random], float]] = {
    "lognormal": _lognormal,
    "uniform": _uniform,
    "exponential": _exponential,
    "bimodal": _bimodal,
    "constant": _constant,
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantiles_are_within_one_percent_of_exact_values(name: str) -> None:
    rnd = random.Random(name)
    values = [DISTRIBUTIONS[name](rnd) for _ in range(20_000)]
    sketch = LatencySketch()
    for value in values:
        sketch.add(value)
    ordered = sorted(values)
    for q in QUANTILES:
        assert relative_error(sketch.quantile(q), exact_quantile(ordered, q)) <= BOUND, q
    assert sketch.count == len(values)
    assert sketch.sum == pytest.approx(sum(values))


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantiles_stay_within_one_percent_after_merging_sixty_buckets(name: str) -> None:
    rnd = random.Random(f"merge-{name}")
    merged = LatencySketch()
    everything: list[float] = []
    for _ in range(60):
        bucket = LatencySketch()
        values = [DISTRIBUTIONS[name](rnd) for _ in range(rnd.randint(0, 400))]
        bucket.add_many(values)
        everything.extend(values)
        merged.merge(bucket)
    ordered = sorted(everything)
    for q in QUANTILES:
        assert relative_error(merged.quantile(q), exact_quantile(ordered, q)) <= BOUND, q


def test_merge_equals_adding_everything_to_one_sketch() -> None:
    rnd = random.Random(7)
    a, b, both = LatencySketch(), LatencySketch(), LatencySketch()
    for i in range(5000):
        value = rnd.lognormvariate(5, 2)
        (a if i % 3 else b).add(value)
        both.add(value)
    a.merge(b)
    assert a.counts == both.counts
    assert a.count == both.count
    assert a.quantiles(QUANTILES) == both.quantiles(QUANTILES)


def test_answers_match_the_ddsketch_package() -> None:
    rnd = random.Random(11)
    ours, theirs = LatencySketch(), DDSketch(relative_accuracy=RELATIVE_ACCURACY)
    for _ in range(10_000):
        value = rnd.lognormvariate(6, 1)
        ours.add(value)
        theirs.add(value)
    for q in QUANTILES:
        expected = theirs.get_quantile_value(q)
        assert ours.quantile(q) == pytest.approx(expected, rel=1e-9)


def test_add_many_gives_the_same_sketch_as_add() -> None:
    values = [0.0, -3.0, 0.5, 1.0, 250.0, 250.0, 1e13, math.inf, math.nan]
    one, many = LatencySketch(), LatencySketch()
    for value in values:
        one.add(value)
    many.add_many(values)
    for attribute in ("counts", "zero_count", "count", "sum", "ignored"):
        assert getattr(one, attribute) == getattr(many, attribute), attribute


def test_empty_sketch_has_no_quantiles() -> None:
    sketch = LatencySketch()
    assert sketch.quantile(0.5) is None
    assert sketch.quantiles((0.5, 0.99)) == [None, None]


def test_out_of_range_quantile_is_none_not_an_error() -> None:
    sketch = LatencySketch()
    sketch.add(10.0)
    assert sketch.quantile(-0.1) is None
    assert sketch.quantile(1.5) is None
    assert sketch.quantile(math.nan) is None


def test_zero_and_negative_values_go_to_the_zero_bucket() -> None:
    sketch = LatencySketch()
    for value in (0.0, -5.0, MIN_VALUE / 2):
        sketch.add(value)
    sketch.add(100.0)
    assert sketch.zero_count == 3
    assert sketch.quantile(0.5) == 0.0
    assert relative_error(sketch.quantile(1.0), 100.0) <= BOUND


def test_nan_is_ignored_and_counted_infinity_is_clamped() -> None:
    sketch = LatencySketch()
    sketch.add(math.nan)
    assert sketch.count == 0
    assert sketch.ignored == 1
    sketch.add(math.inf)
    assert sketch.count == 1
    assert relative_error(sketch.quantile(0.5), MAX_VALUE) <= BOUND


def test_quantiles_answers_in_the_order_asked() -> None:
    sketch = LatencySketch()
    sketch.add_many(float(v) for v in range(1, 1001))
    p99, p50 = sketch.quantiles((0.99, 0.5))
    assert p99 is not None and p50 is not None
    assert relative_error(p99, 990.0) <= BOUND
    assert relative_error(p50, 500.0) <= BOUND


def test_copy_is_independent_and_clear_empties() -> None:
    sketch = LatencySketch()
    sketch.add(5.0)
    clone = sketch.copy()
    clone.add(7.0)
    assert sketch.count == 1 and clone.count == 2
    clone.clear()
    assert clone.count == 0 and clone.counts == {} and clone.quantile(0.5) is None


def test_bucket_value_is_within_the_bound_of_its_edges() -> None:
    for value in (0.002, 0.9, 1.0, 1.0001, 42.0, 999.99, 1e6, 1e11):
        key = key_of(value)
        assert key is not None
        assert relative_error(value_of(key), value) <= BOUND, value
    assert key_of(0.0) is None


# ------------------------------------------------------------------ MergedSketch
second_values = st.lists(
    st.one_of(
        st.floats(min_value=0.0005, max_value=1e13),
        st.sampled_from([0.0, -3.0, 1e-3, 250.0, 251.0, math.nan, math.inf]),
    ),
    max_size=40,
)


def sketch_of(values: list[float]) -> LatencySketch:
    sketch = LatencySketch()
    sketch.add_many(values)
    return sketch


@given(seconds=st.lists(second_values, min_size=1, max_size=12), leave=st.integers(0, 12))
def test_a_merged_sketch_answers_as_the_dict_sketch_through_merges_and_subtractions(
    seconds: list[list[float]], leave: int
) -> None:
    """Slide a window: merge every second, subtract the oldest ones; both forms agree."""
    buckets = [sketch_of(values) for values in seconds]
    merged, reference = MergedSketch(), LatencySketch()
    for bucket in buckets:
        merged.merge(bucket)
        reference.merge(bucket)
    for bucket in buckets[:leave]:
        merged.subtract(bucket)
        reference.subtract(bucket)
    assert merged.quantiles(QUANTILES) == reference.quantiles(QUANTILES)
    assert (merged.count, merged.zero_count) == (reference.count, reference.zero_count)
    assert merged.counts == reference.counts
    widest = key_of(MAX_VALUE) - key_of(MIN_VALUE * 1.001) + 1  # type: ignore[operator]
    assert len(merged.dense) <= widest  # a slot per key, from the smallest to the largest value


def test_a_merged_sketch_grows_its_range_both_ways_and_copies_independently() -> None:
    merged = MergedSketch()
    merged.merge(sketch_of([100.0, 120.0]))
    merged.merge(sketch_of([0.5, 90_000.0]))  # keys below and above the first range
    assert merged.counts == sketch_of([100.0, 120.0, 0.5, 90_000.0]).counts
    clone = merged.copy()
    clone.merge(merged)  # a merged sketch merges into another
    assert clone.count == 2 * merged.count == 8
    assert merged.quantiles((0.0, 1.0)) == sketch_of([100.0, 120.0, 0.5, 90_000.0]).quantiles((0.0, 1.0))
    merged.clear()
    assert merged.quantile(0.5) is None and not merged.counts and clone.count == 8


# ------------------------------------------------------------------ PackedSketch
@given(seconds=st.lists(second_values, min_size=1, max_size=12))
def test_a_packed_sketch_answers_as_the_dict_sketch_and_merges_into_both_other_forms(
    seconds: list[list[float]],
) -> None:
    """Intervals kept for minutes are packed; reading or merging them changes no answer."""
    buckets = [sketch_of(values) for values in seconds]
    packed = [PackedSketch(bucket) for bucket in buckets]
    for bucket, frozen in zip(buckets, packed, strict=True):
        assert frozen.quantiles(QUANTILES) == bucket.quantiles(QUANTILES)
        assert (frozen.count, frozen.zero_count, frozen.sum, frozen.ignored) == (
            bucket.count,
            bucket.zero_count,
            bucket.sum,
            bucket.ignored,
        )
        assert frozen.counts == bucket.counts
    reference, from_packed, merged = LatencySketch(), LatencySketch(), MergedSketch()
    for bucket, frozen in zip(buckets, packed, strict=True):
        reference.merge(bucket)
        from_packed.merge(frozen)
        merged.merge(frozen)
    assert from_packed.counts == reference.counts == merged.counts
    assert from_packed.quantiles(QUANTILES) == reference.quantiles(QUANTILES) == merged.quantiles(QUANTILES)
    assert (from_packed.count, from_packed.zero_count) == (reference.count, reference.zero_count)


def test_a_packed_sketch_is_smaller_than_its_dict() -> None:
    """What packing is for: a typical ten-second sketch of one agent (about 50 keys)."""
    rng = random.Random(7)
    sketch = sketch_of([rng.lognormvariate(6.5, 0.5) for _ in range(200)])
    packed = PackedSketch(sketch)
    as_dict = sys.getsizeof(sketch.counts) + sum(sys.getsizeof(k) for k in sketch.counts)
    as_arrays = sys.getsizeof(packed.keys) + sys.getsizeof(packed.values)
    assert len(sketch.counts) >= 40
    assert as_arrays * 3 < as_dict
    assert PackedSketch().quantile(0.5) is None and PackedSketch(LatencySketch()).counts == {}
