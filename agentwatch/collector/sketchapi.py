"""The window's latency sketches in their wire form (:mod:`agentwatch.sketchwire`), for ``GET /api/sketch``.

A viewer of several collectors merges these to get the fleet's true percentiles. Bounded: the fleet's
sketch is one, and agents' come a page at a time (the caller's ``offset`` and ``limit``, at most
:data:`MAX_AGENT_SKETCHES`).
"""

from __future__ import annotations

from typing import Final

from agentwatch.collector.sketch import GAMMA, LatencySketch, MergedSketch, PackedSketch
from agentwatch.collector.window import Window
from agentwatch.sketchwire import SketchResponse, WireSketch, encode_keys

#: Most agents' sketches in one answer (``?agents=1``): a page beyond it is cut to it (``agents_total``
#: says how many there are), so one request holds the event loop for a few milliseconds at most.
MAX_AGENT_SKETCHES: Final = 100


def to_wire(sketch: LatencySketch | MergedSketch | PackedSketch) -> WireSketch:
    """The wire form of a sketch (its non-empty buckets only)."""
    counts = sketch.counts
    keys = sorted(counts)
    return WireSketch(
        gamma=GAMMA,
        count=sketch.count,
        zero=sketch.zero_count,
        sum=sketch.sum,
        keys=encode_keys(keys),
        counts=[counts[key] for key in keys],
    )


def from_wire(wire: WireSketch) -> LatencySketch:
    """A :class:`LatencySketch` holding a wire sketch's counts (``gamma`` must be this build's)."""
    if wire.gamma != GAMMA:
        raise ValueError(f"gamma {wire.gamma!r} is not this collector's {GAMMA!r}")
    sketch = LatencySketch()
    total = 0
    key = 0
    for delta, n in zip(wire.keys, wire.counts, strict=True):
        key += delta
        sketch.counts[key] = n
        total += n
    sketch.zero_count = wire.zero
    sketch.count = wire.zero + total
    sketch.sum = wire.sum
    return sketch


def sketch_response(
    window: Window, *, now: float, agent: str | None, with_agents: bool, offset: int, limit: int
) -> SketchResponse:
    """The fleet's sketch (or ``agent``'s in its place), plus a page of agents' when ``with_agents``."""
    fleet = to_wire(window.latency_sketch(agent))
    agents: dict[str, WireSketch] = {}
    if with_agents and agent is None:
        for agent_id in window.agent_ids()[offset : offset + min(limit, MAX_AGENT_SKETCHES)]:
            agents[agent_id] = to_wire(window.latency_sketch(agent_id))
    return SketchResponse(
        timestamp=now,
        window_seconds=float(window.window_seconds),
        fleet=fleet,
        agents=agents,
        agents_total=window.agent_count(),
    )
