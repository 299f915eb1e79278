"""Batches on the ingest path give the state events given one at a time give.

The window aggregates a batch grouped by (second, agent) and counts the totals in the same pass;
the log hub keeps its ring in columns. Generated batches (odd timestamps and values included)
must leave exactly the state the event-by-event path leaves: every count, sketch bucket, newest
event and model the same, and float sums equal up to the order they were added in.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentwatch.collector.loghub import LogHub
from agentwatch.collector.loglines import log_rank
from agentwatch.collector.totals import Totals
from agentwatch.collector.window import Bucket, Window
from agentwatch.protocol import Event, LogEntry
from tests.helpers import Clock

NOW = 1_700_000_000.5
SPAN_TYPES = ["llm_call", "completion", "tool_call", "decision", "log", "error", "heartbeat", "custom"]
ODD_FLOATS = [math.nan, math.inf, -1.0, 2e12, 0.0, 1e-12]


def _value(draw: Any, low: float, high: float, odd: bool) -> float | None:
    kind = draw(st.sampled_from(["none", "none", "plain", "odd"] if odd else ["none", "plain"]))
    if kind == "none":
        return None
    if kind == "odd":
        return draw(st.sampled_from(ODD_FLOATS))
    return draw(st.floats(low, high, allow_nan=False))


@st.composite
def batches(draw: Any, *, ordered: bool) -> list[Event]:
    """Events of a few agents over a few seconds; ``ordered``: floats in time order within the
    ring (what senders post), else any order with missing, future and late timestamps too."""
    count = draw(st.integers(0, 60))
    offsets = draw(st.lists(st.floats(0.0, 4.0), min_size=count, max_size=count))
    stamps: list[float | None]
    if ordered:
        stamps = [NOW - offset for offset in sorted(offsets, reverse=True)]
    else:
        stamps = [
            draw(st.sampled_from([NOW - offset, NOW - offset, None, NOW + 30.0, NOW - 10_000.0]))
            for offset in offsets
        ]
    events = []
    for stamp in stamps:
        span_type = draw(st.sampled_from(SPAN_TYPES))
        odd = not ordered
        events.append(
            Event(
                draw(st.sampled_from(["a", "b", "c", "d"])),
                timestamp=stamp,
                span_type=span_type,
                span_id=draw(st.sampled_from([None, "s1", "s2"])),
                model=draw(st.sampled_from([None, "gpt-4o", "claude-3-5-sonnet", "no-such-model"])),
                tokens_input=draw(st.sampled_from([None, 0, 12, 3000])),
                tokens_output=draw(st.sampled_from([None, 0, 7])),
                latency_ms=_value(draw, 0.0, 100_000.0, odd),
                cost_usd=_value(draw, 0.0, 5.0, odd),
                cost_estimated=draw(st.sampled_from([None, True])),
                error=draw(st.sampled_from([None, None, "", "Timeout"])),
                attributes=(
                    {"agentwatch.sdk.dropped": draw(st.sampled_from([0, 3, "x"] if ordered else [0, 3]))}
                    if span_type == "heartbeat" and draw(st.booleans())
                    else None
                ),
            )
        )
    return events


def _floats_close(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _bucket(bucket: Bucket | None) -> tuple[Any, ...] | None:
    if bucket is None or not bucket.events:
        return None
    sketch = bucket.sketch
    return (
        bucket.second,
        bucket.events,
        bucket.errors,
        bucket.tokens_in,
        bucket.tokens_out,
        bucket.tool_calls,
        bucket.completions,
        bucket.cost_estimated,
        dict(sketch.counts),
        sketch.count,
        sketch.zero_count,
        sketch.ignored,
    )


def _state(window: Window, totals: Totals, *, models: bool) -> tuple[dict[str, Any], dict[str, float]]:
    """(exact part, float sums) of everything a batch changes."""
    exact: dict[str, Any] = {
        name: getattr(window, name)
        for name in ("events_total", "late_events", "bad_values", "agents_dropped", "cost_estimated")
    }
    sums: dict[str, float] = {"total_cost_usd": window.total_cost_usd}
    exact["fleet"] = [_bucket(bucket) for bucket in window._fleet.ring]
    for i, bucket in enumerate(window._fleet.ring):
        if bucket is not None and bucket.events:
            sums[f"fleet {i} cost"] = bucket.cost
            sums[f"fleet {i} sum"] = bucket.sketch.sum
    for agent_id, agent in window._agents.items():
        exact[agent_id] = (
            agent.events,
            agent.last_seen,
            agent.last_active,
            agent.last_event,
            agent.model if models else None,
            agent.telemetry_dropped,
            agent.heartbeat_at,
            agent.cost_estimated,
            agent.cost_unpriced,
            [_bucket(bucket) for bucket in agent.ring],
        )
        sums[f"{agent_id} cost"] = agent.total_cost
        for i, bucket in enumerate(agent.ring):
            if bucket is not None and bucket.events:
                sums[f"{agent_id} {i} cost"] = bucket.cost
                sums[f"{agent_id} {i} sum"] = bucket.sketch.sum
    series_exact, series_sums = _series(totals)
    exact.update({f"series {key}": value for key, value in series_exact.items()})
    sums.update({f"series {key}": value for key, value in series_sums.items()})
    return exact, sums


def _assert_same(
    batched: tuple[dict[str, Any], dict[str, float]], single: tuple[dict[str, Any], dict[str, float]]
) -> None:
    assert batched[0] == single[0]
    assert batched[1].keys() == single[1].keys()
    for key, value in batched[1].items():
        assert _floats_close(value, single[1][key]), key


@pytest.mark.parametrize("ordered", [True, False])
@given(data=st.data())
def test_a_batch_leaves_the_window_and_totals_as_its_events_one_by_one(ordered: bool, data: Any) -> None:
    chunks = data.draw(st.lists(batches(ordered=ordered), min_size=1, max_size=3))
    clock_batched, clock_single = Clock(NOW), Clock(NOW)
    totals_batched, totals_single, alone = Totals(), Totals(), Totals()
    batched = Window(window_seconds=5, history_seconds=5, clock=clock_batched, totals=totals_batched)
    single = Window(window_seconds=5, history_seconds=5, clock=clock_single, totals=totals_single)
    for chunk in chunks:
        batched.add_many(chunk)
        alone.add_many(chunk)
        for event in chunk:
            single.add(event)
        for clock in (clock_batched, clock_single):
            clock.advance(0.4)
    # Out of time order, a batch is grouped by second before agent: which event is read first may
    # differ, so the newest model may too (and a bad heartbeat value is counted once per read).
    _assert_same(
        _state(batched, totals_batched, models=ordered), _state(single, totals_single, models=ordered)
    )
    # The totals counted in the window's pass are those Totals.add_many counts on its own.
    _assert_same(_series(totals_batched), _series(alone))


def _series(totals: Totals) -> tuple[dict[str, Any], dict[str, float]]:
    exact: dict[str, Any] = {"refused": totals.values_refused}
    sums: dict[str, float] = {}
    for key, series in totals.series.items():
        exact[f"{key}"] = (
            series.events,
            series.errors,
            series.tool_calls,
            series.tokens_in,
            series.tokens_out,
            series.latency_count,
            list(series.buckets),
        )
        sums[f"{key} cost"] = series.cost
        sums[f"{key} latency"] = series.latency_sum_ms
    return exact, sums


@st.composite
def hub_steps(draw: Any) -> list[tuple[str, int]]:
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(["events", "entries", "allocate", "settle", "cancel"]), st.integers(1, 7)
            ),
            max_size=25,
        )
    )


@given(history=st.integers(1, 12), steps=hub_steps(), data=st.data())
def test_the_log_ring_holds_the_newest_published_entries_in_id_order(
    history: int, steps: list[tuple[str, int]], data: Any
) -> None:
    hub = LogHub(history=history)
    published: dict[int, tuple[str, int, Any]] = {}  # id → (agent, rank, event or None for a built line)
    allocated: list[tuple[int, list[Event]]] = []
    serial = 0

    def make(count: int) -> list[Event]:
        nonlocal serial
        serial += count
        return [
            Event(f"agent-{(serial + i) % 3}", timestamp=NOW, span_type="log", message="m", level=level)
            for i, level in zip(
                range(count),
                data.draw(
                    st.lists(st.sampled_from([None, "error", "debug"]), min_size=count, max_size=count)
                ),
                strict=True,
            )
        ]

    for action, count in steps:
        if action == "events":
            events = make(count)
            first = hub.publish_events(events)
            for i, event in enumerate(events):
                published[first + i] = (event.agent_id, log_rank(event), event)
        elif action == "entries":
            entries = [
                LogEntry(timestamp=NOW, agent_id=e.agent_id, level="warning", message="w")
                for e in make(count)
            ]
            hub.publish(entries)
            for entry in entries:
                published[entry.id] = (entry.agent_id, log_rank(Event(entry.agent_id, level="warning")), None)
        elif action == "allocate":
            events = make(count)
            allocated.append((hub.allocate(len(events)), events))
        elif allocated:
            first, events = allocated.pop(data.draw(st.integers(0, len(allocated) - 1)))
            if action == "settle":
                hub.publish_allocated(first, events)
                for i, event in enumerate(events):
                    published[first + i] = (event.agent_id, log_rank(event), event)
            else:
                hub.cancel(first, len(events))
    settled = hub.last_id
    expected = [
        (entry_id, *published[entry_id])
        for entry_id in sorted(published)
        if hub.oldest_held <= entry_id <= settled
    ]
    held = hub.held(1, settled)
    assert [slot[:3] for slot in held] == [item[:3] for item in expected]
    for slot, (_, _, _, event) in zip(held, expected, strict=True):
        if event is None:
            assert slot[3].__class__ is bytes
        else:
            assert slot[3] == event  # packed when published: an equal event, decoded
