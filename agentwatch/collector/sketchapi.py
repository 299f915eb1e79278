"""The window's latency sketches in their wire form (:mod:`agentwatch.sketchwire`), for ``GET /api/sketch``.

A viewer of several collectors merges these to get the fleet's true percentiles, and with ``?since=S``
the sketches of the history's seconds after S, to get the true p99 of each second. Bounded: the fleet's
sketch is one, agents' come a page at a time (the caller's ``offset`` and ``limit``, at most
:data:`MAX_AGENT_SKETCHES`), and seconds at most :data:`~agentwatch.sketchwire.MAX_SECONDS`.
"""

from __future__ import annotations

from typing import Final

from agentwatch.collector.sketch import GAMMA, LatencySketch, MergedSketch, PackedSketch
from agentwatch.collector.window import Window
from agentwatch.sketchwire import MAX_SECONDS, SketchResponse, WireSketch, encode_keys

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


def since_param(raw: str | None) -> int | None:
    """``?since=S``: a unix second (digits only); None when absent. Raises ValueError saying why."""
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise ValueError(f"since: must be a unix second (an integer), got {raw[:40]!r}")
    return int(raw)


def second_sketches(window: Window, agent: str | None, since: int, now_sec: int) -> list[WireSketch]:
    """The sketch of each second after ``since`` up to ``now_sec``, within the history the snapshots show."""
    series = window._fleet if agent is None else window._agents.get(agent)
    first = max(since + 1, now_sec - min(window.history_seconds, MAX_SECONDS) + 1)
    ring = series.ring if series is not None else None
    empty = to_wire(LatencySketch())
    out: list[WireSketch] = []
    for second in range(first, now_sec + 1):
        bucket = ring[second % window.ring_seconds] if ring is not None else None
        hit = bucket is not None and bucket.second == second and bucket.sketch.count
        out.append(to_wire(bucket.sketch) if hit and bucket is not None else empty)
    return out


def sketch_response(
    window: Window,
    *,
    now: float,
    agent: str | None,
    with_agents: bool,
    offset: int,
    limit: int,
    since: int | None = None,
) -> SketchResponse:
    """The fleet's sketch (or ``agent``'s in its place), plus a page of agents' when ``with_agents`` and
    the seconds after ``since`` when given."""
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
        seconds_end=int(now) if since is not None else 0,
        seconds=second_sketches(window, agent, since, int(now)) if since is not None else [],
    )
