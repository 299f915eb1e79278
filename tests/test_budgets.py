"""Cost budgets from the config file: per agent (a session) and per program per UTC day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from agentwatch.collector.budgets import Budgets, BudgetWatch
from agentwatch.collector.config import ConfigError, parse_config
from agentwatch.protocol import ALERT_FIRING, ALERT_RESOLVED, PATH_ALERTS, PATH_EVENTS, PATH_SNAPSHOT, Event
from tests.helpers import NOW, Clock


def spend(agent: str, usd: float | None = None, **fields: Any) -> Event:
    return Event(agent, NOW, span_type="llm_call", cost_usd=usd, **fields)


def test_a_session_over_its_budget_fires_once_and_turns_critical_far_over() -> None:
    watch = BudgetWatch(Budgets(session_usd=1.0), clock=Clock())
    watch.add_many([spend("claude-code·aaaa1111", 0.6), spend("claude-code·bbbb2222", 0.2)])
    assert watch.check() == []
    watch.add_many([spend("claude-code·aaaa1111", 0.6)])
    (alert,) = watch.check()
    assert (alert.rule, alert.scope, alert.state, alert.severity) == (
        "budget",
        "agent:claude-code·aaaa1111",
        ALERT_FIRING,
        "warning",
    )
    assert (
        alert.value == pytest.approx(1.2)
        and alert.threshold == 1.0
        and "over the $1.00 budget" in alert.message
    )
    assert watch.check() == [], "told once"
    watch.add_many([spend("claude-code·aaaa1111", 0.5)])
    (worse,) = watch.check()
    assert worse.severity == "critical"
    assert [a.scope for a in watch.firing("claude-code·aaaa1111")] == ["agent:claude-code·aaaa1111"]
    assert watch.firing("claude-code·bbbb2222") == []


def test_a_programs_day_resolves_when_the_day_ends_and_counts_estimates() -> None:
    clock = Clock()
    clock.now = 86_400 * 20_000 + 3_600.0  # 01:00 UTC
    watch = BudgetWatch(Budgets(daily_usd={"codex": 0.002}), clock=clock)
    # no cost sent: estimated from the price table, as the window counts it
    watch.add_many([spend("codex·1234abcd", model="gpt-4o", tokens_input=1000), spend("other", 5.0)])
    (alert,) = watch.check()
    assert alert.scope == "program:codex" and alert.value == pytest.approx(0.0025)
    clock.now += 86_400
    (resolved,) = watch.check()
    assert (resolved.state, resolved.scope) == (ALERT_RESOLVED, "program:codex")
    assert watch.firing() == []


def test_bad_values_and_no_budgets_cost_nothing() -> None:
    idle = BudgetWatch(Budgets(), clock=Clock())
    idle.add_many([spend("a", 99.0)])
    assert idle.check() == [] and idle.firing() == []
    watch = BudgetWatch(Budgets(session_usd=1.0), clock=Clock())
    watch.add_many([spend("a", float("nan")), spend("a", 1e300), spend("a", -5.0)])
    assert watch.check() == []


def test_the_config_file_sets_them_and_refuses_bad_ones() -> None:
    config = parse_config({"budgets": {"session_usd": 5, "daily_usd": {"claude-code": 20.0}}})
    assert config.budgets == Budgets(session_usd=5.0, daily_usd={"claude-code": 20.0})
    for bad, complaint in (
        ({"session_usd": -1}, "finite number >= 0"),
        ({"monthly_usd": 3}, "unknown key"),
        ({"daily_usd": {"codex": "lots"}}, "expected a number"),
        ({"daily_usd": 3}, "expected a table"),
    ):
        with pytest.raises(ConfigError, match=complaint):
            parse_config({"budgets": bad})


def test_serve_raises_a_budget_alert_seen_in_alerts_and_snapshots(
    tmp_path: Path, start_collector_process: Any
) -> None:
    config = tmp_path / "agentwatch.toml"
    config.write_text("[budgets]\nsession_usd = 0.5\n[budgets.daily_usd]\nclaude-code = 100.0\n")
    collector = start_collector_process("--no-store", "--config", str(config), "--tick", "20")
    events = [
        {"agent_id": "claude-code·d0615065", "span_type": "llm_call", "cost_usd": 0.3} for _ in range(2)
    ]
    assert httpx.post(collector.url + PATH_EVENTS, json=events, timeout=10).status_code == 202

    def firing() -> list[dict[str, Any]]:
        return httpx.get(collector.url + PATH_ALERTS, timeout=10).json()["firing"]

    from tests.helpers import wait_until

    wait_until(lambda: any(a["rule"] == "budget" for a in firing()), timeout=10)
    (alert,) = [a for a in firing() if a["rule"] == "budget"]
    assert alert["scope"] == "agent:claude-code·d0615065" and alert["threshold"] == 0.5
    history = httpx.get(collector.url + PATH_ALERTS, timeout=10).json()["history"]
    assert any(a["id"] == alert["id"] for a in history)
    snapshot = httpx.get(
        collector.url + PATH_SNAPSHOT, params={"agent": "claude-code·d0615065"}, timeout=10
    ).json()
    assert [a["rule"] for a in snapshot["alerts"]] == ["budget"]
