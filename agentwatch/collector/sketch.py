"""A mergeable latency sketch with a guaranteed relative error (DDSketch-style log buckets).

A value ``v`` lands in bucket ``key = ceil(log(v) / log(gamma))`` with
``gamma = (1 + a) / (1 - a)``; bucket ``k`` covers ``(gamma**(k-1), gamma**k]`` and is
reported as ``2 * gamma**k / (1 + gamma)``, which is within a relative error ``a`` of every
value in the bucket. With ``a = 0.01`` every quantile is within 1 % of the exact value at the
same rank (rank ``q * (n - 1)``, the rule of the ``ddsketch`` package, so both give the same
answers).

Counts are a plain ``dict[int, int]``, so two sketches merge exactly by adding counts (the
window merges one sketch per second on read) and the memory of one sketch is bounded by the
number of distinct keys: about 115 keys per decade of values, ~1 150 from 1 µs to 10⁷ ms.

Bad input never raises: values at or below :data:`MIN_VALUE` (zero, negatives) go to a zero
bucket reported as ``0.0``; values above :data:`MAX_VALUE` (and ``+inf``) are clamped to it;
``NaN`` is not counted and adds one to :attr:`LatencySketch.ignored`.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from operator import add
from typing import Final

RELATIVE_ACCURACY: Final = 0.01
GAMMA: Final = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
#: 1 / ln(gamma), cached so a key costs one ``log``, one multiply and one ``ceil``.
INV_LOG_GAMMA: Final = 1.0 / math.log(GAMMA)
#: Values at or below this (milliseconds: one microsecond) count in the zero bucket.
MIN_VALUE: Final = 1e-3
#: Values above this (about 31 years in milliseconds) are clamped to it.
MAX_VALUE: Final = 1e12
_MAX_KEY: Final = math.ceil(math.log(MAX_VALUE) * INV_LOG_GAMMA)
#: Factor from ``gamma**key`` to the value reported for a bucket (the point of equal relative error).
_VALUE_FACTOR: Final = 2.0 / (1.0 + GAMMA)
_log = math.log
_ceil = math.ceil


def key_of(value: float) -> int | None:
    """Bucket key of a value; ``None`` for the zero bucket (``value <= MIN_VALUE``).

    Raises ``ValueError`` for NaN — callers on the hot path screen it with
    ``MIN_VALUE < value < MAX_VALUE`` first (NaN fails that test).
    """
    if value <= MIN_VALUE:
        return None
    if value >= MAX_VALUE:
        return _MAX_KEY
    return _ceil(_log(value) * INV_LOG_GAMMA)


def value_of(key: int) -> float:
    """The value a bucket reports: within :data:`RELATIVE_ACCURACY` of all values in it."""
    return GAMMA**key * _VALUE_FACTOR


class _SketchBase:
    """What both sketch forms share: the totals beside the per-key counts."""

    __slots__ = ("count", "ignored", "sum", "zero_count")

    def __init__(self) -> None:
        self.zero_count = 0
        self.count = 0
        self.sum = 0.0
        self.ignored = 0

    def _add_totals(self, other: _SketchBase) -> None:
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum += other.sum

    def _subtract_totals(self, other: _SketchBase) -> None:
        self.zero_count = max(0, self.zero_count - other.zero_count)
        self.count = max(0, self.count - other.count)
        self.sum = self.sum - other.sum if self.count else 0.0

    def _copy_totals(self, clone: _SketchBase) -> None:
        clone.zero_count = self.zero_count
        clone.count = self.count
        clone.sum = self.sum
        clone.ignored = self.ignored

    def _clear_totals(self) -> None:
        self.zero_count = 0
        self.count = 0
        self.sum = 0.0

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        raise NotImplementedError

    def quantile(self, q: float) -> float | None:
        """Value at quantile ``q`` ∈ [0, 1] (rank ``q * (count - 1)``); ``None`` if empty or out of range."""
        return self.quantiles((q,))[0]

    def __len__(self) -> int:
        return self.count


class LatencySketch(_SketchBase):
    """Quantile sketch over non-negative values (milliseconds by convention).

    ``count`` includes the zero bucket; ``sum`` is the exact sum of the values added
    (clamped values count as :data:`MAX_VALUE`). ``merge`` is exact and in place.
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[int, int] = {}

    def add(self, value: float) -> None:
        """Add one value. O(1); never raises for a float (see module docstring)."""
        if MIN_VALUE < value < MAX_VALUE:
            key = _ceil(_log(value) * INV_LOG_GAMMA)
            counts = self.counts
            counts[key] = counts.get(key, 0) + 1
            self.count += 1
            self.sum += value
        else:
            self._add_edge(value)

    def _add_edge(self, value: float) -> None:
        if value != value:  # NaN
            self.ignored += 1
        elif value <= MIN_VALUE:
            self.zero_count += 1
            self.count += 1
            self.sum += max(value, 0.0)
        else:
            self.counts[_MAX_KEY] = self.counts.get(_MAX_KEY, 0) + 1
            self.count += 1
            self.sum += MAX_VALUE

    def add_key(self, key: int, value: float) -> None:
        """Add a value whose key the caller already computed with :func:`key_of` (not ``None``).

        Lets one key computation feed several sketches (the fleet's and an agent's).
        """
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        self.count += 1
        self.sum += value

    def add_many(self, values: Iterable[float]) -> None:
        """Add many values; faster per value than calling :meth:`add` in a loop."""
        log = _log
        ceil = _ceil
        inv = INV_LOG_GAMMA
        lo = MIN_VALUE
        hi = MAX_VALUE
        counts = self.counts
        get = counts.get
        n = 0
        total = 0.0
        edge: list[float] = []
        for value in values:
            if lo < value < hi:
                key = ceil(log(value) * inv)
                counts[key] = get(key, 0) + 1
                n += 1
                total += value
            else:
                edge.append(value)
        self.count += n
        self.sum += total
        for value in edge:
            self._add_edge(value)

    def merge(self, other: LatencySketch | PackedSketch) -> None:
        """Add ``other``'s counts into this sketch (exact; ``other`` is unchanged)."""
        if not other.count:
            return
        counts = self.counts
        if not counts:
            counts.update(other.items())
        else:
            get = counts.get
            for key, n in other.items():
                counts[key] = get(key, 0) + n
        self._add_totals(other)

    def items(self) -> Iterable[tuple[int, int]]:
        """(key, count) pairs of the non-zero buckets (the zero bucket is :attr:`zero_count`)."""
        return self.counts.items()

    def key_range(self) -> tuple[int, int] | None:
        """(smallest, largest) key with a count; None when only the zero bucket (or nothing) has one."""
        counts = self.counts
        return (min(counts), max(counts)) if counts else None

    def subtract(self, other: LatencySketch) -> None:
        """Remove counts that were merged in earlier (exact; keys that reach zero are dropped).

        Only meaningful when ``other`` was merged into this sketch before: counts never go
        below zero, and ``sum`` is reset to 0 when the sketch becomes empty.
        """
        if not other.count:
            return
        counts = self.counts
        for key, n in other.counts.items():
            left = counts.get(key, 0) - n
            if left > 0:
                counts[key] = left
            else:
                counts.pop(key, None)
        self._subtract_totals(other)

    def copy(self) -> LatencySketch:
        clone = LatencySketch()
        clone.counts = self.counts.copy()
        self._copy_totals(clone)
        return clone

    def clear(self) -> None:
        """Empty the sketch in place (buckets are reused, not reallocated)."""
        self.counts.clear()
        self._clear_totals()

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """Several quantiles with one sort of the keys. Each is ``None`` when empty or out of range."""
        if not self.count:
            return [None] * len(qs)
        counts = self.counts
        keys = sorted(counts)
        # Cumulative counts above the zero bucket, all computed in C (sorted, accumulate, bisect).
        cumulative = list(accumulate(map(counts.__getitem__, keys)))
        return _at_ranks(qs, self.count, self.zero_count, cumulative, keys.__getitem__)

    def __repr__(self) -> str:
        return f"LatencySketch(count={self.count}, keys={len(self.counts)}, zero={self.zero_count})"


