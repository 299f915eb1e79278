"""The agents table: one keyed row per agent, in columns of fixed width.

Every column but two has a fixed width, sized for the widest value it can show ("▲ degraded",
"no price", "14.20 s", "100.0 %"), so nothing shifts when a number grows a digit. The agent
column is as wide as the longest id seen (within bounds); the activity column takes what is
left. When the table is too narrow for every column, whole columns are left out, least
useful first (:data:`DROP_ORDER`), before any number would be cut; agent ids and activity
that do not fit end in "…".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from rich.cells import cell_len
from rich.text import Text
from textual.coordinate import Coordinate
from textual.events import Resize
from textual.strip import Strip
from textual.widgets import DataTable

from agentwatch.protocol import AgentRow
from agentwatch.tui import formatting as fmt
from agentwatch.tui.state import AgentView
from agentwatch.tui.textual_internals import FixedSizeScrolling, set_cells

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
    ("activity", "activity"),
)
AGENT: Final = "agent"
ACTIVITY: Final = "activity"

#: Fixed widths (cells) of the columns that have one: the widest value each can show.
COLUMN_WIDTHS: Final = {
    "status": 10,  # "▲ degraded"
    "tok/s": 9,  # "123 456.7" (larger: "1.23 M")
    "p50": 7,  # "14.20 s", "1234 s"
    "p99": 7,
    "err %": 7,  # "100.0 %", "12 err"
    "cost": 10,  # "no price", "≥$1 234.56"
    "last seen": 9,  # the label; "999d ago"
}
#: The agent column's width: the longest id seen, within these bounds.
AGENT_MIN_WIDTH: Final = 10
AGENT_MAX_WIDTH: Final = 24
#: The activity column is left out rather than narrower than this.
ACTIVITY_MIN_WIDTH: Final = 12
#: Columns left out when the table is too narrow, first to last; status, agent never are.
DROP_ORDER: Final = ("p50", "last seen", "tok/s", "cost", "p99", "activity", "err %")
#: Shown under the header while the table has no row.
EMPTY_TEXT: Final = (
    "no agents yet — an agent appears with its first event (SDK, OpenTelemetry or agentwatch simulate)"
)

#: A cell as plain data: (text, Rich style). Comparing these is cheap; Text is built only to draw.
Cell = tuple[str, str]

#: Columns whose numbers are right-aligned.
_RIGHT_ALIGNED: Final = frozenset({"tok/s", "p50", "p99", "err %", "cost"})
_NO_STYLE: Final = ""
_CELL_PADDING: Final = 1
#: A cut agent id keeps its last characters, as the log's agent column does.
_AGENT_TAIL: Final = 8


def agent_cell_values(view: AgentView, now: float) -> tuple[Cell, ...]:
    """The cells of one agent's row as (text, style); what the log alone cannot tell is "—"."""
    row: AgentRow | None = view.row
    last_seen = fmt.age(now - view.last_seen) if view.last_seen is not None else fmt.MISSING
    agent = fmt.safe(view.agent_id, AGENT_MAX_WIDTH * 2)
    missing = (fmt.MISSING, _NO_STYLE)
    if row is None:
        errors = f"{view.errors} err" if view.errors else fmt.MISSING
        return (fmt.status_cell(None), (agent, _NO_STYLE), missing, missing, missing, (errors, _NO_STYLE),
                missing, (last_seen, _NO_STYLE), missing)  # fmt: skip
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


def table_layout(width: int, agent_width: int) -> TableLayout:
    """The columns that fit ``width`` cells, the activity column taking what the others leave."""
    agent_width = max(AGENT_MIN_WIDTH, min(AGENT_MAX_WIDTH, agent_width))
    widths = {key: COLUMN_WIDTHS.get(key, agent_width if key == AGENT else ACTIVITY_MIN_WIDTH)
              for key, _ in AGENT_COLUMNS}  # fmt: skip

    def needed() -> int:
        return sum(w + 2 * _CELL_PADDING for w in widths.values())

    for key in DROP_ORDER:
        if needed() <= width:
            break
        del widths[key]
    if ACTIVITY in widths:
        widths[ACTIVITY] += max(0, width - needed())
    elif needed() > width:  # only status, agent (and errors) left: the agent id gives way
        widths[AGENT] = max(AGENT_MIN_WIDTH, widths[AGENT] - (needed() - width))
    return TableLayout(widths)


