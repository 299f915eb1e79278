"""The frames' and the paints' waits are event-loop callbacks, not Textual timers (each of which
costs a task, an event and two callback messages every time it is set), and what they wait for
still comes: the next frame, the deferred paint."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.pacing import PaintGate
from tests.helpers import async_wait_until, header

SIZE = (120, 36)


async def test_a_deferred_paint_and_the_next_frame_wait_on_the_event_loop_not_on_textual_timers() -> None:
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False, fps=1)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await async_wait_until(
            lambda: screen._paint_gate is not None and screen._paint_gate.paints > 0, pilot=pilot
        )
        gate = screen._paint_gate
        assert isinstance(gate, PaintGate)
        gate.last_paint = time.monotonic()  # the screen was just written: the next paint waits a second
        paints = gate.paints
        app.state.cycle_sort()
        app.frame()
        await pilot.pause()
        assert gate.paints == paints  # deferred
        assert isinstance(gate._timer, asyncio.TimerHandle)
        assert isinstance(app._frame_timer, asyncio.TimerHandle)
        textual_timers = [
            timer.name for node in (app, screen) for timer in node._timers if timer._task is not None
        ]
        assert textual_timers == []
        await async_wait_until(lambda: gate.paints > paints, pilot=pilot)  # painted once the interval is up
        assert "sort: status" in header(app)


async def test_a_paint_asked_for_while_a_screen_closes_does_not_hold_the_gate() -> None:
    """A paint the screen's message loop no longer takes (the screen is closing) leaves the gate free."""
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await async_wait_until(lambda: screen._paint_gate is not None, pilot=pilot)
        gate = screen._paint_gate
        assert gate is not None
        gate.pause()
        gate.resume()
        screen._closing = True
        try:
            await async_wait_until(lambda: gate._timer is None, pilot=pilot)
        finally:
            screen._closing = False


async def test_an_error_in_a_frame_is_reported_by_the_app_as_any_callback_error_is() -> None:
    """The frame tick runs outside Textual's message loop: its error still ends the app with it, not
    only a line in the event loop's log (and a frame timer that silently stopped)."""

    class Broken(RuntimeError):
        pass

    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False)
    with pytest.raises(Broken):
        async with app.run_test(size=SIZE) as pilot:

            def broken(*, timed: bool = False) -> None:
                raise Broken("frame failed")

            app.frame = broken  # type: ignore[method-assign]
            app.state.cycle_sort()  # wakes the frame timer
            await async_wait_until(lambda: not app.is_running, pilot=pilot)
