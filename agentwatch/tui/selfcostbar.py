"""The footer readout of what the viewer costs (``$``), and the hooks that measure it.

:class:`SelfCostHook` feeds a :class:`~agentwatch.tui.selfcost.SelfCostMeter` from three places
where Textual writes the screen, each wrapped on the running instance (nothing changes for other
apps), and samples it once a second: into the readout when it is shown, and every
:data:`~agentwatch.tui.selfcost.PUBLISH_SECONDS` into the viewer's figures file when the viewer runs
in a terminal (for ``agentwatch status --self``). It has no timer of its own: the app's frame timer,
which runs at least once a second, calls :meth:`SelfCostHook.tick_if_due` (one wake-up a second less
for an idle viewer). These are
private to Textual, like those of :mod:`~agentwatch.tui.textual_internals`, and
``tests/tui/test_selfcost_ui.py`` checks them against the installed Textual:

* ``App._driver``: its ``write`` (every escape sequence the app sends) counts the bytes;
* ``App._display(screen, update)``: one screen write; the lines a frame queued are on screen after it;
* ``Screen._compositor_refresh()``: one screen update (render the changed regions, then
  ``_display``), timed on each screen the app displays.

A hidden readout costs a few additions per frame and one sample a second; only a shown one is
redrawn, at most once a second.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import App
from textual.screen import Screen
from textual.widgets import Static

from agentwatch.tui.selfcost import (
    PUBLISH_SECONDS,
    SAMPLE_SECONDS,
    SelfCost,
    SelfCostFile,
    SelfCostMeter,
    live_figures,
    readout,
)

__all__ = ["SelfCostBar", "SelfCostHook"]

#: What the readout says before the first sample.
MEASURING = "viewer: measuring…"
#: Samples between two writes of the figures file.
_PUBLISH_EVERY = round(PUBLISH_SECONDS / SAMPLE_SECONDS)


class SelfCostBar(Static):
    """One line above the footer with the viewer's own figures; hidden until toggled."""

    DEFAULT_CSS = """
    SelfCostBar {
        height: 1;
        display: none;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    SelfCostBar.-shown {
        display: block;
    }
    """

    _shown_text = ""

    def show_figures(self, figures: SelfCost | None) -> None:
        text = MEASURING if figures is None else readout(figures)
        if text != self._shown_text:
            self._shown_text = text
            self.update(Text(text))


class SelfCostHook:
    """Measures the running ``app`` and drives ``bar``; :meth:`close` at unmount removes the file.

    ``lines_dropped`` reads the state's count of lines lost; ``clock`` is the wall clock the log
    lines are compared with. ``publish`` (default: when the app has a real terminal) writes the
    figures file every :data:`~agentwatch.tui.selfcost.PUBLISH_SECONDS`.
    """

    def __init__(
        self,
        app: App[Any],
        bar: SelfCostBar,
        *,
        lines_dropped: Callable[[], int],
        url: str = "",
        clock: Callable[[], float] = time.time,
        publish: bool | None = None,
    ) -> None:
        self.meter = SelfCostMeter(clock=clock)
        self._clock = clock
        #: The clock second of the last sample; samples since the figures file was last written.
        self._sampled_second = int(clock())
        self._unpublished = _PUBLISH_EVERY
        self.bar = bar
        self.shown = False
        self._lines_dropped = lines_dropped
        self._url = url
        self._pid = os.getpid()
        self._screens: weakref.WeakSet[Screen[Any]] = weakref.WeakSet()
        publish = not app.is_headless if publish is None else publish
        self.file = SelfCostFile(self._pid) if publish else None
        self._swept = False
        self._closed = False
        self._install(app)

    def _install(self, app: Any) -> None:
        meter = self.meter
        driver = app._driver
        if driver is not None and not app.is_headless:
            write = driver.write

            def counted_write(data: str) -> None:
                meter.wrote(data)
                write(data)

            driver.write = counted_write

        display = app._display
        screens = self._screens

        def displayed(screen: Screen[Any], renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None:
                meter.painted()
            if screen not in screens:
                self._time_updates(screen)

        app._display = displayed
        self._time_updates(app.screen)

    def _time_updates(self, screen: Any) -> None:
        """Time each screen update of ``screen`` that writes (a deferred one writes nothing)."""
        self._screens.add(screen)
        meter = self.meter
        refresh = screen._compositor_refresh
        clock = time.perf_counter

        def timed_refresh() -> None:
            started, paints = clock(), meter.paints
            refresh()
            if meter.paints != paints:
                meter.frame_drawn(clock() - started)

        screen._compositor_refresh = timed_refresh

    def tick_if_due(self) -> None:
        """Take a sample in each new second of the clock (called by every frame tick)."""
        second = int(self._clock())
        if second != self._sampled_second and not self._closed:
            self._sampled_second = second
            self.tick()

    def tick(self) -> None:
        """Sample, redraw the readout if shown, and write the figures file when it is due. The
        first write also removes the files of viewers gone (a killed viewer cannot remove its own)."""
        figures = self.meter.sample(pid=self._pid, url=self._url, lines_dropped=self._lines_dropped())
        self._unpublished += 1
        if self.file is not None and self._unpublished >= _PUBLISH_EVERY:
            self._unpublished = 0
            if not self._swept:  # the files of viewers that could not remove theirs (killed)
                self._swept = True
                live_figures(self.file.directory)
            self.file.write(figures)
        if self.shown:
            self.bar.show_figures(figures)

    def toggle(self) -> bool:
        """Show or hide the readout; returns whether it is shown."""
        self.shown = not self.shown
        if self.shown:
            self.bar.show_figures(self.meter.last)
        self.bar.set_class(self.shown, "-shown")
        return self.shown

    def close(self) -> None:
        """Stop sampling and remove the figures file."""
        self._closed = True
        if self.file is not None:
            self.file.remove()
