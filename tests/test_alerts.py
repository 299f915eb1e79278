"""Alert rules driven by the simulator's scenarios in simulated time (10 s per tick).

Each scenario runs a steady fleet for :data:`PREFIX` seconds first (``tests.helpers.run_scenario``) (so every baseline has
its minimum number of samples), then the same fleet (same seed: same agents and models)
under the scenario, whose times count from the end of the prefix.
"""

from __future__ import annotations

import statistics

import httpx
import msgspec
import pytest

from agentwatch.collector import ingest
from agentwatch.collector.config import AlertSettings, ConfigError, load_config, parse_config
from agentwatch.collector.service import Collector, Settings
from agentwatch.protocol import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    PATH_ALERTS,
    PATH_SNAPSHOT,
    RULE_COST_PER_INFERENCE,
    RULE_ERROR_RATE,
    RULE_LATENCY_REGRESSION,
    RULE_NEW_DECISION,
    RULE_SILENT_AGENT,
    SCOPE_FLEET,
    Alert,
    AlertsResponse,
    Event,
    Snapshot,
)
from agentwatch.simulator import ERROR_SPIKE_END, ERROR_SPIKE_START, NEW_DECISION
from tests.helpers import NOW, Clock, wait_until
from tests.helpers import SCENARIO_PREFIX as PREFIX
from tests.helpers import SCENARIO_TICK as TICK
from tests.helpers import run_scenario as run


def test_steady_fleet_for_30_minutes_fires_no_alert() -> None:
    changes, collector, _ = run("steady", 1800.0, prefix=0.0)
    assert changes == []
    assert collector.alerts.evaluations == 180


def test_error_spike_fires_within_two_ticks_and_resolves_after_it_ends() -> None:
    changes, _, fleet = run("error-spike", 120.0)
    fleet_alerts = [(t, a) for t, a in changes if a.id == f"{RULE_ERROR_RATE}:{SCOPE_FLEET}"]
    assert [a.state for _, a in fleet_alerts] == [ALERT_FIRING, ALERT_RESOLVED]
    fired_at, fired = fleet_alerts[0]
    assert ERROR_SPIKE_START < fired_at <= ERROR_SPIKE_START + 2 * TICK
    assert fired.value is not None and fired.threshold is not None and fired.value > fired.threshold
    resolved_at, resolved = fleet_alerts[1]
    assert ERROR_SPIKE_END < resolved_at <= ERROR_SPIKE_END + 3 * TICK
    assert resolved.resolved_at == NOW + PREFIX + resolved_at and resolved.started_at == fired.started_at
    agents = {a.scope.removeprefix("agent:") for _, a in changes if a.scope.startswith("agent:")}
    assert agents and agents <= set(fleet.failing_agents)


def test_firing_alert_is_sent_once_not_every_tick() -> None:
    changes, _, _ = run("error-spike", 60.0)
    ids = [a.id for _, a in changes if a.state == ALERT_FIRING]
    assert len(ids) == len(set(ids))


def test_cost_drift_fires_the_cost_alert_for_the_fleet() -> None:
    changes, collector, _ = run("cost-drift", 300.0)
    fleet_cost = [a for _, a in changes if a.id == f"{RULE_COST_PER_INFERENCE}:{SCOPE_FLEET}"]
    assert fleet_cost and fleet_cost[0].state == ALERT_FIRING
    assert fleet_cost[0].value is not None and fleet_cost[0].threshold is not None
    assert fleet_cost[0].value > fleet_cost[0].threshold
    assert {a.rule for _, a in changes} == {RULE_COST_PER_INFERENCE}
    assert any(a.id == fleet_cost[0].id for a in collector.snapshot().alerts)


def test_new_decision_fires_once_for_the_agent_that_makes_it() -> None:
    changes, collector, fleet = run("new-decision", 200.0)
    assert [a.rule for _, a in changes] == [RULE_NEW_DECISION]
    alert = changes[0][1]
    assert alert.scope == f"agent:{fleet.new_decision_agent}/decision:{NEW_DECISION}"
    assert collector.snapshot(fleet.new_decision_agent).alerts == [alert]
    assert collector.snapshot("nobody").alerts == []


