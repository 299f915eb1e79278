"""Every use the viewer makes of Textual's private API, in one module.

Textual is pinned below its next major version (``textual>=8.0,<9`` in ``pyproject.toml``).
Each piece here overrides or calls something private to Textual; its docstring says what
and why. ``tests/tui/test_textual_internals.py`` checks each one against the installed
Textual and fails, naming the piece, when a release moves what it relies on.

* :class:`FixedSizeScrolling` — no screen layout pass when a scrolling widget's content
  grows (``Widget._watch_virtual_size``, ``Widget._scroll_update``).
* :class:`QuietScrollBar` / :class:`QuietScrollbars` — a scrollbar repainted only when what it
  draws changes (``Widget.refresh``; the ``Widget.vertical_scrollbar`` / ``horizontal_scrollbar``
  properties, ``Widget._vertical_scrollbar``, ``_horizontal_scrollbar``, ``App._start_widget``),
  and its strips handed out again while its cached rows stay the same (``StylesCache._cache``,
  ``_dirty_lines``, ``_width``).
* :class:`RenderedRows` — a log's rendered rows kept, moved up, when new lines move them
  (``Widget._styles_cache``, ``StylesCache._cache``, ``_dirty_lines``).
* :class:`KeptCells`, :func:`set_cells`, :func:`set_row_order` (in
  :mod:`~agentwatch.tui.textual_table`) — the agents table: a DataTable cell rendered again only
  when its value or place changes, a one-style cell built as segments, a row's line joined from its
  kept cells; many cells written, only the changed rows in view repainted; rows put in a given
  order without reading a cell (``DataTable._render_cell``, ``_render_line``, ``_data``,
  ``_row_locations``, ``_update_count`` and more: that module lists them).
* :class:`TransientDirtyRegions` — the log pane's dirty marking (``Widget._set_dirty``,
  ``Widget._dirty_regions``); :func:`dirty_regions` reads what is kept there.
* :class:`LogWidthInPlace` — the log's width measured in the frame that wrote the lines, its
  height counted in rows (``Log._update_size``, ``Log._update_maximum_width``, ``Log._lines``,
  ``Log._width``, ``Log._updates``).
* :class:`CachedLogLines` — a log line rendered once while it stays the same, kept under its
  line's number (``Log._render_line_strip``, ``Log._prune_max_lines``, ``Log._lines``), and the rows
  a paint renders again drawn into the styles cache while the styles are plain
  (``Widget._styles_cache``, ``StylesCache._cache``, ``_dirty_lines``, ``_width``).
* :class:`FramePaced` — a screen's writes spaced by the frame interval
  (``Screen._update_timer``, ``Screen._compositor_refresh``, ``Screen._on_timer_update``,
  ``Screen._dirty_widgets``); the spacing itself is :class:`~agentwatch.tui.pacing.PaintGate`.
* :func:`replace_log_rows` — rows of a log rewritten in place (``Log._lines``,
  ``Log._render_line_cache``, ``Log._width``, ``Log._updates``, ``Log._update_maximum_width``).
* :func:`write_to_terminal` — an escape sequence (a desktop notification) written through the
  app's driver (``App._driver``), in order with what Textual writes, as ``App.bell`` does.
* :class:`ScrollsTerminal` and :func:`paint_screen` (in :mod:`~agentwatch.tui.textual_paint`) — a
  screen's paint written as only what differs from what the terminal shows, its log pane scrolled
  by the terminal, rendered from only the rows that changed
  (``Screen._compositor``, ``Compositor.render_update``, ``_dirty_regions``, ``cuts``,
  ``visible_widgets``, ``_regions_to_spans``, ``ChopsUpdate`` and ``LayoutUpdate``'s
  fields, ``App._display``, ``App._update_mouse_over``, ``App._background_screens``,
  ``App._running``, ``App._closed``, ``App._batch_count``, ``App._driver``); :func:`render_strip`
  writes a strip with fewer style sequences (``Strip._segments``, ``Strip._render_cache``,
  ``Style._ansi``, ``Style._attributes``, ``Style._set_attributes``, ``Style._color``,
  ``Style._bgcolor``, ``Style._link``; ``textual.strip.SGR_STYLES``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from math import ceil
from typing import TYPE_CHECKING, Any, Self

from rich.cells import cell_len
from rich.console import RenderableType
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Log

from agentwatch.tui.logstrips import cells
from agentwatch.tui.pacing import DEFAULT_PERIOD, PaintGate
from agentwatch.tui.textual_paint import (  # re-exported: every private use is reached from here
    ScrollsTerminal,
    paint_screen,
    render_strip,
)
from agentwatch.tui.textual_table import KeptCells, set_cells, set_row_order  # re-exported, as above

__all__ = [
    "CachedLogLines",
    "FixedSizeScrolling",
    "FramePaced",
    "KeptCells",
    "LogWidthInPlace",
    "QuietScrollBar",
    "QuietScrollbars",
    "RenderedRows",
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


class QuietScrollBar(ScrollBar):
    """A scrollbar repainted only when what it draws changes.

    Overrides ``Widget.refresh``. A scrollbar refreshes at every change of its window's size,
    virtual size or position (each line written to a log that is not full yet), and redraws
    itself cell by cell, though a long log's thumb moves a cell only now and then. Here a plain
    repaint (no region, no layout) waits for the bar's next message and is skipped while
    :meth:`look` — everything ``render`` draws from: its length, the thumb's ends in eighths of
    a cell as ``ScrollBarRender.render_bar`` computes them, the colours, hover and grab — is what
    was last rendered.
    """

    _drawn: tuple[object, ...] | None = None
    _look_pending = False

    @staticmethod
    def thumb(
        size: int, virtual_size: float, window_size: float, position: float, vertical: bool
    ) -> tuple[int, int] | None:
        """The thumb's first and last eighth of a cell, as ``ScrollBarRender.render_bar`` computes them
        (None: no thumb); ``window_size`` and ``virtual_size`` as ``ScrollBar`` holds them."""
        window = ceil(window_size if window_size < virtual_size else 0)
        virtual = ceil(virtual_size)
        if not (window and size and virtual and size != virtual):
            return None
        eighths = len(ScrollBarRender.VERTICAL_BARS if vertical else ScrollBarRender.HORIZONTAL_BARS)
        thumb_size = max(1, window / (virtual / size))
        start = int((size - thumb_size) * (position / (virtual - window)) * eighths)
        return (start, start + ceil(thumb_size * eighths))

    def look(self) -> tuple[object, ...]:
        """What the bar draws, as a value: equal looks draw the same cells."""
        size = self.size.height if self.vertical else self.size.width
        thumb = self.thumb(size, self.window_virtual_size, self.window_size, self.position, self.vertical)
        parent = self.parent
        styles = parent.styles if parent is not None else None
        colours = (
            ()
            if styles is None
            else (
                styles.scrollbar_background,
                styles.scrollbar_color,
                styles.scrollbar_background_hover,
                styles.scrollbar_color_hover,
                styles.scrollbar_background_active,
                styles.scrollbar_color_active,
            )
        )
        return (self.size, thumb, self.thickness, self.grabbed, self.mouse_over, self.renderer, colours)

    def render(self) -> RenderableType:
        self._drawn = self.look()
        return super().render()

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if regions or not repaint or layout or recompose or self._drawn is None or not self.is_mounted:
            return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        # Its window's size, virtual size and position are set one after the other: the look
        # is compared once they all are.
        if not self._look_pending:
            self._look_pending = True
            self.call_later(self._repaint_if_changed)
        return self

    def _repaint_if_changed(self) -> None:
        self._look_pending = False
        if self._drawn is None or self.look() != self._drawn:
            super().refresh()

    _kept: tuple[object, ...] | None = None
    _kept_strips: list[Strip] = []  # noqa: RUF012  (replaced, never changed in place)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The strips returned last time for ``crop`` while what they are made of is the same.

        ``Widget.render_lines`` (``StylesCache.render_widget``) works out the bar's styles,
        colours and line filters at each call, then takes its rows from ``StylesCache._cache``
        (rendered again only when ``_dirty_lines`` or a new width says so); a log's repaints ask
        for its bars several times a second. Kept: the same crop, the same cached rows (the same
        objects, none dirty, the same width), the same filters and background they go through.
        """
        kept = self._kept is not None and self._look_of(crop) == self._kept
        if kept:
            return list(self._kept_strips)
        strips = super().render_lines(crop)
        self._kept, self._kept_strips = self._look_of(crop), strips
        return list(strips)

    def _look_of(self, crop: Region) -> tuple[object, ...] | None:
        cache = self._styles_cache
        if cache._dirty_lines or cache._width != self.region.width:
            return None
        rows = tuple(cache._cache.get(y) for y in crop.line_range)
        if None in rows:
            return None
        return (crop, rows, tuple(self.get_line_filters()), self.background_colors[1])


