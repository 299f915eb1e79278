"""Analysis screens against a real collector: each opens with its key, shows the collector's
rows, switches with 1-4, closes with Esc; Failures groups by a picked attribute key; a
collector without the route or out of reach is a status line, not a crash."""

from __future__ import annotations

from typing import Any

import pytest

from agentwatch.collector.config import AlertSettings
from agentwatch.protocol import VIEW_COSTS, VIEW_DECISIONS, VIEW_FAILURES, VIEW_LATENCY, Analysis
from agentwatch.tui.analysis import UNAVAILABLE, AnalysisScreen, AttributePicker, sparkline
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screenshots import NOW, demo_app
from tests.helpers import async_wait_until
from tests.sseserver import SSEServer, Status

SIZE = (120, 36)


def fleet_events() -> list[dict[str, Any]]:
    """Two agents, two models, a decision per trace, timeouts on one model, a region attribute."""
    events: list[dict[str, Any]] = []
    for i in range(12):
        agent = "planner-01" if i % 2 == 0 else "coder-03"
        model = "gpt-4o" if i % 3 else "claude-sonnet-4"
        trace = f"t{i}"
        events.append(
            {"agent_id": agent, "trace_id": trace, "span_type": "decision", "decision_made": "delegate",
             "confidence": 0.8}
        )  # fmt: skip
        call: dict[str, Any] = {
            "agent_id": agent, "trace_id": trace, "span_type": "llm_call", "model": model,
            "tokens_input": 1000, "tokens_output": 200, "latency_ms": 400.0 + 10 * i,
            "attributes": {"region": "eu" if i % 2 else "us"},
        }  # fmt: skip
        if model == "claude-sonnet-4":
            call["error"] = "Timeout: upstream did not answer"
        events.append(call)
    return events


def analysis_screen(app: AgentWatchApp) -> AnalysisScreen | None:
    screen = app.screen
    return screen if isinstance(screen, AnalysisScreen) else None


async def shown(pilot: Any, app: AgentWatchApp, view: str, heading: str) -> list[str]:
    """Wait until the open analysis screen shows ``view`` with rows under ``heading``."""

    def rows() -> list[str] | None:
        screen = analysis_screen(app)
        if screen is None or screen.analysis is None or screen.analysis.view != view:
            return None
        return screen.table_texts().get(heading) or None

    return await async_wait_until(rows, pilot=pilot)


@pytest.fixture
def fed_collector(collector):
    assert collector.post(fleet_events()).status_code == 202
    return collector


