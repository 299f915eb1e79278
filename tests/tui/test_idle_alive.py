"""An idle fleet is not a dead connection: the viewer keeps getting frames and never reads stale."""

from __future__ import annotations

from typing import Any

from agentwatch.tui.app import AgentWatchApp
from tests.helpers import async_wait_until, header


async def test_a_viewer_of_an_idle_collector_keeps_getting_frames_and_is_not_stale(collector: Any) -> None:
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_until(lambda: app.state.last_snapshot_at is not None, pilot=pilot)
        first = app.state.last_snapshot_at
        assert first is not None
        # nothing is sent to the collector: its snapshot never changes, yet a frame comes within seconds
        await async_wait_until(
            lambda: (app.state.last_snapshot_at or 0.0) >= first + 1.5, timeout=10, pilot=pilot
        )
        assert "stale" not in header(app)