class AgentTable(FixedSizeScrolling, DataTable[Text | str]):
    """Agents keyed by id. Rows are added, updated cell by cell, removed and re-ordered in place.

    Each update compares plain (text, style) pairs with what is shown and builds a Text only
    for a cell that changed: agents whose numbers did not move cost tuple comparisons, not
    a redraw. The columns are laid out again (every row rebuilt) only when the table's width
    changes or a longer agent id arrives.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=_CELL_PADDING)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._rank: dict[str, int] = {}
        self._agent_width = AGENT_MIN_WIDTH
        self.layout_shown: TableLayout | None = None
        """The columns shown now (None before the table has a width)."""

    def on_mount(self) -> None:
        self._relayout()

    def on_resize(self, event: Resize) -> None:
        self._relayout()

    def _available_width(self) -> int:
        """Cells for the columns: the width less a vertical scrollbar's (kept free at all times)."""
        return max(0, self.size.width - self.styles.scrollbar_size_vertical)

    def _relayout(self) -> None:
        """Lay the columns out for the current width; rebuild every row when that changed them."""
        layout = table_layout(self._available_width() or 120, self._agent_width)
        if layout == self.layout_shown:
            return
        self.layout_shown = layout
        cursor_row = self.cursor_row
        self.clear(columns=True)
        for key, label in AGENT_COLUMNS:
            if key in layout.widths:
                label_text = Text(label, justify="right") if key in _RIGHT_ALIGNED else Text(label)
                self.add_column(label_text, width=layout.widths[key], key=key)
        for agent_id, cells in self._cells.items():
            self.add_row(*self._row(cells), key=agent_id)
        if self._rank:
            self._apply_order()
        if self.row_count:
            self.move_cursor(row=min(cursor_row, self.row_count - 1), animate=False)

    def _row(self, cells: tuple[Cell, ...]) -> list[Text]:
        assert self.layout_shown is not None
        widths = self.layout_shown.widths
        return [
            cell_text(key, cell, widths[key])
            for (key, _), cell in zip(AGENT_COLUMNS, cells, strict=True)
            if key in widths
        ]

    def update_from(self, views: Sequence[AgentView], now: float) -> None:
        """Make the table show ``views`` in that order; untouched cells are not redrawn."""
        shown = self._cells
        longest = max((cell_len(fmt.safe(v.agent_id)) for v in views if v.agent_id not in shown), default=0)
        if longest > self._agent_width and self._agent_width < AGENT_MAX_WIDTH:
            self._agent_width = min(AGENT_MAX_WIDTH, longest)
            self._relayout()
        layout = self.layout_shown
        assert layout is not None
        widths = layout.widths
        keys = [column for column, _ in AGENT_COLUMNS]
        seen: set[str] = set()
        changes: list[tuple[str, str, Text, bool]] = []
        for view in views:
            agent_id = view.agent_id
            seen.add(agent_id)
            cells = agent_cell_values(view, now)
            old = self._cells.get(agent_id)
            if old is None:
                self.add_row(*self._row(cells), key=agent_id)
            elif old != cells:
                for column, before, after in zip(keys, old, cells, strict=True):
                    if before != after and column in widths:
                        changes.append((agent_id, column, cell_text(column, after, widths[column]), False))
            self._cells[agent_id] = cells
        if changes:
            set_cells(self, changes)
        for gone in set(self._cells) - seen:
            self.remove_row(gone)
            del self._cells[gone]
        rank = {view.agent_id: index for index, view in enumerate(views)}
        if rank != self._rank or len(rank) != self.row_count:
            self._rank = rank
            self._apply_order()

    def _apply_order(self) -> None:
        order = [key for key, _ in sorted(self._rank.items(), key=lambda item: item[1])]
        position = {agent_id: index for index, agent_id in enumerate(order)}
        current = {row_key.value: row_key for row_key in self.rows}
        by_label: dict[int, int] = {}
        for agent_id, row_key in current.items():
            cell = self.get_cell(row_key, AGENT)
            by_label[id(cell)] = position.get(agent_id or "", len(position))
        self.sort(AGENT, key=lambda cell: by_label.get(id(cell), len(position)))

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
        return [
            self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value or ""
            for index in range(self.row_count)
        ]
