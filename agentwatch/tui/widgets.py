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
from typing import Final, Self

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual.widget import Widget
from textual.widgets import Log, Static

from agentwatch.protocol import Snapshot, Work
from agentwatch.tui import formatting as fmt
from agentwatch.tui.agenttable import AGENT_COLUMNS, AgentTable
from agentwatch.tui.alerts import alert_count_text
from agentwatch.tui.linewrap import wrap_lines
from agentwatch.tui.logstrips import LogStrips
from agentwatch.tui.received import SentFields, was_sent
from agentwatch.tui.sessions import needs_you_count, needs_you_text
from agentwatch.tui.sparkcursor import CursorSparkline
from agentwatch.tui.state import STREAM_LOGS, STREAM_METRICS, ViewState
from agentwatch.tui.textual_internals import (
    CachedLogLines,
    FixedSizeScrolling,
    LogWidthInPlace,
    QuietScrollbars,
    RenderedRows,
    ScrollsTerminal,
    TransientDirtyRegions,
)

__all__ = [
    "AGENT_COLUMNS",
    "AgentTable",
    "HeaderBar",
    "LogPane",
    "MetricPanel",
    "MetricsBar",
    "header_key",
    "header_lines",
    "is_stale",
]

LEVEL_STYLES: Final = {
    "DEBUG": "dim",
    "INFO ": "green",
    "WARN ": "bold yellow",
    "ERROR": "bold red",
    "CRIT ": "bold white on red",
}
SEARCH_STYLE: Final = "bold reverse"
MARKER_STYLE: Final = "bold yellow"