def test_latency_degradation_fires_the_regression_alert_for_the_degraded_model() -> None:
    changes, _, fleet = run("latency-degradation", 300.0)
    scopes = {a.scope for _, a in changes if a.rule == RULE_LATENCY_REGRESSION and a.state == ALERT_FIRING}
    assert f"model:{fleet.degraded_model}" in scopes
    assert {a.rule for _, a in changes} == {RULE_LATENCY_REGRESSION}


def test_agent_silent_after_being_active_fires_and_resolves_when_it_speaks() -> None:
    clock = Clock()
    collector = Collector(Settings(clock=clock, alerts=AlertSettings(silent_after=30, silent_min_events=3)))
    collector.evaluate_alerts()

    def step(seconds: float, events: int) -> list[Alert]:
        clock.now += seconds
        collector.ingest([Event("quiet-1", timestamp=clock.now, span_type="log", message="x")] * events)
        return collector.evaluate_alerts()

    assert step(10, 5) == []
    changes = [a for _ in range(5) for a in step(10, 0)]
    assert [(a.rule, a.state) for a in changes] == [(RULE_SILENT_AGENT, ALERT_FIRING)]
    changes = step(10, 1) + step(10, 1)
    assert [(a.rule, a.state) for a in changes] == [(RULE_SILENT_AGENT, ALERT_RESOLVED)]


def test_disabled_rule_never_fires() -> None:
    clock = Clock()
    settings = AlertSettings(silent_after=5, silent_min_events=1, disabled=frozenset({RULE_SILENT_AGENT}))
    collector = Collector(Settings(clock=clock, alerts=settings))
    collector.evaluate_alerts()
    collector.ingest([Event("a", timestamp=NOW, span_type="log", message="x")])
    for _ in range(6):
        clock.now += 10
        assert collector.evaluate_alerts() == []


def test_error_rate_fires_only_beyond_its_configured_z_standard_deviations() -> None:
    clock = Clock()
    settings = AlertSettings(
        min_samples=10, fire_after=1, error_rate_z=3.0, error_rate_min_increase=0.001, error_rate_min_errors=1
    )
    collector = Collector(Settings(clock=clock, alerts=settings))
    collector.evaluate_alerts()

    def interval(errors: int) -> list[Alert]:
        """One evaluation interval of 100 events, ``errors`` of them errors: the fleet's error-rate alerts."""
        clock.now += TICK
        kinds = ["error"] * errors + ["log"] * (100 - errors)
        collector.ingest(
            [Event("a", timestamp=clock.now - TICK / 2, span_type=k, message="x") for k in kinds]
        )
        return [a for a in collector.evaluate_alerts() if a.id == f"{RULE_ERROR_RATE}:{SCOPE_FLEET}"]

    baseline = [0.2, 0.1] * 10  # mean 15 %, σ 5.1 %
    for rate in baseline:
        assert interval(round(rate * 100)) == []
    assert interval(25) == []  # about 2σ above the mean, below mean + 3σ
    baseline.append(0.25)
    (fired,) = interval(45)
    assert fired.state == ALERT_FIRING
    assert fired.threshold == pytest.approx(
        statistics.mean(baseline) + 3 * statistics.stdev(baseline), rel=1e-4
    )


def test_a_few_errors_among_few_events_are_luck_and_severity_follows_the_magnitude() -> None:
    """One agent at 1 % errors: 4 errors in 100 events is above mean + 2 points but a Poisson count
    at 1 % gets there about 2 % of the time (it fired "critical" before); 8 is news (a warning:
    less than three times as far from the mean as the threshold), 15 is critical."""
    clock = Clock()
    collector = Collector(Settings(clock=clock, alerts=AlertSettings(min_samples=10)))
    collector.evaluate_alerts()

    def interval(errors: int) -> list[Alert]:
        clock.now += TICK
        kinds = ["error"] * errors + ["log"] * (100 - errors)
        collector.ingest(
            [Event("a", timestamp=clock.now - TICK / 2, span_type=k, message="x") for k in kinds]
        )
        return [a for a in collector.evaluate_alerts() if a.id == f"{RULE_ERROR_RATE}:{SCOPE_FLEET}"]

    for _ in range(12):
        assert interval(1) == []
    assert interval(4) == [] and interval(4) == [] and interval(4) == []
    for _ in range(3):
        interval(1)
    assert interval(8) == []
    (fired,) = interval(8)
    assert (fired.state, fired.severity) == (ALERT_FIRING, "warning")
    interval(15)
    assert collector.alerts.firing()[0].severity == "critical"  # followed the magnitude in place


