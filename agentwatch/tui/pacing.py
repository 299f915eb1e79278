"""Screens that write to the terminal at most once per frame interval.

Textual paints a screen's dirty widgets from an update timer of its own (up to 60 a second),
and paints at once on a layout pass, a resize or a screen switch. Between two of our frames a
burst of such paints would put more than ``--fps`` writes into one second. A
:class:`FramePaced` screen puts every paint behind one gate: a paint runs when at least the
app's frame interval has passed since the previous one, otherwise the whole screen is marked
for the next paint, which the gate schedules for the moment the interval is up. Nothing is
lost (the compositor keeps its dirty regions; the deferred paint repaints the screen), and a
key press on a quiet screen still shows at once.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from textual.screen import Screen

if TYPE_CHECKING:
    from textual.timer import Timer

#: Textual's own update period, for an app that does not say its frame interval.
DEFAULT_PERIOD = 1 / 60

#: The soonest a requested paint runs.
MIN_DELAY = 0.001


class PaintGate:
    """Stands in for a screen's update timer (``pause``/``resume``), spaced by ``period``.

    ``resume`` asks for a paint: it runs the screen's update now if ``period`` has passed since
    the last paint, else when it has. ``pause`` withdraws the request.
    """

    def __init__(self, screen: Any, period: float) -> None:
        self.screen = screen
        self.period = period
        self.last_paint = -math.inf
        self.painting = False
        self._timer: Timer | None = None

    def due_in(self) -> float:
        """Seconds until the next paint is allowed (0: now)."""
        return max(0.0, self.last_paint + self.period - time.monotonic())

    def resume(self) -> None:
        if self._timer is None:
            # (A Textual timer needs a delay above zero.)
            delay = max(self.due_in(), MIN_DELAY)
            self._timer = self.screen.set_timer(delay, self._fire, name="screen_update")

    def pause(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        self.painting = True
        try:
            self.screen._on_timer_update()
        finally:
            self.painting = False


class FramePaced:
    """Mixin for a :class:`~textual.screen.Screen`: paints spaced by ``app.frame_interval``."""

    _paint_gate: PaintGate | None = None

    @property
    def _update_timer(self) -> PaintGate:
        # Replaces Screen._update_timer: Textual only pauses and resumes it.
        if self._paint_gate is None:
            screen: Any = self
            self._paint_gate = PaintGate(screen, getattr(screen.app, "frame_interval", DEFAULT_PERIOD))
        return self._paint_gate

    def _compositor_refresh(self) -> None:
        gate = self._update_timer
        screen: Any = self
        if not gate.painting and gate.due_in() > 0 and screen is screen.app.screen:
            # Too soon after the last write (a layout pass, resize or screen switch): paint the
            # whole screen when the interval is up instead of now (one paint, with or without
            # a layout pass: a dirty screen is painted by either path of the update).
            screen._dirty_widgets.add(screen)
            gate.resume()
            return
        super()._compositor_refresh()  # type: ignore[misc]
        if screen is screen.app.screen:
            # From the end of the write: the next write starts a full interval after it.
            gate.last_paint = time.monotonic()


def paint_due_in(screen: object) -> float:
    """Seconds until ``screen`` may be written again (0 for a screen that is not paced)."""
    gate = getattr(screen, "_paint_gate", None)
    return gate.due_in() if gate is not None else 0.0


class MainScreen(FramePaced, Screen[Any]):
    """The viewer's default screen."""
