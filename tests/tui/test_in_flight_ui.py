"""The agents table's activity column while a step is in flight: its timer moves with the clock,
a stuck step says so, and the span's end puts back what the agent did last."""

from __future__ import annotations

from typing import Any

from agentwatch.collector.config import AlertSettings
from agentwatch.protocol import EVENT_SPAN_START
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.widgets import AgentTable
from tests.helpers import Clock, async_wait_until, screen_text, table_row

SIZE = (120, 30)


async def test_the_activity_cell_times_a_step_in_flight_then_shows_it_stuck(start_collector: Any) -> None:
    clock = Clock()
    collector = start_collector(clock=clock, alerts=AlertSettings(stuck_floor=60.0))
    span = {"agent_id": "a1", "span_id": "00000000000000aa", "model": "gpt-4o"}
    other = {"agent_id": "a2", "span_type": "log", "message": "idle"}
    answer = await collector.apost(
        [
            span
            | {"event_type": EVENT_SPAN_START, "payload": {"span_type": "llm_call"}, "timestamp": clock()},
            other,
        ]
    )
    assert answer.status_code == 202
    app = AgentWatchApp(url=collector.url, clock=clock, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "⟳ 0s llm_call gpt-4o" in table_row(app, "a1"), pilot=pilot)
        quiet = table_row(app, "a2")
        clock.advance(12.0)
        await async_wait_until(lambda: "⟳ 12s llm_call gpt-4o" in table_row(app, "a1"), pilot=pilot)
        assert table_row(app, "a2").replace("12s ago", "0s ago") == quiet, "only the timer moved"

        clock.advance(60.0)
        await async_wait_until(lambda: "⚠ stuck 1m 12s llm_call gpt-4o" in table_row(app, "a1"), pilot=pilot)
        table = app.query_one(AgentTable)
        assert "yellow" in str(table.get_cell("a1", "activity").style)
        await async_wait_until(lambda: "1m 12s > 1m 00s" in screen_text(app), pilot=pilot)  # the alerts panel

        end = span | {"span_type": "llm_call", "latency_ms": 72_000.0, "timestamp": clock()}
        await collector.apost([end])
        await async_wait_until(lambda: table_row(app, "a1").endswith("| llm_call gpt-4o"), pilot=pilot)