class QuietScrollbars(_WidgetBase):
    """For a scrolling widget: its scrollbars are :class:`QuietScrollBar`.

    Overrides the ``Widget.vertical_scrollbar`` and ``horizontal_scrollbar`` properties, which
    create the bar on first use, with Textual's code and the other class (``Widget._vertical_scrollbar``,
    ``_horizontal_scrollbar``, ``App._start_widget``).
    """

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        if self._vertical_scrollbar is None:
            self._vertical_scrollbar = self._started_bar(
                vertical=True, thickness=self.scrollbar_size_vertical
            )
        return self._vertical_scrollbar

    @property
    def horizontal_scrollbar(self) -> ScrollBar:
        if self._horizontal_scrollbar is None:
            self._horizontal_scrollbar = self._started_bar(
                vertical=False, thickness=self.scrollbar_size_horizontal
            )
        return self._horizontal_scrollbar

    def _started_bar(self, *, vertical: bool, thickness: int) -> QuietScrollBar:
        bar = QuietScrollBar(
            vertical=vertical, name="vertical" if vertical else "horizontal", thickness=thickness
        )
        bar.display = False
        self.app._start_widget(self, bar)
        return bar


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

    Overrides ``Log._update_size`` (a thread worker in Textual) and ``Log._update_maximum_width``;
    reads ``Log._lines``, ``Log._width`` and ``Log._updates``.
    """

    def _update_maximum_width(self, updates: int, size: int) -> None:
        """Log's, with the virtual height counted in rows as ``Log.write_lines`` counts it.

        Log's counts ``line_count``, which a subclass may count otherwise: the log view counts a
        wrapped line once, and its last rows were out of reach of the scroll.
        """
        if updates == self._updates:
            self._width = max(size, self._width)
            rows = self._lines
            self.virtual_size = Size(self._width, len(rows) - (rows[-1] == "") if rows else 0)

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]  # Log's is a thread worker
        """Widen the scrollable width to the longest new line, in the frame that wrote it.

        Textual's Log measures every new line again in a new thread per write, stripping
        escapes that cannot be there when lines reach the pane already printable. An ASCII
        line's width is its length, so a whole batch costs one ``max``; another line's is measured
        over its characters that are not ASCII (:func:`~agentwatch.tui.logstrips.cells`).
        """
        if lines:
            widest = max(len(line) if line.isascii() else cells(line) for line in lines)
            self._update_maximum_width(updates, widest)


class CachedLogLines(_LogBase):
    """For a :class:`~textual.widgets.Log`: a line is rendered once, not at every paint it is in view.

    Overrides ``Log._render_line_strip`` and ``Log._prune_max_lines``; reads ``Log._lines`` and
    ``Log.text_selection``. A widget that draws a row's strip itself (:meth:`line_strip`) does so
    on a miss; Textual's Log draws the others and every row while text is selected.

    Textual's Log renders and highlights every line in view again at each paint (it keeps the
    result only while text is selected), so a tail that moves a line at a time renders the
    whole pane each frame. Here a line's strip is kept while nothing is selected and the
    widget's style is the one it was rendered with, under the line's number since the log began:
    when old lines are pruned (each write once the log is full) no kept strip moves, where Log
    moves every strip it keeps to its line's new index. A line's strip goes when the line is
    refreshed; all go on a style update, a selection change and ``clear``. While text is selected
    Log draws and keeps the rows itself (``Log._render_line_cache``), as Textual does.

    Overrides ``Widget.render_lines`` too: while the widget's content rows are plain (no
    padding, border or outline beside them, no hatch, tint, opacity or text opacity), the rows a
    paint asks for that its styles cache must render again (``Widget._styles_cache``,
    ``StylesCache._cache``, ``_dirty_lines``, ``_width``) are drawn here and put in that cache:
    the kept strip cropped and extended to the width in the widget's style, the row that
    ``StylesCache.render_line`` would make of ``Log.render_line``'s, less the per-segment offsets
    (``Strip.apply_offsets``) only text selection reads, and it reads them from ``render_line``,
    which stays Textual's. Border rows, rows past the last line and every row while text is
    selected are left to Textual.
    """

    _cached_style: Style | None = None
    #: Lines pruned from the top since the log began: ``Log._lines[y]`` is line ``y + _pruned``.
    _pruned = 0
    _kept_strips: LRUCache[int, Strip] | None = None
    #: Lines kept: more than a pane shows.
    cached_lines = 160

    def _kept(self) -> LRUCache[int, Strip]:
        kept = self._kept_strips
        if kept is None or kept.maxsize != self.cached_lines:
            kept = self._kept_strips = LRUCache(self.cached_lines)
        return kept

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        if self.text_selection is not None:
            return super()._render_line_strip(y, rich_style)
        kept = self._kept()
        if rich_style != self._cached_style:
            kept.clear()
            self._cached_style = rich_style
        number = y + self._pruned
        line: Strip | None = kept.get(number)
        if line is None:
            line = self.line_strip(self._lines[y], rich_style)
            if line is None:
                line = super()._render_line_strip(y, rich_style)
            kept[number] = line
        return line

    def line_strip(self, line: str, rich_style: Style) -> Strip | None:
        """The uncropped strip of a row (``line`` as written to the log) in the widget's style,
        drawn by the widget itself; None: Textual's Log draws it. Not called while text is selected."""
        return None

    def decorate_row(self, y: int, strip: Strip) -> Strip:
        """Row ``y`` of the content as shown (``strip``: the line cropped to the view): a subclass
        styles a row here, for ``render_line`` and for the rows drawn by :meth:`render_lines` alike."""
        return strip

    def render_line(self, y: int) -> Strip:
        return self.decorate_row(y, super().render_line(y))

    def render_lines(self, crop: Region) -> list[Strip]:
        if self.text_selection is None:
            self._draw_dirty_rows(crop)
        return super().render_lines(crop)

    def plain_rows(self) -> bool:
        """Whether ``StylesCache.render_line`` gives a content row as the content line, unchanged:
        no padding, border or outline beside it, no hatch, tint, text opacity or opacity."""
        styles = self.styles
        if styles.text_opacity != 1.0 or styles.tint.a:
            return False
        if styles.has_rule("hatch") and styles.hatch != "none":
            return False
        _top, pad_right, _bottom, pad_left = styles.padding
        (_t, _), (border_right, _), (_b, _), (border_left, _) = styles.border
        if pad_right or pad_left or border_right or border_left:
            return False
        if any(edge for edge, _colour in styles.outline):
            return False
        return self.opacity == 1.0

    def _draw_dirty_rows(self, crop: Region) -> None:
        """Put in the styles cache the content rows of ``crop`` it would render (see the class)."""
        cache = self._styles_cache
        dirty = cache._dirty_lines
        rows = cache._cache
        width = self.region.width
        if cache._width != width:  # what StylesCache.render does first
            cache.clear()
            cache._width = width
        wanted = [y for y in crop.line_range if y in dirty or y not in rows]
        if not wanted or not self.plain_rows():
            return
        top = self.styles.gutter.top
        content_width, content_height = self.size
        scroll_x, scroll_y = self.scroll_offset
        lines = self._lines
        style = self.rich_style
        for y in wanted:
            row = y - top
            if not 0 <= row < content_height or scroll_y + row >= len(lines):
                continue
            strip = self._render_line_strip(scroll_y + row, style)
            rows[y] = self.decorate_row(row, strip.crop_extend(scroll_x, scroll_x + content_width, style))
            dirty.discard(y)

    def _prune_max_lines(self) -> None:
        before = len(self._lines)
        super()._prune_max_lines()  # Log's own cache holds strips only while text is selected
        self._pruned += before - len(self._lines)

    def forget_lines(self, y_start: int, line_count: int) -> None:
        """Drop the kept strips of these rows (their lines were rewritten)."""
        kept = self._kept_strips
        if kept is not None:
            first = y_start + self._pruned
            for number in range(first, first + line_count):
                kept.discard(number)

    def _forget_all(self) -> None:
        if self._kept_strips is not None:
            self._kept_strips.clear()

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        self.forget_lines(y_start, line_count)
        super().refresh_lines(y_start, line_count)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_all()

    def selection_updated(self, selection: Selection | None) -> None:
        self._forget_all()
        super().selection_updated(selection)

    def clear(self) -> Self:
        self._forget_all()
        return super().clear()


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

    def _on_timer_update(self) -> None:
        """Textual's paint step, then what an earlier write deferred, if it is still to be painted.

        Textual paints from this step only when ``Screen._dirty_widgets`` is not empty, and a layout
        pass in it empties that set; the deferred regions wait in the compositor
        (``Compositor._dirty_regions``). Called by the gate, they are painted now; called from
        elsewhere (Textual's test pilot), the gate, which the step paused, is resumed.
        """
        super()._on_timer_update()  # type: ignore[misc]  # a mixin: Screen comes after it
        screen: Any = self
        if screen._compositor._dirty_regions and screen is screen.app.screen and not screen.app._batch_count:
            gate = self._gate()
            if gate.painting:
                self._compositor_refresh()  # what an earlier paint deferred: its regions wait in the compositor
            else:
                gate.resume()

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
            # A screen under another (the main screen under the help): Textual hands what changed
            # to the screen on top and then asks for a whole repaint of this one
            # (``Screen._repaint_required``), whose regions it hands over again, and so on for as
            # long as the screen is covered: a paint loop at the gate's pace. What changed was
            # handed over; the next change brings the next paint.
            screen._repaint_required = False
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
    count went up): ``Log._lines`` holds them and ``Log._render_line_cache`` (or
    :class:`CachedLogLines`) their drawn strips, which Log itself only ever appends to, prunes or
    clears whole."""
    lines: list[str] = log._lines
    cache = log._render_line_cache
    for offset, row in enumerate(rows):
        lines[start + offset] = row
        cache.discard(start + offset)
    if isinstance(log, CachedLogLines):
        log.forget_lines(start, len(rows))
    widest = max((cell_len(row) for row in rows), default=0)
    if widest > log._width:
        log._update_maximum_width(log._updates, widest)
    log.refresh_lines(start, len(rows))


class RenderedRows:
    """The rows a widget's styles cache holds, taken before its content moves (``StylesCache._cache``,
    ``_dirty_lines``; ``Widget._styles_cache``), to be put back moved with :meth:`moved`.

    A log that takes new lines at its tail moves every row in view up, and Textual marks every
    row to be rendered again (a scroll refreshes the whole widget; so does a full log dropping its
    oldest lines). Each row it already rendered shows a line that is still there, one or more rows
    higher: :meth:`moved` puts those rows back where their lines now are, so only the rows that
    show new lines are rendered. Rows outside ``band`` (the content's rows in the widget: a border,
    what a scrollbar covers) are left as Textual left them, but for border and padding rows
    (``Widget.styles.gutter``), which the content does not move: those rendered before are kept.
    """

    def __init__(self, widget: Widget, band: range) -> None:
        cache = widget._styles_cache
        self.widget = widget
        self.band = band
        self.width = widget.size.width
        self.rows: dict[int, Strip] = dict(cache._cache)
        self.dirty: set[int] = set(cache._dirty_lines)

    def moved(self, shift: int, band: range) -> bool:
        """The rows put back ``shift`` rows higher (their lines moved up); False when nothing could
        be kept: the band or the width changed, or every row in view shows a new line."""
        widget = self.widget
        if band != self.band or widget.size.width != self.width or not 0 < shift < len(band):
            return False
        cache = widget._styles_cache
        rows = cache._cache
        keep = {y: strip for y, strip in rows.items() if y not in band}
        # A border or padding row does not move with the content: the one rendered before stays.
        gutter = widget.styles.gutter
        height = widget.region.height
        for y, strip in self.rows.items():
            if (y < gutter.top or y >= height - gutter.bottom) and y not in self.dirty:
                keep.setdefault(y, strip)
        first, end = band.start, band.stop
        for y, strip in self.rows.items():
            if first + shift <= y < end and y not in self.dirty:
                keep[y - shift] = strip
        dirty = {y for y in cache._dirty_lines if y not in band and y not in keep}
        dirty.update(y - shift for y in self.dirty if first + shift <= y < end)
        dirty.update(range(end - shift, end))
        rows.clear()
        rows.update(keep)
        cache._dirty_lines.clear()
        cache._dirty_lines.update(dirty)
        return True
