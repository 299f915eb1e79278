"""The viewer's widgets. Each renders state it is given; none does I/O or reads the clock.

* :class:`HeaderBar` — URL, connection, snapshot age, banner, pause and filters.
* :class:`MetricPanel` / :class:`MetricsBar` — a number and a sparkline per metric.
* :class:`AgentTable` — one keyed row per agent, updated cell by cell.
* :class:`LogPane` — a :class:`textual.widgets.Log` that colours levels, highlights search
  matches and can wrap long lines; it is fed whole batches of plain lines.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.events import Resize
from textual.widgets import DataTable, Log, Sparkline, Static
from textual.widgets.data_table import ColumnKey

from agentwatch.protocol import AgentRow, Snapshot, Work
from agentwatch.tui import formatting as fmt
from agentwatch.tui.state import STREAM_LOGS, STREAM_METRICS, AgentView, ViewState
from agentwatch.tui.textual_internals import (
    FixedSizeScrolling,
    LogWidthInPlace,
    TransientDirtyRegions,
    set_cells,
)

#: Error-rate thresholds (fraction of events): warning at 5 %, error at 25 %.
ERROR_RATE_WARNING: Final = 0.05
ERROR_RATE_ERROR: Final = 0.25
#: p99 latency thresholds in milliseconds.
LATENCY_WARNING_MS: Final = 2_000.0
LATENCY_ERROR_MS: Final = 10_000.0

LEVEL_STYLES: Final = {
    "DEBUG": "dim",
    "INFO ": "green",
    "WARN ": "bold yellow",
    "ERROR": "bold red",
    "CRIT ": "bold white on red",
}
SEARCH_STYLE: Final = "bold reverse"
MARKER_STYLE: Final = "bold yellow"


def threshold_class(value: float | None, warning: float, error: float) -> str:
    """CSS class for a value against two thresholds: "-error", "-warning" or ""."""
    if value is None or not math.isfinite(value):
        return ""
    if value >= error:
        return "-error"
    if value >= warning:
        return "-warning"
    return ""


class HeaderBar(Static):
    """Two lines of status text; set with :meth:`show` (only re-rendered when it changes)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._shown: tuple[object, ...] = ()
        self._line_count = -1
        self.plain = ""
        """The header as plain text (what a reader sees without colour)."""

    def show(self, lines: Sequence[Text]) -> bool:
        """Display these lines; returns False (and touches nothing) when they did not change."""
        key = tuple((line.plain, *line.spans) for line in lines)
        if key == self._shown:
            return False
        self._shown = key
        joined = Text("\n").join(lines)
        self.plain = joined.plain
        # Always the same number of lines: no layout pass, which would also redraw every
        # scrollbar in a second screen write after this frame's.
        self.update(joined, layout=len(lines) != self._line_count)
        self._line_count = len(lines)
        return True


#: A live stream whose last snapshot is older than this many seconds is shown as stale.
STALE_AFTER_SECONDS: Final = 5.0


def connection_text(state: ViewState) -> Text:
    """Connection summary for the header.

    One of "● live", "◌ stale 12 s", "↻ reconnecting in 3 s", "✗ unauthorized", "… connecting".
    """
    now = state.clock()
    phases = {name: state.connections.get(name) for name in (STREAM_METRICS, STREAM_LOGS)}
    for name, conn in phases.items():
        if conn is not None and conn.phase == "unauthorized":
            return Text(f"✗ unauthorized ({name}) — check the token", style="bold red")
    for name, conn in phases.items():
        if conn is not None and conn.phase == "reconnecting":
            which = (
                ""
                if all(c is not None and c.phase == "reconnecting" for c in phases.values())
                else f" {name}"
            )
            wait = (conn.retry_at - now) if conn.retry_at is not None else None
            when = f" in {max(0, math.ceil(wait))} s" if wait is not None else ""
            text = Text(f"↻ reconnecting{which}{when}", style="bold yellow")
            if conn.error:
                text.append(f" ({fmt.safe(conn.error, 40)})", style="dim")
            return text
    if any(conn is None or conn.phase != "live" for conn in phases.values()):
        return Text("… connecting", style="yellow")
    snapshot_age = state.snapshot_age()
    if snapshot_age is not None and snapshot_age > STALE_AFTER_SECONDS:
        return Text(f"◌ stale {snapshot_age:.0f} s", style="bold yellow")
    return Text("● live", style="bold green")


