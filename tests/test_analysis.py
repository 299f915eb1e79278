"""Analysis views (costs, decisions, latency, failures) over the ledger, and their HTTP route."""

from __future__ import annotations

import httpx
import msgspec

from agentwatch.collector.analysis import costs_view, decisions_view, failures_view, latency_view
from agentwatch.collector.ledger import DIM_ERROR_TYPE, DIM_MODEL, DIM_PATH, NONE
from agentwatch.collector.service import Collector, Settings
from agentwatch.collector.sketch import PackedSketch
from agentwatch.protocol import PATH_ANALYSIS, RULE_LATENCY_REGRESSION, Analysis, ErrorResponse, Event
from agentwatch.simulator import NEW_DECISION
from tests.helpers import NOW, Clock
from tests.helpers import run_scenario as run


def section(analysis: Analysis, name: str):
    return next(s for s in analysis.sections if s.name == name)


def test_costs_by_model_agent_and_decision_path_add_up_to_the_fleet_total() -> None:
    _, collector, fleet = run("steady", 120.0, prefix=0.0)
    view = costs_view(collector.ledger, collector.clock())
    total = collector.ledger.fleet.since_start().cost
    by_model = sum(r.cost_total_usd or 0 for r in section(view, DIM_MODEL).rows)
    by_agent = sum(r.cost_total_usd or 0 for r in section(view, "agent").rows)
    by_path = sum(r.cost_total_usd or 0 for r in section(view, DIM_PATH).rows)
    assert total > 0
    assert abs(by_model - total) < 1e-6 * max(1, total) + 1e-5
    assert abs(by_agent - total) < 1e-5
    assert abs(by_path - total) < 1e-5
    assert {r.key for r in section(view, "agent").rows} == set(fleet.agent_ids)
    assert view.cost_per_inference and all(p.usd_per_inference > 0 for p in view.cost_per_inference)
    rows = section(view, DIM_MODEL).rows
    assert rows == sorted(rows, key=lambda r: -(r.cost_total_usd or 0))


def test_decisions_mark_the_new_decision_and_count_with_mean_confidence() -> None:
    _, collector, fleet = run("new-decision", 120.0)
    view = decisions_view(collector.ledger, collector.clock(), fleet.new_decision_agent)
    rows = view.sections[0].rows
    assert rows[0].key == NEW_DECISION and rows[0].new is True
    assert all(r.new is False for r in rows[1:])
    assert all(r.count and r.count > 0 for r in rows)
    assert all(r.mean_confidence is not None and 0 < r.mean_confidence <= 1 for r in rows)


def test_latency_view_marks_the_degraded_model_as_a_regression() -> None:
    _, collector, fleet = run("latency-degradation", 300.0)
    view = latency_view(
        collector.ledger,
        collector.clock(),
        lambda scope: collector.alerts.baseline_of(RULE_LATENCY_REGRESSION, scope),
        seconds=300,
    )
    rows = {r.key: r for r in view.sections[0].rows}
    degraded = rows[f"model:{fleet.degraded_model}"]
    assert degraded.regression is True
    assert degraded.p99_latency_ms is not None and degraded.upper_bound_ms is not None
    assert degraded.p99_latency_ms > degraded.upper_bound_ms
    # No other model regresses (the fleet's p99 may: it holds the degraded model's calls).
    marked = [k for k, r in rows.items() if r.regression and k.startswith("model:")]
    assert marked == [f"model:{fleet.degraded_model}"]
    assert all(
        r.p50_latency_ms <= r.p95_latency_ms <= r.p99_latency_ms for r in rows.values() if r.p50_latency_ms
    )