class HeaderBar(Widget):
    """Two lines of status text; set with :meth:`show` (only re-rendered when it changes).

    Drawn as a Static showing the lines joined would draw them (``text-wrap: nowrap``, each line
    cut to the width on its own), but a line is rendered by itself and kept until it, the width or
    the style changes: the age in the top line moving redraws that line alone, not the header.
    """

    DEFAULT_CSS = """
    HeaderBar {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.auto_links = False  # no links in it: no link style looked up at each render
        self._lines: list[Text] = []
        self._keys: list[tuple[object, ...]] = []
        self._state_key: tuple[object, ...] | None = None
        #: Each line's strip as last drawn, with what it was drawn from.
        self._drawn: dict[int, tuple[object, Strip]] = {}
        self.plain = ""
        """The header as plain text (what a reader sees without colour)."""

    def show(self, lines: Sequence[Text]) -> bool:
        """Display these lines; returns False (and touches nothing) when they did not change."""
        self._state_key = None  # (lines given, not built from a state: show_state builds them again)
        keys: list[tuple[object, ...]] = [(line.plain, *line.spans) for line in lines]
        if keys == self._keys:
            return False
        changed = [y for y, (key, was) in enumerate(zip(keys, self._keys, strict=False)) if key != was]
        relayout = len(keys) != len(self._keys)
        self._lines, self._keys = list(lines), keys
        self.plain = "\n".join(line.plain for line in lines)
        if relayout:
            self.refresh(layout=True)
        else:
            # Always the same number of lines: no layout pass, which would also redraw every
            # scrollbar in a second screen write after this frame's; and only the lines that changed,
            # each as the whole row, padding included (regions are the content's: a row cut short of
            # the padding is written whole, not as the cells that changed).
            left = self.content_offset.x
            width = self.outer_size.width
            self.refresh(*(Region(-left, y, width, 1) for y in changed))
        return True

    def render(self) -> Text:
        return Text("\n").join(self._lines)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return max((line.cell_len for line in self._lines), default=0)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.visual_style
        if self.text_selection is not None:  # (a selection's offsets are the whole text's)
            strips = Visual.to_strips(self, visualize(self, self.render()), width, self.size.height, style)
            return strips[y] if y < len(strips) else Strip.blank(width, style.rich_style)
        if y >= len(self._lines):
            return Strip.blank(width, style.rich_style)
        key = (self._keys[y], width, style)
        drawn = self._drawn.get(y)
        if drawn is not None and drawn[0] == key:
            return drawn[1]
        # The line as the joined lines draw it: the lines above it blank (the same styles, and the
        # same offsets, which say where a cell is for a text selection).
        text = Text("\n").join([*(Text() for _ in range(y)), self._lines[y]])
        strip = Visual.to_strips(self, visualize(self, text, markup=False), width, y + 1, style)[y]
        self._drawn[y] = (key, strip)
        return strip

    def show_state(self, state: ViewState) -> bool:
        """Display :func:`header_lines` of ``state``, built only when :func:`header_key` changed
        (a frame that moves nothing the header shows builds nothing); False when nothing changed."""
        key = header_key(state)
        if key is not None and key == self._state_key:
            return False
        changed = self.show(header_lines(state))
        self._state_key = key
        return changed


#: A live stream whose last snapshot is older than this many seconds is shown as stale.
STALE_AFTER_SECONDS: Final = 5.0


def is_stale(state: ViewState) -> bool:
    """True when the numbers shown may be out of date: the metrics stream is reconnecting, or
    the last snapshot is older than :data:`STALE_AFTER_SECONDS` (the panels are then dimmed)."""
    metrics = state.connections.get(STREAM_METRICS)
    if metrics is not None and metrics.phase == "reconnecting":
        return True
    age = state.snapshot_age()
    return age is not None and age > STALE_AFTER_SECONDS


def connection_text(state: ViewState) -> Text:
    """Connection summary for the header: always its first words, so a narrow terminal keeps it.

    One of "● live · 0 s ago", "◌ stale for 12 s", "↻ reconnecting in 3 s · stale for 12 s",
    "✗ unauthorized", "… connecting".
    """
    now = state.clock()
    phases = {name: state.connections.get(name) for name in (STREAM_METRICS, STREAM_LOGS)}
    snapshot_age = state.snapshot_age()
    stale_for = (
        Text(f" · stale for {snapshot_age:.0f} s", style="yellow")
        if snapshot_age is not None and is_stale(state)
        else Text()
    )
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
            text.append_text(stale_for)
            if conn.error:
                text.append(f" ({fmt.safe(conn.error, 40)})", style="dim")
            return text
    if any(conn is None or conn.phase != "live" for conn in phases.values()):
        return Text("… connecting", style="yellow")
    if snapshot_age is not None and snapshot_age > STALE_AFTER_SECONDS:
        return Text(f"◌ stale for {snapshot_age:.0f} s", style="bold yellow")
    text = Text("● live", style="bold green")
    if snapshot_age is not None:
        text.append(f" · {snapshot_age:.0f} s ago", style="dim")
    return text


def header_key(state: ViewState) -> tuple[object, ...] | None:
    """Everything :func:`header_lines` reads, as it shows it (ages as the whole seconds shown):
    equal keys, equal lines. None when drilled into an agent or scrubbing (the lines are built)."""
    if state.drilled_agent is not None or state.scrub.at is not None:
        return None
    now = state.clock()
    connections = tuple(
        None
        if conn is None
        else (
            conn.phase,
            conn.error,
            None if conn.retry_at is None else max(0, math.ceil(conn.retry_at - now)),
        )
        for conn in (state.connections.get(STREAM_METRICS), state.connections.get(STREAM_LOGS))
    )
    age = state.snapshot_age()
    return (
        connections,
        None if age is None else (f"{age:.0f}", age > STALE_AFTER_SECONDS),
        len(state.alerts.firing),
        needs_you_count(state.fleet.sessions) if state.fleet is not None else 0,
        state.banner,
        state.url,
        state.paused,
        state.new_while_paused if state.paused else None,
        state.scrolled_back if state.paused else None,
        tuple(state.active_filters()),
        state.search_error,
        state.sort_column,
        state.sort_reverse,
        state.lines_missed,
        state.decode_errors,
    )


def header_lines(state: ViewState) -> list[Text]:
    """The two header lines: how connected, alerts, where; then what the view is narrowed to.

    The connection comes first and the URL last, so a narrow terminal cuts the URL, never
    the connection state.
    """
    top = connection_text(state)
    top.append_text(alert_count_text(len(state.alerts.firing)))
    top.append_text(needs_you_text(needs_you_count(state.fleet.sessions) if state.fleet is not None else 0))
    top.append("  ")
    if state.banner:
        top.append(f" {fmt.safe(state.banner, 60)} ", style="bold black on yellow")
        top.append(" ")
    else:
        top.append("agentwatch ", style="bold")
    top.append(fmt.safe(state.url, 60), style="dim")
    bottom = Text()
    if state.drilled_agent is not None:
        bottom.append("▶ agent ", style="bold")
        bottom.append(fmt.safe(state.drilled_agent, 40), style="bold cyan")
        bottom.append(" (Esc: fleet)  ", style="dim")
        known = state.log_agents.get(state.drilled_agent)
        if known is not None and known.where:
            bottom.append(fmt.safe(known.where, 60) + "  ", style="dim")
        done = drilled_work(state)
        if done is not None and fmt.work(done):
            bottom.append(fmt.work(done) + "  ", style="cyan")
    else:
        bottom.append("fleet  ", style="bold")
    if state.scrub.at is not None:
        bottom.append(state.scrub.header_text(state.new_while_paused) + "  ", style="bold reverse")
        bottom.append(state.scrub.status() + "  ", style="dim")
    elif state.paused:
        held = fmt.number(state.new_while_paused, 0)
        shown = f"⏸ scrolled · {held} new" if state.scrolled_back else f"⏸ PAUSED {held} new"
        bottom.append(f"{shown} (End: live)  ", style="bold reverse")
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


def carries_cost(snapshot: Snapshot, sent: SentFields = None) -> bool:
    """False when the snapshot says nothing about cost (the minimal protocol has no cost fields).

    With ``sent`` known: whether any cost field was in it. Otherwise: a full collector
    always sends a per-second cost series, so a snapshot with no cost series, no cost
    figure and no estimate flag came from a collector that does not track cost: its zeros
    are defaults, not measurements, and the panel shows "—".
    """
    if sent is not None:
        return any(was_sent(sent, name) for name in _COST_FIELDS)
    return bool(
        snapshot.history.cost_per_second
        or snapshot.cost_per_minute
        or snapshot.window_cost_usd
        or snapshot.total_cost_usd
        or snapshot.cost_estimated
    )


_COST_FIELDS: Final = ("cost_per_minute", "window_cost_usd", "total_cost_usd", "cost_estimated")


class PanelSparkline(CursorSparkline):
    """A panel's sparkline (its rows are drawn one segment per run of cells of one style)."""


