"""A sparkline with a cursor: the column of one second drawn reversed, and a click that names a second.

Textual's :class:`~textual.widgets.Sparkline` draws ``len(data)`` values in ``width`` columns: with
more values than columns, column ``c`` is the maximum of ``data[int(c*L/W):int((c+1)*L/W)]``;
with fewer, column ``c`` shows ``data[int(c*L/W)]``. :func:`column_span` follows the same rule, so
the cursor sits on the column that draws its second, and a click on a column picks the second that
column draws (the peak of its seconds: a click on a spike lands on the spike).

:func:`sparkline_rows` draws the rows Textual's Sparkline draws (through Rich: a renderable, a
console render, a style added to every cell, lines split and cropped), cell for cell and style for
style, straight from the values, one segment per run of cells of one style; the widget keeps them
until its values, size, colours or cursor change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.strip import Strip
from textual.widgets import Sparkline

__all__ = ["CursorSparkline", "column_of", "column_span", "sparkline_rows"]

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


def sparkline_rows(
    data: Sequence[float],
    width: int,
    height: int,
    min_color: RichColor,
    max_color: RichColor,
    base: Style,
    *,
    summary: Callable[[Sequence[float]], float] = max,
    cursor: tuple[int, int] = (0, 0),
) -> list[Strip]:
    """The ``height`` rows of a ``width``-column sparkline of ``data``, top row first.

    The same cells and styles as Textual's Sparkline widget renders with base style ``base``
    (its visual style), the columns ``cursor`` (start, end) drawn with the cursor's style on top.
    """
    cells = _cells(data, width, height, min_color, max_color, summary)
    start, end = cursor if data else (0, 0)
    palette = _palette(base, min_color, max_color)
    styles, cursor_styles = palette.styles, palette.cursor_styles
    rows = []
    for text, colors in cells:
        runs: list[list[Any]] = []  # [text, style]: cells of one colour, then equal styles joined
        first = 0
        for column in range(1, len(text) + 1):
            if column < len(text) and colors[column] == colors[first] and column != start and column != end:
                continue
            color = colors[first]
            style = styles[color] if color in styles else palette.add(color)
            if start <= first < end:
                style = cursor_styles[style] if style in cursor_styles else palette.add_cursor(style)
            if runs and runs[-1][1] is style:  # equal styles are one object: see _Palette
                runs[-1][0] += text[first:column]
            else:
                runs.append([text[first:column], style])
            first = column
        rows.append(Strip([Segment(part, style) for part, style in runs], len(text)))
    return rows


#: A cell's colour: None (a blank), an RGB triplet, or a colour Rich has no triplet for.
_Colour = tuple[int, int, int] | RichColor | None


class _Palette:
    """The cell styles over one base style for bars between two colours, made once each.

    Equal styles are one object (``canonical``), so runs of one style are found by identity.
    Bounded: the colours between two colours, cut to integers, are at most 3 × 256.
    """

    __slots__ = ("base", "canonical", "cursor_styles", "styles")

    def __init__(self, base: Style) -> None:
        self.base = base
        self.styles: dict[_Colour, Style | None] = {}
        self.cursor_styles: dict[Style | None, Style] = {}
        self.canonical: dict[Style | None, Style | None] = {}

    def add(self, color: _Colour) -> Style | None:
        """A cell's style: the widget's style with the bar's colour on top, as Textual adds them."""
        if color is None:
            own = None
        elif isinstance(color, RichColor):
            own = Style.from_color(color)
        else:
            own = Style.from_color(RichColor.from_rgb(*color))
        style = (self.base + own if self.base else own) or None
        style = self.styles[color] = self.canonical.setdefault(style, style)
        return style

    def add_cursor(self, style: Style | None) -> Style:
        cursor = _CURSOR_STYLE + style
        cursor = self.cursor_styles[style] = self.canonical.setdefault(cursor, cursor)  # type: ignore[assignment]
        return cursor


@lru_cache(maxsize=16)
def _palette(base: Style, low: RichColor, high: RichColor) -> _Palette:
    return _Palette(base)


