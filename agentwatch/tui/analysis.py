"""Analysis screens: Costs, Decisions, Latency and Failures, one table per section.

Each screen reads ``GET /api/analysis?view=…[&agent=…][&attribute=…]`` (through
:mod:`agentwatch.client.analysis`) in a worker every ``refresh_seconds`` while it is open
and never blocks the UI. A fetch that fails (collector unreachable, refused, undecodable)
shows one status line and keeps the last data; a collector without the route (404/405:
the minimal protocol) is "not available from this collector". Fields a row lacks show "—". Costs include prices estimated from the
price table ("est."), latencies come from a sketch ("≈"), and when the collector analysed a
sample (``Analysis.sampled``) counts and costs are scaled estimates, marked "≈".

Agent-supplied text (keys, agent ids, attribute values) goes through :func:`fmt.safe` into
:class:`rich.text.Text`, never markup.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from agentwatch.client.analysis import AnalysisFailure, FetchResult, analysis_client, fetch_analysis
from agentwatch.protocol import (
    SCOPE_AGENT_PREFIX,
    SCOPE_MODEL_PREFIX,
    VIEW_COSTS,
    VIEW_DECISIONS,
    VIEW_FAILURES,
    VIEW_LATENCY,
    Analysis,
    AnalysisRow,
    AnalysisSection,
    LogEntry,
)
from agentwatch.tui import formatting as fmt
from agentwatch.tui.alerts import short_age
from agentwatch.tui.columns import fit_columns
from agentwatch.tui.textual_internals import FramePaced

REFRESH_SECONDS: Final = 2.0
UNAVAILABLE: Final = "not available from this collector"
VIEW_TITLES: Final = {
    VIEW_COSTS: "Costs",
    VIEW_DECISIONS: "Decisions",
    VIEW_LATENCY: "Latency",
    VIEW_FAILURES: "Failures",
}
#: What a view with no rows says: where its data comes from, and when it can have some.
EMPTY_VIEW_TEXT: Final = {
    VIEW_COSTS: "No priced call in this window yet. Costs come from llm_call and completion events that carry "
    "cost_usd, or tokens and a model the price table knows (serve --config adds [prices]).",
    VIEW_DECISIONS: "No decision yet. An agent reports one as an event with span_type decision and decision_made "
    "(the SDK's agent.decision(name, confidence)); new ones are marked once an agent has a history.",
    VIEW_LATENCY: "No timed call yet. Latency comes from llm_call and completion events with latency_ms; each "
    "model's baseline forms over about 5 minutes, then regressions are marked.",
    VIEW_FAILURES: "No error in this window, so nothing to break down. Errors are events with span_type error or "
    "with an error field (the SDK records a raised exception as one).",
}
#: Most attribute keys offered by the Failures screen's picker.
MAX_ATTRIBUTE_KEYS: Final = 100
#: Newest log entries scanned for attribute keys.
ATTRIBUTE_SCAN: Final = 2_000
_SPARK_BARS: Final = "▁▂▃▄▅▆▇█"


def failure_text(failure: AnalysisFailure | None, url: str) -> str:
    """The status line for a fetch that brought no analysis (agent-supplied text made safe)."""
    if failure is None:
        return "unexpected answer"
    kind, detail = failure.kind, failure.detail
    if kind == "unreachable":
        return f"cannot reach {fmt.safe(url, 60)}: {fmt.safe(detail, 80)}"
    if kind == "unavailable":
        return UNAVAILABLE
    if kind == "unauthorized":
        return "unauthorized — check the token"
    if kind == "refused":
        return f"collector refused: {fmt.safe(detail, 120)}"
    return f"undecodable answer: {fmt.safe(detail, 80)}"


def attribute_keys(lines: Iterable[object], limit: int = ATTRIBUTE_SCAN) -> list[str]:
    """Attribute keys seen in the newest ``limit`` log entries (``metadata["attributes"]``), sorted.

    At most :data:`MAX_ATTRIBUTE_KEYS`; non-string keys and non-dict attributes are skipped.
    """
    entries = list(lines)[-limit:] if limit > 0 else []
    keys: set[str] = set()
    for line in reversed(entries):
        if not isinstance(line, LogEntry):
            continue
        attributes = line.metadata.get("attributes") if isinstance(line.metadata, dict) else None
        if isinstance(attributes, dict):
            keys.update(key for key in attributes if isinstance(key, str) and 0 < len(key) <= 128)
            if len(keys) >= MAX_ATTRIBUTE_KEYS:
                break
    return sorted(keys)[:MAX_ATTRIBUTE_KEYS]


# ------------------------------------------------------------------------ tables
def _count(value: float | None, approx: bool) -> str:
    if value is None or not math.isfinite(value):
        return fmt.MISSING
    shown = fmt.number(value, 0 if float(value).is_integer() or value >= 100 else 1)
    return f"≈{shown}" if approx else shown


def _usd(value: float | None, approx: bool) -> str:
    shown = fmt.usd(value)
    return f"≈{shown}" if approx and shown != fmt.MISSING else shown


def unit_usd(value: float | None) -> str:
    """A per-inference price with four decimals below $1 ("$0.0123"); missing → "—"."""
    if value is None or not math.isfinite(value):
        return fmt.MISSING
    return f"${value:.4f}" if abs(value) < 1 else fmt.usd(value)


def _latency(value: float | None) -> str:
    shown = fmt.latency(value)
    return shown if shown == fmt.MISSING else f"≈{shown}"


def _scope_label(key: str) -> str:
    for prefix in (SCOPE_MODEL_PREFIX, SCOPE_AGENT_PREFIX):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its label, how a row's cell reads, and whether it is a number."""

    label: str
    cell: Callable[[AnalysisRow, bool, float], str]
    number: bool = True


