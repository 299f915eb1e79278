"""Steps in flight: span starts from the SDK and sessions' tools open them, ends close them, and
one running too long is stuck (marked on its row, a ``stuck`` alert fired once, resolved at its end)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentwatch.collector.alerts import AlertEngine
from agentwatch.collector.config import AlertSettings, parse_config
from agentwatch.collector.ledger import Ledger
from agentwatch.collector.window import MAX_STEPS_PER_AGENT, Window
from agentwatch.protocol import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    EVENT_SPAN_START,
    PATH_ALERTS,
    PATH_HEALTH,
    PATH_HOOKS,
    PATH_SESSIONS,
    PATH_SNAPSHOT,
    RULE_STUCK,
    Alert,
    Event,
)
from agentwatch.sdk import AgentTelemetry
from tests.helpers import NOW, Clock, wait_until


def start(agent: str, span_id: str, span_type: str = "llm_call", **fields: Any) -> dict[str, Any]:
    """A span start as it goes on the wire."""
    return {
        "agent_id": agent,
        "event_type": EVENT_SPAN_START,
        "span_id": span_id,
        "payload": {"span_type": span_type},
        **fields,
    }


def row(url: str, agent: str) -> dict[str, Any] | None:
    rows = httpx.get(url + PATH_SNAPSHOT, timeout=10).json()["agents"]
    return next((r for r in rows if r["agent_id"] == agent), None)


def firing(url: str) -> list[dict[str, Any]]:
    return [a for a in httpx.get(url + PATH_ALERTS, timeout=10).json()["firing"] if a["rule"] == RULE_STUCK]


def stuck(changes: list[Alert]) -> list[Alert]:
    return [alert for alert in changes if alert.rule == RULE_STUCK]


# ------------------------------------------------------------------------- the wire
def test_a_start_shows_its_span_in_flight_until_its_end_and_counts_as_no_event(collector: Any) -> None:
    answer = collector.post([start("a1", "00000000000000aa", model="gpt-4o")])
    assert answer.json() == {"accepted": 1, "rejected": []}
    shown = row(collector.url, "a1")
    assert shown is not None and shown["in_flight"]["what"] == "llm_call gpt-4o"
    assert shown["in_flight"]["span_id"] == "00000000000000aa"
    assert shown["events"] == 0 and shown["last_activity"] is None
    snapshot = httpx.get(collector.url + PATH_SNAPSHOT, timeout=10).json()
    assert (snapshot["events"], snapshot["completions"], snapshot["errors"]) == (0, 0, 0)
    assert httpx.get(collector.url + PATH_HEALTH, timeout=10).json()["steps_in_flight"] == 1

    end = {"agent_id": "a1", "span_type": "llm_call", "span_id": "00000000000000aa", "model": "gpt-4o"}
    collector.post([end | {"latency_ms": 1200.0}])
    shown = row(collector.url, "a1")
    assert shown is not None and shown["in_flight"] is None
    assert (shown["events"], shown["last_activity"]) == (1, "llm_call gpt-4o")
    assert collector.service.logs.published_total == 1, "a start is no log line"
    health = httpx.get(collector.url + PATH_HEALTH, timeout=10).json()
    assert (health["steps_in_flight"], health["steps_dropped"], health["events_total"]) == (0, 0, 1)


def test_a_start_with_a_bad_span_type_is_refused_by_name(collector: Any) -> None:
    bad = start("a1", "00000000000000ab") | {"payload": {"span_type": 7}}
    untyped = {"agent_id": "a1", "event_type": EVENT_SPAN_START, "span_id": "00000000000000ac"}
    answer = collector.post([bad, untyped])
    assert answer.status_code == 202
    assert answer.json()["rejected"] == [{"index": 0, "error": "payload.span_type: expected str, got int"}]
    shown = row(collector.url, "a1")
    assert shown is not None and shown["in_flight"]["what"] == "event"


def test_the_sdk_sends_a_long_spans_start_and_leaves_out_a_short_ones(collector: Any) -> None:
    # The sender sends when flushed (or a batch fills), so what it takes is known.
    telemetry = AgentTelemetry("sdk-agent", collector.url, flush_interval=60, heartbeat_interval=None)
    try:
        for _ in range(50):  # each ends before the sender takes it: its start says nothing its end does not
            with telemetry.span("tool_call", tool_name="grep"):
                pass
        assert telemetry.flush()
        assert collector.service.window.steps_opened == 0
        with telemetry.span("llm_call", model="gpt-4o"):
            assert telemetry.flush()
            shown = wait_until(lambda: (row(collector.url, "sdk-agent") or {}).get("in_flight"))
            assert shown["what"] == "llm_call gpt-4o"
        assert telemetry.flush()
        shown = row(collector.url, "sdk-agent")
        assert shown is not None and shown["in_flight"] is None and shown["events"] == 51
        stats = telemetry.stats()
        assert (stats["sent"], stats["rejected"], stats["starts_dropped"]) == (51, 0, 0)
    finally:
        telemetry.close()


def test_a_start_that_finds_the_queue_full_is_counted_apart_from_events(collector: Any) -> None:
    telemetry = AgentTelemetry("full", collector.url, max_queue=1, flush_interval=60, heartbeat_interval=None)
    try:
        with telemetry.span("agent"), telemetry.span("tool_call", tool_name="grep"):
            pass
        stats = telemetry.stats()
        assert (stats["starts_dropped"], stats["dropped"]) == (1, 2), "the outer start filled the queue"
    finally:
        telemetry.close(timeout=1)


def test_a_span_named_after_it_began_starts_with_that_name(collector: Any) -> None:
    telemetry = AgentTelemetry("late", collector.url, flush_interval=60, heartbeat_interval=None)
    try:
        with telemetry.span("llm_call") as span:
            span.set(model="claude-sonnet-4")
            assert telemetry.flush()
            shown = row(collector.url, "late")
            assert shown is not None and shown["in_flight"]["what"] == "llm_call claude-sonnet-4"
    finally:
        telemetry.close(timeout=1)


# ------------------------------------------------------------------------ the window
def test_steps_are_bounded_per_agent_and_expire_when_no_end_comes() -> None:
    clock = Clock()
    window = Window(clock=clock, step_expiry_seconds=600.0)
    window.open_steps(
        Event("a1", NOW, span_id=f"{i:016x}", event_type=EVENT_SPAN_START)
        for i in range(MAX_STEPS_PER_AGENT + 5)
    )
    assert len(window.steps()) == MAX_STEPS_PER_AGENT and window.steps_dropped == 5
    assert window.snapshot().agents[0].in_flight.span_id == f"{MAX_STEPS_PER_AGENT + 4:016x}"  # the newest
    clock.advance(601.0)
    window.snapshot()
    assert window.steps() == [] and window.steps_dropped == MAX_STEPS_PER_AGENT + 5
    assert window.snapshot().agents[0].in_flight is None


def test_an_end_closes_only_its_own_step() -> None:
    clock = Clock()
    window = Window(clock=clock)
    window.open_steps(
        [Event("a1", NOW, span_id="01", event_type=EVENT_SPAN_START, payload={"span_type": "agent"})]
    )
    window.open_steps([Event("a1", NOW, span_id="02", parent_span_id="01", event_type=EVENT_SPAN_START)])
    window.add(Event("a2", NOW, span_type="llm_call", span_id="02"))  # another agent's span of that id
    assert [s.span_id for s in window.steps()] == ["01", "02"]
    clock.advance(5)
    window.add(Event("a1", NOW + 5, span_type="event", span_id="02"))
    (outer,) = window.steps()
    assert (outer.span_id, outer.what, outer.quiet_since) == ("01", "agent", NOW + 5)


# ---------------------------------------------------------------------- stuck rule
def test_stuck_fires_once_past_the_floor_and_resolves_when_the_step_ends(start_collector: Any) -> None:
    clock = Clock()
    collector = start_collector(clock=clock, alerts=AlertSettings(stuck_floor=60.0))
    collector.post([start("a1", "0000000000000001", span_type="tool_call", tool_name="Bash", timestamp=NOW)])
    shown = row(collector.url, "a1")
    assert shown is not None and shown["in_flight"]["stuck"] is False and firing(collector.url) == []

    clock.advance(61.0)  # the collector's own tick loop checks (the limit's edge: the engine tests below)
    (alert,) = wait_until(lambda: firing(collector.url))
    assert (alert["scope"], alert["state"], alert["threshold"]) == (
        "agent:a1/step:0000000000000001",
        ALERT_FIRING,
        60.0,
    )
    assert "tool_call Bash" in alert["message"]
    shown = row(collector.url, "a1")
    assert (
        shown is not None
        and shown["in_flight"]["stuck"] is True
        and shown["in_flight"]["limit_seconds"] == 60.0
    )

    clock.advance(30.0)
    wait_until(lambda: firing(collector.url)[0]["value"] >= 90.0)  # updated in place, not fired again
    history = httpx.get(collector.url + PATH_ALERTS, timeout=10).json()["history"]
    assert [a["state"] for a in history if a["rule"] == RULE_STUCK] == [ALERT_FIRING]

    collector.post(
        [{"agent_id": "a1", "span_type": "tool_call", "span_id": "0000000000000001", "timestamp": NOW + 91}]
    )
    clock.advance(1.0)
    wait_until(lambda: firing(collector.url) == [])
    history = httpx.get(collector.url + PATH_ALERTS, timeout=10).json()["history"]
    assert [a["state"] for a in history if a["rule"] == RULE_STUCK] == [ALERT_RESOLVED, ALERT_FIRING]


def test_the_limit_of_a_model_call_is_three_times_its_usual_p99() -> None:
    clock = Clock()
    ledger = Ledger(clock=clock)
    window = Window(clock=clock)
    engine = AlertEngine(ledger, AlertSettings(stuck_floor=10.0), clock, steps=window.steps)
    ledger.add_many(
        [Event("a1", NOW, "llm_call", model="slow-model", latency_ms=20_000.0) for _ in range(40)]
    )
    engine.tick()
    clock.advance(10.0)
    engine.tick()  # the interval closes: its sketch is the model's latency
    window.open_steps([Event("a1", clock(), span_id="0a", model="slow-model", event_type=EVENT_SPAN_START,
                             payload={"span_type": "llm_call"})])  # fmt: skip
    window.open_steps([Event("a1", clock(), span_id="0b", model="other", event_type=EVENT_SPAN_START,
                             payload={"span_type": "llm_call"})])  # fmt: skip
    clock.advance(30.0)
    changes = stuck(engine.tick())
    assert [a.scope for a in changes] == ["agent:a1/step:0b"], "the floor alone: no timing of that model"
    limits = {step.span_id: step.limit for step in window.steps()}
    assert limits["0a"] == pytest.approx(60.0, rel=0.02) and limits["0b"] == 10.0
    clock.advance(31.0)
    assert [a.scope for a in stuck(engine.tick())] == ["agent:a1/step:0a"]


def test_a_step_waiting_on_a_step_inside_it_is_not_stuck() -> None:
    clock = Clock()
    window = Window(clock=clock)
    engine = AlertEngine(Ledger(clock=clock), AlertSettings(stuck_floor=60.0), clock, steps=window.steps)
    window.open_steps(
        [Event("a1", NOW, span_id="01", event_type=EVENT_SPAN_START, payload={"span_type": "agent"})]
    )
    window.open_steps([Event("a1", NOW, span_id="02", parent_span_id="01", event_type=EVENT_SPAN_START)])
    clock.advance(61.0)
    assert [a.scope for a in stuck(engine.tick())] == ["agent:a1/step:02"]
    window.add(Event("a1", clock(), span_type="event", span_id="02"))
    clock.advance(30.0)
    changes = stuck(engine.tick())
    assert [(a.scope, a.state) for a in changes] == [("agent:a1/step:02", ALERT_RESOLVED)], "quiet 30 s only"


def test_a_stuck_steps_value_moves_once_an_interval() -> None:
    clock = Clock()
    window = Window(clock=clock)
    engine = AlertEngine(Ledger(clock=clock), AlertSettings(stuck_floor=60.0), clock, steps=window.steps)
    window.open_steps([Event("a1", NOW, span_id="01", event_type=EVENT_SPAN_START)])
    clock.advance(61.0)
    (fired,) = stuck(engine.tick())
    clock.advance(5.0)
    assert stuck(engine.tick()) == [] and engine.firing()[0].value == 61.0, "no new snapshot each second"
    clock.advance(5.0)
    engine.tick()
    assert engine.firing()[0].value == 71.0 and fired.value == 61.0


def test_a_coding_agents_thinking_has_a_floor_of_its_own() -> None:
    """One long model answer (no tool, so no hook between its start and end) is not a hang."""
    clock = Clock()
    window = Window(clock=clock)
    engine = AlertEngine(Ledger(clock=clock), AlertSettings(stuck_floor=60.0), clock, steps=window.steps)
    window.open_steps([Event("a1", NOW, span_id="01", event_type=EVENT_SPAN_START,
                             payload={"span_type": "thinking"})])  # fmt: skip
    window.open_steps([Event("a2", NOW, span_id="02", event_type=EVENT_SPAN_START,
                             payload={"span_type": "tool_call"})])  # fmt: skip
    clock.advance(61.0)
    assert [a.scope for a in stuck(engine.tick())] == ["agent:a2/step:02"]
    clock.advance(540.0)
    assert [a.scope for a in stuck(engine.tick())] == ["agent:a1/step:01"]


def test_the_stuck_floor_comes_from_the_config_file() -> None:
    config = parse_config({"alerts": {"stuck": {"floor": 120, "factor": 4, "thinking_floor": 900}}})
    assert (config.alerts.stuck_floor, config.alerts.stuck_factor) == (120.0, 4.0)
    assert config.alerts.stuck_thinking_floor == 900.0
    assert parse_config({"alerts": {"disabled": ["stuck"]}}).alerts.disabled == frozenset({RULE_STUCK})


# -------------------------------------------------------------------- coding agents
def test_a_sessions_running_tool_is_in_flight_on_its_agents_row(collector: Any) -> None:
    session = {"session_id": "d0615065-aaaa-bbbb", "hook_event_name": "PreToolUse", "tool_name": "Bash"}
    answer = httpx.post(f"{collector.url}{PATH_HOOKS}/claude-code", json=session, timeout=10)
    assert answer.status_code == 200
    (listed,) = httpx.get(collector.url + PATH_SESSIONS, timeout=10).json()
    shown = row(collector.url, listed["agent_id"])
    assert shown is not None and shown["in_flight"]["what"] == "tool_call Bash"
    assert shown["in_flight"]["since"] == listed["tool_since"]

    done = session | {"hook_event_name": "Stop"}
    httpx.post(f"{collector.url}{PATH_HOOKS}/claude-code", json=done, timeout=10)
    shown = row(collector.url, listed["agent_id"])
    assert shown is not None and shown["in_flight"] is None


def test_a_working_session_with_no_tool_is_thinking_and_waiting_for_its_user_is_not_in_flight(
    collector: Any,
) -> None:
    """Through a turn's hooks: thinking from the prompt, the tool while it runs, thinking again
    from its end; nothing in flight while the session asks its user or waits for a prompt."""
    clock = collector.service.settings.clock
    base = {"session_id": "d0615065-cccc-dddd"}

    def in_flight() -> dict[str, Any] | None:
        (listed,) = httpx.get(collector.url + PATH_SESSIONS, timeout=10).json()
        shown = row(collector.url, listed["agent_id"])
        return None if shown is None else shown["in_flight"]

    def hook(event: str, **fields: Any) -> dict[str, Any] | None:
        body = base | {"hook_event_name": event, **fields}
        assert (
            httpx.post(f"{collector.url}{PATH_HOOKS}/claude-code", json=body, timeout=10).status_code == 200
        )
        return in_flight()

    assert hook("SessionStart") is None
    before = clock()
    thinking = hook("UserPromptSubmit")
    assert thinking is not None and thinking["what"] == "thinking"
    assert before <= thinking["since"] <= clock() and not thinking["stuck"]
    # The collector's next tick gives the step its stuck limit; compared once that is in.
    thinking = wait_until(
        lambda: (step := in_flight()) is not None and step["limit_seconds"] is not None and step
    )
    assert hook("Notification", notification_type="auth_success") == thinking, "no change: the same step"
    tool = hook("PreToolUse", tool_name="Bash", tool_input={"command": "pytest"})
    assert tool is not None and tool["what"] == "tool_call Bash"
    again = hook("PostToolUse", tool_name="Bash")
    assert again is not None and again["what"] == "thinking" and again["since"] >= tool["since"]
    assert hook("PermissionRequest", tool_name="Edit") is None, "asking its user is no step in flight"
    assert hook("PostToolUse", tool_name="Edit")["what"] == "thinking"  # type: ignore[index]
    assert hook("Stop") is None
    assert httpx.get(collector.url + PATH_HEALTH, timeout=10).json()["steps_in_flight"] == 0
