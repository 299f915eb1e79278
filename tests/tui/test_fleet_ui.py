"""The viewer over three collectors as one fleet: one is killed while it watches, the rest stay live, the
dead one is marked in the header, and it rejoins (real collectors on 127.0.0.1, real app under Pilot)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from agentwatch.protocol import PATH_EVENTS
from agentwatch.retry import Backoff
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.fleetview import short_name
from tests.helpers import (
    CollectorProcess,
    RunningCollector,
    async_wait_until,
    header,
    log_lines,
    store_has_written,
    table_row,
)

SIZE = (160, 40)
TIMEOUT = 20.0


def llm_call(agent: str, latency_ms: float) -> dict[str, Any]:
    return {
        "agent_id": agent,
        "span_type": "llm_call",
        "latency_ms": latency_ms,
        "message": f"{agent} called",
    }


async def post(url: str, events: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(url + PATH_EVENTS, json=events)).status_code == 202


def fast_backoff() -> Backoff:
    return Backoff(base=0.05, factor=1.5, cap=0.3, jitter=(0.5, 1.0))


async def test_one_of_three_collectors_killed_the_rest_stay_live_it_is_marked_and_rejoins(
    start_collector: Callable[..., RunningCollector],
    start_collector_process: Callable[..., CollectorProcess],
    tmp_path: Path,
) -> None:
    first, second = start_collector(), start_collector()
    third = start_collector_process("--store", str(tmp_path / "third.db"))
    urls = [first.url, second.url, third.url]
    for index, url in enumerate(urls):
        await post(url, [llm_call(f"agent-{index}", 100.0 * (index + 1))] * 4)
    app = AgentWatchApp(url=urls[0], urls=urls, fps=20)
    assert app.fleet_feed is not None
    app.fleet_feed.follower.backoff = fast_backoff
    async with app.run_test(size=SIZE) as pilot:
        # "3 collectors" is also in "2/3 collectors · down …": wait for all three.
        await async_wait_until(
            lambda: "● live" in header(app) and "3 collectors" in header(app) and "down" not in header(app),
            TIMEOUT,
            pilot=pilot,
        )
        for index in range(3):
            await async_wait_until(
                lambda i=index: "agent-" in table_row(app, f"agent-{i}"), TIMEOUT, pilot=pilot
            )
        await async_wait_until(
            lambda: app.state.fleet is not None and app.state.fleet.events == 12, pilot=pilot
        )
        layout = app.agent_table.layout_shown
        assert layout is not None and "collector" in layout.columns  # several collectors: the column shows
        for index, url in enumerate(urls):
            await async_wait_until(
                lambda i=index, u=url: short_name(u) in table_row(app, f"agent-{i}"), pilot=pilot
            )

        # Its events are in its store before it is killed, so that they come back with it.
        await async_wait_until(lambda: store_has_written(third.url, 4), TIMEOUT, pilot=pilot)
        third.kill9()
        dead = short_name(third.url)
        await async_wait_until(lambda: f"2/3 collectors · down {dead}" in header(app), TIMEOUT, pilot=pilot)
        assert "● live" in header(app)  # the others are
        await post(first.url, [llm_call("agent-late", 50.0)])
        await async_wait_until(lambda: "agent-late" in table_row(app, "agent-late"), TIMEOUT, pilot=pilot)
        await async_wait_until(
            lambda: any("agent-late called" in line for line in log_lines(app)), pilot=pilot
        )
        assert app.state.fleet is not None and app.state.fleet.events == 9  # the dead one's are left out

        third.restart()
        await async_wait_until(
            lambda: "down" not in header(app) and "3 collectors" in header(app), TIMEOUT, pilot=pilot
        )
        await async_wait_until(
            lambda: app.state.fleet is not None and app.state.fleet.events == 13, TIMEOUT, pilot=pilot
        )
        assert app.is_running


async def test_one_collector_shows_no_collector_column(collector: RunningCollector) -> None:
    await post(collector.url, [llm_call("solo", 10.0)])
    app = AgentWatchApp(url=collector.url, urls=[collector.url], fps=20)
    assert app.fleet_feed is None
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "solo" in table_row(app, "solo"), TIMEOUT, pilot=pilot)
        layout = app.agent_table.layout_shown
        assert layout is not None and "collector" not in layout.columns
        assert short_name(collector.url) not in table_row(app, "solo")
