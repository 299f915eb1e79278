"""A coding-agent session on screen: the work its program's metrics tell, beside its tokens."""

from __future__ import annotations

import time
from typing import Any

import httpx

from agentwatch.protocol import PATH_OTLP_METRICS
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.widgets import AgentTable
from tests.helpers import async_wait_until, header, table_row

SIZE = (140, 36)
SESSION = "b5718465-96b0-40c9-9ca9-53c3dd0375fc"
AGENT = "claude-code·b5718465"


def attribute(key: str, value: Any) -> dict[str, Any]:
    kind = "stringValue" if isinstance(value, str) else "asInt"
    return {"key": key, "value": {kind: value}}


def claude_metrics(now_ns: int) -> dict[str, Any]:
    """A Claude Code metrics export as the CLI sends it (delta sums, session.id on each point)."""

    def point(value: float, **attributes: str) -> dict[str, Any]:
        return {
            "startTimeUnixNano": str(now_ns - 10**9),
            "timeUnixNano": str(now_ns),
            "asDouble": value,
            "attributes": [attribute("session.id", SESSION)]
            + [attribute(k, v) for k, v in attributes.items()],
        }

    def total(name: str, unit: str, *points: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "unit": unit,
            "sum": {"aggregationTemporality": 1, "isMonotonic": True, "dataPoints": list(points)},
        }

    metrics = [
        total("claude_code.lines_of_code.count", "", point(42, type="added"), point(7, type="removed")),
        total("claude_code.active_time.total", "s", point(252.5, type="cli")),
        total("claude_code.commit.count", "", point(2)),
    ]
    resource = {"attributes": [attribute("service.name", "claude-code")]}
    return {
        "resourceMetrics": [
            {"resource": resource, "scopeMetrics": [{"scope": {"name": "x"}, "metrics": metrics}]}
        ]
    }


async def test_drilled_into_a_session_the_header_shows_its_work(collector: Any) -> None:
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await collector.apost(
            {"agent_id": AGENT, "span_type": "llm_call", "tokens_output": 5, "latency_ms": 10}
        )
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(collector.url + PATH_OTLP_METRICS, json=claude_metrics(time.time_ns()))
        assert answer.status_code == 200, answer.text
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: AGENT in table.row_agents(), pilot=pilot)
        assert "lines" not in header(app), "the fleet view names no session's work"
        table.focus()
        table.move_cursor(row=table.row_agents().index(AGENT))
        await pilot.press("enter")
        await async_wait_until(lambda: "+42 −7 lines" in header(app), pilot=pilot)
        assert "active 4m 12s · 2 commits" in header(app)


async def test_a_model_with_no_price_shows_no_price_not_zero_dollars(collector: Any) -> None:
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await collector.apost(
            [
                {"agent_id": "unpriced", "span_type": "llm_call", "model": "mystery-9", "tokens_input": 900},
                {"agent_id": "priced", "span_type": "llm_call", "model": "gpt-4o", "tokens_input": 900},
            ]
        )
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: {"unpriced", "priced"} <= set(table.row_agents()), pilot=pilot)
        await async_wait_until(lambda: "no price" in table_row(app, "unpriced"), pilot=pilot)
        assert "$0.00" not in table_row(app, "unpriced")
        assert "$0.0022" in table_row(app, "priced") and "no price" not in table_row(app, "priced")


async def test_a_live_screenshot_shows_the_running_collectors_agents(collector: Any, tmp_path: Any) -> None:
    from agentwatch.tui.screenshots import save_live

    await collector.apost(
        {"agent_id": AGENT, "span_type": "llm_call", "tokens_output": 5, "message": "hello"}
    )
    path = await save_live(collector.url, tmp_path, "live.svg", None, settle=0.2)
    drawn = path.read_text()
    assert path.name == "live.svg" and "claude-code·b5718465" in drawn.replace("&#160;", " ")


def test_the_log_column_keeps_the_session_id_of_a_long_agent_id() -> None:
    from agentwatch.tui.formatting import AGENT_WIDTH, agent_column

    assert agent_column("claude-code·d0615065") == "claud…d0615065"
    assert agent_column("claude-code·a83241b4") != agent_column("claude-code·d0615065")
    assert agent_column("planner-01") == "planner-01".ljust(AGENT_WIDTH)
    assert len(agent_column("x" * 300 + "\x1b[31m")) == AGENT_WIDTH


async def test_drilled_into_a_session_the_header_says_where_it_runs(collector: Any) -> None:
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        where = {"terminal.type": "vscode", "user.email": "ada@example.com", "session.id": SESSION}
        await collector.apost(
            {"agent_id": AGENT, "span_type": "llm_call", "tokens_output": 5, "attributes": where}
        )
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: AGENT in table.row_agents(), pilot=pilot)
        table.focus()
        table.move_cursor(row=table.row_agents().index(AGENT))
        await pilot.press("enter")
        await async_wait_until(lambda: "terminal vscode · user ada@example.com" in header(app), pilot=pilot)