def _regression(row: AnalysisRow) -> str:
    if row.regression:
        return "▲ regression"
    if row.baseline_p99_ms is None:
        return fmt.MISSING
    return "ok"


def columns_for(view: str, section: str) -> tuple[Column, ...]:
    """The columns of one section's table. Cells get (row, sampled, now)."""
    if view == VIEW_COSTS:
        return (
            Column(section, lambda r, s, n: fmt.safe(r.key, 60), number=False),
            Column("inferences", lambda r, s, n: _count(r.inferences, s)),
            Column("window est.", lambda r, s, n: _usd(r.cost_window_usd, s)),
            Column("since start est.", lambda r, s, n: _usd(r.cost_total_usd, s)),
            Column("$/inference est.", lambda r, s, n: unit_usd(r.cost_per_inference_usd)),
            Column("share", lambda r, s, n: fmt.percent(r.share)),
        )
    if view == VIEW_DECISIONS:
        return (
            Column("decision", lambda r, s, n: fmt.safe(r.key, 60), number=False),
            Column("new", lambda r, s, n: "★ new" if r.new else "", number=False),
            Column("count", lambda r, s, n: _count(r.count, s)),
            Column("share", lambda r, s, n: fmt.percent(r.share)),
            Column(
                "mean conf.",
                lambda r, s, n: fmt.MISSING if r.mean_confidence is None else f"{r.mean_confidence:.2f}",
            ),
            Column(
                "first seen",
                lambda r, s, n: fmt.MISSING if r.first_seen is None else f"{short_age(n - r.first_seen)} ago",
            ),
        )
    if view == VIEW_LATENCY:
        return (
            Column(section, lambda r, s, n: fmt.safe(_scope_label(r.key), 60), number=False),
            Column("calls", lambda r, s, n: _count(r.events, s)),
            Column("p50 ≈", lambda r, s, n: fmt.latency(r.p50_latency_ms)),
            Column("p95 ≈", lambda r, s, n: fmt.latency(r.p95_latency_ms)),
            Column("p99 ≈", lambda r, s, n: fmt.latency(r.p99_latency_ms)),
            Column("baseline p99", lambda r, s, n: _latency(r.baseline_p99_ms)),
            Column("bound", lambda r, s, n: _latency(r.upper_bound_ms)),
            Column("vs baseline", lambda r, s, n: _regression(r), number=False),
        )
    return (
        Column(section, lambda r, s, n: fmt.safe(r.key, 60), number=False),
        Column("errors", lambda r, s, n: _count(r.errors, s)),
        Column("events", lambda r, s, n: _count(r.events, s)),
        Column("error rate", lambda r, s, n: fmt.percent(r.error_rate)),
        Column("share of errors", lambda r, s, n: fmt.percent(r.share)),
    )


