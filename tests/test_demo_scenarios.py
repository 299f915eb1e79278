"""``agentwatch demo``'s scenarios in simulated time: the alert baselines are built from the fleet's
simulated history (:func:`agentwatch.demo.warm_alerts`), then the scenario runs as the demo runs it
(its defaults: 12 agents, 60 events/s), one second at a time. Each scenario's own alert must fire
within :data:`FIRES_WITHIN` seconds of the fleet's start, whatever the seed; a steady fleet raises
none in ten minutes."""

from __future__ import annotations

import time

import httpx
import msgspec
import pytest

from agentwatch import demo
from agentwatch.collector.ingest import split_starts
from agentwatch.collector.service import Collector, Settings
from agentwatch.protocol import (
    ALERT_FIRING,
    PATH_ALERTS,
    RULE_COST_PER_INFERENCE,
    RULE_ERROR_RATE,
    RULE_LATENCY_REGRESSION,
    RULE_NEW_DECISION,
    RULE_STUCK,
    SCOPE_FLEET,
    Alert,
    AlertsResponse,
)
from agentwatch.simulator import NEW_DECISION, Fleet
from agentwatch.simulator.fleet import STUCK_STEP_AT
from tests.helpers import NOW, Clock, wait_until

#: The demo shows each scenario's alert within 90 s of starting; building the baselines and
#: starting the viewer take a few seconds of that.
FIRES_WITHIN = 80.0
AGENTS, RATE = 12, 60.0


def run_demo(scenario: str, seconds: float, seed: int) -> tuple[list[tuple[float, Alert]], Collector, Fleet]:
    """(seconds since the fleet's start, alert frame) of every state change, the collector, the fleet."""
    clock = Clock()
    collector = Collector(Settings(clock=clock))
    history = demo.warm_alerts(collector, agents=AGENTS, rate=RATE, seed=seed, now=NOW)
    assert history >= demo.HISTORY_MIN
    fleet = Fleet(
        AGENTS, seed=seed, scenario=scenario, start=NOW, rate=RATE, span_starts=True
    )  # as the sender
    changes: list[tuple[float, Alert]] = []
    for second in range(1, int(seconds) + 1):
        clock.now = NOW + second
        events, starts = split_starts(fleet.events_until(clock.now))
        collector.open_steps(starts)
        collector.ingest(events)
        changes.extend((float(second), alert) for alert in collector.evaluate_alerts())
    return changes, collector, fleet


def first_firing(
    changes: list[tuple[float, Alert]], rule: str, scope: str | None = None
) -> tuple[float, Alert]:
    found = [
        (t, a) for t, a in changes if a.rule == rule and a.state == ALERT_FIRING and scope in (None, a.scope)
    ]
    assert found, f"no {rule} alert fired: {[(t, a.id) for t, a in changes]}"
    return found[0]


def test_history_gives_every_baseline_its_samples_before_the_fleet_starts() -> None:
    collector = Collector(Settings(clock=Clock()))
    demo.warm_alerts(collector, agents=AGENTS, rate=RATE, seed=5, now=NOW)
    settings = collector.alerts.settings
    assert collector.alerts.baseline_of(RULE_LATENCY_REGRESSION, SCOPE_FLEET) is not None
    state = collector.alerts.states[(RULE_ERROR_RATE, SCOPE_FLEET)]
    assert len(state.baseline) >= settings.min_samples
    # History is the past: nothing of it fires, and the new-decision rule has its history per agent.
    assert collector.alerts.firing() == [] and collector.alerts.recent() == []
    assert min(collector.ledger.decisions_made.values()) >= settings.new_decision_min_history


@pytest.mark.parametrize("seed", [21, 22])
def test_error_spike_fires_a_critical_error_rate_alert_for_the_failing_agents(seed: int) -> None:
    changes, _, fleet = run_demo("error-spike", FIRES_WITHIN, seed)
    fired_at, _ = first_firing(changes, RULE_ERROR_RATE, SCOPE_FLEET)
    assert fired_at <= FIRES_WITHIN
    agents = {a.scope.removeprefix("agent:"): a for _, a in changes if a.scope.startswith("agent:")}
    assert agents and set(agents) <= set(fleet.failing_agents)
    assert any(a.severity == "critical" for a in agents.values())  # 40 % of calls failing, far above ~1 %
    assert {a.rule for _, a in changes} == {RULE_ERROR_RATE}


@pytest.mark.parametrize("seed", [23, 24])
def test_burst_fires_the_error_rate_alert_of_the_throttled_fleet(seed: int) -> None:
    changes, _, _ = run_demo("burst", FIRES_WITHIN, seed)
    fired_at, _ = first_firing(changes, RULE_ERROR_RATE, SCOPE_FLEET)
    assert fired_at <= FIRES_WITHIN
    assert {a.rule for _, a in changes} == {RULE_ERROR_RATE}