def test_ledger_ingest_only_queues_and_the_fold_groups() -> None:
    """What keeps ingest cheap per event (bench_ingest_stages.py measures it): adding a batch to
    the ledger queues it and groups nothing; the next fold does the grouping."""
    from benchmarks.bench_http import make_events

    body = msgspec.json.encode(make_events(1000, 50))
    events, _ = ingest.decode_events(body, "application/json", now=NOW)
    collector = Collector(Settings(clock=Clock()))
    ledger = collector.ledger
    scopes = len(ledger.scopes)
    for _ in range(50):
        ledger.add_many(events)
    assert ledger.received == 50 * len(events)
    assert (ledger.analysed, len(ledger.scopes)) == (0, scopes)  # nothing grouped on the ingest path
    assert ledger.fold() == ledger.analysed > 0
    assert len(ledger.scopes) > scopes


# ----------------------------------------------------------------------- config
def test_config_file_sets_thresholds_and_window(tmp_path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(
        '[window]\nseconds = 120\n[alerts]\ninterval = 5\ndisabled = ["token_efficiency"]\n'
        "[alerts.error_rate]\nz = 3\nmin_increase = 0.05\n[alerts.silent]\nafter = 90\n"
    )
    config = load_config(path)
    assert config.window_seconds == 120
    alerts = config.alerts
    assert (alerts.interval, alerts.error_rate_z, alerts.error_rate_min_increase, alerts.silent_after) == (
        5,
        3,
        0.05,
        90,
    )
    assert not alerts.enabled("token_efficiency") and alerts.enabled(RULE_ERROR_RATE)


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"alerts": {"nonsense": 1}}, "[alerts] nonsense: unknown key"),
        ({"alerts": {"error_rate": {"z": "high"}}}, "expected a number"),
        ({"alerts": {"cost": {"ratio": -1.0}}}, "must be a finite number >= 0"),
        ({"alerts": {"min_samples": 0}}, "must be at least 1"),
        ({"alerts": {"disabled": ["no_such_rule"]}}, "unknown rule"),
        ({"metrics": {}}, "unknown section"),
        ({"window": {"seconds": 2.5}}, "whole number"),
    ],
)
def test_bad_config_is_refused_with_a_message_naming_the_key(document, complaint) -> None:
    with pytest.raises(ConfigError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        parse_config(document)


def test_unreadable_or_invalid_toml_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[alerts\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


# ------------------------------------------------------------------ integration
def test_alerts_endpoint_and_snapshot_over_real_http(start_collector) -> None:
    running = start_collector(alerts=AlertSettings(interval=0.5, silent_after=0.5, silent_min_events=1))
    assert running.post([{"agent_id": "gone-1", "span_type": "log", "message": "bye"}]).status_code == 202

    def firing() -> AlertsResponse | None:
        body = msgspec.json.decode(
            httpx.get(running.url + PATH_ALERTS, timeout=5).content, type=AlertsResponse
        )
        return body if body.firing else None

    body = wait_until(firing, timeout=10)
    assert [a.id for a in body.firing] == [f"{RULE_SILENT_AGENT}:agent:gone-1"]
    assert body.history[0].state == ALERT_FIRING
    snapshot = msgspec.json.decode(httpx.get(running.url + PATH_SNAPSHOT, timeout=5).content, type=Snapshot)
    assert [a.id for a in snapshot.alerts] == [body.firing[0].id]
