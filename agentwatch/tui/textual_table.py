"""Textual's private API used by the agents table: part of :mod:`~agentwatch.tui.textual_internals`.

* :class:`KeptCells` — a DataTable cell rendered again only when its value or place changes, a
  one-style cell built as the segments Rich would give, a row's line joined from its kept cells
  (``DataTable._render_cell``, ``_render_line``, ``render_line``, ``render_lines``,
  ``_clear_caches``, ``_data``, ``_row_locations``, ``_column_locations``, ``_header_row_key``,
  ``_get_offsets``, ``_get_row_style``, ``_get_styles_to_render_cell``, ``_row_label_column_width``,
  ``_labelled_row_exists``, ``_show_hover_cursor``, ``_pseudo_class_state``, the render caches;
  ``textual._segment_tools.line_crop``).
* :func:`set_cells` — many DataTable cells, only the changed rows in view repainted
  (``DataTable._data``, ``_updated_cells``, ``_require_update_dimensions``, ``_update_count``).
* :func:`set_row_order` — a DataTable's rows put in a given order without reading a cell
  (``DataTable._row_locations``, ``_update_count``).

``tests/tui/test_textual_internals.py`` pins each of them; ``tests/tui/test_table_cells.py`` checks
that what they draw is what DataTable draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import is_
from typing import TYPE_CHECKING, Any, Final

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, ColumnKey, RowKey

__all__ = ["KeptCells", "set_cells", "set_row_order"]

if TYPE_CHECKING:
    _DataTableBase = DataTable[Any]
else:
    # A DataTable base here would hide the table's own COMPONENT_CLASSES.
    _DataTableBase = object


#: What a cell's Text may have for :meth:`KeptCells._one_line_cell` to build it (Rich's defaults: crop).
_ONE_LINE_JUSTIFY: Final = frozenset({None, "default", "right"})
_ONE_LINE_OVERFLOW: Final = frozenset({None, "fold", "crop"})
_KeptRow = tuple[tuple[object, ...], tuple[object, ...], list[list[Segment]], Strip]


class KeptCells(_DataTableBase):
    """For a :class:`~textual.widgets.DataTable` whose cells change a few at a time (the agents table).

    Overrides ``DataTable._render_cell``, ``_render_line``, ``render_line``, ``render_lines``,
    ``_clear_caches`` and ``notify_style_update``; reads ``DataTable._data``, ``_row_locations``,
    ``_column_locations``, ``_header_row_key``, ``_show_hover_cursor`` and ``_pseudo_class_state``;
    bounds ``_cell_render_cache``, ``_row_render_cache``, ``_row_renderable_cache`` and ``_line_cache``.

    DataTable keeps a rendered cell only until any cell of the table changes (its cache key holds
    ``_update_count``), so a row with one new figure renders all its cells again, and the header
    with it. Here a rendered cell is kept while its value (a header cell: its column's label) is
    the same object and it is drawn in the same place, width and style; :func:`set_cells`
    replaces only the values that changed. A cell of one style on one line is built as the
    segments Rich would give (:meth:`_one_line_cell`), and a row's line joins the cells it kept
    with the ones that changed (:meth:`_render_line`); what is drawn is what DataTable draws.
    """

    #: Rendered cells kept: several screens of rows at every width and highlight.
    kept_cells = 2_048

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        render = super()._render_cell
        if row_index < -1 or column_index < 0:  # (-1: the header row; a row label column: not kept)
            return render(row_index, column_index, base_style, width, cursor, hover)
        kept: LRUCache[tuple[object, ...], tuple[object, list[list[Segment]]]] | None = self.__dict__.get(
            "_kept"
        )
        if kept is None:
            kept = self.__dict__["_kept"] = LRUCache(self.kept_cells)
            # DataTable's own caches (up to 10 000 cells, 1 000 rows and lines) fill with entries of
            # past updates that will never be read again, which every full garbage collection walks.
            for cache in (
                self._cell_render_cache,
                self._row_render_cache,
                self._row_renderable_cache,
                self._line_cache,
            ):
                cache.maxsize = min(cache.maxsize, self.kept_cells // 4)
        column_key = self._column_locations.get_key(column_index)
        value: object = None
        if row_index == -1:  # a column's label: a new one comes with a new column
            row_key: RowKey | None = self._header_row_key
            column = None if column_key is None else self.columns.get(column_key)
            value = None if column is None else column.label
        else:
            row_key = self._row_locations.get_key(row_index)
            row = None if row_key is None else self._data.get(row_key)
            value = None if row is None or column_key is None else row.get(column_key)
        key = (
            row_key,
            column_key,
            row_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self.show_cursor,
            self._pseudo_class_state,
        )
        found = kept.get(key)
        if found is not None and found[0] is value and value is not None:
            return found[1]
        lines = None
        if row_index >= 0 and type(value) is Text:
            lines = self._one_line_cell(
                value, row_key, row_index, column_index, base_style, width, cursor, hover
            )
        if lines is None:
            lines = render(row_index, column_index, base_style, width, cursor, hover)
        kept[key] = (value, lines)
        return lines

    def _one_line_cell(
        self,
        text: Text,
        row_key: RowKey | None,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> list[list[Segment]] | None:
        """The segments ``DataTable._render_cell`` renders for a one-row cell of one style, built
        directly (None: not such a cell, DataTable renders it).

        DataTable renders every cell through Rich (``Styled(Padding(text))``: the text wrapped,
        justified, cropped, split into lines and padded); a cell of a one-row table whose text has
        one style and no control character is a run of text between two paddings. Reads
        ``DataTable.rows``, ``fixed_rows``, ``fixed_columns`` and ``_show_hover_cursor``.
        """
        row = None if row_key is None else self.rows.get(row_key)
        if row is None or row.height != 1 or row_index < self.fixed_rows or column_index < self.fixed_columns:
            return None
        look = (self.cell_padding, self.show_cursor, self._show_hover_cursor, *self._cursor_priorities())
        line = self._one_line(text, row_index, column_index, base_style, width, cursor, hover, look)
        return None if line is None else [line]

    def _one_line(
        self,
        text: Text,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
        look: tuple[int, bool, bool, bool, bool],
    ) -> list[Segment] | None:
        """:meth:`_one_line_cell`'s line, for a cell of a one-row row, not fixed; ``look`` is the table's
        (cell padding, show the cursor, show the hover cursor). Calls
        ``DataTable._get_styles_to_render_cell`` as ``_render_cell`` does."""
        plain = text.plain
        justify = text.justify
        if (
            text._spans
            or not plain.isprintable()
            or justify not in _ONE_LINE_JUSTIFY
            or text.overflow not in _ONE_LINE_OVERFLOW
            or text.no_wrap is False
        ):
            return None
        padding, show_cursor, show_hover_cursor, css_foreground, css_background = look
        inner = width - 2 * padding
        if inner < 0:
            return None
        style = text.style
        key = (base_style, row_index, column_index, cursor, hover, look, style)
        styles = self._cell_styles()
        found = styles.get(key)
        if found is None:
            component_style, post_style = self._get_styles_to_render_cell(
                False,
                False,
                False,
                hover,
                cursor,
                show_cursor,
                show_hover_cursor,
                css_foreground,
                css_background,
            )
            meta = Style.from_meta({"row": row_index, "column": column_index})
            pre_style = base_style + meta + component_style
            text_style = self.app.console.get_style(style) if style else None
            # As Styled applies them: the cell's style between DataTable's and the cursor's.
            pad, text_segment = Segment.apply_style(
                [Segment(" ", Style.null()), Segment(" ", text_style)], pre_style, post_style
            )
            found = styles[key] = (pad.style, text_segment.style)
        pad_style, text_style = found
        length = 0
        if plain:  # (Rich splits an empty text into no line: nothing is justified)
            if justify == "right":
                plain = plain.rstrip()
            length = cell_len(plain)
            if length > inner:
                plain, length = set_cell_size(plain, inner), inner
            if justify == "right":
                plain, length = " " * (inner - length) + plain, inner
        # Rich draws a line's style as a span over it: an empty line has none.
        line = [Segment(plain, text_style if plain else pad_style)]
        if length < inner:
            line.append(Segment(" " * (inner - length), pad_style))
        if padding:
            side = Segment(" " * padding, pad_style)
            line = [side, *line, side]
        return line

    def _cursor_priorities(self) -> tuple[bool, bool]:
        """Whether the cursor's foreground and background come from CSS (DataTable's two priorities)."""
        return (self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")

    def _cell_styles(self) -> LRUCache[tuple[object, ...], tuple[Style | None, Style | None]]:
        """(padding's style, text's style) of a cell, by what they are made from (:meth:`_one_line`)."""
        styles = self.__dict__.get("_kept_cell_styles")
        if styles is None:
            styles = self.__dict__["_kept_cell_styles"] = LRUCache(self.kept_cells // 4)
        return styles

    def render_lines(self, crop: Region) -> list[Strip]:
        # What is the same for every line of this paint is read once, at its first line.
        self.__dict__["_paint"] = {}
        try:
            return super().render_lines(crop)
        finally:
            self.__dict__["_paint"] = None

    def _paint_look(self) -> tuple[Any, ...] | None:
        """What every row's line of a paint is drawn with (None: a table :meth:`_render_line` leaves to
        DataTable): the columns' widths and keys, the widget's width, the cursor's and hover's rows,
        show cursor, show hover cursor, pseudo classes, the row label's width, the cell padding."""
        paint: dict[str, Any] | None = self.__dict__.get("_paint")
        if paint is not None and "look" in paint:
            look: tuple[Any, ...] | None = paint["look"]
            return look
        look = None
        if not (
            self.cursor_type != "row"
            or self.fixed_columns
            or self.fixed_rows
            or (self._labelled_row_exists and self.show_row_labels)
        ):
            columns = self.ordered_columns
            look = (
                tuple(column.get_render_width(self) for column in columns),
                tuple(column.key for column in columns),
                self.size.width,
                self.cursor_coordinate.row,
                self.hover_coordinate.row,
                self.show_cursor,
                self._show_hover_cursor,
                self._pseudo_class_state,
                self._row_label_column_width,
                self.cell_padding,
                *self._cursor_priorities(),
            )
        if paint is not None:
            paint["look"] = look
        return look

    def render_line(self, y: int) -> Strip:
        """``DataTable.render_line``, with the widget's style and what the rows are drawn with read once a paint."""
        paint: dict[str, Any] | None = self.__dict__.get("_paint")
        if paint is None or self._paint_look() is None:
            return super().render_line(y)
        base_style: Style | None = paint.get("style")
        if base_style is None:
            base_style = paint["style"] = self.rich_style
            paint["offset"] = self.scroll_offset
            paint["header"] = self.header_height if self.show_header else 0
        scroll_x, scroll_y = paint["offset"]
        if y >= paint["header"]:
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, base_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """A line of a row as ``DataTable._render_line`` draws it, its cells taken from what the row last
        drew when their value is the same object and nothing else about the row changed.

        DataTable renders a row's line afresh after any change to the table (its caches hold
        ``_update_count``), asking for each of its cells with the cursor and hover worked out per
        cell. Taken here only for a table with the row cursor, no fixed row or column and no row
        label (the agents table); anything else, and the header, is DataTable's. Reads
        ``DataTable._get_offsets``, ``_header_row_key``, ``_row_locations``, ``_data``, ``rows``,
        ``_row_label_column_width``, ``_show_hover_cursor``, ``_pseudo_class_state``,
        ``_labelled_row_exists``, and calls ``_get_row_style`` and ``_get_styles_to_render_cell`` as
        ``_render_line_in_row`` does.
        """
        table = self._paint_look()
        if table is None:
            return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row_index = self._row_locations.get(row_key)
        if row_key is self._header_row_key or row_index is None:
            return super()._render_line(y, x1, x2, base_style)
        widths, keys, width, cursor_row, hover_row, show_cursor, show_hover_cursor = table[:7]
        label_width, padding = table[8:10]
        row_style = self._get_row_style(row_index, base_style)
        cursor, hover = cursor_row == row_index, hover_row == row_index
        look = (table, row_index, line_no, base_style, row_style, x1, x2)
        row = self._data.get(row_key, {})
        values = tuple(map(row.get, keys))
        kept_rows = self._kept_rows()
        kept = kept_rows.get(row_key)
        if kept is not None and kept[0] != look:
            kept = None
        if kept is not None and all(map(is_, kept[1], values)):
            return kept[3]
        one_line = line_no == 0 and self.rows[row_key].height == 1
        cell_look = (padding, show_cursor, show_hover_cursor, *table[10:12])
        cells: list[list[Segment]] = []
        for column_index, (column_width, value) in enumerate(zip(widths, values, strict=True)):
            if kept is not None and kept[1][column_index] is value and value is not None:
                cells.append(kept[2][column_index])
                continue
            line = None
            if one_line and type(value) is Text:
                line = self._one_line(
                    value, row_index, column_index, row_style, column_width, cursor, hover, cell_look
                )
            if line is None:
                rendered = self._render_cell(row_index, column_index, row_style, column_width, cursor, hover)
                line = rendered[line_no]
            cells.append(line)
        hover_first = hover_row == (row_index or 0)
        extend_style, _ = self._get_styles_to_render_cell(
            False, False, False, hover_first, cursor, show_cursor, show_hover_cursor, False, False
        )
        extend_style = row_style + extend_style
        extend_style += Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        cells_width = sum(widths) + label_width
        segments = [segment for cell in cells for segment in cell]
        segments.append(Segment(" " * max(0, width - cells_width), extend_style))
        if x1 == 0 and x2 == width and cells_width <= width:  # the line is already the widget's width
            strip = Strip(Segment.simplify(segments), width)
        else:
            strip = Strip(line_crop(segments, x1, x2, width)).adjust_cell_length(width, base_style).simplify()
        kept_rows[row_key] = (look, values, cells, strip)
        return strip

    def _kept_rows(self) -> LRUCache[RowKey, _KeptRow]:
        """Each row's last drawn line: (what it was drawn with, its values, its cells' segments, the line)."""
        kept_rows = self.__dict__.get("_kept_lines")
        if kept_rows is None:
            kept_rows = self.__dict__["_kept_lines"] = LRUCache(self.kept_cells // 8)
        return kept_rows

    def _forget_cells(self) -> None:
        kept = self.__dict__.get("_kept")
        if kept is not None:
            kept.clear()
        self._kept_rows().clear()
        self._cell_styles().clear()

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._forget_cells()

    def notify_style_update(self) -> None:
        self._forget_cells()
        super().notify_style_update()


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
