"""The app's time scrub and collapsed repeats: keys, the log fetch, and what a frame shows for them.

A mixin of :class:`~agentwatch.tui.app.AgentWatchApp`, which declares the keys (``BINDINGS``).
``[``/``]`` move a cursor on the sparklines a second back/forward (``{``/``}`` ten, ``<``/``>`` to
the previous/next spike, or a click on a sparkline): the log is held as ``space`` holds it (new
lines are counted), the panels show that second's values (:mod:`~agentwatch.tui.scrub`), the
agents table lists first the agents with the most lines in that second's logs, and the log pane
shows the lines stamped within a few seconds of it, fetched from the collector's ``/api/logs`` in a
worker. ``End`` goes back to live. ``x`` collapses repeated lines (:mod:`~agentwatch.tui.collapse`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import work
from textual.app import App
from textual.widgets import DataTable

from agentwatch.tui import formatting as fmt
from agentwatch.tui.collapse import Collapser, Row, row_text
from agentwatch.tui.logview import LogView
from agentwatch.tui.scrub import (
    Fetched,
    contributors,
    fetch_second,
    history_length,
    panel_values,
    series,
    spike_seconds,
)
from agentwatch.tui.sparkcursor import CursorSparkline
from agentwatch.tui.state import (
    DIRTY_AGENTS,
    DIRTY_HEADER,
    DIRTY_LOGS_REFILTERED,
    DIRTY_METRICS,
    AgentView,
    LogLine,
    ViewState,
)
from agentwatch.tui.widgets import MetricPanel, MetricsBar

if TYPE_CHECKING:
    from datetime import tzinfo

    import httpx

    from agentwatch.tui.fleetview import FleetFeed

__all__ = ["Scrubbing"]

_SCRUB_DIRTY = (DIRTY_METRICS, DIRTY_AGENTS, DIRTY_HEADER, DIRTY_LOGS_REFILTERED)


class Scrubbing(App[int]):
    """Needs ``state``, ``log_pane``, ``metrics_bar``, ``agent_table``, ``url``, ``token``, ``connect``,
    ``timestamps``, ``tz``, ``frame()`` and ``_client()``."""

    state: ViewState
    log_pane: LogView
    metrics_bar: MetricsBar
    url: str
    token: str | None
    connect: bool
    timestamps: bool
    tz: tzinfo | None
    fleet_feed: FleetFeed | None
    #: Repeated lines shown once with ``×N`` (the ``x`` key).
    collapsed: bool = False
    _collapser: Collapser | None = None

    if TYPE_CHECKING:

        def frame(self, *, timed: bool = False) -> None: ...

        def _client(self) -> httpx.AsyncClient: ...

    # ------------------------------------------------------------------ scrub keys
    def action_scrub(self, seconds: int) -> None:
        """Move the cursor ``seconds`` (negative: back); from live, start on the newest second."""
        if self._begin_scrub():
            self._scrub_moved(self.state.scrub.step(seconds))

    def action_spike(self, direction: str) -> None:
        """Move the cursor to the previous (``older``) or next spike; from live, the newest spike."""
        if not self._begin_scrub():
            return
        scrub = self.state.scrub
        assert scrub.history is not None
        peaks = spike_seconds(scrub.history)
        here = scrub.index()
        if direction == "older":
            found = [p for p in peaks if here is None or p < here]
            target = found[-1] if found else None
        else:
            found = [p for p in peaks if here is not None and p > here]
            target = found[0] if found else None
        if target is None:
            self.notify(f"No {direction} spike in the last {history_length(scrub.history)} s", timeout=2)
            if here is None:
                scrub.leave()
            return
        self._scrub_moved(scrub.move_to(scrub.first_second() + target))

    def on_cursor_sparkline_clicked(self, event: CursorSparkline.Clicked) -> None:
        """A click on a sparkline puts the cursor on the second its column draws."""
        scrub = self.state.scrub
        length = len(event.sparkline.data or [])
        if not scrub.active and not self._begin_scrub():
            return
        first = scrub.last_second() - length + 1
        self._scrub_moved(scrub.move_to(first + event.index))

    def _begin_scrub(self) -> bool:
        """Freeze the shown history under a cursor; False (and a notice) when there is none yet."""
        scrub = self.state.scrub
        if scrub.active:
            return True
        snapshot = self.state.shown_snapshot
        if snapshot is None or not any(series(snapshot.history).values()):
            self.notify("No history to go back through yet", timeout=2)
            return False
        scrub.begin(snapshot.history, snapshot.agent, self.tz, now=snapshot.timestamp)
        return True

    def _scrub_moved(self, moved: bool) -> None:
        state = self.state
        scrub = state.scrub
        if scrub.at is None:
            return
        state.set_paused(True)
        state.scrolled_back = False  # held by the scrub, not by scrolling: reaching the bottom keeps it
        if moved:
            state.dirty.update(_SCRUB_DIRTY)
            if self.connect:
                self.fetch_scrub_lines(scrub.at, scrub.generation)
            else:
                scrub.take(Fetched(scrub.at, problem="no collector connected"), scrub.generation)
        self.frame()

    def leave_scrub(self) -> None:
        """Back to live (``End``): the panels, the table and the log show the present again."""
        scrub = self.state.scrub
        if not scrub.active:
            return
        scrub.leave()
        for sparkline in self.metrics_bar.query(CursorSparkline):
            sparkline.set_cursor(None)
        table = self._agents()
        table.border_title = None
        table.remove_class("-scrubbed")
        self.state.dirty.update(_SCRUB_DIRTY)

    @work(exclusive=True, group="scrub", exit_on_error=False)
    async def fetch_scrub_lines(self, second: int, generation: int) -> None:
        """The lines around ``second`` from the collector, into the state (never blocks the UI)."""
        agent = self.state.drilled_agent
        if self.fleet_feed is not None:  # from every live collector (the drilled agent's own), merged
            from agentwatch.tui.fleetview import fetch_fleet_second

            urls = self.fleet_feed.scrub_urls(agent)
            fetched = await fetch_fleet_second(self._client(), urls, self.token, second, agent)
        else:
            fetched = await fetch_second(self._client(), self.url, self.token, second, agent)
        if self.state.scrub.take(fetched, generation):
            self.state.dirty.update((DIRTY_AGENTS, DIRTY_HEADER, DIRTY_LOGS_REFILTERED))

    # ------------------------------------------------------------------ what a frame shows
    def show_scrubbed_metrics(self) -> bool:
        """While scrubbing, the panels show the cursor's second over the frozen history (True)."""
        scrub = self.state.scrub
        index = scrub.index()
        if scrub.history is None or index is None:
            return False
        lines = series(scrub.history)
        length = history_length(scrub.history)
        for panel_id, value in panel_values(scrub.history, index).items():
            panel = self.metrics_bar.query_one(f"#{panel_id}", MetricPanel)
            panel.show(Text(value.value), lines[panel_id], value.level_class, value.detail)
            shown = index - (length - len(lines[panel_id]))
            panel.query_one(CursorSparkline).set_cursor(shown if shown >= 0 else None)
        return True

    def scrub_order(self, views: list[AgentView]) -> list[AgentView]:
        """While scrubbing, the agents with the most lines in that second's logs come first."""
        scrub = self.state.scrub
        if scrub.at is None:
            return views
        table = self._agents()
        table.add_class("-scrubbed")
        when = fmt.clock_time(scrub.at, self.tz)
        if scrub.fetched is None or scrub.fetched.problem is not None:
            table.border_title = f"⏪ {when}: {scrub.status()}"
            return views
        top = contributors(scrub.fetched.lines, scrub.at)
        if not top:
            table.border_title = f"⏪ {when}: no log lines in that second"
            return views
        named = " · ".join(
            f"{fmt.safe(c.agent_id, 30)} {c.lines}" + (f" ({c.errors} err)" if c.errors else "") for c in top
        )
        table.border_title = f"⏪ {when} — most lines in that second's logs: {named}"
        rank = {c.agent_id: i for i, c in enumerate(top)}
        return sorted(views, key=lambda v: rank.get(v.agent_id, len(rank)))

    def rewrite_log(self) -> None:
        """Rewrite the log pane: the scrub's lines, or every buffered line that passes the filters."""
        state = self.state
        if state.scrub.active:
            lines: list[LogLine] = [line for line in state.scrub.lines() if state.matches(line)]
        else:
            lines = state.visible_lines()
        log = self.log_pane
        if self.collapsed:
            rows = self._rows().rebuild(lines)
            lines = [row.last for row in rows]
            log.replace_entries(lines, [self._row_text(row) for row in rows])
        else:
            log.replace_entries(lines, fmt.log_lines(lines, timestamps=self.timestamps, tz=self.tz))
        at = state.scrub.at
        if at is not None:  # mark the scrubbed second's first line, in view
            first = next((i for i, line in enumerate(lines) if line.timestamp >= at), None)
            if first is not None:
                log.set_mark(len(lines) - first)

    def append_log(self, pending: Sequence[LogLine]) -> None:
        """New lines at the bottom of the live tail; collapsed, a repeat updates its row in place."""
        log = self.log_pane
        if not self.collapsed:
            log.append_entries(pending, fmt.log_lines(pending, timestamps=self.timestamps, tz=self.tz))
            return
        new, joined = self._rows().add(pending)
        for row in joined:
            if not log.replace_line(row.number, row.last, self._row_text(row)):
                self.state.request_rewrite()  # its rows changed with its text (wrap): draw it all again
                return
        if new:
            log.append_entries([row.last for row in new], [self._row_text(row) for row in new])

    def action_toggle_collapse(self) -> None:
        self.collapsed = not self.collapsed
        self.notify("repeated lines collapsed (×N)" if self.collapsed else "every line shown", timeout=2)
        self.state.request_rewrite()
        self.frame()

    def _agents(self) -> DataTable[Any]:
        """The agents table (the app's ``agent_table``)."""
        table: DataTable[Any] = cast("Any", self).agent_table
        return table

    def _rows(self) -> Collapser:
        if self._collapser is None:
            self._collapser = Collapser(min(self.state.max_lines, 200))
        return self._collapser

    def _row_text(self, row: Row) -> str:
        return row_text(row, timestamps=self.timestamps, tz=self.tz)