def header_lines(state: ViewState) -> list[Text]:
    """The two header lines: where and how connected; then what the view is narrowed to."""
    top = Text()
    if state.banner:
        top.append(f" {fmt.safe(state.banner, 60)} ", style="bold black on yellow")
        top.append(" ")
    else:
        top.append("agentwatch ", style="bold")
    top.append(fmt.safe(state.url, 60), style="dim")
    top.append("  ")
    top.append_text(connection_text(state))
    snapshot_age = state.snapshot_age()
    if snapshot_age is not None:
        top.append(f" · {snapshot_age:.0f} s ago", style="dim")
    bottom = Text()
    if state.drilled_agent is not None:
        bottom.append("▶ agent ", style="bold")
        bottom.append(fmt.safe(state.drilled_agent, 40), style="bold cyan")
        bottom.append(" (Esc: fleet)  ", style="dim")
        done = drilled_work(state)
        if done is not None and fmt.work(done):
            bottom.append(fmt.work(done) + "  ", style="cyan")
    else:
        bottom.append("fleet  ", style="bold")
    if state.paused:
        bottom.append(
            f"⏸ PAUSED {fmt.number(state.new_while_paused, 0)} new (End: live)  ", style="bold reverse"
        )
    filters = state.active_filters()
    if filters:
        bottom.append("filter: ", style="dim")
        bottom.append(fmt.safe(" · ".join(filters), 80))
        bottom.append("  ")
    if state.search_error:
        bottom.append(fmt.safe(state.search_error, 60), style="bold red")
        bottom.append("  ")
    arrow = "↓" if state.sort_reverse else "↑"
    bottom.append(f"sort: {state.sort_column} {arrow}", style="dim")
    if state.lines_missed:
        bottom.append(f"  ⚠ {fmt.number(state.lines_missed, 0)} lines missed", style="yellow")
    if state.decode_errors:
        bottom.append(f"  {state.decode_errors} undecodable", style="yellow")
    return [top, bottom]


def drilled_work(state: ViewState) -> Work | None:
    """The drilled-into agent's work from its program's metrics (None: not a coding agent, or none)."""
    snapshot = state.drilled
    if snapshot is None:
        return None
    for row in snapshot.agents:
        if row.agent_id == state.drilled_agent:
            return row.work
    return None


def carries_cost(snapshot: Snapshot) -> bool:
    """False when the snapshot says nothing about cost (the minimal protocol has no cost fields).

    A full collector always sends a per-second cost series, so a snapshot with no cost
    series, no cost figure and no estimate flag came from a collector that does not
    track cost: its zeros are defaults, not measurements, and the panel shows "—".
    """
    return bool(
        snapshot.history.cost_per_second
        or snapshot.cost_per_minute
        or snapshot.window_cost_usd
        or snapshot.total_cost_usd
        or snapshot.cost_estimated
    )