def _at_ranks(
    qs: Sequence[float], count: int, zero: int, cumulative: list[int], key_at: Callable[[int], int]
) -> list[float | None]:
    """Quantiles from cumulative counts above the zero bucket, in key order.

    ``key_at(i)`` is the key of the ``i``-th cumulative entry. A quantile's rank is
    ``q * (count - 1)``; its bucket is the first whose cumulative count exceeds the rank
    (DDSketch's ``key_at_rank``). Entries with a zero count never match: their cumulative
    count equals the previous one.
    """
    results: list[float | None] = []
    last = len(cumulative) - 1
    for q in qs:
        if not 0.0 <= q <= 1.0:
            results.append(None)
            continue
        rank = q * (count - 1)
        if rank < zero:
            results.append(0.0)
            continue
        index = min(bisect_right(cumulative, rank - zero), last)
        results.append(GAMMA ** key_at(index) * _VALUE_FACTOR)
    return results


class MergedSketch(_SketchBase):
    """The merge of many :class:`LatencySketch` (a window's seconds), for reading quantiles often.

    Counts live in a list over a contiguous range of keys (``base`` is the key of index 0), so
    quantiles need no sort and no lookups: one pass of ``accumulate`` in C over the range.
    Merging and subtracting a one-second sketch cost what they cost with a dict. The range only
    grows (by what merges bring); a window rebuilds its merge from scratch once a window, which
    resets it. Memory is one list slot per key in the range: at most ~1 400 slots (1 µs to
    10¹² ms), usually a few hundred.
    """

    __slots__ = ("base", "dense")

    def __init__(self) -> None:
        super().__init__()
        self.base = 0
        self.dense: list[int] = []

    def _cover(self, low: int, high: int) -> None:
        """Grow the range to hold keys ``low..high``."""
        dense = self.dense
        if not dense:
            self.base = low
            self.dense = [0] * (high - low + 1)
            return
        base = self.base
        if low < base:
            dense[:0] = [0] * (base - low)
            self.base = base = low
        top = base + len(dense) - 1
        if high > top:
            dense.extend([0] * (high - top))

    def merge(self, other: LatencySketch | MergedSketch | PackedSketch) -> None:
        """Add ``other``'s counts (exact; ``other`` is unchanged)."""
        if not other.count:
            return
        if isinstance(other, MergedSketch):
            if other.dense:
                self._cover(other.base, other.base + len(other.dense) - 1)
                start = other.base - self.base
                stop = start + len(other.dense)
                self.dense[start:stop] = map(add, self.dense[start:stop], other.dense)
        elif (span := other.key_range()) is not None:
            self._cover(*span)
            dense, base = self.dense, self.base
            for key, n in other.items():
                dense[key - base] += n
        self._add_totals(other)

    def subtract(self, other: LatencySketch) -> None:
        """Remove counts merged in earlier (exact); as :meth:`LatencySketch.subtract`."""
        if not other.count:
            return
        dense, base = self.dense, self.base
        size = len(dense)
        for key, n in other.counts.items():
            index = key - base
            if 0 <= index < size:
                left = dense[index] - n
                dense[index] = left if left > 0 else 0
        self._subtract_totals(other)

    def copy(self) -> MergedSketch:
        clone = MergedSketch()
        clone.base = self.base
        clone.dense = self.dense.copy()
        self._copy_totals(clone)
        return clone

    def clear(self) -> None:
        self.dense = []
        self.base = 0
        self._clear_totals()

    @property
    def counts(self) -> dict[int, int]:
        """The non-zero counts by key (as :attr:`LatencySketch.counts`; built on each call)."""
        base = self.base
        return {base + index: n for index, n in enumerate(self.dense) if n}

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """As :meth:`LatencySketch.quantiles`, with the same answers."""
        if not self.count:
            return [None] * len(qs)
        base = self.base
        return _at_ranks(qs, self.count, self.zero_count, list(accumulate(self.dense)), base.__add__)

    def __repr__(self) -> str:
        return f"MergedSketch(count={self.count}, range={len(self.dense)}, zero={self.zero_count})"


