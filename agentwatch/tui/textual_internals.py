"""Every use the viewer makes of Textual's private API, in one module.

Textual is pinned below its next major version (``textual>=8.0,<9`` in ``pyproject.toml``).
Each piece here overrides or calls something private to Textual; its docstring says what
and why. ``tests/tui/test_textual_internals.py`` checks each one against the installed
Textual and fails, naming the piece, when a release moves what it relies on.

* :class:`FixedSizeScrolling` — no screen layout pass when a scrolling widget's content
  grows (``Widget._watch_virtual_size``, ``Widget._scroll_update``).
* :func:`set_cells` — many DataTable cells, only the changed rows in view repainted
  (``DataTable._data``, ``_updated_cells``, ``_require_update_dimensions``, ``_update_count``).
* :class:`TransientDirtyRegions` — the log pane's dirty marking (``Widget._set_dirty``,
  ``Widget._dirty_regions``); :func:`dirty_regions` reads what is kept there.
* :class:`LogWidthInPlace` — the log's width measured in the frame that wrote the lines
  (``Log._update_size``, ``Log._update_maximum_width``).
* :class:`CachedLogLines` — a log line rendered once while it stays the same
  (``Log._render_line_strip``, ``Log._render_line_cache``).
* :class:`FramePaced` — a screen's writes spaced by the frame interval
  (``Screen._update_timer``, ``Screen._compositor_refresh``, ``Screen._on_timer_update``,
  ``Screen._dirty_widgets``); the spacing itself is :class:`~agentwatch.tui.pacing.PaintGate`.
* :func:`replace_log_rows` — rows of a log rewritten in place (``Log._lines``,
  ``Log._render_line_cache``, ``Log._width``, ``Log._updates``, ``Log._update_maximum_width``).
* :func:`write_to_terminal` — an escape sequence (a desktop notification) written through the
  app's driver (``App._driver``), in order with what Textual writes, as ``App.bell`` does.
* :func:`set_row_order` — a DataTable's rows put in a given order without reading a cell
  (``DataTable._row_locations``, ``_update_count``).
* :class:`ScrollsTerminal` and :func:`paint_screen` — a screen's paint written as only what
  differs from what the terminal shows, its log pane scrolled by the terminal
  (``Screen._compositor``, ``Compositor.render_update``, ``ChopsUpdate`` and ``LayoutUpdate``'s
  fields, ``App._display``, ``App._update_mouse_over``, ``App._background_screens``,
  ``App._running``, ``App._closed``, ``App._batch_count``, ``App._driver``); :func:`render_strip`
  writes a strip with fewer style sequences (``Strip._segments``, ``Strip._render_cache``,
  ``Style._ansi``, ``Style._attributes``, ``Style._set_attributes``, ``Style._color``,
  ``Style._bgcolor``, ``Style._link``; ``textual.strip.SGR_STYLES``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, cast

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual._two_way_dict import TwoWayDict
from textual.geometry import Region, Size
from textual.strip import SGR_STYLES, Strip
from textual.widget import Widget
from textual.widgets import DataTable, Log
from textual.widgets.data_table import CellKey, ColumnKey, RowKey

from agentwatch.tui.pacing import DEFAULT_PERIOD, PaintGate
from agentwatch.tui.screenrows import Chop, Run, ScreenRows

__all__ = [
    "CachedLogLines",
    "FixedSizeScrolling",
    "FramePaced",
    "LogWidthInPlace",
    "ScrollsTerminal",
    "TransientDirtyRegions",
    "dirty_regions",
    "paint_screen",
    "render_strip",
    "replace_log_rows",
    "set_cells",
    "set_row_order",
    "write_to_terminal",
]

if TYPE_CHECKING:
    _WidgetBase = Widget
    _LogBase = Log
else:
    # A Widget base here would hide the widget's own COMPONENT_CLASSES.
    _WidgetBase = object
    _LogBase = object


class FixedSizeScrolling(_WidgetBase):
    """For a scrolling widget whose own size never depends on its content (log, agents table).

    Overrides ``Widget._watch_virtual_size`` (the private watcher Textual's reactives call
    before the public one) and ``Widget.refresh``; calls ``Widget._scroll_update``.

    Textual asks for a layout pass of the whole screen whenever a widget's virtual size
    changes — each write to a log that has not reached ``max_lines`` yet, a wider line, a
    new table row. The widget's region does not move, but that pass re-measures the screen
    and then redraws the scrollbars in a *second* screen write after the frame's own. Here
    the scrollbars are updated at once, in the same frame, and the layout pass is skipped —
    unless a scrollbar appears or disappears (that does change the layout), the widget is
    not laid out yet, or its width or height is ``auto`` (then its size does follow its
    content). A log pane that keeps its vertical scrollbar at all times
    (``overflow-y: scroll``) does not change the layout with its first screenful either.
    """

    _virtual_size_changed = False
    #: Layout passes skipped so far.
    layouts_skipped = 0

    def _watch_virtual_size(self, old: Size, new: Size) -> None:
        self._virtual_size_changed = True  # the reactive's refresh(layout=True) comes next

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if self._virtual_size_changed:
            self._virtual_size_changed = False
            if layout and not recompose and self.container_size and not self.styles.auto_dimensions:
                shown = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
                self._scroll_update(self.virtual_size)  # showing or hiding one refreshes with layout
                if (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) == shown:
                    layout = False
                    self.layouts_skipped += 1
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


def set_cells(table: DataTable[Any], changes: Iterable[tuple[str, str, Any, bool]]) -> None:
    """Like :meth:`DataTable.update_cell` for many cells, repainting only the rows in view that changed.

    Writes what ``update_cell`` writes (``DataTable._data``, ``_update_count``, and for a
    cell that must widen its column ``_updated_cells`` and ``_require_update_dimensions``),
    then refreshes the changed rows that are in view (the whole table when a column widens).
    A snapshot moves a few numbers of many agents, and ``update_cell`` refreshes the whole
    table for each cell; a row that did not change is not written to the terminal again, nor
    one out of view (the new ``_update_count`` draws it afresh when it scrolls in). Each
    change is (row key, column key, value, widen the column); every key must exist.
    """
    data = table._data
    rows: set[RowKey] = set()
    for row, column, value, widen in changes:
        row_key, column_key = RowKey(row), ColumnKey(column)
        data[row_key][column_key] = value
        rows.add(row_key)
        if widen:
            table._updated_cells.add(CellKey(row_key, column_key))
            table._require_update_dimensions = True
    table._update_count += 1
    if table._require_update_dimensions:
        table.refresh()
        return
    top = round(table.scroll_y)
    in_view = max(0, table.size.height - (table.header_height if table.show_header else 0))
    for row_key in rows:
        index = table.get_row_index(row_key)
        if top <= index < top + in_view:
            table.refresh_row(index)


def set_row_order(table: DataTable[Any], keys: Sequence[RowKey]) -> None:
    """Put the rows of ``table`` in the order of ``keys`` (every row's key, each once), as
    :meth:`DataTable.sort` does: ``DataTable._row_locations`` rebuilt, ``_update_count`` bumped, the
    table refreshed. ``sort`` reads every row's cells to compare them; a table that formats only
    the rows in view has its order from elsewhere and no cells worth reading."""
    table._row_locations = TwoWayDict({key: index for index, key in enumerate(keys)})
    table._update_count += 1
    table.refresh()


class TransientDirtyRegions(_WidgetBase):
    """For a widget that renders its own lines (a :class:`~textual.widgets.Log`).

    Overrides ``Widget._set_dirty`` and empties ``Widget._dirty_regions`` after it.
    """

    def _set_dirty(self, *regions: Region) -> None:
        """Mark regions for the next paint without keeping them after it.

        Textual paints a widget from its repaint regions (each paint takes them) and also
        adds every region to ``_dirty_regions``, which only ``Widget.render_line`` reads and
        clears. A Log renders its own lines, so that set was only emptied by a whole-pane
        refresh: under a steady tail it kept one region per distinct batch size written,
        without end. Nothing is lost by clearing it.
        """
        super()._set_dirty(*regions)
        self._dirty_regions.clear()


def dirty_regions(widget: Widget) -> frozenset[Region]:
    """The regions Textual keeps in ``Widget._dirty_regions`` for ``widget`` (a copy).

    What :class:`TransientDirtyRegions` empties: a test reads it to see that a pane keeps no
    region per batch written.
    """
    return frozenset(widget._dirty_regions)


class LogWidthInPlace(_LogBase):
    """For a :class:`~textual.widgets.Log` fed lines that are already printable.

    Overrides ``Log._update_size`` (a thread worker in Textual) and calls
    ``Log._update_maximum_width``.
    """

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]  # Log's is a thread worker
        """Widen the scrollable width to the longest new line, in the frame that wrote it.

        Textual's Log measures every new line again in a new thread per write, stripping
        escapes that cannot be there when lines reach the pane already printable. An ASCII
        line's width is its length, so a whole batch costs one ``max``.
        """
        if lines:
            widest = max(len(line) if line.isascii() else cell_len(line) for line in lines)
            self._update_maximum_width(updates, widest)


class CachedLogLines(_LogBase):
    """For a :class:`~textual.widgets.Log`: a line is rendered once, not at every paint it is in view.

    Overrides ``Log._render_line_strip``; reads ``Log._render_line_cache`` and ``Log.text_selection``.

    Textual's Log renders and highlights every line in view again at each paint (it keeps the
    result only while text is selected), so a tail that moves a line at a time renders the
    whole pane each frame. Here a line's strip is kept while nothing is selected and the
    widget's style is the one it was rendered with; Log itself drops a line's strip when it is
    refreshed, moves them when old lines are pruned and clears them on a style update, a
    selection change and ``clear``.
    """

    _cached_style: Style | None = None
    #: Lines kept: more than a pane shows. Log keeps up to 1 024, and moves every one of them
    #: each time it prunes old lines (each write once the log is full).
    cached_lines = 160

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        if self.text_selection is not None:
            return super()._render_line_strip(y, rich_style)
        cache = self._render_line_cache
        if rich_style != self._cached_style or cache.maxsize != self.cached_lines:
            cache.clear()
            cache.maxsize = self.cached_lines
            self._cached_style = rich_style
        line: Strip | None = cache.get(y)
        if line is None:
            line = super()._render_line_strip(y, rich_style)
            cache[y] = line
        return line


class FramePaced:
    """Mixin for a :class:`~textual.screen.Screen`: its writes are spaced by ``app.frame_interval``.

    Textual paints a screen's dirty widgets from an update timer of its own and paints at
    once on a layout pass, a resize or a screen switch; between two of the viewer's frames a
    burst of such paints would put more than ``--fps`` writes into one second.

    * ``Screen._update_timer`` (a property; Textual only pauses and resumes it) becomes a
      :class:`~agentwatch.tui.pacing.PaintGate` that runs ``Screen._on_timer_update``, the
      paint step, when the interval since the last write is up.
    * ``Screen._compositor_refresh`` (where a screen is written to the terminal) defers a
      write that comes too soon: it adds the screen to ``Screen._dirty_widgets`` so the
      deferred paint repaints it whole, and asks the gate for that paint.

    Nothing is lost (the compositor keeps its dirty regions). Within an interval of a key press
    (the app's ``last_input_at``, monotonic) a write is not deferred: input is drawn at once.
    """

    _paint_gate: PaintGate | None = None

    @property
    def _update_timer(self) -> Any:  # Screen's is a Timer; Textual only calls pause() and resume()
        return self._gate()

    def _gate(self) -> PaintGate:
        if self._paint_gate is None:
            screen: Any = self
            app = screen.app
            self._paint_gate = PaintGate(
                screen,
                getattr(app, "frame_interval", DEFAULT_PERIOD),
                paint=screen._on_timer_update,
                last_input=lambda: getattr(app, "last_input_at", -math.inf),
            )
        return self._paint_gate

    def _compositor_refresh(self) -> None:
        gate = self._gate()
        screen: Any = self
        if not gate.painting and gate.due_in() > 0 and screen is screen.app.screen:
            # Too soon after the last write (a layout pass, resize or screen switch): paint the
            # whole screen when the interval is up instead of now (one paint, with or without
            # a layout pass: a dirty screen is painted by either path of the update).
            screen._dirty_widgets.add(screen)
            gate.resume()
            return
        if screen is screen.app.screen and not screen.app.is_inline:
            paint_screen(screen)
        else:
            super()._compositor_refresh()  # type: ignore[misc]  # a mixin: Screen comes after it
        if screen is screen.app.screen:
            # From the end of the write: the next write starts a full interval after it.
            gate.last_paint = time.monotonic()


def write_to_terminal(app: Any, data: str) -> bool:
    """Write ``data`` to the app's terminal through its driver (``App._driver``), as ``App.bell``
    writes BEL; nothing when headless or not running. Returns True when written."""
    driver = getattr(app, "_driver", None)
    if driver is None or app.is_headless:
        return False
    driver.write(data)
    return True


def replace_log_rows(log: Log, start: int, rows: Sequence[str]) -> None:
    """Rewrite the rows ``start`` … of a :class:`~textual.widgets.Log` in place (a collapsed line's
    count went up): ``Log._lines`` holds them and ``Log._render_line_cache`` their drawn strips,
    which Log itself only ever appends to, prunes or clears whole."""
    lines: list[str] = log._lines
    cache = log._render_line_cache
    for offset, row in enumerate(rows):
        lines[start + offset] = row
        cache.discard(start + offset)
    widest = max((cell_len(row) for row in rows), default=0)
    if widest > log._width:
        log._update_maximum_width(log._updates, widest)
    log.refresh_lines(start, len(rows))


class ScrollsTerminal:
    """Marks a widget whose rows the terminal may scroll itself (the log pane): see :func:`paint_screen`."""


class _Written(CompositorUpdate):
    """A paint already turned into the bytes to write."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Segment(self.text)

    def render_segments(self, console: Console) -> str:
        return self.text


def render_strip(strip: Strip, console: Console) -> str:
    """What :meth:`Strip.render` writes, with fewer style sequences.

    Textual writes each segment as ``CSI style m`` text ``CSI 0 m``, so a row of one colour
    drawn cell by cell (a scrollbar) repeats its style once per cell, and a log line resets and
    restates its background at each colour change. Here segments of one style are written as
    one run, and from one run to the next only what changes is said (a new colour; an attribute
    turned on), unless that is not shorter than a reset and the whole style. The text starts
    and ends with every attribute off, as Textual's does, so it draws the same wherever it is
    written. It is kept where ``Strip.render`` keeps its own (``Strip._render_cache``).
    """
    cached: str | None = strip._render_cache
    if cached is not None:
        return cached
    color_system = console._color_system or ColorSystem.TRUECOLOR
    runs: list[tuple[Style | None, str]] = []
    keys: list[tuple[str, str | None] | None] = []
    for text, style, _control in strip._segments:
        key = None if style is None else (_ansi(style, color_system), style._link)
        if runs and key == keys[-1]:
            runs[-1] = (runs[-1][0], runs[-1][1] + text)
        else:
            runs.append((style, text))
            keys.append(key)
    parts: list[str] = []
    previous: Style | None = None  # the style in force (None: every attribute off)
    for (style, text), key in zip(runs, keys, strict=True):
        if style is None or key is None or not key[0] or style._link:
            if previous is not None:
                parts.append("\x1b[0m")
                previous = None
            parts.append(text if style is None else Strip.render_style(style, text, color_system))
            continue
        full = f"\x1b[{key[0]}m"
        if previous is None:
            parts.append(full)
        else:
            change = _sgr_change(previous, style, color_system)
            parts.append(change if change is not None and len(change) < len(full) + 4 else "\x1b[0m" + full)
        parts.append(text)
        previous = style
    if previous is not None:
        parts.append("\x1b[0m")
    cached = strip._render_cache = "".join(parts)
    return cached


def _ansi(style: Style, color_system: ColorSystem) -> str:
    ansi: str | None = style._ansi
    return ansi if ansi is not None else Strip.render_ansi(style, color_system)


def _sgr_change(before: Style, after: Style, color_system: ColorSystem) -> str | None:
    """The SGR sequence that takes the terminal from ``before`` to ``after`` without a reset, or
    None when an attribute must be turned off (a reset and the whole style say that more simply)."""
    on_before = before._attributes & before._set_attributes
    on_after = after._attributes & after._set_attributes
    if on_before & ~on_after:
        return None
    codes = [SGR_STYLES[bit] for bit in range(on_after.bit_length()) if on_after & ~on_before & (1 << bit)]
    if after._color != before._color:
        codes.extend(after._color.downgrade(color_system).get_ansi_codes() if after._color else ["39"])
    if after._bgcolor != before._bgcolor:
        codes.extend(
            after._bgcolor.downgrade(color_system).get_ansi_codes(False) if after._bgcolor else ["49"]
        )
    return f"\x1b[{';'.join(codes)}m" if codes else ""


def _chops(update: CompositorUpdate, console: Console) -> list[Chop]:
    """The writes of a Textual paint (``ChopsUpdate``: changed regions; ``LayoutUpdate``: all)."""
    chops: list[Chop] = []
    if isinstance(update, LayoutUpdate):
        for y, line in enumerate(update.strips, update.region.y):
            x = update.region.x
            for strip in line:
                if strip is not None:
                    chops.append(Chop(y, x, strip.cell_length, render_strip(strip, console), source=strip))
                    x += strip.cell_length
        return chops
    assert isinstance(update, ChopsUpdate)
    for y, x1, x2 in update.spans:
        for end, (x, piece) in zip(update.chop_ends[y], update.chops[y].items(), strict=False):
            if piece is None or x >= x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                chops.append(Chop(y, x, piece.cell_length, render_strip(piece, console), source=piece))
            else:  # as Textual writes it: from the chop's start to the region's end
                cut = piece.crop(0, min(end, x2) - x)
                chops.append(Chop(y, x, cut.cell_length, render_strip(cut, console), whole=False))
    return chops


def _strip_runs(source: object, color_system: ColorSystem) -> list[Run] | None:
    """A strip's runs of one style: (cells, SGR parameters, text); None for a strip with a link."""
    if not isinstance(source, Strip):
        return None
    runs: list[Run] = []
    for text, style, _control in source._segments:
        if style is not None and style._link:
            return None
        sgr = "" if style is None else _ansi(style, color_system)
        if runs and runs[-1][1] == sgr:
            width, _sgr, joined = runs[-1]
            runs[-1] = (width + cell_len(text), sgr, joined + text)
        else:
            runs.append((cell_len(text), sgr, text))
    return runs


def _screen_rows(app: Any, screen: Any, size: Size) -> ScreenRows:
    """The app's model of its terminal, forgotten when another screen wrote last or the size changed."""
    rows: ScreenRows | None = getattr(app, "_agentwatch_screen_rows", None)
    if rows is None or (rows.width, rows.height) != tuple(size):
        color_system = app.console._color_system or ColorSystem.TRUECOLOR
        rows = ScreenRows(size.width, size.height, runs_of=lambda source: _strip_runs(source, color_system))
        app._agentwatch_screen_rows = rows
    elif getattr(app, "_agentwatch_screen_rows_owner", None) is not screen:
        rows.forget()
    app._agentwatch_screen_rows_owner = screen
    return rows


def _scroll_band(screen: Any) -> tuple[int, int] | None:
    """The rows of the first visible :class:`ScrollsTerminal` widget's content, on screen."""
    for widget, (_region, clip) in screen._compositor.visible_widgets.items():
        if isinstance(widget, ScrollsTerminal):
            band = cast(Widget, widget).scrollable_content_region.intersection(clip)
            return (band.y, band.bottom) if band.height >= 2 else None
    return None


def paint_screen(screen: Any) -> None:
    """Write the top screen's paint as what ``Screen._compositor_refresh`` writes, minus what the
    terminal already shows (see :mod:`agentwatch.tui.screenrows`).

    The model of the terminal is the app's: a paint by another screen, a size change, or a paint
    that is not written (headless, not running, inside a batch) makes every row unknown, so
    nothing is skipped or scrolled until it is written again. Headless (tests' ``run_test``), the
    paint is Textual's own.
    """
    app = screen.app
    update = screen._compositor.render_update(screen_stack=app._background_screens)
    writes = (
        update is not None
        and app._running
        and not app._closed
        and not app.is_headless
        and app._driver is not None
        and not app._batch_count
    )
    if not writes:
        rows: ScreenRows | None = getattr(app, "_agentwatch_screen_rows", None)
        if rows is not None and update is not None:
            rows.forget()
    elif isinstance(update, ChopsUpdate | LayoutUpdate):
        rows = _screen_rows(app, screen, screen._compositor.size)
        full = isinstance(update, LayoutUpdate)
        chops = _chops(update, app.console)
        text = rows.paint(chops, full=full, band=None if full else _scroll_band(screen))
        update = _Written(text) if text else None  # None: everything painted is on screen already
    app._display(screen, update)
    screen._dirty_widgets.clear()
    app._update_mouse_over(screen)
