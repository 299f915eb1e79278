"""The viewer over several collectors asks each question of the collector that holds the answer: an
agent's analysis and a trace go to the collector of that agent's rows, the time scrub's lines come from
every collector merged by time, and an acknowledgement goes to the collector that raised the alert (real
collectors on 127.0.0.1, the real app under Pilot); ``!`` bundles every collector."""

from __future__ import annotations

import math
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from agentwatch.client.fleetbundle import collector_folder
from agentwatch.collector.config import AlertSettings
from agentwatch.protocol import PATH_ALERTS, VIEW_COSTS, AlertsResponse
from agentwatch.tui.alerts import AlertsPanel
from agentwatch.tui.analysis import AnalysisScreen
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.fleetview import FLEET_LATENCY_TITLE, LATENCY_TITLE
from agentwatch.tui.waterfall import WaterfallScreen
from tests.helpers import RunningCollector, async_wait_until, entry_lines, header, screen_text, table_row

SIZE = (140, 36)
TIMEOUT = 20.0
QUICK = AlertSettings(interval=0.5, silent_after=1.5, silent_min_events=1, fire_after=1)


def call(agent: str, model: str, trace: str, span: str, parent: str | None = None) -> dict[str, Any]:
    return {
        "agent_id": agent,
        "span_type": "llm_call",
        "model": model,
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "tokens_input": 1000,
        "tokens_output": 100,
        "latency_ms": 300.0,
        "message": f"{agent} {span}",
    }


def costs_by_model(app: AgentWatchApp) -> list[str] | None:
    screen = app.screen
    if (
        not isinstance(screen, AnalysisScreen)
        or screen.analysis is None
        or screen.analysis.view != VIEW_COSTS
    ):
        return None
    return screen.table_texts().get("Cost by model") or None


async def test_an_agents_analysis_and_trace_come_from_its_own_collector(start_collector) -> None:
    first, second = start_collector(), start_collector()
    assert first.post([call("alpha", "gpt-4o", "ta-1", "a1")]).status_code == 202
    assert second.post([call("beta", "claude-x", "tb-1", "b2", "b1"), call("beta", "claude-x", "tb-1", "b1")]).status_code == 202  # fmt: skip
    app = AgentWatchApp(url=first.url, urls=[first.url, second.url], fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "beta" in table_row(app, "beta"), TIMEOUT, pilot=pilot)
        # Both send their seconds' sketches: the p99 sparkline is the merged one, not an upper bound.
        await async_wait_until(
            lambda: LATENCY_TITLE in screen_text(app) and FLEET_LATENCY_TITLE not in screen_text(app),
            pilot=pilot,
        )
        app.drill_into("beta")
        await pilot.press("1")
        rows = await async_wait_until(lambda: costs_by_model(app), TIMEOUT, pilot=pilot)
        assert [row.split("  ")[0] for row in rows] == ["claude-x"]
        await pilot.press("escape")

        await async_wait_until(
            lambda: any(line.endswith("beta b1") for line in entry_lines(app)), pilot=pilot
        )
        app.open_trace("tb-1")  # as the line detail's key and W do
        screen = await async_wait_until(
            lambda: isinstance(app.screen, WaterfallScreen) and len(app.screen.rows) == 2 and app.screen,
            TIMEOUT,
            pilot=pilot,
        )
        assert screen.url == second.url


async def test_the_scrubbed_seconds_lines_come_from_every_collector_merged_by_time(start_collector) -> None:
    first, second = start_collector(), start_collector()
    spike = math.floor(time.time()) - 20

    def burst(agent: str, offset: float) -> list[dict[str, Any]]:
        return [
            {"agent_id": agent, "span_type": "log", "level": "info", "message": f"{agent} {i}",
             "timestamp": spike + offset + 0.02 * i}
            for i in range(15)
        ]  # fmt: skip

    assert first.post(burst("alpha", 0.0)).status_code == 202
    assert second.post(burst("beta", 0.01)).status_code == 202
    app = AgentWatchApp(url=first.url, urls=[first.url, second.url], fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:

        def spike_held() -> bool:
            fleet = app.state.fleet
            if fleet is None or not fleet.history.events_per_second:
                return False
            at = len(fleet.history.events_per_second) - 1 - (int(fleet.history.end) - spike)
            return 0 <= at and fleet.history.events_per_second[at] >= 30

        await async_wait_until(spike_held, TIMEOUT, pilot=pilot)
        await pilot.press("less_than_sign")
        await async_wait_until(lambda: "30 lines" in header(app), TIMEOUT, pilot=pilot)
        shown = [line.rsplit(" ", 2)[-2:] for line in entry_lines(app) if "alpha " in line or "beta " in line]
        expected = [[agent, str(i)] for i in range(15) for agent in ("alpha", "beta")]
        assert shown == expected  # both collectors' lines, interleaved by their time stamps


async def collector_alerts(running: RunningCollector) -> list[Any]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(running.url + PATH_ALERTS, headers=running.headers())
    return msgspec.json.decode(response.content, type=AlertsResponse).firing


async def test_an_acknowledgement_goes_to_the_collector_that_raised_the_alert(start_collector) -> None:
    first, second = start_collector(), start_collector(alerts=QUICK)
    app = AgentWatchApp(url=first.url, urls=[first.url, second.url], fps=20, viewer_name="ana")
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "2 collectors" in header(app), TIMEOUT, pilot=pilot)
        await second.apost([{"agent_id": "gone-1", "span_type": "log", "message": "bye"}])
        panel = app.query_one(AlertsPanel)
        await async_wait_until(lambda: "silent_agent" in panel.plain, TIMEOUT, pilot=pilot)
        await pilot.press("K")
        await async_wait_until(lambda: "ack by ana" in panel.plain, TIMEOUT, pilot=pilot)
        [kept] = await collector_alerts(second)
        assert kept.acked_by == "ana"
        assert await collector_alerts(first) == []


async def test_the_bang_key_bundles_every_collector_in_a_folder_of_its_own(
    start_collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = start_collector(), start_collector()
    assert first.post([call("alpha", "gpt-4o", "ta-1", "a1")]).status_code == 202
    assert second.post([call("beta", "claude-x", "tb-1", "b1")]).status_code == 202
    app = AgentWatchApp(url=first.url, urls=[first.url, second.url], fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: len(entry_lines(app)) == 2, TIMEOUT, pilot=pilot)
        await pilot.press("exclamation_mark")
        told = await async_wait_until(
            lambda: [
                n.message for n in app._notifications if n.message.startswith("Incident bundle written: ")
            ],
            TIMEOUT,
            pilot=pilot,
        )
    path = Path(told[0].removeprefix("Incident bundle written: "))
    folders = [collector_folder(first.url), collector_folder(second.url)]
    assert {p.name for p in path.iterdir()} == {*folders, "summary.md", "screen.svg", "logs-on-screen.txt"}
    assert "beta b1" in (path / folders[1] / "logs.ndjson").read_text()
    assert "alpha a1" in (path / folders[0] / "logs.ndjson").read_text()
    assert "- Log lines: 2" in (path / "summary.md").read_text()
