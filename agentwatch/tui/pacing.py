"""Screen writes at most once per frame interval: the gate every paint of a screen goes through.

A :class:`PaintGate` stands in for a screen's update timer (see
:class:`~agentwatch.tui.textual_internals.FramePaced`, which installs it): a paint runs when
at least the app's frame interval has passed since the previous write, otherwise the gate
schedules it for the moment the interval is up. :func:`paint_due_in` tells the app's frame
timer when the screen may be written again, so what a frame moves is painted at once.

The interval paces data, not input: for one interval after a key press (``last_input``) a
paint runs at once, so a key's effect is drawn without waiting for the frame clock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from textual import events

#: Textual's own update period, for an app that does not say its frame interval.
DEFAULT_PERIOD = 1 / 60

#: The soonest a requested paint runs.
MIN_DELAY = 0.001


class PaintGate:
    """A screen's update timer (``pause``/``resume``) whose paints are spaced by ``period``.

    ``resume`` asks for a paint: ``paint`` runs now if ``period`` has passed since the last
    write (:attr:`last_paint`, set by whoever writes) or since the last key press
    (``last_input``, a monotonic time), else when it has. ``pause`` withdraws the request.
    The paint runs in ``screen``'s message loop (``post_message``), as a Textual timer's callback
    would; the wait is an event-loop callback, not a Textual timer, which would cost a task, an
    event and two callback messages for every paint.
    """

    def __init__(
        self,
        screen: Any,
        period: float,
        *,
        paint: Callable[[], object],
        last_input: Callable[[], float] = lambda: -math.inf,
    ) -> None:
        self.screen = screen
        self.period = period
        self.last_paint = -math.inf
        self._last_input = last_input
        self.painting = False
        #: Paints the gate ran so far.
        self.paints = 0
        self._paint = paint
        self._timer: asyncio.TimerHandle | None = None

    def due_in(self) -> float:
        """Seconds until the next paint is allowed (0: now, as within an interval after a key press)."""
        now = time.monotonic()
        if now - self._last_input() < self.period:
            return 0.0
        return max(0.0, self.last_paint + self.period - now)

    def hurry(self) -> None:
        """A key was pressed: a paint already waiting for the interval runs now instead."""
        if self._timer is not None:
            self.pause()
            self.resume()

    def resume(self) -> None:
        if self._timer is None:
            delay = max(self.due_in(), MIN_DELAY)
            self._timer = asyncio.get_running_loop().call_later(delay, self._due)

    def pause(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        if not self.screen.post_message(events.Callback(callback=self._fire)):
            self._timer = None  # a screen that is closing: nothing to paint

    def _fire(self) -> None:
        self._timer = None
        self.painting = True
        self.paints += 1
        try:
            self._paint()
        finally:
            self.painting = False


def paint_due_in(screen: object) -> float:
    """Seconds until ``screen`` may be written again (0 for a screen that is not paced)."""
    gate = getattr(screen, "_paint_gate", None)
    return gate.due_in() if gate is not None else 0.0


def hurry_paint(screen: object) -> None:
    """A key was pressed: a paint of ``screen`` waiting for the frame interval runs now."""
    gate = getattr(screen, "_paint_gate", None)
    if gate is not None:
        gate.hurry()