class MetricPanel(Vertical):
    """One metric: a titled box with a value line and a sparkline of its history."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="metric")
        self.border_title = title
        self._label = Static(title, classes="metric-label", markup=False)
        self._value = Static("—", classes="metric-value", markup=False)
        self._spark = Sparkline([], classes="metric-spark")
        self._shown: tuple[str, tuple[float, ...], str, str] | None = None

    def compose(self) -> ComposeResult:
        yield self._label
        yield self._value
        yield self._spark

    @property
    def value_text(self) -> str:
        return str(self._value.render())

    def show(self, value: Text, series: Sequence[float], level_class: str = "", detail: str = "") -> None:
        """Show ``value``, the sparkline ``series`` and a ``detail`` line under the box.

        ``level_class`` is "", "-warning" or "-error". A no-op when nothing changed.
        """
        key = (value.markup, tuple(series), level_class, detail)
        if key == self._shown:
            return
        self._shown = key
        self._value.update(value, layout=False)  # one line whatever the value: no layout pass
        self.border_subtitle = detail
        self._spark.data = list(series)
        for name in ("-warning", "-error"):
            self.set_class(name == level_class, name)


def _series(values: Iterable[float | None]) -> list[float]:
    """History values for a sparkline: missing or non-finite seconds become 0."""
    return [v if v is not None and math.isfinite(v) else 0.0 for v in values]


class MetricsBar(Horizontal):
    """The five metric panels, fed from one snapshot (None = nothing received yet)."""

    def compose(self) -> ComposeResult:
        yield MetricPanel("tokens/s", id="m-tokens")
        yield MetricPanel("p50 / p99 ≈", id="m-latency")  # fits a 20-column panel
        yield MetricPanel("error rate", id="m-errors")
        yield MetricPanel("cost", id="m-cost")
        yield MetricPanel("agents", id="m-agents")

    def update_from(self, snapshot: Snapshot | None) -> None:
        panels = {panel.id: panel for panel in self.query(MetricPanel)}
        if snapshot is None:
            for panel in panels.values():
                panel.show(Text(fmt.MISSING), [])
            return
        history = snapshot.history
        panels["m-tokens"].show(
            Text(fmt.number(snapshot.tokens_per_second)),
            _series(history.tokens_per_second),
            detail=(
                f"in {fmt.number(snapshot.input_tokens_per_second, 0)} · out "
                f"{fmt.number(snapshot.output_tokens_per_second, 0)}"
                if snapshot.input_tokens_per_second or snapshot.output_tokens_per_second
                else ""
            ),
        )
        p50, p99 = snapshot.p50_latency_ms, snapshot.p99_latency_ms
        latency = Text(f"{fmt.latency(p50)} / {fmt.latency(p99)}")
        panels["m-latency"].show(
            latency,
            _series(history.p99_latency_ms),
            threshold_class(p99, LATENCY_WARNING_MS, LATENCY_ERROR_MS),
            f"latency ±{snapshot.latency_relative_error * 100:.0f} %",
        )
        panels["m-errors"].show(
            Text(fmt.percent(snapshot.error_rate)),
            _series(history.error_rate),
            threshold_class(snapshot.error_rate, ERROR_RATE_WARNING, ERROR_RATE_ERROR),
            f"{fmt.number(snapshot.errors, 0)} errors",
        )
        est = " est." if snapshot.cost_estimated else ""
        if carries_cost(snapshot):
            panels["m-cost"].show(
                Text(f"{fmt.usd(snapshot.cost_per_minute)}/min{est}"),
                _series(history.cost_per_second),
                detail=f"{fmt.usd(snapshot.window_cost_usd)} in {snapshot.window_seconds:.0f} s{est}",
            )
        else:
            panels["m-cost"].show(Text(fmt.MISSING), [])
        panels["m-agents"].show(
            Text(f"{snapshot.active_agents} active"),
            _series(history.events_per_second),
            detail=f"{fmt.number(snapshot.events_per_second)} events/s",
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
    ("activity", "activity"),
)


#: A cell as plain data: (text, Rich style). Comparing these is cheap; Text is built only to draw.
Cell = tuple[str, str]

#: Columns whose numbers are right-aligned.
_RIGHT_ALIGNED: Final = frozenset({"tok/s", "p50", "p99", "cost"})
_NO_STYLE: Final = ""


def agent_cell_values(view: AgentView, now: float) -> tuple[Cell, ...]:
    """The cells of one agent's row as (text, style); what the log alone cannot tell is "—"."""
    row: AgentRow | None = view.row
    last_seen = fmt.age(now - view.last_seen) if view.last_seen is not None else fmt.MISSING
    agent = fmt.safe(view.agent_id, 32)
    missing = (fmt.MISSING, _NO_STYLE)
    if row is None:
        errors = f"{view.errors} err" if view.errors else fmt.MISSING
        return (fmt.status_cell(None), (agent, _NO_STYLE), missing, missing, missing, (errors, _NO_STYLE),
                missing, (last_seen, _NO_STYLE), missing)  # fmt: skip
    level = threshold_class(row.error_rate, ERROR_RATE_WARNING, ERROR_RATE_ERROR)
    err_style = ("bold red" if level == "-error" else "yellow") if level else _NO_STYLE
    activity = fmt.safe(row.last_activity, 40) if row.last_activity else fmt.MISSING
    return (
        fmt.status_cell(row.status),
        (agent, _NO_STYLE),
        (fmt.number(row.tokens_per_second), _NO_STYLE),
        (fmt.latency(row.p50_latency_ms), _NO_STYLE),
        (fmt.latency(row.p99_latency_ms), _NO_STYLE),
        (fmt.percent(row.error_rate), err_style),
        cost_cell(row),
        (last_seen, _NO_STYLE),
        (activity, _NO_STYLE),
    )