def test_failures_group_errors_by_type_and_attribute_biggest_first() -> None:
    clock = Clock()
    collector = Collector(Settings(clock=clock))
    events = (
        [
            Event(
                "a",
                timestamp=NOW,
                span_type="llm_call",
                model="m1",
                error="Timeout: slow",
                attributes={"region": "eu"},
            )
        ]
        * 3
        + [
            Event(
                "a",
                timestamp=NOW,
                span_type="tool_call",
                tool_name="search",
                error="ToolError: x",
                attributes={"region": "us"},
            )
        ]
        + [Event("b", timestamp=NOW, span_type="llm_call", model="m1", attributes={"region": "us"})] * 6
    )
    collector.ingest(events)
    collector.evaluate_alerts()
    view = failures_view(collector.ledger, NOW, attribute="region")
    types = section(view, DIM_ERROR_TYPE).rows
    assert [(r.key, r.errors, r.share) for r in types] == [("Timeout", 3, 0.75), ("ToolError", 1, 0.25)]
    models = section(view, DIM_MODEL).rows
    assert [(r.key, r.events, r.errors, r.error_rate) for r in models] == [("m1", 9, 3, 0.3333)]
    region = section(view, "attribute region").rows
    assert [(r.key, r.errors, r.events) for r in region] == [("eu", 3, 3), ("us", 1, 7)]
    only_b = failures_view(collector.ledger, NOW, agent="b")
    assert section(only_b, DIM_ERROR_TYPE).rows == []
    assert section(only_b, "decision").rows[0].key == NONE


def test_analysis_route_serves_each_view_and_refuses_bad_parameters(start_collector) -> None:
    running = start_collector()
    assert (
        running.post(
            [
                {
                    "agent_id": "a",
                    "span_type": "llm_call",
                    "model": "gpt-4o",
                    "tokens_input": 100,
                    "tokens_output": 10,
                    "latency_ms": 100.0,
                    "attributes": {"k": "v"},
                }
            ]
        ).status_code
        == 202
    )
    for view in ("costs", "decisions", "latency", "failures"):
        response = httpx.get(running.url + PATH_ANALYSIS, params={"view": view, "attribute": "k"}, timeout=5)
        assert response.status_code == 200, response.text
        assert msgspec.json.decode(response.content, type=Analysis).view == view
    for params in (
        {"view": "nope"},
        {},
        {"view": "costs", "agent": "x" * 500},
        {"view": "failures", "attribute": "\x00"},
    ):
        response = httpx.get(running.url + PATH_ANALYSIS, params=params, timeout=5)
        assert response.status_code == 400
        assert msgspec.json.decode(response.content, type=ErrorResponse).error


def test_intervals_past_the_window_are_slimmed_yet_every_view_and_alert_window_counts_the_same() -> None:
    """Closed intervals are kept 5 minutes for the alert windows; only their sketch is needed there."""
    clock = Clock()
    collector = Collector(Settings(clock=clock))
    ledger = collector.ledger
    per_tick = 7
    for tick in range(1, 41):  # 400 s of ten-second intervals
        clock.now = NOW + 10.0 * tick
        collector.ingest(
            [
                Event(
                    "a",
                    timestamp=clock.now,
                    span_type="llm_call",
                    model="m1",
                    cost_usd=0.01,
                    latency_ms=100.0 + i,
                )
                for i in range(per_tick)
            ]
        )
        collector.evaluate_alerts()
    now = clock.now
    series = ledger.scopes["agent:a"]
    kept_for = ledger.window_seconds
    old = [s for s in series.closed if s.end <= now - kept_for]
    recent = [s for s in series.closed if s.end > now - kept_for]
    assert old and recent
    assert all(not s.dims and isinstance(s.latency, PackedSketch) for s in old)
    assert all(s.dims[(DIM_MODEL, "m1")][0] == per_tick for s in recent)
    # The views read the window's breakdown: every event in it is there.
    models = section(failures_view(ledger, now, agent="a"), DIM_MODEL).rows
    assert [(r.key, r.events) for r in models] == [("m1", per_tick * len(recent))]
    # The longest alert window still has every interval's latencies and counts.
    longest = collector.alerts.settings.latency_window
    assert longest > ledger.window_seconds  # so its older intervals are the slimmed ones
    alert_window = series.window(now, longest, latency=True)
    assert alert_window.latency.count == alert_window.events == per_tick * int(longest / 10)
    assert abs(alert_window.latency.quantile(1.0) - (100.0 + per_tick - 1)) <= 0.01 * (100.0 + per_tick)
