"""The viewer on a delta metrics stream: it asks for deltas, and its panels, table and sparklines
follow them as they followed whole snapshots. A real collector on 127.0.0.1 whose clock and
ticks the test moves."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TypeVar

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.widgets import AgentTable, MetricPanel
from tests.helpers import NOW, Clock, RunningCollector, async_wait_until, screen_text

SIZE = (120, 36)
T = TypeVar("T")


async def in_loop(loop: asyncio.AbstractEventLoop, call: Callable[[], T]) -> T:
    """``call()`` run in the collector's event loop (its state is that loop's alone)."""

    async def run() -> T:
        return call()

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))


async def test_the_viewer_follows_deltas_panels_update_and_sparklines_move(
    start_collector: Callable[..., RunningCollector],
) -> None:
    clock = Clock(NOW)
    running = start_collector(clock=clock, ticks_per_second=1e-4)  # ticks come from the test alone
    loop = running.service._tick_task.get_loop()
    app = AgentWatchApp(url=running.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        state = app.state
        await async_wait_until(lambda: state.fleet is not None, pilot=pilot)
        tokens = app.query_one("#m-tokens", MetricPanel)
        table = app.query_one(AgentTable)
        seen_series: list[list[float]] = []
        for step in range(1, 9):
            clock.advance(1.0)
            agents = ["alpha"] if step < 5 else ["alpha", "gamma"]  # a row appears half way
            await running.apost(
                [
                    {
                        "agent_id": name,
                        "timestamp": clock.now,
                        "span_type": "llm_call",
                        "tokens_output": 100 * step,
                    }
                    for name in agents
                ]
            )
            loop.call_soon_threadsafe(running.service.tick)
            now = clock.now
            await async_wait_until(
                lambda now=now: state.fleet is not None and state.fleet.timestamp == now, pilot=pilot
            )
            await async_wait_until(
                lambda step=step: tokens.series[-1:] == [100.0 * step * (1 + (step >= 5))], pilot=pilot
            )
            seen_series.append(tokens.series)
        assert state.metrics_frames.deltas >= 7 and state.metrics_frames.missed == 0
        assert all(a != b for a, b in itertools.pairwise(seen_series))  # it moved every second
        assert seen_series[-1][-3:] == [1200.0, 1400.0, 1600.0]  # the newest second appended, older ones kept
        await async_wait_until(lambda: set(table.row_agents()) == {"alpha", "gamma"}, pilot=pilot)
        expected = state.fleet
        assert expected is not None
        whole = await in_loop(loop, lambda: running.service.snapshot(None))  # the collector's own view
        assert whole.history == expected.history and whole.agents == expected.agents
        assert "gamma" in screen_text(app)