def cost_cell(row: AgentRow) -> Cell:
    """An agent's cost; "no price" when its calls had tokens but no cost and an unknown model,
    "≥$1.20" when only some of them did: never a $0.00 that is really "unknown"."""
    if row.cost_unpriced:
        if not row.cost_usd:
            return ("no price", "dim yellow")
        return ("≥" + fmt.usd(row.cost_usd), "yellow")
    return (fmt.usd(row.cost_usd), _NO_STYLE)


def cell_text(column: str, cell: Cell) -> Text:
    """The Text a table cell is drawn from (plain text, never markup)."""
    text, style = cell
    if column in _RIGHT_ALIGNED:
        return Text(text, style=style, justify="right")
    return Text(text, style=style)


def agent_cells(view: AgentView, now: float) -> tuple[Text, ...]:
    """The cells of one agent's row, ready to draw."""
    return tuple(
        cell_text(column, cell)
        for (column, _), cell in zip(AGENT_COLUMNS, agent_cell_values(view, now), strict=True)
    )


class AgentTable(FixedSizeScrolling, DataTable[Text | str]):
    """Agents keyed by id. Rows are added, updated cell by cell, removed and re-ordered in place.

    Each update compares plain (text, style) pairs with what is shown and builds a Text only
    for a cell that changed: agents whose numbers did not move cost tuple comparisons, not
    a redraw. A column widens when a value outgrows it.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._widths: list[int] = []
        self._rank: dict[str, int] = {}

    def on_mount(self) -> None:
        for key, label in AGENT_COLUMNS:
            self.add_column(label, key=key)

    def update_from(self, views: Sequence[AgentView], now: float) -> None:
        """Make the table show ``views`` in that order; untouched cells are not redrawn."""
        keys = [column for column, _ in AGENT_COLUMNS]
        seen: set[str] = set()
        changes: list[tuple[str, str, Text, bool]] = []
        for view in views:
            agent_id = view.agent_id
            seen.add(agent_id)
            cells = agent_cell_values(view, now)
            old = self._cells.get(agent_id)
            if old is None:
                self.add_row(*(cell_text(c, cell) for c, cell in zip(keys, cells, strict=True)), key=agent_id)
            elif old != cells:
                for column, before, after in zip(keys, old, cells, strict=True):
                    if before != after:
                        wider = len(after[0]) > len(before[0]) and not self._fits(column, after[0])
                        changes.append((agent_id, column, cell_text(column, after), wider))
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

    def _fits(self, column: str, text: str) -> bool:
        """True when ``text`` fits the column's current width (so no re-measure is needed)."""
        try:
            width = self.columns[ColumnKey(column)].content_width
        except KeyError:
            return False
        return cell_len(text) <= width

    def _apply_order(self) -> None:
        order = [key for key, _ in sorted(self._rank.items(), key=lambda item: item[1])]
        position = {agent_id: index for index, agent_id in enumerate(order)}
        current = {row_key.value: row_key for row_key in self.rows}
        by_label: dict[int, int] = {}
        for agent_id, row_key in current.items():
            cell = self.get_cell(row_key, "agent")
            by_label[id(cell)] = position.get(agent_id or "", len(position))
        self.sort("agent", key=lambda cell: by_label.get(id(cell), len(position)))

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


class LogHighlighter(Highlighter):
    """Colours the level token and the search matches of a formatted log line.

    ``level_start`` / ``message_start`` are the character offsets of those columns;
    ``spans`` returns the (start, end) search matches within a message.
    """

    def __init__(self) -> None:
        self.level_start = fmt.level_start(True)
        self.message_start = fmt.message_start(True)
        self.spans: Callable[[str], list[tuple[int, int]]] = lambda _message: []

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if plain.startswith(fmt.MARKER_PREFIX):
            text.stylize(MARKER_STYLE)
            return
        token = plain[self.level_start : self.level_start + fmt.LEVEL_WIDTH]
        style = LEVEL_STYLES.get(token)
        if style is not None:
            text.stylize(style, self.level_start, self.level_start + fmt.LEVEL_WIDTH)
        offset = self.message_start
        for start, end in self.spans(plain[offset:]):
            text.stylize(SEARCH_STYLE, offset + start, offset + end)