async def test_keys_1_to_4_open_each_view_with_the_collectors_rows_and_escape_closes(fed_collector):
    app = AgentWatchApp(url=fed_collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        by_model = await shown(pilot, app, VIEW_COSTS, "Cost by model")
        assert {row.split("  ")[0] for row in by_model} == {"gpt-4o", "claude-sonnet-4"}
        assert all("$" in row and "%" in row for row in by_model)
        by_agent = await shown(pilot, app, VIEW_COSTS, "Cost by agent")
        assert {row.split("  ")[0] for row in by_agent} == {"planner-01", "coder-03"}
        await pilot.press("2")
        decisions = await shown(pilot, app, VIEW_DECISIONS, "Decisions of planner-01")
        assert decisions[0].startswith("delegate    6  100.0 %  0.80")
        await pilot.press("3")
        latency = await shown(
            pilot,
            app,
            VIEW_LATENCY,
            f"Latency per model over the last {AlertSettings().latency_window:g} s, against its baseline",
        )
        keys = {row.split("  ")[0] for row in latency}
        assert {"fleet", "gpt-4o"} <= keys
        await pilot.press("4")
        by_type = await shown(pilot, app, VIEW_FAILURES, "Errors by error type")
        assert by_type == ["Timeout  4  4  —  100.0 %"]
        by_model = await shown(pilot, app, VIEW_FAILURES, "Errors by model")
        assert by_model[0].startswith("claude-sonnet-4  4  4  100.0 %")
        assert len(app.screen_stack) == 2  # switching replaced the view, it did not stack screens
        await pilot.press("escape")
        await async_wait_until(lambda: analysis_screen(app) is None, pilot=pilot)


async def test_k_on_failures_groups_by_a_picked_or_typed_attribute_key(fed_collector):
    app = AgentWatchApp(url=fed_collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: len(app.state.buffer) >= 24, pilot=pilot)  # keys come from the log
        await pilot.press("4")
        await shown(pilot, app, VIEW_FAILURES, "Errors by error type")
        await pilot.press("k")
        picker = await async_wait_until(
            lambda: isinstance(app.screen, AttributePicker) and app.screen, pilot=pilot
        )
        assert picker._keys == ["region"]
        await pilot.press("tab", "enter")  # from the input box into the list: the first key
        rows = await shown(pilot, app, VIEW_FAILURES, "Errors by attribute region")
        screen = analysis_screen(app)
        assert screen is not None and screen.attribute == "region"
        assert sorted(rows) == [
            "(none)  0  12  0.0 %  0.0 %",
            "eu  2  6  33.3 %  50.0 %",
            "us  2  6  33.3 %  50.0 %",
        ]
        await pilot.press("k")  # a typed key works too; empty drops the section
        await async_wait_until(lambda: isinstance(app.screen, AttributePicker), pilot=pilot)
        await pilot.press("ctrl+u", *"tier", "enter")
        rows = await shown(pilot, app, VIEW_FAILURES, "Errors by attribute tier")
        assert rows == ["(none)  4  24  16.7 %  100.0 %"]


async def test_drilled_into_an_agent_the_screen_asks_for_that_agent(fed_collector):
    app = AgentWatchApp(url=fed_collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        app.drill_into("coder-03")
        await pilot.press("1")
        by_agent = await shown(pilot, app, VIEW_COSTS, "Cost by agent")
        assert [row.split("  ")[0] for row in by_agent] == ["coder-03"]
        screen = analysis_screen(app)
        assert screen is not None and screen.analysis is not None and screen.analysis.agent == "coder-03"


async def test_collector_without_the_route_says_not_available():
    with SSEServer(otherwise=Status(404, "not found")) as server:
        app = AgentWatchApp(url=server.url, connect=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.push_screen(AnalysisScreen(VIEW_COSTS, url=server.url, refresh_seconds=0.2))
            screen = await async_wait_until(lambda: analysis_screen(app), pilot=pilot)
            await async_wait_until(lambda: screen.fetches >= 2, pilot=pilot)
            assert screen.error == UNAVAILABLE
            assert screen.analysis is None


async def test_unreachable_collector_is_a_status_line_and_the_screen_stays_usable():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.push_screen(AnalysisScreen(VIEW_LATENCY, url="http://127.0.0.1:9", refresh_seconds=0.2))
        screen = await async_wait_until(lambda: analysis_screen(app), pilot=pilot)
        await async_wait_until(lambda: screen.error is not None, pilot=pilot)
        assert screen.error.startswith("cannot reach http://127.0.0.1:9")
        await pilot.press("2")
        assert screen.view == VIEW_DECISIONS
        await pilot.press("escape")
        await async_wait_until(lambda: analysis_screen(app) is None, pilot=pilot)


async def test_missing_fields_show_a_dash_and_sampled_data_is_marked_approximate():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("1")  # connect=False: nothing is fetched, the screen is fed directly
        screen = await async_wait_until(lambda: analysis_screen(app), pilot=pilot)
        raw = (
            b'{"view":"costs","timestamp":%d,"sampled":true,"future_field":1,'
            b'"sections":[{"name":"model","rows":[{"key":"gpt-4o","inferences":10}]}]}' % NOW
        )
        import msgspec

        screen.show(msgspec.json.decode(raw, type=Analysis))
        await pilot.pause()
        assert screen.table_texts()["Cost by model"] == ["gpt-4o  ≈10  —  —  —  —"]


def test_sparkline_scales_between_min_and_max():
    assert sparkline([1.0, 2.0, 3.0]) == "▁▅█"
    assert sparkline([2.0, 2.0]) == "▁▁"
    assert sparkline([]) == ""
