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


async def test_frames_that_find_nothing_to_move_wait_for_the_next_second_and_data_wakes_them() -> None:
    """An idle viewer draws about once a second (its clock), not ``fps`` times; a line arriving
    then is drawn within one frame interval, not at the next second."""
    from agentwatch.protocol import LogEntry
    from tests.helpers import log_lines

    now = 1_000.0  # a frozen clock on a whole second: an idle frame waits a whole second for the next
    app = AgentWatchApp(url="http://127.0.0.1:9", fps=20, connect=False, clock=lambda: now)
    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_until(lambda: app._frame_timer is not None and app._frame_wait > 0.9, pilot=pilot)
        before = app.frames
        await pilot.pause(1.5)  # 30 frames at fps=20; idle: one or two
        assert app.frames - before <= 3
        assert app._frame_timer is not None and app._frame_wait > 0.9
        app.state.add_log_entries(
            [LogEntry(timestamp=now, agent_id="planner-01", level="info", message="woke")]
        )
        assert app._frame_timer is not None and app._frame_wait <= app.frame_interval
        await async_wait_until(lambda: any(line.endswith("woke") for line in log_lines(app)), pilot=pilot)
        await async_wait_until(lambda: app._frame_wait > 0.9, pilot=pilot)  # idle again
