"""Input is not paced: a key's effect is written to the terminal at once, not at the next frame."""

from __future__ import annotations

import time
from typing import Any

from textual.screen import Screen

from agentwatch.protocol import AgentRow, Snapshot
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screens import HelpScreen
from tests.helpers import async_wait_until, header, screen_text

SIZE = (120, 36)


class WritingApp(AgentWatchApp):
    """The viewer without network at one frame a second, counting screen writes."""

    def __init__(self) -> None:
        super().__init__(url="http://127.0.0.1:9", connect=False, bell=False, fps=1)
        self.writes = 0

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            self.writes += 1


def fleet() -> Snapshot:
    rows = [AgentRow(agent_id=f"agent-{i:03d}", tokens_per_second=float(i)) for i in range(20)]
    return Snapshot(timestamp=time.time(), agents=rows, active_agents=len(rows))


async def written_just_now(app: WritingApp, pilot: Any) -> int:
    """Wait for the fleet on screen, then say a frame was just written: the next is a second away."""
    app.state.apply_snapshot(fleet())
    await async_wait_until(lambda: app.agent_table.row_count == 20 and app.writes > 0, pilot=pilot)
    gate = app.screen._paint_gate
    assert gate is not None
    gate.last_paint = time.monotonic()
    return app.writes


async def test_a_key_is_written_at_once_without_waiting_for_the_frame_interval() -> None:
    app = WritingApp()
    async with app.run_test(size=SIZE) as pilot:
        writes = await written_just_now(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert "sort: status" in header(app)
        assert app.writes > writes  # written now, not a second later
        assert "sort: status" in screen_text(app)


async def test_closing_the_help_is_written_at_once() -> None:
    app = WritingApp()
    async with app.run_test(size=SIZE) as pilot:
        await written_just_now(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "agentwatch — keys" in screen_text(app)
        app.screen_stack[0]._paint_gate.last_paint = time.monotonic()  # the main screen was just written
        writes = app.writes
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        assert app.writes > writes
        assert "agentwatch — keys" not in screen_text(app)


async def test_data_alone_still_waits_for_the_frame_interval() -> None:
    """Without a key, a change that comes right after a write is deferred (the frame budget holds)."""
    app = WritingApp()
    async with app.run_test(size=SIZE) as pilot:
        writes = await written_just_now(app, pilot)
        app.state.cycle_sort()
        app.frame()
        await pilot.pause()
        assert app.writes == writes
        await async_wait_until(lambda: app.writes > writes, pilot=pilot)  # at the next interval


async def test_the_help_is_built_once_and_shown_again_as_it_was() -> None:
    app = WritingApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        first = app.screen
        assert isinstance(first, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen is first  # not built (composed, styled) again
        assert "agentwatch — keys" in screen_text(app)


async def test_the_help_is_drawn_without_blending_the_screen_below(monkeypatch: Any) -> None:
    """A translucent modal is drawn by blending every cell of the main screen's colours, at each ?
    and at each frame that moves data under it; the help's background is opaque instead."""
    from textual.renderables.background_screen import BackgroundScreen

    blended: list[int] = []
    init = BackgroundScreen.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        blended.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(BackgroundScreen, "__init__", counting)
    app = WritingApp()
    async with app.run_test(size=SIZE) as pilot:
        await written_just_now(app, pilot)
        writes = app.writes
        await pilot.press("question_mark")
        await async_wait_until(lambda: "agentwatch — keys" in screen_text(app), pilot=pilot)
        assert isinstance(app.screen, HelpScreen)
        app.state.apply_snapshot(fleet())  # data moves under the help
        app.frame()
        writes = app.writes
        await async_wait_until(lambda: app.writes > writes, pilot=pilot)
        assert blended == []
