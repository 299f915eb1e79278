"""The simulator reports span starts as the SDK does: one for each LLM or tool call still running
when the sender next sends, before its end and with its span id; no more, and nothing else moves."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from agentwatch.protocol import (
    EVENT_SPAN_START,
    PATH_SNAPSHOT,
    SPAN_LLM_CALL,
    SPAN_TOOL_CALL,
    START_SPAN_TYPE_KEY,
    Event,
    json_encoder,
)
from agentwatch.simulator import Fleet, run
from agentwatch.simulator.fleet import START_MIN_SECONDS
from tests.helpers import NOW, async_wait_until


def drive(fleet: Fleet, seconds: float, step: float = 0.25) -> list[Event]:
    events: list[Event] = []
    for i in range(1, round(seconds / step) + 1):
        events.extend(fleet.events_until(NOW + i * step))
    return events


def test_each_call_long_enough_to_be_seen_running_has_one_start_before_its_end() -> None:
    events = drive(Fleet(12, seed=3, start=NOW, rate=100, span_starts=True), 60)
    starts = [e for e in events if e.event_type == EVENT_SPAN_START]
    ends = {e.span_id: e for e in events if e.span_type in (SPAN_LLM_CALL, SPAN_TOOL_CALL)}
    assert len(starts) > 100
    assert len({s.span_id for s in starts}) == len(starts)
    position = {id(e): i for i, e in enumerate(events)}
    for start in starts:
        assert start.span_type is None and start.payload is not None
        end = ends.get(start.span_id)
        if end is None:  # still running when the 60 s ended
            continue
        assert start.payload[START_SPAN_TYPE_KEY] == end.span_type
        assert (start.model, start.tool_name, start.trace_id) == (end.model, end.tool_name, end.trace_id)
        assert position[id(start)] < position[id(end)]
        assert end.latency_ms is not None
        assert abs(end.timestamp - end.latency_ms / 1000 - start.timestamp) < 1e-3  # type: ignore[operator]
    started = {s.span_id for s in starts}
    for end in ends.values():
        assert end.latency_ms is not None
        long_enough = end.latency_ms / 1000 >= START_MIN_SECONDS + 1e-3
        if long_enough and end.timestamp - end.latency_ms / 1000 > NOW:  # type: ignore[operator]
            assert end.span_id in started
        if end.latency_ms / 1000 < START_MIN_SECONDS - 1e-3:
            assert end.span_id not in started
    # Bounded: at most one start a call, and no part of the rate.
    assert len(starts) <= len(ends) + 50


def test_starts_change_nothing_else_and_can_be_left_out() -> None:
    with_starts = drive(Fleet(12, seed=4, start=NOW, rate=100, span_starts=True), 40)
    without = drive(Fleet(12, seed=4, start=NOW, rate=100), 40)
    kept = [e for e in with_starts if e.event_type != EVENT_SPAN_START]
    assert json_encoder.encode(kept) == json_encoder.encode(without)
    assert not any(e.event_type == EVENT_SPAN_START for e in without)


async def test_a_collector_fed_by_the_sender_shows_calls_in_flight(collector: Any) -> None:
    """Over real HTTP: while the simulator runs, the snapshot shows agents with a call running."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            collector.url,
            token=None,
            agents=12,
            rate=120,
            seed=5,
            duration=None,
            scenario="steady",
            stop=stop,
        )
    )
    seen: set[str] = set()
    try:

        def in_flight() -> bool:
            rows = httpx.get(collector.url + PATH_SNAPSHOT, timeout=5).json()["agents"]
            seen.update(r["in_flight"]["what"].split()[0] for r in rows if r["in_flight"])
            return seen >= {SPAN_LLM_CALL, SPAN_TOOL_CALL}

        await async_wait_until(in_flight)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert collector.service.window.steps_dropped == 0