class LogPane(FixedSizeScrolling, TransientDirtyRegions, LogWidthInPlace, Log):
    """The log tail. Fed plain, already-printable lines in batches (:meth:`append`, :meth:`replace`).

    With ``wrap`` on, a line longer than the pane is split into continuation lines indented
    to the message column; the pane keeps the unwrapped lines (at most ``max_lines``) so it
    can re-wrap on resize or when wrap is toggled.
    """

    DEFAULT_CSS = """
    LogPane {
        overflow-y: scroll;
    }
    """

    def __init__(self, *, max_lines: int, id: str | None = None) -> None:
        super().__init__(highlight=True, max_lines=max_lines, auto_scroll=True, id=id)
        self.highlighter = LogHighlighter()
        self._source: deque[str] = deque(maxlen=max_lines)
        self._wrap = False
        self._wrap_width = 0

    @property
    def log_highlighter(self) -> LogHighlighter:
        assert isinstance(self.highlighter, LogHighlighter)
        return self.highlighter

    @property
    def source_lines(self) -> list[str]:
        """The unwrapped lines currently in the pane."""
        return list(self._source)

    def set_columns(self, timestamps: bool) -> None:
        """Tell the highlighter where levels and messages start."""
        self.log_highlighter.level_start = fmt.level_start(timestamps)
        self.log_highlighter.message_start = fmt.message_start(timestamps)

    def append(self, lines: Sequence[str], *, scroll_end: bool | None = None) -> None:
        """Add lines at the bottom in one write."""
        if not lines:
            return
        self._source.extend(lines)
        physical = self._physical(lines)
        expected = len(self.lines) + len(physical)
        self.write_lines(physical, scroll_end=scroll_end)
        if len(self.lines) < expected:
            # The oldest lines were dropped (``max_lines``): every line moved up, but Log
            # refreshes only the rows of the new lines, which at the tail are below the view.
            self.refresh()

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        """Refresh the rows of these lines that are in view (none when all are out of it).

        Log asks for every line it writes, in view or not; a region as tall as the batch
        would be another distinct region each time for Textual's region caches to keep.
        """
        top = max(y_start, self.scroll_offset.y)
        bottom = min(y_start + line_count, self.scroll_offset.y + self.scrollable_content_region.height)
        if bottom > top:
            super().refresh_lines(top, bottom - top)

    def replace(self, lines: Sequence[str]) -> None:
        """Replace the whole content (after a filter or format change) in one write."""
        self._source.clear()
        self._source.extend(lines[-self._source.maxlen :] if self._source.maxlen else lines)
        self.clear()
        # Log.write_lines follows the tail only from the end; after clear() the old offset
        # would leave the view stranded above the new end (and never follow again).
        self.scroll_home(animate=False, immediate=True)
        if self._source:
            self.write_lines(self._physical(list(self._source)), scroll_end=True)

    @property
    def wrap(self) -> bool:
        return self._wrap

    def set_wrap(self, wrap: bool) -> None:
        if wrap != self._wrap:
            self._wrap = wrap
            self.replace(list(self._source))

    def on_resize(self, event: Resize) -> None:
        if self._wrap and self._content_width() != self._wrap_width:
            self.replace(list(self._source))

    def _content_width(self) -> int:
        return max(20, self.scrollable_content_region.width or self.size.width or 80)

    def _physical(self, lines: Sequence[str]) -> Sequence[str]:
        if not self._wrap:
            return lines
        width = self._wrap_width = self._content_width()
        indent = self.log_highlighter.message_start
        if indent >= width - 10:
            indent = 2
        out: list[str] = []
        for line in lines:
            if len(line) <= width:
                out.append(line)
                continue
            out.append(line[:width])
            rest = line[width:]
            step = width - indent
            while rest:
                out.append(" " * indent + rest[:step])
                rest = rest[step:]
        return out
