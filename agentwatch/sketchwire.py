"""The latency sketch on the wire and its exact merge: what ``GET /api/sketch`` answers.

A collector's latency percentiles come from log buckets (DDSketch-style): bucket ``k`` holds the
values in ``(gamma**(k-1), gamma**k]`` and reports ``2 * gamma**k / (1 + gamma)``. The counts of one
bucket add, so the sketches of several collectors merge exactly: the merged quantiles are those of
one collector fed every event, where an average of their percentiles is simply wrong.

The wire form names its ``gamma`` (sketches of another accuracy are refused, not merged) and lists
only the buckets with a count: ``keys`` ascending, each written as its difference from the one
before (the first from 0), so a sketch of a few hundred buckets is a few hundred small numbers.
Values at or below one microsecond count in ``zero`` and report 0.

Everything read from a socket is checked by :func:`check` before it is merged; a sketch that breaks
a rule raises :class:`BadSketch` and is not merged.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Final

import msgspec

PATH_SKETCH: Final = "/api/sketch"
#: ``GET /api/sketch?agents=1``: one sketch per agent too (paged with ``offset`` and ``limit``).
PARAM_AGENTS: Final = "agents"
#: ``?since=S`` (a unix second): the per-second sketches of the seconds after S, up to now.
PARAM_SINCE: Final = "since"
#: Most per-second sketches in one answer (the newest ones).
MAX_SECONDS: Final = 600
#: Most buckets a sketch may list (a 1 % sketch from 1 µs to 10¹² ms has about 1 400).
MAX_KEYS: Final = 4096


class WireSketch(msgspec.Struct, omit_defaults=True):
    """One latency sketch: ``count`` values, ``zero`` of them in the zero bucket, ``sum`` their sum."""

    gamma: float
    count: int = 0
    zero: int = 0
    sum: float = 0.0
    #: Bucket keys ascending, each as the difference from the previous key (the first from 0).
    keys: list[int] = []
    counts: list[int] = []


class SketchResponse(msgspec.Struct):
    """``GET /api/sketch``: the window's sketch of the fleet, and of agents when asked for."""

    timestamp: float
    window_seconds: float
    fleet: WireSketch
    #: By agent id: one page of them, sorted by id (``?agents=1&offset=&limit=``); empty otherwise.
    agents: dict[str, WireSketch] = {}
    #: Agents the collector has, whether or not this page lists them.
    agents_total: int = 0
    #: With ``?since=S``: the newest second (unix, the one still filling) and, oldest first, the sketch
    #: of each second from ``max(S + 1, the history's first)`` to it (empty for a second without latency).
    seconds_end: int = 0
    seconds: list[WireSketch] = []


class BadSketch(ValueError):
    """A sketch that cannot be merged: malformed, or built with another ``gamma``."""


def encode_keys(keys: Iterable[int]) -> list[int]:
    """Ascending keys as differences (the first from 0)."""
    previous = 0
    deltas = []
    for key in keys:
        deltas.append(key - previous)
        previous = key
    return deltas


def bucket_items(sketch: WireSketch) -> list[tuple[int, int]]:
    """(key, count) pairs of the sketch's buckets, keys ascending (decoded from differences)."""
    return list(zip(accumulate(sketch.keys), sketch.counts, strict=True))


def check(sketch: WireSketch) -> WireSketch:
    """``sketch`` if it keeps the rules of the wire form, else :class:`BadSketch` naming the rule."""
    keys, counts = sketch.keys, sketch.counts
    if not 1.0 < sketch.gamma < 2.0:
        raise BadSketch(f"gamma must be in (1, 2), not {sketch.gamma!r}")
    if len(keys) != len(counts):
        raise BadSketch(f"{len(keys)} keys but {len(counts)} counts")
    if len(keys) > MAX_KEYS:
        raise BadSketch(f"{len(keys)} buckets, at most {MAX_KEYS}")
    if any(delta <= 0 for delta in keys[1:]):
        raise BadSketch("keys must ascend")
    if sketch.zero < 0 or any(n <= 0 for n in counts):
        raise BadSketch("counts must be positive")
    if sketch.count != sketch.zero + sum(counts):
        raise BadSketch(f"count {sketch.count} is not zero + bucket counts")
    if sketch.sum != sketch.sum or sketch.sum < 0:
        raise BadSketch("sum must be a number >= 0")
    return sketch


def merge(sketches: Iterable[WireSketch]) -> WireSketch | None:
    """The exact merge of ``sketches`` (each checked); None when there are none.

    Raises :class:`BadSketch` when one is malformed or their ``gamma`` differ.
    """
    merged: dict[int, int] = {}
    gamma: float | None = None
    count = zero = 0
    total = 0.0
    for sketch in sketches:
        check(sketch)
        if gamma is None:
            gamma = sketch.gamma
        elif sketch.gamma != gamma:
            raise BadSketch(f"gamma {sketch.gamma!r} differs from {gamma!r}: sketches of another accuracy")
        get = merged.get
        for key, n in bucket_items(sketch):
            merged[key] = get(key, 0) + n
        count += sketch.count
        zero += sketch.zero
        total += sketch.sum
    if gamma is None:
        return None
    keys = sorted(merged)
    return WireSketch(
        gamma=gamma,
        count=count,
        zero=zero,
        sum=total,
        keys=encode_keys(keys),
        counts=[merged[key] for key in keys],
    )


def quantiles(sketch: WireSketch | None, qs: Sequence[float]) -> list[float | None]:
    """Values at quantiles ``qs`` (rank ``q * (count - 1)``, the collector's rule); None when empty."""
    if sketch is None or not sketch.count:
        return [None] * len(qs)
    gamma = sketch.gamma
    factor = 2.0 / (1.0 + gamma)
    keys = list(accumulate(sketch.keys))
    cumulative = list(accumulate(sketch.counts))
    last = len(cumulative) - 1
    results: list[float | None] = []
    for q in qs:
        if not 0.0 <= q <= 1.0:
            results.append(None)
            continue
        rank = q * (sketch.count - 1)
        if rank < sketch.zero or last < 0:
            results.append(0.0)
            continue
        index = min(bisect_right(cumulative, rank - sketch.zero), last)
        results.append(gamma ** keys[index] * factor)
    return results