#: Shared by every empty :class:`PackedSketch` (never mutated).
_NO_KEYS: Final = array("i")
_NO_COUNTS: Final = array("q")


class PackedSketch(_SketchBase):
    """A :class:`LatencySketch` frozen into two arrays: keys ascending and their counts.

    For sketches kept a long time and only read or merged (the alert ledger keeps every scope's
    ten-second intervals for five minutes): two arrays take a fraction of the memory of a dict
    and its int objects. Immutable; merge it into a :class:`LatencySketch` or a
    :class:`MergedSketch` to combine it with others.
    """

    __slots__ = ("keys", "values")

    def __init__(self, sketch: LatencySketch | None = None) -> None:
        super().__init__()
        self.keys: array[int] = _NO_KEYS
        self.values: array[int] = _NO_COUNTS
        if sketch is None:
            return
        counts = sketch.counts
        if counts:
            keys = sorted(counts)
            self.keys = array("i", keys)
            self.values = array("q", map(counts.__getitem__, keys))
        sketch._copy_totals(self)

    def items(self) -> Iterable[tuple[int, int]]:
        """(key, count) pairs of the non-zero buckets, keys ascending."""
        return zip(self.keys, self.values, strict=True)

    def key_range(self) -> tuple[int, int] | None:
        """As :meth:`LatencySketch.key_range`."""
        keys = self.keys
        return (keys[0], keys[-1]) if keys else None

    @property
    def counts(self) -> dict[int, int]:
        """The non-zero counts by key (as :attr:`LatencySketch.counts`; built on each call)."""
        return dict(self.items())

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """As :meth:`LatencySketch.quantiles`, with the same answers."""
        if not self.count:
            return [None] * len(qs)
        return _at_ranks(
            qs, self.count, self.zero_count, list(accumulate(self.values)), self.keys.__getitem__
        )

    def __repr__(self) -> str:
        return f"PackedSketch(count={self.count}, keys={len(self.keys)}, zero={self.zero_count})"