class MetricPanel(Vertical):
    """One metric: a titled box with a value line and a sparkline of its history.

    In a narrow terminal the box collapses to one line, ``label value``; the label is left
    out when both do not fit, so the value is never cut.
    """

    def __init__(self, title: str, label: str | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="metric")
        self.border_title = title
        self._label = Static(label or title, classes="metric-label", markup=False)
        self._label_width = cell_len(label or title) + 1
        self._value = Static("—", classes="metric-value", markup=False)
        self._spark = PanelSparkline([], classes="metric-spark")
        for widget in (self, self._label, self._value, self._spark):
            widget.auto_links = False  # no links in them: no link style looked up at each render
        self._shown: tuple[str, tuple[float, ...], str, tuple[str, ...]] | None = None
        self._second: tuple[int, str | None] | None = None

    def compose(self) -> ComposeResult:
        yield self._label
        yield self._value
        yield self._spark

    @property
    def value_text(self) -> str:
        return str(self._value.render())

    @property
    def series(self) -> list[float]:
        """The sparkline's values (for tests)."""
        return list(self._spark.data or [])

    def show(
        self,
        value: Text,
        series: Sequence[float],
        level_class: str = "",
        detail: str | Sequence[str] = "",
        *,
        second: tuple[int, str | None] | None = None,
    ) -> None:
        """Show ``value``, the sparkline ``series`` and a ``detail`` line under the box.

        ``detail`` may be several wordings, longest first: the first that fits the border is
        shown (the last one when none does). ``level_class`` is "", "-warning" or "-error".
        ``second`` is the history's newest second and the snapshot's scope (its agent, None for
        the fleet): the value, the sparkline and the detail move once a second (a new
        ``second``), as the per-second figures they show do; within a second of one scope they
        keep what they show, so the box is not repainted for each snapshot (several a second).
        Only what changed is touched.
        """
        details = (detail,) if isinstance(detail, str) else tuple(detail)
        shown = self._shown
        points = tuple(series)
        if (
            shown is not None
            and second is not None
            and second == self._second
            and bool(points) == bool(shown[1])
        ):
            return  # the same second of the same scope: the box keeps what it shows
        self._second = second
        key = (value.markup, points, level_class, details)
        if key == shown:
            return
        self._shown = key
        if shown is None or shown[0] != key[0]:
            self._value.update(value, layout=False)  # one line whatever the value: no layout pass
        if shown is None or shown[1] != points:
            self._spark.data = list(points)
            self._spark.set_class(not points, "-empty")  # no series sent: no flat line that reads as zero
        for name in ("-warning", "-error"):
            self.set_class(name == level_class, name)
        self._fit()

    def on_resize(self, event: Resize) -> None:
        self._fit()

    def _fit(self) -> None:
        self._fit_label()
        details = self._shown[3] if self._shown else ("",)
        room = self.outer_size.width - 6  # "╰─ " and " ─╯"
        subtitle = next((d for d in details if cell_len(d) <= room), details[-1])
        if subtitle != self.border_subtitle:
            self._set_subtitle(subtitle)

    _bottom_row_only = False

    def _set_subtitle(self, subtitle: str) -> None:
        """Set the border's subtitle and repaint only the border's bottom row it is drawn on.

        Textual's ``border_subtitle`` setter repaints the whole box (``refresh()``: its top
        border and title, its sides): :meth:`refresh` narrows that one repaint to the row.
        """
        self._bottom_row_only = True
        try:
            self.border_subtitle = subtitle
        finally:
            self._bottom_row_only = False

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        if self._bottom_row_only and not (regions or layout or recompose) and self.is_mounted:
            (width, rows), offset = self.outer_size, self.content_offset
            if rows >= 2:
                regions = (Region(-offset.x, rows - 1 - offset.y, width, 1),)  # relative to the content
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _fit_label(self) -> None:
        """Keep the one-line label only while label and value both fit."""
        value = cell_len(self._shown[0] if self._shown else fmt.MISSING)
        fits = self._label_width + value <= self.content_region.width
        self.set_class(not fits, "-no-label")


