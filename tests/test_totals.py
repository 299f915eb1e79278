"""Since-start totals behind ``/metrics``: exact counts per (agent, model), bounded series."""

from __future__ import annotations

from agentwatch.collector.totals import OTHER, Totals
from agentwatch.protocol import Event


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
