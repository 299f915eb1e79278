"""Since-start totals behind ``/metrics``: exact counts per (agent, model), bounded series, the same
whether counted alone or in the window's pass over a batch."""

from __future__ import annotations

import time

import pytest

from agentwatch.collector.service import Collector, Settings
from agentwatch.collector.totals import OTHER, Totals
from agentwatch.collector.window import Window
from agentwatch.protocol import Event
from agentwatch.simulator.fleet import Fleet
from tests.helpers import Clock


def test_counts_per_agent_and_model_match_the_events() -> None:
    totals = Totals()
    events = [
        Event(
            "a",
            model="m1",
            span_type="llm_call",
            tokens_input=10,
            tokens_output=2,
            cost_usd=0.5,
            latency_ms=15.0,
        ),
        Event("a", model="m1", span_type="llm_call", error="Timeout", latency_ms=100_000.0),
        Event("a", span_type="tool_call", tool_name="search", latency_ms=5.0),
        Event("b", model="m1", span_type="error"),
    ]
    totals.add_many(events)
    totals.add_many(events[:1])
    a_m1 = totals.series[("a", "m1")]
    assert (a_m1.events, a_m1.errors, a_m1.tokens_in, a_m1.tokens_out, a_m1.cost) == (3, 1, 20, 4, 1.0)
    assert (a_m1.latency_count, a_m1.latency_sum_ms) == (3, 100_030.0)
    assert a_m1.buckets[1] == 2 and a_m1.buckets[-1] == 1  # 15 ms in (10, 20]; 100 s beyond 81.92 s
    a_none = totals.series[("a", "")]
    assert (a_none.events, a_none.tool_calls, a_none.latency_count) == (1, 1, 0)
    assert totals.series[("b", "m1")].errors == 1


def test_series_beyond_the_cap_count_under_other_and_memory_stays_bounded() -> None:
    totals = Totals(max_series=10)
    for _ in range(2):
        totals.add_many([Event(f"agent-{i}", model="m") for i in range(5_000)])
    assert len(totals.series) == 11
    assert sum(len(models) for models in totals._index.values()) == 10
    assert sum(series.events for series in totals.series.values()) == 10_000
    assert totals.series[(OTHER, OTHER)].events == 10_000 - 20


def _numbers(totals: Totals) -> dict[tuple[str, str], tuple[object, ...]]:
    return {
        key: (
            s.events,
            s.errors,
            s.tool_calls,
            s.tokens_in,
            s.tokens_out,
            round(s.cost, 9),
            s.latency_count,
            round(s.latency_sum_ms, 6),
            tuple(s.buckets),
        )
        for key, s in totals.series.items()
    }


def _awkward_batch(now: float) -> list[Event]:
    """Events of every kind the window treats apart: late, future, several seconds, bad values."""
    nan, inf = float("nan"), float("inf")
    return [
        Event(
            "a",
            timestamp=now,
            model="m1",
            span_type="llm_call",
            tokens_input=10,
            cost_usd=0.5,
            latency_ms=15.0,
        ),
        Event("a", timestamp=now - 1.5, model="m2", span_type="completion", tokens_output=3, latency_ms=0.0),
        Event("a", timestamp=now, span_type="tool_call", tool_name="search", latency_ms=5.0),
        Event(
            "a", timestamp=now - 3600.0, model="m1", span_type="llm_call", cost_usd=1.0, latency_ms=40.0
        ),  # late
        Event("b", timestamp=now + 60.0, model="m1", span_type="error", error=""),  # future: taken as now
        Event("b", timestamp=None, model="m1", span_type="llm_call", cost_usd=nan, latency_ms=nan),
        Event("b", timestamp=now, model="m1", span_type="llm_call", cost_usd=-1.0, latency_ms=inf),
        Event("b", timestamp=now, model="m1", span_type="llm_call", cost_usd=1e308, latency_ms=2e12),
        Event("c", timestamp=now, span_type="log", message="hello", error="boom"),
        Event("c", timestamp=now, span_type="heartbeat", attributes={"agentwatch.sdk.dropped": 2}),
        Event(
            "d",
            timestamp=now - 2.0,
            model="m3",
            span_type="llm_call",
            tokens_input=5,
            cost_usd=0.25,
            latency_ms=1e6,
        ),
    ]


@pytest.mark.parametrize("max_agents", [10_000, 1])
@pytest.mark.parametrize("max_series", [10_000, 3])
def test_totals_counted_in_the_window_pass_equal_totals_counted_alone(
    max_agents: int, max_series: int
) -> None:
    clock = Clock()
    counted_alone = Totals(max_series=max_series)
    counted_in_window = Totals(max_series=max_series)
    window = Window(max_agents=max_agents, clock=clock, totals=counted_in_window)
    for _ in range(3):
        batch = _awkward_batch(clock())
        counted_alone.add_many(batch)
        window.add_many(batch)
        clock.advance(0.7)
    assert sum(s.events for s in counted_in_window.series.values()) == 3 * 11
    assert counted_in_window.values_refused == counted_alone.values_refused == 3 * 6
    if max_series >= 10:  # under the cap every (agent, model) has its own series, as counted alone
        assert _numbers(counted_in_window) == _numbers(counted_alone)
    else:  # over it, series are made in the window's order (by second, then agent): sums agree
        for field in range(7):
            assert sum(n[field] for n in _numbers(counted_in_window).values()) == pytest.approx(
                sum(n[field] for n in _numbers(counted_alone).values())
            )


def test_the_collector_counts_its_totals_in_the_window_pass_exactly() -> None:
    settings = Settings()
    collector = Collector(settings)
    fleet = Fleet(50, seed=3, start=time.time() - 5, rate=5_000.0)
    alone = Totals(max_series=settings.max_agents)
    for _ in range(20):
        events = fleet.events_until(fleet.now + 0.25)
        collector.ingest(events)
        alone.add_many(events)
    assert collector.aggregators.count(collector.totals.add_many) == 0  # not a second pass
    assert _numbers(collector.totals) == _numbers(alone)
    assert sum(s.events for s in alone.series.values()) == collector.window.events_total > 1_000