def section_title(analysis: Analysis, section: AnalysisSection) -> str:
    """A section's heading, e.g. "Cost by model", "Decisions of planner-01", "Errors by tool"."""
    name = fmt.safe(section.name, 80)
    view = analysis.view
    if view == VIEW_COSTS:
        title = f"Cost by {name}"
    elif view == VIEW_DECISIONS:
        title = f"Decisions of {fmt.safe(_scope_label(section.name), 60)}"
    elif view == VIEW_LATENCY:
        title = f"Latency per {name} over the last {analysis.window_seconds:.0f} s, against its baseline"
    else:
        title = f"Errors by {name}"
    if not section.rows:
        title += " — none yet"
    if section.rows_dropped:
        title += f" (top {len(section.rows)}; {section.rows_dropped} more not shown)"
    return title


@dataclass(frozen=True, slots=True)
class TableView:
    """One rendered section: heading, column labels, which are numbers, and the rows' cells."""

    title: str
    labels: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[str, ...], ...]


def table_views(analysis: Analysis, now: float) -> list[TableView]:
    """Every section of ``analysis`` as plain cells (the screen's whole content, minus headings)."""
    views: list[TableView] = []
    for section in analysis.sections:
        columns = columns_for(analysis.view, fmt.safe(section.name, 40))
        rows = tuple(
            tuple(column.cell(row, analysis.sampled, now) for column in columns) for row in section.rows
        )
        views.append(
            TableView(
                title=section_title(analysis, section),
                labels=tuple(column.label for column in columns),
                numeric=tuple(column.number for column in columns),
                rows=rows,
            )
        )
    return views


#: Per view, the columns left out first (by label) when a table is too wide for the screen.
DROP_FIRST: Final = {
    VIEW_COSTS: ("share", "since start est.", "inferences", "window est."),
    VIEW_DECISIONS: ("first seen", "mean conf.", "share"),
    VIEW_LATENCY: ("p95 ≈", "bound", "calls", "p50 ≈", "baseline p99"),
    VIEW_FAILURES: ("events", "share of errors", "error rate"),
}


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """The last ``width`` values as block characters scaled min..max (flat series: lowest bar)."""
    shown = [v for v in values if math.isfinite(v)][-width:]
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    span = high - low
    top = len(_SPARK_BARS) - 1
    return "".join(_SPARK_BARS[0 if span <= 0 else round((v - low) / span * top)] for v in shown)


def cost_trend_text(analysis: Analysis) -> Text:
    """Cost per inference over time: a sparkline, the latest value and the range (est.)."""
    points = analysis.cost_per_inference
    text = Text("Cost per inference over time ", style="bold")
    if not points:
        text.append("— no priced inference yet", style="dim")
        return text
    values = [point.usd_per_inference for point in points]
    text.append(sparkline(values), style="cyan")
    text.append(f"  now {unit_usd(values[-1])} est.", style="bold")
    text.append(f"  min {unit_usd(min(values))} · max {unit_usd(max(values))}", style="dim")
    return text


# ------------------------------------------------------------------------ screens
#: Keys that switch between the analysis screens and the alert history from any of them
#: (the app's own bindings do not reach into a modal screen).
SWITCH_BINDINGS: Final = (
    Binding("1", f"app.analysis({VIEW_COSTS!r})", "Costs", show=False),
    Binding("2", f"app.analysis({VIEW_DECISIONS!r})", "Decisions", show=False),
    Binding("3", f"app.analysis({VIEW_LATENCY!r})", "Latency", show=False),
    Binding("4", f"app.analysis({VIEW_FAILURES!r})", "Failures", show=False),
    Binding("A", "app.alert_history", "Alert history", show=False),
)


