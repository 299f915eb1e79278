"""The agents table: one keyed row per agent, in columns of fixed width.

Every column but two has a fixed width, sized for the widest value it can show ("▲ degraded",
"no price", "14.20 s", "100.0 %"), so nothing shifts when a number grows a digit. The agent
column is as wide as the longest id seen (within bounds); the activity column takes what is
left. When the table is too narrow for every column, whole columns are left out, least
useful first (:data:`DROP_ORDER`), before any number would be cut; agent ids and activity
that do not fit end in "…".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from rich.cells import cell_len
from rich.text import Text
from textual.events import Resize
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from agentwatch.protocol import AgentRow
from agentwatch.tui import formatting as fmt
from agentwatch.tui.state import AgentView
from agentwatch.tui.textual_internals import (
    FixedSizeScrolling,
    KeptCells,
    QuietScrollbars,
    set_cells,
    set_row_order,
)

#: (column key, label) of the agents table, in display order.
AGENT_COLUMNS: Final = (
    ("status", "status"),
    ("agent", "agent"),
    ("tok/s", "tok/s"),
    ("p50", "p50 ≈"),
    ("p99", "p99 ≈"),
    ("err %", "err %"),
    ("cost", "cost"),
    ("last seen", "last seen"),
    ("collector", "collector"),
    ("activity", "activity"),
)
AGENT: Final = "agent"
ACTIVITY: Final = "activity"
#: Which collector an agent's row came from: shown only when the viewer watches several.
COLLECTOR: Final = "collector"

#: Fixed widths (cells) of the columns that have one: the widest value each can show.
COLUMN_WIDTHS: Final = {
    "status": 10,  # "▲ degraded"
    "tok/s": 9,  # "123 456.7" (larger: "1.23 M")
    "p50": 7,  # "14.20 s", "1234 s"
    "p99": 7,
    "err %": 7,  # "100.0 %", "12 err"
    "cost": 10,  # "no price", "≥$1 234.56"
    "last seen": 9,  # the label; "999d ago"
    "collector": 15,  # "127.0.0.1:41234"
}
#: The agent column's width: the longest id seen, within these bounds.
AGENT_MIN_WIDTH: Final = 10
AGENT_MAX_WIDTH: Final = 24
#: The activity column is left out rather than narrower than this.
ACTIVITY_MIN_WIDTH: Final = 12
#: Columns left out when the table is too narrow, first to last; status, agent never are.
DROP_ORDER: Final = ("p50", "last seen", "collector", "tok/s", "cost", "p99", "activity", "err %")
#: Shown under the header while the table has no row.
EMPTY_TEXT: Final = (
    "no agents yet — an agent appears with its first event (SDK, OpenTelemetry or agentwatch simulate)"
)

#: A cell as plain data: (text, Rich style). Comparing these is cheap; Text is built only to draw.
Cell = tuple[str, str]

#: Columns whose numbers are right-aligned.
_RIGHT_ALIGNED: Final = frozenset({"tok/s", "p50", "p99", "err %", "cost"})
_NO_STYLE: Final = ""
#: What a row not written yet shows: a cell per column that no real cell equals.
_NO_CELLS: Final = tuple(("", "-") for _ in AGENT_COLUMNS)
_CELL_PADDING: Final = 1
#: More agents gone at once than this, and the table's rows are added afresh rather than removed.
_REMOVE_ONE_BY_ONE: Final = 32
#: A cut agent id keeps its last characters, as the log's agent column does.
_AGENT_TAIL: Final = 8


def agent_cell_values(view: AgentView, now: float, collector: str | None = None) -> tuple[Cell, ...]:
    """The cells of one agent's row as (text, style); what the log alone cannot tell is "—".

    ``collector`` is the collector the row came from (a viewer of several), else "—".
    """
    source = (fmt.safe(collector, 60), "dim") if collector else (fmt.MISSING, _NO_STYLE)
    row: AgentRow | None = view.row
    last_seen = fmt.age(now - view.last_seen) if view.last_seen is not None else fmt.MISSING
    agent = fmt.safe(view.agent_id, AGENT_MAX_WIDTH * 2)
    missing = (fmt.MISSING, _NO_STYLE)
    if row is None:
        errors = f"{view.errors} err" if view.errors else fmt.MISSING
        return (fmt.status_cell(None), (agent, _NO_STYLE), missing, missing, missing, (errors, _NO_STYLE),
                missing, (last_seen, _NO_STYLE), source, missing)  # fmt: skip
    level = fmt.threshold_class(row.error_rate, fmt.ERROR_RATE_WARNING, fmt.ERROR_RATE_ERROR)
    err_style = ("bold red" if level == "-error" else "yellow") if level else _NO_STYLE
    activity = activity_cell(row, now)
    return (
        fmt.status_cell(row.status),
        (agent, _NO_STYLE),
        (fmt.rate(row.tokens_per_second), _NO_STYLE),
        (fmt.latency(row.p50_latency_ms), _NO_STYLE),
        (fmt.latency(row.p99_latency_ms), _NO_STYLE),
        (fmt.percent(row.error_rate), err_style),
        cost_cell(row),
        (last_seen, _NO_STYLE),
        source,
        activity,
    )


def activity_cell(row: AgentRow, now: float) -> Cell:
    """What the agent is doing now, its timer first so a narrow column keeps it
    (``⟳ 12s llm_call gpt-4o``; ``⚠ stuck 4m 05s tool_call Bash``), else what it did last."""
    step = row.in_flight
    if step is None:
        return (fmt.safe(row.last_activity, 200) if row.last_activity else fmt.MISSING, _NO_STYLE)
    running = fmt.duration(max(0.0, now - step.since))
    if step.stuck:
        return (f"⚠ stuck {running} {fmt.safe(step.what, 200)}", "bold yellow")
    return (f"⟳ {running} {fmt.safe(step.what, 200)}", _NO_STYLE)


def cost_cell(row: AgentRow) -> Cell:
    """An agent's cost; "no price" when its calls had tokens but no cost and an unknown model,
    "≥$1.20" when only some of them did: never a $0.00 that is really "unknown"."""
    if row.cost_unpriced:
        if not row.cost_usd:
            return ("no price", "dim yellow")
        return ("≥" + fmt.usd(row.cost_usd), "yellow")
    return (fmt.usd(row.cost_usd), _NO_STYLE)


def cell_text(column: str, cell: Cell, width: int | None = None) -> Text:
    """The Text a table cell is drawn from (plain text, never markup), cut to ``width`` with "…"."""
    text, style = cell
    if width is not None and cell_len(text) > width:
        if column == AGENT and width > 2 * _AGENT_TAIL:  # sessions of one program differ at the end
            text = f"{text[: width - 1 - _AGENT_TAIL]}…{text[-_AGENT_TAIL:]}"
        else:
            text = fmt.safe(text, width)
    if column in _RIGHT_ALIGNED:
        return Text(text, style=style, justify="right")
    return Text(text, style=style)


@dataclass(frozen=True, slots=True)
class TableLayout:
    """Which columns are shown, and how wide each is (cells, without padding)."""

    widths: dict[str, int]

    @property
    def columns(self) -> list[str]:
        return [key for key, _ in AGENT_COLUMNS if key in self.widths]


def table_layout(width: int, agent_width: int, *, collector: bool = False) -> TableLayout:
    """The columns that fit ``width`` cells, the activity column taking what the others leave;
    the collector column only when ``collector`` (a viewer of several collectors)."""
    agent_width = max(AGENT_MIN_WIDTH, min(AGENT_MAX_WIDTH, agent_width))
    widths = {key: COLUMN_WIDTHS.get(key, agent_width if key == AGENT else ACTIVITY_MIN_WIDTH)
              for key, _ in AGENT_COLUMNS if key != COLLECTOR or collector}  # fmt: skip

    def needed() -> int:
        return sum(w + 2 * _CELL_PADDING for w in widths.values())

    for key in DROP_ORDER:
        if needed() <= width:
            break
        widths.pop(key, None)
    if ACTIVITY in widths:
        widths[ACTIVITY] += max(0, width - needed())
    elif needed() > width:  # only status, agent (and errors) left: the agent id gives way
        widths[AGENT] = max(AGENT_MIN_WIDTH, widths[AGENT] - (needed() - width))
    return TableLayout(widths)


class AgentTable(FixedSizeScrolling, QuietScrollbars, KeptCells, DataTable[Text | str]):
    """Agents keyed by id, in the order :meth:`show` is given; only the rows in view are drawn from data.

    The table holds a row per agent (its key, its place), but formats only the rows in view: an
    update computes the cells of those rows, compares plain (text, style) pairs with what the row
    shows and writes only the cells that changed (a row whose text did not change is not written
    again). A row out of view keeps what it last showed and is brought up to date when it scrolls
    into view (or is read with :meth:`get_cell`). A new order moves rows by key, reading no cell;
    the cursor stays on its agent, in the same line of the screen (on the first row it stays on the
    first row: the top of a sorted table is what is watched). The columns are laid out again only when the table's width
    changes or a longer agent id arrives.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=_CELL_PADDING)
        #: Agent ids in display order, and each one's place in it.
        self._order: list[str] = []
        self._place: dict[str, int] = {}
        self._row_keys: dict[str, RowKey] = {}
        #: What each row written so far shows, as plain cells.
        self._cells: dict[str, tuple[Cell, ...]] = {}
        #: Agents whose row shows the data of the last update.
        self._fresh: set[str] = set()
        self._view_of: Callable[[str], AgentView | None] = _no_view
        self._now = 0.0
        self._agent_width = AGENT_MIN_WIDTH
        self.layout_shown: TableLayout | None = None
        """The columns shown now (None before the table has a width)."""
        self.collector_of: Mapping[str, str] | None = None
        """Agent id → the collector its row came from, when the viewer watches several (see :meth:`show_collectors`)."""

    def on_mount(self) -> None:
        self._relayout()

    def on_resize(self, event: Resize) -> None:
        self._relayout()
        self._fill_view()

    def _available_width(self) -> int:
        """Cells for the columns: the width less a vertical scrollbar's (kept free at all times)."""
        return max(0, self.size.width - self.styles.scrollbar_size_vertical)

    def show_collectors(self, collector_of: Mapping[str, str] | None) -> None:
        """Which collector each agent's row came from (the column is shown while this is not None)."""
        shown = self.collector_of is not None
        self.collector_of = collector_of
        if (collector_of is not None) != shown and self.layout_shown is not None:
            self._relayout()

    def _relayout(self) -> None:
        """Lay the columns out for the current width; rebuild every row when that changed them."""
        layout = table_layout(
            self._available_width() or 120, self._agent_width, collector=self.collector_of is not None
        )
        if layout == self.layout_shown:
            return
        self.layout_shown = layout
        cursor_row = self.cursor_row
        self.clear(columns=True)
        for key, label in AGENT_COLUMNS:
            if key in layout.widths:
                label_text = Text(label, justify="right") if key in _RIGHT_ALIGNED else Text(label)
                self.add_column(label_text, width=layout.widths[key], key=key)
        self._cells.clear()
        self._fresh.clear()
        for agent_id in self._order:
            self._row_keys[agent_id] = self.add_row(key=agent_id)
        if self.row_count:
            self.move_cursor(row=min(cursor_row, self.row_count - 1), animate=False)
        self._fill_view()

    def update_from(self, views: Sequence[AgentView], now: float) -> None:
        """Make the table show ``views`` in that order."""
        by_id = {view.agent_id: view for view in views}
        self.show([view.agent_id for view in views], by_id.get, now)

    def show(self, order: Sequence[str], view_of: Callable[[str], AgentView | None], now: float) -> None:
        """Make the table show the agents ``order`` names, in that order, each row as ``view_of`` tells.

        Only the rows in view are formatted now; the others when they come into view.
        """
        self._view_of, self._now = view_of, now
        self._fresh.clear()
        place = self._place
        if order is not self._order:
            new = [agent_id for agent_id in order if agent_id not in place]
            longest = max((cell_len(fmt.safe(agent_id)) for agent_id in new), default=0)
            if longest > self._agent_width and self._agent_width < AGENT_MAX_WIDTH:
                self._agent_width = min(AGENT_MAX_WIDTH, longest)
                self._relayout()
            self._reorder(order, new)
        self._fill_view()

    def _reorder(self, order: Sequence[str], new: list[str]) -> None:
        """Rows for new agents, none for agents gone, every row in its place; the cursor keeps its agent."""
        cursor_agent, cursor_row = self.selected_agent(), self.cursor_row
        wanted = set(order)
        gone = [agent_id for agent_id in self._place if agent_id not in wanted]
        if len(gone) > _REMOVE_ONE_BY_ONE:  # each removal renumbers every row: start afresh
            self.clear()
            self._row_keys = {agent_id: self.add_row(key=agent_id) for agent_id in order}
            self._cells.clear()
            self._order = []
        else:
            for agent_id in gone:
                self.remove_row(agent_id)
                self._cells.pop(agent_id, None)
                del self._row_keys[agent_id]
            for agent_id in new:
                self._row_keys[agent_id] = self.add_row(key=agent_id)
        if order == self._order:
            self._order = order if isinstance(order, list) else list(order)
            return
        self._order = order if isinstance(order, list) else list(order)
        self._place = {agent_id: index for index, agent_id in enumerate(self._order)}
        row_keys = self._row_keys
        set_row_order(self, [row_keys[agent_id] for agent_id in self._order])
        row = self._place.get(cursor_agent) if cursor_agent is not None else None
        if row is not None and row != cursor_row and cursor_row > 0:
            # The cursor's row stays where it is on screen, its agent in it; the others move around it.
            on_screen = cursor_row - round(self.scroll_y)
            self.move_cursor(row=row, animate=False, scroll=False)
            self.scroll_to(y=max(0, row - on_screen), animate=False, immediate=True)

    def _rows_in_view(self) -> range:
        top = max(0, round(self.scroll_y))
        height = max(0, self.size.height - (self.header_height if self.show_header else 0))
        return range(top, min(len(self._order), top + height))

    def _fill_view(self) -> None:
        """Bring the rows in view up to date; write the cells that changed."""
        if self.layout_shown is None:
            return
        changes: list[tuple[str, str, Text, bool]] = []
        order = self._order
        for index in self._rows_in_view():
            agent_id = order[index]
            if agent_id not in self._fresh:
                changes.extend(self._row_changes(agent_id))
        if changes:
            set_cells(self, changes)

    def _row_changes(self, agent_id: str) -> list[tuple[str, str, Text, bool]]:
        """The cells of ``agent_id``'s row that differ from what it shows, as set_cells changes."""
        layout = self.layout_shown
        assert layout is not None
        self._fresh.add(agent_id)
        view = self._view_of(agent_id)
        if view is None:
            view = AgentView(agent_id=agent_id, row=None, last_seen=None, errors=0)
        sources = self.collector_of
        cells = (
            agent_cell_values(view, self._now)
            if sources is None
            else agent_cell_values(view, self._now, sources.get(agent_id))
        )
        old = self._cells.get(agent_id)
        if old == cells:
            return []
        self._cells[agent_id] = cells
        widths = layout.widths
        return [
            (agent_id, column, cell_text(column, after, widths[column]), False)
            for (column, _), before, after in zip(AGENT_COLUMNS, old or _NO_CELLS, cells, strict=True)
            if before != after and column in widths
        ]

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._fill_view()

    def get_cell(self, row_key: RowKey | str, column_key: ColumnKey | str) -> Text | str:
        """The cell as drawn; a row out of view is brought up to date first."""
        agent_id = row_key.value if isinstance(row_key, RowKey) else row_key
        if agent_id is not None and agent_id in self._place and agent_id not in self._fresh:
            changes = self._row_changes(agent_id)
            if changes:
                set_cells(self, changes)
        return super().get_cell(row_key, column_key)

    def render_line(self, y: int) -> Strip:
        """The header, the rows; with no row yet, a line under the header saying why."""
        if self.row_count == 0 and self.show_header and y == self.header_height:
            width = self.size.width
            text = Text(" " + fmt.safe(EMPTY_TEXT, max(1, width - 1)), style="italic")
            strip = Strip(text.render(self.app.console), cell_len(text.plain))
            return strip.extend_cell_length(width).crop(0, width).apply_style(self.rich_style)
        return super().render_line(y)

    def selected_agent(self) -> str | None:
        """The agent id under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def row_agents(self) -> list[str]:
        """Agent ids in display order (for tests and the screenshot command)."""
        return list(self._order)


def _no_view(agent_id: str) -> AgentView | None:
    return None
