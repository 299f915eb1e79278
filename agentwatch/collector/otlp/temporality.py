"""Cumulative metric points turned into deltas, per series, as the OpenTelemetry data model says.

A CUMULATIVE point carries everything counted since its ``start_time_unix_nano``; what happened
since the previous point of the same series is the difference. :class:`DeltaConverter` keeps
the last point of each series (a :attr:`MetricPoint.series <agentwatch.collector.otlp.metrics.MetricPoint.series>`
digest: metric name, kind, scope, resource and point attributes) and hands out that difference.
DELTA points, and gauges (which have no temporality), pass through unchanged.

The rules, those of the OpenTelemetry Collector's ``cumulativetodelta`` processor
(``initial_value: auto``):

* **First point of a series**: nothing has been seen to subtract, so it gives a delta (its
  whole value, counted from zero) only when its start time is set, is not before the converter
  started and differs from its time: the series then began while it was watched. Otherwise
  it is only kept as the base for the next point.
* **Reset**: a point whose start time is later than the kept one's (the program restarted),
  or whose value went down where it cannot (a monotonic sum, a histogram's count or a bucket),
  or whose histogram bounds changed, starts the series again: its delta is its whole value.
* **Out of order**: a point with the kept start time and a time not after the kept one's (a
  duplicate or a late retry), or with an earlier start time (from a run already replaced),
  is ignored.
* A non-monotonic sum's delta may be negative; only a start-time change resets it.
* A point flagged "no recorded value" forgets its series.

Memory is bounded: at most ``max_series`` series are kept; the least recently updated is
forgotten first (its next point is then a first point again), and :attr:`DeltaConverter.evicted`
counts them.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Final

from agentwatch.collector.otlp.metrics import (
    KIND_EXPONENTIAL_HISTOGRAM,
    KIND_GAUGE,
    KIND_HISTOGRAM,
    TEMPORALITY_CUMULATIVE,
    TEMPORALITY_DELTA,
    MetricPoint,
)

#: Series kept by default: a coding agent sends tens of series per session.
DEFAULT_MAX_SERIES: Final = 10_000


class DeltaConverter:
    """Turns CUMULATIVE points into DELTA points, series by series (see the module docstring).

    ``started_ns`` (unix nanoseconds) is when watching began, for the first-point rule. Not
    thread-safe; the collector calls it from its event loop.
    """

    def __init__(self, max_series: int = DEFAULT_MAX_SERIES, *, started_ns: int) -> None:
        if max_series < 1:
            raise ValueError("max_series must be at least 1")
        self.max_series = max_series
        self.started_ns = started_ns
        self._kept: OrderedDict[bytes, MetricPoint] = OrderedDict()
        #: Series forgotten to stay within ``max_series``.
        self.evicted = 0
        #: Points that started their series again (restart, counter went down, new bounds).
        self.resets = 0
        #: Points ignored: duplicates, late retries, points of a replaced run.
        self.out_of_order = 0
        #: First points of a series that only became the base for the next one.
        self.baselines = 0

    @property
    def series(self) -> int:
        """Series whose last cumulative point is kept now."""
        return len(self._kept)

    def delta(self, point: MetricPoint) -> MetricPoint | None:
        """The point as a delta, or None when it gives none (a base, out of order, no value)."""
        if point.temporality != TEMPORALITY_CUMULATIVE or point.kind == KIND_GAUGE:
            return point
        key = point.series
        kept = self._kept.get(key)
        if point.value is None and point.count is None:  # "no recorded value"
            if kept is not None:
                del self._kept[key]
            return None
        if kept is None:
            self._keep(key, point)
            if point.start_ns and point.start_ns >= self.started_ns and point.start_ns != point.time_ns:
                return self._from_zero(point)
            self.baselines += 1
            return None
        if point.start_ns != kept.start_ns:
            if point.start_ns < kept.start_ns:
                self.out_of_order += 1
                return None
            return self._reset(key, point)
        if point.time_ns <= kept.time_ns:
            self.out_of_order += 1
            return None
        if _went_down(kept, point):
            return self._reset(key, point)
        self._keep(key, point)
        return _difference(kept, point)

    def _keep(self, key: bytes, point: MetricPoint) -> None:
        kept = self._kept
        if key in kept:
            kept.move_to_end(key)
        elif len(kept) >= self.max_series:
            kept.popitem(last=False)
            self.evicted += 1
        kept[key] = point

    def _reset(self, key: bytes, point: MetricPoint) -> MetricPoint:
        self.resets += 1
        self._keep(key, point)
        return self._from_zero(point)

    @staticmethod
    def _from_zero(point: MetricPoint) -> MetricPoint:
        return dataclasses.replace(point, temporality=TEMPORALITY_DELTA)


def _went_down(kept: MetricPoint, point: MetricPoint) -> bool:
    """Whether ``point`` cannot follow ``kept`` in one run: a value that may only grow shrank."""
    if point.kind in (KIND_HISTOGRAM, KIND_EXPONENTIAL_HISTOGRAM):
        if kept.count is None or point.count is None or point.count < kept.count:
            return True
        if point.kind == KIND_HISTOGRAM and kept.bucket_counts and point.bucket_counts:
            if point.bounds != kept.bounds:
                return True
            return any(
                now < before for now, before in zip(point.bucket_counts, kept.bucket_counts, strict=True)
            )
        return bool(kept.bucket_counts) != bool(point.bucket_counts)
    if kept.value is None or point.value is None:
        return True
    return point.monotonic and point.value < kept.value


def _difference(kept: MetricPoint, point: MetricPoint) -> MetricPoint:
    """``point`` minus ``kept`` (same series, same run, ``point`` later and not lower)."""
    if point.kind in (KIND_HISTOGRAM, KIND_EXPONENTIAL_HISTOGRAM):
        assert point.count is not None and kept.count is not None  # _went_down said so
        total = None if point.total is None or kept.total is None else point.total - kept.total
        buckets = tuple(
            now - before for now, before in zip(point.bucket_counts, kept.bucket_counts, strict=True)
        )
        return dataclasses.replace(
            point,
            temporality=TEMPORALITY_DELTA,
            start_ns=kept.time_ns,
            count=point.count - kept.count,
            total=total,
            bucket_counts=buckets,
        )
    assert point.value is not None and kept.value is not None  # _went_down said so
    return dataclasses.replace(
        point, temporality=TEMPORALITY_DELTA, start_ns=kept.time_ns, value=point.value - kept.value
    )