class AnalysisScreen(FramePaced, ModalScreen[None]):
    """One analysis view over the whole screen; 1–4 switch views (app keys), Esc closes.

    ``connect=False`` fetches nothing (screenshots feed :meth:`show` directly).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        *SWITCH_BINDINGS,
        Binding("k", "pick_attribute", "Attribute key", tooltip="Failures: group by an attribute key"),
        Binding("r", "refresh_now", "Refresh", tooltip="Fetch the analysis again now"),
    ]

    class Fetched(Message):
        """A fetch finished; ``generation`` tells answers to an older view or attribute apart."""

        def __init__(self, generation: int, result: FetchResult) -> None:
            super().__init__()
            self.generation = generation
            self.result = result

    def __init__(
        self,
        view: str,
        *,
        url: str,
        token: str | None = None,
        agent: str | None = None,
        attribute: str | None = None,
        attribute_keys: Callable[[], list[str]] = list,
        refresh_seconds: float = REFRESH_SECONDS,
        connect: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.view = view if view in VIEW_TITLES else VIEW_COSTS
        self.url = url
        self.token = token
        self.agent = agent
        self.attribute = attribute
        self.refresh_seconds = max(0.1, refresh_seconds)
        self.connect = connect
        self.clock = clock
        self._attribute_keys = attribute_keys
        self._generation = 0
        self._layout: tuple[tuple[str, tuple[str, ...], tuple[tuple[int, int], ...]], ...] | None = None
        self._rows: list[tuple[tuple[str, ...], ...]] = []
        self._tables: list[DataTable[Text]] = []
        self.analysis: Analysis | None = None
        """The last analysis shown (None before the first answer)."""
        self.error: str | None = None
        """The last fetch's error line (None after a good answer)."""
        self.fetches = 0
        self.fetch_errors = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="analysis-box"):
            yield Static("", id="analysis-title", markup=False)
            yield Static("loading…", id="analysis-status", markup=False)
            yield Static("", id="analysis-trend", markup=False)
            yield Static("", id="analysis-empty", markup=False)
            yield VerticalScroll(id="analysis-body")
            yield Static("", id="analysis-hint", markup=False)

    def on_mount(self) -> None:
        self._show_title()
        self._restart()

    # ------------------------------------------------------------------ fetching
    def set_view(self, view: str) -> None:
        """Switch to another view (same agent); the attribute key stays for Failures."""
        if view not in VIEW_TITLES or view == self.view:
            return
        self.view = view
        self.analysis = None
        self._clear_tables()
        self._show_title()
        self._restart()
        self.refresh_bindings()

    def set_attribute(self, attribute: str | None) -> None:
        """Group Failures by this attribute key too (None or "" = no attribute section)."""
        self.attribute = attribute or None
        self._show_title()
        self._restart()

    def _restart(self) -> None:
        self._generation += 1
        self.query_one("#analysis-status", Static).update(Text("loading…", style="dim"))
        if self.connect:
            self._poll(self._generation)

    @work(exclusive=True, group="analysis", exit_on_error=False)
    async def _poll(self, generation: int) -> None:
        async with analysis_client() as http:
            while generation == self._generation:
                result = await fetch_analysis(
                    http,
                    self.url,
                    self.view,
                    token=self.token,
                    agent=self.agent,
                    attribute=self.attribute if self.view == VIEW_FAILURES else None,
                )
                self.post_message(self.Fetched(generation, result))
                await asyncio.sleep(self.refresh_seconds)

    def on_analysis_screen_fetched(self, message: Fetched) -> None:
        message.stop()
        if message.generation != self._generation:
            return
        self.fetches += 1
        result = message.result
        if result.analysis is not None and result.analysis.view == self.view:
            self.error = None
            self.show(result.analysis)
        else:
            self.fetch_errors += 1
            self.error = failure_text(result.failure, self.url)
            self.query_one("#analysis-status", Static).update(Text(f"✗ {self.error}", style="bold yellow"))

    # ------------------------------------------------------------------ rendering
    def _show_title(self) -> None:
        title = Text(VIEW_TITLES[self.view], style="bold")
        if self.agent:
            title.append("  agent ", style="dim")
            title.append(fmt.safe(self.agent, 40), style="bold cyan")
        else:
            title.append("  fleet", style="dim")
        if self.view == VIEW_FAILURES and self.attribute:
            title.append("  attribute ", style="dim")
            title.append(fmt.safe(self.attribute, 40), style="bold")
        self.query_one("#analysis-title", Static).update(title)
        hint = "Esc close · 1 costs · 2 decisions · 3 latency · 4 failures · r refresh"
        if self.view == VIEW_FAILURES:
            hint += " · k attribute key"
        self.query_one("#analysis-hint", Static).update(Text(hint, style="dim"))

    def show(self, analysis: Analysis) -> None:
        """Render ``analysis``: status line, cost trend (Costs) and one table per section."""
        self.analysis = analysis
        now = self.clock()
        status = Text(f"● updated {short_age(now - analysis.timestamp)} ago", style="green")
        status.append(f" · window {analysis.window_seconds:.0f} s", style="dim")
        if analysis.view == VIEW_COSTS:
            status.append(" · costs include prices estimated from the price table (est.)", style="dim")
        if analysis.sampled:
            status.append("  ≈ sampled: counts and costs are scaled estimates", style="bold yellow")
        if not analysis.sections:
            status.append(" · no data yet", style="dim")
        self.query_one("#analysis-status", Static).update(status)
        empty = self.query_one("#analysis-empty", Static)
        empty.display = not any(section.rows for section in analysis.sections)
        if empty.display:
            empty.update(Text(EMPTY_VIEW_TEXT.get(analysis.view, ""), style="italic"))
        trend = self.query_one("#analysis-trend", Static)
        trend.display = analysis.view == VIEW_COSTS
        if trend.display:
            trend.update(cost_trend_text(analysis))
        self._show_tables(table_views(analysis, now))

    def _clear_tables(self) -> None:
        self.query_one("#analysis-body", VerticalScroll).remove_children()
        self._layout = None
        self._rows = []
        self._tables = []

    def _show_tables(self, views: list[TableView]) -> None:
        """Update tables in place when the sections and the width are the same; rebuild them otherwise."""
        body = self.query_one("#analysis-body", VerticalScroll)
        room = self._table_room()
        fits = [
            fit_columns(view.labels, view.rows, room, drop_first=DROP_FIRST.get(self.view, ()))
            for view in views
        ]
        layout = tuple((view.title, view.labels, tuple(fit)) for view, fit in zip(views, fits, strict=True))
        if layout != self._layout:
            body.remove_children()
            widgets: list[Static | DataTable[Text]] = []
            self._tables = []
            for view, fit in zip(views, fits, strict=True):
                widgets.append(
                    Static(Text(view.title, style="bold"), classes="analysis-section", markup=False)
                )
                table: DataTable[Text] = DataTable(
                    cursor_type="none", zebra_stripes=True, classes="analysis-table"
                )
                for index, width in fit:
                    label, numeric = view.labels[index], view.numeric[index]
                    table.add_column(Text(label, justify="right") if numeric else label, width=width)
                widgets.append(table)
                self._tables.append(table)
            body.mount_all(widgets)
            self._layout = layout
            self._rows = [() for _ in views]
        for index, (view, table, fit) in enumerate(zip(views, self._tables, fits, strict=True)):
            if self._rows[index] == view.rows:
                continue
            self._rows[index] = view.rows
            table.clear()
            for cells in view.rows:
                table.add_row(
                    *(
                        Text(
                            fmt.safe(cells[column], width),
                            justify="right" if view.numeric[column] else "left",
                            style=_cell_style(cells[column]),
                        )
                        for column, width in fit
                    )
                )

    def _table_room(self) -> int:
        """Cells a table may use: the screen less the box's border and padding and a scrollbar."""
        return max(20, self.app.size.width - 6)

    def on_resize(self) -> None:
        if self.analysis is not None:
            self._show_tables(table_views(self.analysis, self.clock()))

    def table_texts(self) -> dict[str, list[str]]:
        """Section heading → each row's cells joined by two spaces (for tests)."""
        headings = [view_title for view_title, _, _ in self._layout or ()]
        return {
            heading: ["  ".join(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]
            for heading, table in zip(headings, self._tables, strict=False)
        }

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pick_attribute":
            return self.view == VIEW_FAILURES
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_refresh_now(self) -> None:
        self._restart()

    def action_pick_attribute(self) -> None:
        def picked(key: str | None) -> None:
            if key is not None:
                self.set_attribute(key.strip() or None)

        self.app.push_screen(AttributePicker(self._attribute_keys(), self.attribute), picked)


def _cell_style(cell: str) -> str:
    if cell.startswith("▲"):
        return "bold red"
    if cell.startswith("★"):
        return "bold yellow"
    return ""


class AttributePicker(FramePaced, ModalScreen[str | None]):
    """Pick an attribute key to group failures by: one of the keys seen, or typed.

    Returns None when cancelled (Esc), "" to drop the attribute section, or the key.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, keys: Sequence[str], current: str | None) -> None:
        super().__init__()
        self._keys = list(keys)
        self._current = current or ""

    def compose(self) -> ComposeResult:
        with Vertical(id="attribute-box"):
            yield Static(
                "Group failures by attribute key (type one, or pick; empty: none)", id="attribute-title"
            )
            yield Input(value=self._current, placeholder="attribute key", id="attribute-input")
            options = [
                Option(Text(fmt.safe(key, 60)), id=f"key:{index}") for index, key in enumerate(self._keys)
            ]
            if not options:
                options = [Option(Text("no attribute keys seen in the log yet", style="dim"), disabled=True)]
            yield OptionList(*options, id="attribute-list")

    def on_mount(self) -> None:
        if self._keys:
            self.query_one(OptionList).highlighted = 0
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self._keys):
            self.dismiss(self._keys[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