@pytest.mark.parametrize("seed", [25, 26])
def test_latency_degradation_fires_the_regression_alert_of_the_degraded_model(seed: int) -> None:
    changes, _, fleet = run_demo("latency-degradation", FIRES_WITHIN, seed)
    fired_at, _ = first_firing(changes, RULE_LATENCY_REGRESSION, f"model:{fleet.degraded_model}")
    assert fired_at <= FIRES_WITHIN
    assert {a.rule for _, a in changes} == {RULE_LATENCY_REGRESSION}


@pytest.mark.parametrize("seed", [27, 28])
def test_cost_drift_fires_the_fleet_cost_alert(seed: int) -> None:
    changes, _, _ = run_demo("cost-drift", FIRES_WITHIN, seed)
    fired_at, _ = first_firing(changes, RULE_COST_PER_INFERENCE, SCOPE_FLEET)
    assert fired_at <= FIRES_WITHIN
    assert {a.rule for _, a in changes} == {RULE_COST_PER_INFERENCE}


@pytest.mark.parametrize("seed", [29, 30])
def test_new_decision_fires_and_the_decisions_view_marks_it_new(seed: int) -> None:
    from agentwatch.collector.analysis import decisions_view

    changes, collector, fleet = run_demo("new-decision", FIRES_WITHIN, seed)
    fired_at, alert = first_firing(changes, RULE_NEW_DECISION)
    assert fired_at <= FIRES_WITHIN
    assert alert.scope == f"agent:{fleet.new_decision_agent}/decision:{NEW_DECISION}"
    view = decisions_view(collector.ledger, NOW + FIRES_WITHIN, fleet.new_decision_agent)
    rows = [row for section in view.sections for row in section.rows if row.key == NEW_DECISION]
    assert rows and rows[0].new is True


@pytest.mark.parametrize("seed", [33, 34])
def test_stuck_step_shows_the_hanging_call_in_flight_and_fires_the_stuck_alert(seed: int) -> None:
    changes, collector, fleet = run_demo("stuck-step", FIRES_WITHIN, seed)
    fired_at, alert = first_firing(changes, RULE_STUCK)
    assert fired_at <= FIRES_WITHIN
    assert alert.scope.startswith(f"agent:{fleet.stuck_agent}/step:")
    assert {a.rule for _, a in changes} == {RULE_STUCK}
    row = next(r for r in collector.snapshot().agents if r.agent_id == fleet.stuck_agent)
    assert row.in_flight is not None and row.in_flight.stuck
    assert row.in_flight.what.startswith("llm_call ")
    assert FIRES_WITHIN - STUCK_STEP_AT - 2 <= NOW + FIRES_WITHIN - row.in_flight.since <= FIRES_WITHIN


def test_calls_still_running_are_shown_in_flight_with_their_start_time() -> None:
    """The steady fleet reports the starts of its longer calls: at any second some agents show
    a call in flight, begun within the last seconds (none is stuck)."""
    _, collector, _ = run_demo("steady", 20.0, seed=35)
    rows = collector.snapshot().agents
    running = [r.in_flight for r in rows if r.in_flight is not None]
    assert running, "no call in flight"
    assert all(NOW + 20 - 12 <= step.since <= NOW + 20 and not step.stuck for step in running)
    assert all(step.what.split()[0] in ("llm_call", "tool_call") for step in running)


def test_steady_fleet_raises_no_alert_in_ten_minutes() -> None:
    changes, collector, _ = run_demo("steady", 600.0, seed=31)
    assert changes == []
    assert collector.alerts.evaluations >= 60 + demo.HISTORY_MIN / 10


class FastClock:
    """Unix time running ``speed`` times as fast as the wall clock from now on."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.start, self._started = time.time(), time.monotonic()

    def __call__(self) -> float:
        return self.start + self.speed * (time.monotonic() - self._started)


#: How much faster than the wall clock the real demo collector's clock runs in its test.
DEMO_SPEED = 8.0


def test_the_real_demo_collector_fires_its_scenario_alert_over_http_within_90_seconds() -> None:
    """The embedded collector as ``agentwatch demo`` runs it (baselines built from history, the
    sender posting over real HTTP, the collector's own tick): the new-decision scenario's alert is
    served at /api/alerts about 30 s after the start. Their clock runs :data:`DEMO_SPEED` times as
    fast as the wall clock; building the baselines counts in wall-clock seconds."""
    started = time.monotonic()
    clock = FastClock(DEMO_SPEED)
    embedded = demo.EmbeddedCollector(agents=AGENTS, rate=RATE, seed=32, scenario="new-decision", clock=clock)
    embedded.start()
    building, serving = time.monotonic() - started, clock()
    try:
        assert embedded.history >= demo.HISTORY_MIN

        def new_decision() -> list[Alert]:
            body = httpx.get(embedded.url + PATH_ALERTS, timeout=5).content
            firing = msgspec.json.decode(body, type=AlertsResponse).firing
            return [a for a in firing if a.rule == RULE_NEW_DECISION]

        (alert,) = wait_until(new_decision, timeout=90)
        assert building + clock() - serving < 90
        assert alert.scope.endswith(f"/decision:{NEW_DECISION}")
    finally:
        embedded.stop()