def _series(values: Iterable[float | None]) -> list[float]:
    """History values for a sparkline: missing or non-finite seconds become 0."""
    return [v if v is not None and math.isfinite(v) else 0.0 for v in values]


def _in_out(snapshot: Snapshot) -> tuple[str, ...]:
    """Input and output tokens/s, as wide as the border allows: "in 45 126 · out 4 019" … "in/out 45k/4.0k"."""
    tokens_in, tokens_out = snapshot.input_tokens_per_second, snapshot.output_tokens_per_second
    if not tokens_in and not tokens_out:
        return ("",)
    short_in, short_out = fmt.compact(tokens_in, 2), fmt.compact(tokens_out, 2)
    return (
        f"in {fmt.number(tokens_in, 0)} · out {fmt.number(tokens_out, 0)}",
        f"in {fmt.compact(tokens_in)} · out {fmt.compact(tokens_out)}",
        f"in {short_in} · out {short_out}",
        f"in {short_in}/out {short_out}",
        f"in/out {short_in}/{short_out}",
    )


class MetricsBar(Horizontal):
    """The five metric panels, fed from one snapshot (None = nothing received yet).

    ``sent`` names the fields the collector put in the snapshot (None: not known): a field
    it left out shows "—", never the protocol's default zero.
    """

    _panels: dict[str | None, MetricPanel] | None = None

    def compose(self) -> ComposeResult:
        panels = (
            MetricPanel("tokens/s", "tok/s", id="m-tokens"),
            MetricPanel("p50 / p99 ≈", "p50/p99≈", id="m-latency"),  # fits a 20-column panel
            MetricPanel("error rate", "errors", id="m-errors"),
            MetricPanel("cost", id="m-cost"),
            MetricPanel("agents", id="m-agents"),
        )
        self._panels = {panel.id: panel for panel in panels}  # kept: a query at each snapshot cost more
        yield from panels

    def update_from(self, snapshot: Snapshot | None, sent: SentFields = None) -> None:
        panels = self._panels if self._panels is not None else {p.id: p for p in self.query(MetricPanel)}
        if snapshot is None:
            for panel in panels.values():
                panel.show(Text(fmt.MISSING), [])
            return
        history = snapshot.history
        second = (int(history.end), snapshot.agent) if history.end else None

        def has(field: str) -> bool:
            return was_sent(sent, field)

        panels["m-tokens"].show(
            Text(fmt.number(snapshot.tokens_per_second) if has("tokens_per_second") else fmt.MISSING),
            _series(history.tokens_per_second),
            detail=_in_out(snapshot),
            second=second,
        )
        p50, p99 = snapshot.p50_latency_ms, snapshot.p99_latency_ms
        latency = Text(f"{fmt.latency(p50)} / {fmt.latency(p99)}")
        panels["m-latency"].show(
            latency,
            _series(history.p99_latency_ms),
            fmt.threshold_class(p99, fmt.LATENCY_WARNING_MS, fmt.LATENCY_ERROR_MS),
            (
                f"latency ±{snapshot.latency_relative_error * 100:.0f} %",
                f"±{snapshot.latency_relative_error * 100:.0f} %",
            )
            if has("latency_relative_error")
            else "",
            second=second,
        )
        error_rate = snapshot.error_rate if has("error_rate") else None
        panels["m-errors"].show(
            Text(fmt.percent(error_rate)),
            _series(history.error_rate),
            fmt.threshold_class(error_rate, fmt.ERROR_RATE_WARNING, fmt.ERROR_RATE_ERROR),
            f"{fmt.number(snapshot.errors, 0)} errors" if has("errors") else "",
            second=second,
        )
        est = " est." if snapshot.cost_estimated else ""
        if carries_cost(snapshot, sent):
            panels["m-cost"].show(
                Text(f"{fmt.usd(snapshot.cost_per_minute)}/min{est}"),
                _series(history.cost_per_second),
                detail=(
                    f"{fmt.usd(snapshot.window_cost_usd)} in {snapshot.window_seconds:.0f} s{est}",
                    f"{fmt.usd(snapshot.window_cost_usd)}/{snapshot.window_seconds:.0f} s{est}",
                    f"{fmt.usd(snapshot.window_cost_usd)}/{snapshot.window_seconds:.0f} s",
                ),
                second=second,
            )
        else:
            panels["m-cost"].show(Text(fmt.MISSING), [])
        events = fmt.number(snapshot.events_per_second) if has("events_per_second") else fmt.MISSING
        panels["m-agents"].show(
            Text(f"{snapshot.active_agents} active" if has("active_agents") else fmt.MISSING),
            _series(history.events_per_second),
            detail=(f"{events} events/s", f"{events} ev/s"),
            second=second,
        )


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


