"""The log pane as something to read back in: which line is on which row, and one marked line.

:class:`LogView` is the viewer's :class:`~agentwatch.tui.widgets.LogPane` that also keeps the
:class:`~agentwatch.tui.state.LogLine` behind each line it shows, so a row on screen (or the marked
line) can be opened in full. Lines are counted from the newest: ``1`` is the last line, ``2`` the
one before it. Those numbers stay put while the tail is held, which is the only time a line is
marked: the app clears the mark when the tail goes live again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.segment import Segment
from textual import events
from textual.message import Message
from textual.strip import Strip

from agentwatch.tui.linewrap import row_count
from agentwatch.tui.state import LogLine
from agentwatch.tui.textual_internals import replace_log_rows
from agentwatch.tui.widgets import LogPane

__all__ = ["LogView"]


class LogView(LogPane):
    """The log pane, with the line behind every row and one marked (highlighted) line."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"logview--mark"}
    DEFAULT_CSS = """
    LogView > .logview--mark {
        background: $accent 45%;
        text-style: bold;
    }
    """

    class LineChosen(Message):
        """A line was double-clicked: ``from_end`` counts from the newest line (1)."""

        def __init__(self, from_end: int) -> None:
            super().__init__()
            self.from_end = from_end

    def __init__(self, *, max_lines: int, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, id=id)
        self._entries: deque[LogLine] = deque(maxlen=max_lines)
        self._mark: int | None = None
        self._mark_rows = range(0)
        #: Lines added since the pane was last rewritten (pruned ones included): the newest line's number.
        self.newest_number = 0
        #: True while the pane moves its own view (a rewrite, a jump to the mark): not the reader's scroll.
        self.moving_itself = False

    # ------------------------------------------------------------------ content
    def append_entries(self, lines: Sequence[LogLine], texts: Sequence[str]) -> None:
        """Add lines (and their formatted ``texts``, one each) at the bottom."""
        self._entries.extend(lines)
        self.newest_number += len(lines)
        self.append(texts)
        if self._mark is not None:
            self._place_mark()

    def replace_entries(self, lines: Sequence[LogLine], texts: Sequence[str]) -> None:
        """Show only these lines (a filter changed): the mark goes."""
        self._entries.clear()
        self._entries.extend(lines)
        self.newest_number = len(lines)
        self.clear_mark()
        self.replace(texts)

    def replace(self, lines: Sequence[str]) -> None:
        """Rewrite the pane (also on a wrap toggle or a resize), which ends at the newest line: a
        reader who had scrolled back is at the bottom again, and the app takes the tail live."""
        super().replace(lines)
        if self._mark is not None:
            self._place_mark()

    def replace_line(self, number: int, line: LogLine, text: str) -> bool:
        """Show ``text`` for the line numbered ``number`` (see :meth:`numbered`) where it is, and keep
        ``line`` behind it. False (nothing changed) when that line is gone or, wrapped, would take
        another number of rows: the caller rewrites the pane instead."""
        from_end = self.newest_number - number + 1
        if not 1 <= from_end <= self.line_count:
            return False
        if self.wrap:
            rows = self.rows_of(from_end)
        else:
            end = len(self.lines) - from_end + 1
            rows = range(end - 1, end)
        physical = self._physical([text])
        if not rows or len(physical) != len(rows) or rows.start < 0:
            return False
        self._entries[-from_end] = line
        self._source[-from_end] = text
        replace_log_rows(self, rows.start, physical)
        return True

    @property
    def line_count(self) -> int:
        """Lines shown (a wrapped line counts once)."""
        return min(len(self._entries), len(self._source))

    def entry(self, from_end: int) -> LogLine | None:
        """The line ``from_end`` lines from the newest (1 = newest), or None past either end."""
        if 1 <= from_end <= self.line_count:
            return self._entries[-from_end]
        return None

    def numbered(self, number: int) -> LogLine | None:
        """The line numbered ``number`` (:attr:`newest_number` is the newest): a number stays on its
        line while more lines come in, until the pane is rewritten."""
        return self.entry(self.newest_number - number + 1) if number >= 1 else None

    # ------------------------------------------------------------------ rows
    def _rows_per_line(self, text: str) -> int:
        if not self.wrap:
            return 1
        return row_count(text, self._wrap_width, self.log_highlighter.message_start)

    def rows_of(self, from_end: int) -> range:
        """The rows the line ``from_end`` takes in the pane (empty when it is not there)."""
        end = len(self.lines)
        for index in range(1, min(from_end, self.line_count) + 1):
            start = end - self._rows_per_line(self._source[-index])
            if index == from_end:
                return range(max(0, start), max(0, end))
            end = start
            if end <= 0:
                break
        return range(0)

    def line_at_row(self, row: int) -> int | None:
        """Which line (counted from the newest) row ``row`` of the pane belongs to."""
        end = len(self.lines)
        if not 0 <= row < end:
            return None
        for index in range(1, self.line_count + 1):
            start = end - self._rows_per_line(self._source[-index])
            if start <= row:
                return index
            end = start
        return None

    def bottom_line(self) -> int | None:
        """The newest line with a row in view (counted from the newest)."""
        height = self.scrollable_content_region.height
        row = min(self.scroll_offset.y + max(1, height) - 1, len(self.lines) - 1)
        return self.line_at_row(row)

    def next_line(self, *, older: bool, matches: Callable[[LogLine], bool]) -> int | None:
        """The nearest line above (``older``) or below the mark that ``matches``; without a mark the
        search starts at the newest line in view, which counts itself when going up."""
        start = self._mark
        if start is None:
            bottom = self.bottom_line()
            if bottom is None:
                return None
            start = bottom - 1 if older else bottom
        step = 1 if older else -1
        index = start + step
        while 1 <= index <= self.line_count:
            if matches(self._entries[-index]):
                return index
            index += step
        return None

    # ------------------------------------------------------------------ the mark
    @property
    def mark(self) -> int | None:
        """The marked line, counted from the newest (None: no mark)."""
        return self._mark

    def marked_text(self) -> str:
        """The marked line as shown, unwrapped ("" without a mark)."""
        if self._mark is None or self._mark > self.line_count:
            return ""
        return self._source[-self._mark]

    def set_mark(self, from_end: int) -> None:
        """Mark a line and scroll it into view (not a scroll of the reader's: no pause or resume)."""
        self._mark = from_end
        self._place_mark()
        rows = self._mark_rows
        if rows:
            top, height = self.scroll_offset.y, self.scrollable_content_region.height
            if rows.start < top or rows.stop > top + height:
                self.moving_itself = True
                try:
                    self.scroll_to(y=max(0, rows.start - height // 2), animate=False, immediate=True)
                finally:
                    self.moving_itself = False

    def clear_mark(self) -> None:
        if self._mark is not None:
            self._mark = None
            self._place_mark()

    def _place_mark(self) -> None:
        old = self._mark_rows
        self._mark_rows = self.rows_of(self._mark) if self._mark is not None else range(0)
        for rows in (old, self._mark_rows):
            if rows:
                self.refresh_lines(rows.start, len(rows))

    def decorate_row(self, y: int, strip: Strip) -> Strip:
        """The marked line's rows in the mark's style."""
        if self._mark_rows and self.scroll_offset.y + y in self._mark_rows:
            style = self.get_component_rich_style("logview--mark", partial=True)
            strip = Strip(Segment.apply_style(list(strip), post_style=style), strip.cell_length)
        return strip

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if event.chain == 2 and offset is not None:
            from_end = self.line_at_row(self.scroll_offset.y + offset.y)
            if from_end is not None:
                self.post_message(self.LineChosen(from_end))
