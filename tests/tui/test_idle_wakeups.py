"""An idle viewer wakes as seldom as it can: one timer (the frames'), one frame a second, one sample a second."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from agentwatch.protocol import LogEntry
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.pacing import paint_due_in
from agentwatch.tui.selfcost import PUBLISH_SECONDS, SAMPLE_SECONDS, SelfCostFile
from agentwatch.tui.state import DIRTY_AGENTS
from tests.helpers import async_wait_until, log_lines

SIZE = (120, 36)


def running_timers(app: AgentWatchApp) -> list[str]:
    """The names of the timers still due to fire, of the app and of every node of every screen."""
    nodes: list[Any] = [app]
    for screen in app.screen_stack:
        nodes.extend(screen.walk_children(with_self=True))
    return sorted(timer.name for node in nodes for timer in node._timers if timer._task is not None)


def is_idle(app: AgentWatchApp) -> bool:
    """The frame timer waits for the clock's next second."""
    return app._frame_timer is not None and app._frame_wait > 0.9


async def test_an_idle_viewer_runs_one_timer_the_frames_which_also_take_the_self_cost_sample() -> None:
    clock = [1_000.0]
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, clock=lambda: clock[0])
    async with app.run_test(size=SIZE) as pilot:
        # (Once the last frame's paint is written. Neither the frames' wait nor a paint's is a
        # Textual timer: they are event-loop callbacks, so none is left running.)
        await async_wait_until(lambda: is_idle(app) and running_timers(app) == [], pilot=pilot)
        assert app.self_cost.meter.last is None  # the clock's second has not moved yet
        clock[0] += 1.0
        app.state.add_log_entries([LogEntry(timestamp=clock[0], agent_id="a", level="info", message="tick")])
        await async_wait_until(lambda: app.self_cost.meter.last is not None, pilot=pilot)


async def test_a_change_to_an_idle_viewer_is_drawn_and_then_frames_wait_for_the_next_second_again() -> None:
    """The collector's stream sends an update every few seconds even when nothing happens: each
    costs the frame that draws it, not a run of frames that find nothing (nor even one)."""
    now = 1_000.0
    app = AgentWatchApp(url="http://127.0.0.1:9", fps=20, connect=False, clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        for n in range(3):
            await async_wait_until(lambda: is_idle(app), pilot=pilot)
            before = app.frames
            message = f"line {n}"
            app.state.add_log_entries([LogEntry(timestamp=now, agent_id="a", level="info", message=message)])
            assert not is_idle(app)
            await async_wait_until(lambda: is_idle(app), pilot=pilot)
            assert any(line.endswith(message) for line in log_lines(app))
            assert app.frames - before == 1


async def test_an_idle_frame_put_off_until_the_screen_may_be_written_comes_then_not_a_second_later() -> None:
    """The idle frame of a new second (the ages it shows) finds the screen written less than an
    interval ago: it comes once the screen may be written again, not at the second after."""
    now = 1_000.0
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: is_idle(app), pilot=pilot)
        app.screen._paint_gate.last_paint = time.monotonic()  # a write just now
        assert paint_due_in(app.screen) > app.frame_interval / 2
        assert app._frame_timer is not None
        app._frame_timer.cancel()
        frames = app.frames
        app._frame_tick()  # the idle frame's moment has come
        assert app.frames == frames and app._frame_wait <= app.frame_interval
        await async_wait_until(lambda: app.frames > frames, pilot=pilot)


async def test_the_figures_file_is_written_every_few_samples_not_every_second(tmp_path: Path) -> None:
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE):
        hook = app.self_cost
        hook.file = file = SelfCostFile(os.getpid(), tmp_path)
        every = round(PUBLISH_SECONDS / SAMPLE_SECONDS)
        hook.tick()
        assert file.writes == 1 and file.path.exists()  # the first sample at once
        for _ in range(every - 1):
            hook.tick()
        assert file.writes == 1
        hook.tick()
        assert file.writes == 2


async def test_agents_held_back_by_the_table_interval_wait_for_it_without_a_frame_each_interval() -> None:
    """A snapshot that changes the agents less than ``table_interval`` after the table was drawn is
    drawn when the interval is up: the frames wait for that moment instead of coming ``fps`` times
    a second until then, and the table is still never drawn more often than the interval."""
    now = 1_000.0  # frozen: only the marks move the table, not the clock's seconds
    app = AgentWatchApp(url="http://127.0.0.1:9", fps=20, connect=False, clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: is_idle(app), pilot=pilot)
        drawn = app._table_updated_at
        app.state.dirty.add(DIRTY_AGENTS)
        await async_wait_until(lambda: app._table_updated_at > drawn, pilot=pilot)
        drawn, frames = app._table_updated_at, app.frames
        app.state.dirty.add(DIRTY_AGENTS)  # within the interval: held back
        await async_wait_until(lambda: app._table_updated_at > drawn, pilot=pilot)
        assert app._table_updated_at - drawn >= app.table_interval
        assert app.frames - frames <= 3  # the mark's frame, one that finds nothing, the table's
