"""A sparkline with a cursor: the column of one second drawn reversed, and a click that names a second.

Textual's :class:`~textual.widgets.Sparkline` draws ``len(data)`` values in ``width`` columns: with
more values than columns, column ``c`` is the maximum of ``data[int(c*L/W):int((c+1)*L/W)]``;
with fewer, column ``c`` shows ``data[int(c*L/W)]``. :func:`column_span` follows the same rule, so
the cursor sits on the column that draws its second, and a click on a column picks the second that
column draws (the peak of its seconds: a click on a spike lands on the spike).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from rich.style import Style
from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Sparkline

__all__ = ["CursorSparkline", "column_of", "column_span"]

_CURSOR_STYLE = Style(reverse=True, bold=True)


def column_span(column: int, length: int, width: int) -> range:
    """The data indexes column ``column`` of ``width`` draws, for ``length`` values."""
    if length <= 0 or width <= 0:
        return range(0)
    if length < width:
        index = int(Fraction(column * length, width))
        return range(index, index + 1)
    step = Fraction(length, width)
    return range(int(step * column), int(step * (column + 1)))


def column_of(index: int, length: int, width: int) -> range:
    """The columns that draw data index ``index`` (one, or several when values are fewer than columns)."""
    return range(*_bounds([c for c in range(width) if index in column_span(c, length, width)]))


def _bounds(columns: list[int]) -> tuple[int, int]:
    return (columns[0], columns[-1] + 1) if columns else (0, 0)


class CursorSparkline(Sparkline):
    """A :class:`~textual.widgets.Sparkline` that can show a cursor (``cursor``: a data index)."""

    class Clicked(Message):
        """A click on the sparkline: ``index`` is the data index its column draws (its peak)."""

        def __init__(self, sparkline: CursorSparkline, index: int) -> None:
            super().__init__()
            self.sparkline = sparkline
            self.index = index

    def __init__(self, data: Sequence[float] | None = None, *, classes: str | None = None) -> None:
        super().__init__(data, classes=classes)
        self._cursor: int | None = None

    @property
    def cursor(self) -> int | None:
        return self._cursor

    def set_cursor(self, index: int | None) -> None:
        if index != self._cursor:
            self._cursor = index
            self.refresh()

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        data = self.data or []
        if self._cursor is None or not data:
            return strip
        start, end = _bounds(list(column_of(self._cursor, len(data), self.size.width)))
        if end <= start:
            return strip
        before, cursor, after = strip.divide([start, end, strip.cell_length])
        return Strip.join([before, cursor.apply_style(_CURSOR_STYLE), after])

    def on_click(self, event: events.Click) -> None:
        data = list(self.data or [])
        if not data:
            return
        span = column_span(max(0, min(event.x, self.size.width - 1)), len(data), self.size.width)
        if span:
            peak = max(span, key=lambda i: (data[i], i))
            self.post_message(self.Clicked(self, peak))