class LogPane(
    FixedSizeScrolling,
    QuietScrollbars,
    TransientDirtyRegions,
    LogWidthInPlace,
    CachedLogLines,
    ScrollsTerminal,
    Log,
):
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
        self._strips = LogStrips(
            level_styles=LEVEL_STYLES,
            level_width=fmt.LEVEL_WIDTH,
            marker_prefix=fmt.MARKER_PREFIX,
            marker_style=MARKER_STYLE,
            search_style=SEARCH_STYLE,
        )
        self._source: deque[str] = deque(maxlen=max_lines)
        self._wrap = False
        self._wrap_width = 0
        #: The view showed the newest line when it last moved (a resize keeps it there).
        self._following = True
        #: Appends whose rows already rendered were kept, moved up (see :class:`RenderedRows`).
        self.rows_kept = 0
        #: True while :meth:`render_lines` runs; the widget's style then, once asked for.
        self._painting = False
        self._paint_style: Style | None = None

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
        top = self.scroll_offset.y
        band = self._content_rows()
        bars = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        rendered = RenderedRows(self, band) if self.text_selection is None else None
        if self._following and not self.is_vertical_scroll_end:
            # A resize left the view off the end (Log follows only a view exactly at the end).
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        full = scroll_end is None and self.max_lines is not None and len(self._lines) >= self.max_lines
        if full:
            # As many old lines go as new ones come: the end stays where it is. Log would scroll
            # there anyway (stopping scroll animations, and posting a callback for after the next
            # refresh, at every write); told not to, it refreshes the whole widget, which a full
            # log's write needs (below).
            scroll_end = False
        self.write_lines(physical, scroll_end=scroll_end)
        dropped = expected - len(self.lines)
        if dropped and not full:
            # The oldest lines were dropped (``max_lines``): every line moved up, but Log
            # refreshes only the rows of the new lines, which at the tail are below the view.
            self.refresh()
        if full and self._following and not self.is_vertical_scroll_end:
            # The end did move: a line wider than the pane brought the horizontal scrollbar.
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        if rendered is not None:
            # Rows already rendered show lines that only moved up: they are not rendered again.
            # (The content's rows change within a write only when a scrollbar comes or goes.)
            if (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != bars:
                band = self._content_rows()
            self.rows_kept += rendered.moved(self.scroll_offset.y + dropped - top, band)

    def render_lines(self, crop: Region) -> list[Strip]:
        """The rows of ``crop``, with the widget's style worked out once for all of them (Textual's
        Log asks for :attr:`rich_style` at every row, which combines the styles of every ancestor),
        and not at all when every row is kept."""
        self._painting = True
        try:
            return super().render_lines(crop)
        finally:
            self._painting = False
            self._paint_style = None

    @property
    def rich_style(self) -> Style:
        if not self._painting:
            return super().rich_style
        style = self._paint_style
        if style is None:
            style = self._paint_style = super().rich_style
        return style

    def line_strip(self, line: str, rich_style: Style) -> Strip | None:
        """A row's strip cut at the columns :class:`LogHighlighter` colours (see
        :class:`~agentwatch.tui.logstrips.LogStrips`): the strip Textual's Log draws, without a
        rich Text per row."""
        if not self.highlight or type(self.highlighter) is not LogHighlighter:
            return None
        colours = self.highlighter
        return self._strips.strip(
            line,
            self.app.console,
            rich_style,
            level_start=colours.level_start,
            message_start=colours.message_start,
            spans=colours.spans,
        )

    def _content_rows(self) -> range:
        """The rows of the widget (its styles cache's keys) that show lines."""
        top = self.content_offset.y
        return range(top, top + self.scrollable_content_region.height)

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
        elif self._following and not self.is_vertical_scroll_end:
            # A view that showed the newest line still does in the new size (a shorter pane keeps
            # its top; a taller one may keep an offset clamped in a size it passed through).
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._following = new_value >= self.max_scroll_y

    def _content_width(self) -> int:
        return max(20, self.scrollable_content_region.width or self.size.width or 80)

    def _physical(self, lines: Sequence[str]) -> Sequence[str]:
        if not self._wrap:
            return lines
        width = self._wrap_width = self._content_width()
        return wrap_lines(lines, width, self.log_highlighter.message_start)