def _cells(
    data: Sequence[float],
    width: int,
    height: int,
    min_color: RichColor,
    max_color: RichColor,
    summary: Callable[[Sequence[float]], float],
) -> list[tuple[str, list[_Colour]]]:
    """Each row's characters and their colours, as Rich's renderable yields them.

    A bar's colour is ``blend_colors``'s: the triplet's components cut to integers (the colour
    itself is made once per distinct triplet, by :func:`_cell_style`).
    """
    if width <= 0 or height <= 0:
        return [("", [])] * max(height, 0)
    if not data:
        return [("", [])] * (height - 1) + [("▁" * width, [min_color] * width)]
    if len(data) == 1:
        return [("█" * width, [max_color] * width)] * height
    bars, per_row = SparklineRenderable.BARS, len(SparklineRenderable.BARS)
    segments = per_row * height - 1
    minimum, maximum = min(data), max(data)
    extent = maximum - minimum or 1
    length = len(data)
    buckets = [data[length * c // width : length * (c + 1) // width] for c in range(width)]
    buckets = [bucket for bucket in buckets if bucket]
    low_rgb, high_rgb = min_color.triplet, max_color.triplet
    columns: list[tuple[int, _Colour]] = []
    index, step = 0.0, len(buckets) / width
    for _ in range(width):  # the renderable's own walk: a float index, the same rounding
        ratio = (summary(buckets[int(index)]) - minimum) / extent
        if low_rgb is None or high_rgb is None:
            color: _Colour = max_color  # what blend_colors gives then
        else:
            (r1, g1, b1), (r2, g2, b2) = low_rgb, high_rgb
            color = (int(r1 + (r2 - r1) * ratio), int(g1 + (g2 - g1) * ratio), int(b1 + (b2 - b1) * ratio))
        columns.append((int(ratio * segments), color))
        index += step
    rows = []
    for i in reversed(range(height)):
        low, high = i * per_row, (i + 1) * per_row
        text = "".join(
            " " if bar < low else "█" if bar >= high else bars[bar % per_row] for bar, _ in columns
        )
        rows.append((text, [None if bar < low else color for bar, color in columns]))
    return rows


def _runs(text: str, styles: list[Style | None]) -> list[Segment]:
    """One segment per run of cells of one style (as ``Segment.simplify`` joins them)."""
    runs: list[Segment] = []
    start = 0
    for column in range(1, len(text) + 1):
        if column == len(text) or (styles[column] is not styles[start] and styles[column] != styles[start]):
            runs.append(Segment(text[start:column], styles[start]))
            start = column
    return runs


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
        self._rows_key: tuple[object, ...] | None = None
        self._rows: list[Strip] = []
        self._in_pass = self._pass_checked = False

    @property
    def cursor(self) -> int | None:
        return self._cursor

    def set_cursor(self, index: int | None) -> None:
        if index != self._cursor:
            self._cursor = index
            self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._in_pass = True  # the rows' inputs are looked at once for all the rows of a pass
        try:
            return super().render_lines(crop)
        finally:
            self._in_pass = self._pass_checked = False

    def render_line(self, y: int) -> Strip:
        """Row ``y``, drawn by :func:`sparkline_rows` (kept while nothing it depends on changes)."""
        if not (self._in_pass and self._pass_checked):
            self._pass_checked = self._in_pass
            self._check_rows()
        if 0 <= y < len(self._rows):
            return self._rows[y]
        width = self.size.width
        base = self.visual_style.rich_style
        styles: list[Style | None] = [base] * width  # below the rows: blank, the cursor drawn on it
        start, end = self._cursor_columns(len(self.data or ()), width)
        for column in range(start, min(end, width)):
            styles[column] = _CURSOR_STYLE + base
        return Strip(_runs(" " * width, styles), width)

    def _check_rows(self) -> None:
        """Draw the rows again if the values, size, colours, style or cursor changed."""
        data = tuple(self.data or ())
        width, height = self.size
        _, background = self.background_colors
        low, high = self.min_color, self.max_color
        low = background + (self.get_component_styles("sparkline--min-color").color if low is None else low)
        high = background + (
            self.get_component_styles("sparkline--max-color").color if high is None else high
        )
        base = self.visual_style.rich_style
        key = (data, width, height, low, high, base, self._cursor, self.summary_function)
        if key != self._rows_key:
            self._rows = sparkline_rows(
                data, width, height, low.rich_color, high.rich_color, base,
                summary=self.summary_function, cursor=self._cursor_columns(len(data), width),
            )  # fmt: skip
            self._rows_key = key

    def _cursor_columns(self, length: int, width: int) -> tuple[int, int]:
        if self._cursor is None or not length:
            return (0, 0)
        return _bounds(list(column_of(self._cursor, length, width)))

    def on_click(self, event: events.Click) -> None:
        data = list(self.data or [])
        if not data:
            return
        span = column_span(max(0, min(event.x, self.size.width - 1)), len(data), self.size.width)
        if span:
            peak = max(span, key=lambda i: (data[i], i))
            self.post_message(self.Clicked(self, peak))
