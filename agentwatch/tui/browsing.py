"""Reading back through the log and the tables: the app's scroll, cursor, search-match and line keys.

A mixin of :class:`~agentwatch.tui.app.AgentWatchApp`, which declares the keys (``BINDINGS``). Scrolling
the log back holds the tail as ``space`` does (``ViewState.set_paused(scrolled=True)``), and scrolling
back to the bottom takes it live again; ``j``/``k``/``g``/``G`` move a focused table's cursor, or else
scroll the log; ``n``/``N`` mark the older/newer search match; Enter (or a double click) opens a line
in full (:class:`~agentwatch.tui.linedetail.LineDetailScreen`), whose keys filter the log by one of the
line's values or open its trace (:class:`~agentwatch.tui.waterfall.WaterfallScreen`); ``W`` opens the trace
of the newest line of the agent under the agents table's cursor.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.widgets import DataTable

from agentwatch.protocol import LogEntry
from agentwatch.tui.linedetail import LineDetailScreen
from agentwatch.tui.linefields import line_trace_key
from agentwatch.tui.logview import LogView
from agentwatch.tui.state import ViewState
from agentwatch.tui.waterfall import WaterfallScreen

if TYPE_CHECKING:
    from agentwatch.tui.agenttable import AgentTable

__all__ = ["LogBrowsing"]


class LogBrowsing(App[int]):
    """The app's keys for reading back; needs ``state``, ``log_pane``, ``tz``, ``url``, ``token``,
    ``connect``, ``agent_table`` and ``frame()``."""

    state: ViewState
    log_pane: LogView
    tz: tzinfo | None
    url: str
    token: str | None
    connect: bool
    agent_table: AgentTable

    if TYPE_CHECKING:

        def frame(self, *, timed: bool = False) -> None: ...

        def action_live(self) -> None: ...

        def collector_url(self, agent: str | None = None, trace: str | None = None) -> str: ...

    def _log_scrolled(self, old: float, new: float) -> None:
        """The reader scrolled the log: back from the bottom holds the tail (like ``space``, told as
        "scrolled"); back at the bottom after that, the tail goes live again."""
        log = self.log_pane
        if log.moving_itself:
            return
        state = self.state
        at_end = log.is_vertical_scroll_end
        if new < old and not at_end and not state.paused:
            state.set_paused(True, scrolled=True)
            self.call_next(self.frame)
        elif at_end and state.scrolled_back:
            state.set_paused(False)
            log.clear_mark()
            self.call_next(self.frame)

    def _focused_table(self) -> DataTable[Any] | None:
        """The focused table (agents, sessions), if a table has focus: j/k/g/G move its cursor."""
        focused = self.focused
        return focused if isinstance(focused, DataTable) else None

    def action_down(self) -> None:
        if (table := self._focused_table()) is not None:
            table.action_cursor_down()
        else:
            self.log_pane.scroll_down(animate=False)

    def action_up(self) -> None:
        if (table := self._focused_table()) is not None:
            table.action_cursor_up()
        else:
            self.log_pane.scroll_up(animate=False)

    def action_top(self) -> None:
        if (table := self._focused_table()) is not None:
            table.move_cursor(row=0)
        else:
            self.log_pane.scroll_home(animate=False)

    def action_bottom(self) -> None:
        if (table := self._focused_table()) is not None:
            table.move_cursor(row=max(0, table.row_count - 1))
        else:
            self.action_live()

    def action_open_line(self) -> None:
        """Open the marked line, else the newest line in view, in full."""
        log = self.log_pane
        from_end = log.mark if log.mark is not None else log.bottom_line()
        if from_end is not None:
            self.open_line(from_end)

    def open_line(self, from_end: int) -> None:
        """Show the line ``from_end`` lines from the newest (1 = newest) in full."""
        log = self.log_pane
        number = log.newest_number - from_end + 1
        self.push_screen(LineDetailScreen(log.numbered, number, lambda: log.newest_number, tz=self.tz))

    def on_log_view_line_chosen(self, event: LogView.LineChosen) -> None:
        self.open_line(event.from_end)

    def action_next_match(self, direction: str) -> None:
        """Mark the next search match above (``older``) or below (``newer``) and hold the tail there."""
        state = self.state
        if not state.search_text or state.search_error:
            self.notify("No search yet: press / to search, then n / N", timeout=3)
            return
        found = self.log_pane.next_line(
            older=direction == "older",
            matches=lambda line: isinstance(line, LogEntry) and bool(state.search_spans(line.message)),
        )
        if found is None:
            self.notify(f"No {direction} match", timeout=2)
            return
        state.set_paused(True, scrolled=True)
        self.log_pane.set_mark(found)
        self.frame()

    # ------------------------------------------------------------------ from a line to the log and its trace
    def on_line_detail_screen_filter_by(self, event: LineDetailScreen.FilterBy) -> None:
        """Back to the log, showing only the lines with the value picked in a line's detail."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        state = self.state
        if event.name == "agent":
            state.set_agent_filter(event.value)
        elif event.name == "level":
            state.set_min_level(event.value)
        else:
            state.set_field_filter(event.name, event.value)
        self.frame()

    def on_line_detail_screen_open_trace(self, event: LineDetailScreen.OpenTrace) -> None:
        self.open_trace(event.trace_id)

    def open_trace(self, trace_id: str) -> None:
        """Show trace (or prompt, turn) ``trace_id`` as a waterfall; when one is open for it below the
        current screen, go back to it."""
        for depth, screen in enumerate(reversed(self.screen_stack)):
            if isinstance(screen, WaterfallScreen) and screen.trace_id == trace_id:
                for _ in range(depth):
                    self.pop_screen()
                return
        self.push_screen(
            WaterfallScreen(
                trace_id,
                url=self.collector_url(trace=trace_id),
                token=self.token,
                connect=self.connect,
                tz=self.tz,
            )
        )

    def action_agent_trace(self) -> None:
        """The trace of the newest line of the agent under the agents table's cursor (the drilled agent's
        when the table has none) that has a trace, prompt or turn id."""
        agent = self.agent_table.selected_agent() or self.state.drilled_agent
        if agent is None:
            self.notify("No agent under the cursor", timeout=2)
            return
        for line in reversed(self.state.buffer):
            if isinstance(line, LogEntry) and line.agent_id == agent and (key := line_trace_key(line)):
                self.open_trace(key)
                return
        self.notify("No line of this agent with a trace, prompt or turn id yet", timeout=3)
