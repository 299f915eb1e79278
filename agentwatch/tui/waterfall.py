"""One trace as a waterfall: its spans nested by parent on a time axis.

Opened with ``w`` in a line's detail (the line's trace, or its prompt/turn id) or ``W`` on the agents
table (the agent's newest line that has one). The trace is read once, ``GET /api/traces/<id>``
(:mod:`agentwatch.client.traces`), in a worker; ``r`` reads it again. One row a span: the tree (a
child under its parent, siblings by start), a bar whose start and length are the span's start and
duration scaled to the trace's wall time, the model or tool, the duration, the tokens and the cost;
errors red. The totals line gives the wall time, tokens, cost, errors and the slowest path (from the
root that ends last, each time the child that ends last). ``j``/``k`` or ↑/↓ move between spans,
Enter opens one in the line detail view (←/→ there step spans), Esc closes.

Everything shown came from agents and is data: made printable (:func:`fmt.safe`) in a
:class:`rich.text.Text`, never markup. At 80 columns the bar column shrinks first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import ClassVar, Final

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agentwatch.client.traces import TraceFailure, TraceResult, fetch_trace, trace_client
from agentwatch.protocol import LEVEL_RANK, LogEntry, Trace, TraceSpan, normalize_level
from agentwatch.tui import formatting as fmt
from agentwatch.tui.linedetail import LineDetailScreen
from agentwatch.tui.textual_internals import FramePaced

__all__ = [
    "WaterfallScreen",
    "bar_cells",
    "nested",
    "slowest_path",
    "span_entry",
    "totals_text",
]

#: Nesting shown at most (deeper spans are drawn at this depth, still under their parent).
MAX_DEPTH: Final = 8
#: Column widths: the tree (indent + type), model or tool, duration, tokens, cost.
TREE_WIDTH: Final = 20
WHAT_WIDTH: Final = 16
DURATION_WIDTH: Final = 7
TOKENS_WIDTH: Final = 6
COST_WIDTH: Final = 8
#: The bar never gets narrower than this; below it the model/tool column gives way, then the tree.
MIN_BAR: Final = 8
MIN_WHAT: Final = 8
MIN_TREE: Final = 12
_ERROR_RANK: Final = LEVEL_RANK["error"]
_BAR_STYLES: Final = {"llm_call": "magenta", "tool_call": "yellow", "completion": "magenta"}


def _end(span: TraceSpan) -> float:
    return span.start + (span.duration_ms or 0.0) / 1000


def is_error(span: TraceSpan) -> bool:
    """A span that failed: it carries an error, or its line is at error level or above."""
    return span.error is not None or LEVEL_RANK.get(normalize_level(span.level), 1) >= _ERROR_RANK


def nested(spans: Sequence[TraceSpan]) -> list[tuple[TraceSpan, int]]:
    """Spans in tree order with their depth: each child right under its parent, siblings by start.

    A span whose parent is not in the trace (or that has none, as prompt-grouped events) is a root.
    Cycles and repeated span ids cannot loop: each span is placed once.
    """
    by_id: dict[str, TraceSpan] = {}
    for span in spans:
        if span.span_id:
            by_id.setdefault(span.span_id, span)
    children: dict[int, list[TraceSpan]] = {}
    roots: list[TraceSpan] = []
    for span in spans:
        parent = by_id.get(span.parent_span_id or "") if span.parent_span_id else None
        if parent is None or parent is span:
            roots.append(span)
        else:
            children.setdefault(id(parent), []).append(span)
    order = sorted(roots, key=lambda s: (s.start, s.id))
    rows: list[tuple[TraceSpan, int]] = []
    placed: set[int] = set()
    stack: list[tuple[TraceSpan, int]] = [(span, 0) for span in reversed(order)]
    while stack:
        span, depth = stack.pop()
        if id(span) in placed:
            continue
        placed.add(id(span))
        rows.append((span, depth))
        kids = sorted(children.get(id(span), ()), key=lambda s: (s.start, s.id))
        stack.extend((kid, depth + 1) for kid in reversed(kids))
    # Spans only reachable through a cycle: shown as roots, in start order.
    rows.extend((span, 0) for span in sorted(spans, key=lambda s: (s.start, s.id)) if id(span) not in placed)
    return rows


def slowest_path(rows: Sequence[tuple[TraceSpan, int]]) -> list[TraceSpan]:
    """From the root that ends last, each time the child that ends last (earlier start on a tie)."""
    path: list[TraceSpan] = []
    candidates = [(index, span) for index, (span, depth) in enumerate(rows) if depth == 0]
    while candidates:
        index, span = max(candidates, key=lambda item: (_end(item[1]), -item[1].start))
        path.append(span)
        depth = rows[index][1]
        candidates = []
        for later in range(index + 1, len(rows)):
            child, child_depth = rows[later]
            if child_depth <= depth:
                break
            if child_depth == depth + 1:
                candidates.append((later, child))
    return path


def bar_cells(start: float, end: float, origin: float, wall: float, width: int) -> tuple[int, int]:
    """The cells ``[first, last)`` of a bar for ``start``..``end`` on a ``width``-cell axis from ``origin``
    over ``wall`` seconds; at least one cell, never past the axis."""
    if width <= 0:
        return 0, 0
    if wall <= 0 or not math.isfinite(wall):
        return 0, 1
    first = min(width - 1, max(0, math.floor((start - origin) / wall * width)))
    last = min(width, max(first + 1, math.ceil((end - origin) / wall * width - 1e-9)))
    return first, last


def span_label(span: TraceSpan) -> str:
    """What a span is about: its model, else its tool, else the decision made, else its line's text."""
    return span.model or span.tool_name or span.decision_made or span.name


def span_entry(span: TraceSpan) -> LogEntry:
    """The log line a span came from, as far as the trace carries it (for the line detail view)."""
    metadata: dict[str, object] = {}
    for key in ("span_id", "parent_span_id", "model", "tool_name", "tokens_input", "tokens_output"):
        value = getattr(span, key)
        if value is not None:
            metadata[key] = value
    for key in ("cost_usd", "cost_estimated", "error", "decision_made", "attributes"):
        value = getattr(span, key)
        if value is not None:
            metadata[key] = value
    if span.duration_ms is not None:
        metadata["latency_ms"] = span.duration_ms
    return LogEntry(
        timestamp=_end(span),
        agent_id=span.agent_id,
        level=span.level,
        message=span.name,
        metadata=metadata,
        id=span.id,
        span_type=span.span_type,
        trace_id=span.trace_id,
    )


@dataclass(frozen=True, slots=True)
class Widths:
    """Cells of each column of a row (one space between columns)."""

    tree: int
    bar: int
    what: int

    @classmethod
    def fit(cls, width: int) -> Widths:
        fixed = DURATION_WIDTH + TOKENS_WIDTH + COST_WIDTH + 5  # five separating spaces
        tree, what = TREE_WIDTH, WHAT_WIDTH
        bar = width - fixed - tree - what
        if bar < MIN_BAR:
            what = max(MIN_WHAT, what - (MIN_BAR - bar))
            bar = width - fixed - tree - what
        if bar < MIN_BAR:
            tree = max(MIN_TREE, tree - (MIN_BAR - bar))
            bar = width - fixed - tree - what
        return cls(tree, max(1, bar), what)


def _cell(text: str, width: int, *, right: bool = False) -> str:
    shown = fmt.safe(text, width)
    return shown.rjust(width) if right else shown.ljust(width)


def _tokens(span: TraceSpan) -> str:
    if span.tokens_input is None and span.tokens_output is None:
        return fmt.MISSING
    return fmt.compact((span.tokens_input or 0) + (span.tokens_output or 0))


def _cost(value: float | None, estimated: bool | None = None) -> str:
    shown = fmt.usd(value)
    return f"~{shown}" if estimated and shown != fmt.MISSING else shown


def header_text(widths: Widths) -> Text:
    """The column heads over the rows."""
    return Text(
        " ".join(
            (
                "span".ljust(widths.tree),
                "timeline".ljust(widths.bar),
                "model / tool".ljust(widths.what),
                "time".rjust(DURATION_WIDTH),
                "tokens".rjust(TOKENS_WIDTH),
                "cost".rjust(COST_WIDTH),
            )
        ),
        style="bold",
    )


def row_text(span: TraceSpan, depth: int, origin: float, wall: float, widths: Widths) -> Text:
    """One span's row: tree, bar, model or tool, duration, tokens, cost (red when it failed)."""
    failed = is_error(span)
    indent = "  " * min(depth, MAX_DEPTH)
    mark = "✗ " if failed else ""
    text = Text(no_wrap=True, overflow="crop", style="bold red" if failed else "")
    text.append(_cell(indent + mark + span.span_type, widths.tree))
    text.append(" ")
    first, last = bar_cells(span.start, _end(span), origin, wall, widths.bar)
    point = span.duration_ms is None
    text.append(" " * first)
    bar_style = "red" if failed else _BAR_STYLES.get(span.span_type, "cyan")
    text.append("▏" if point else "█" * (last - first), style=bar_style)
    text.append(" " * (widths.bar - (first + 1 if point else last)))
    text.append(" ")
    text.append(_cell(span_label(span), widths.what), style="" if failed else "cyan")
    text.append(" ")
    text.append(_cell(fmt.latency(span.duration_ms), DURATION_WIDTH, right=True))
    text.append(" ")
    text.append(_cell(_tokens(span), TOKENS_WIDTH, right=True))
    text.append(" ")
    text.append(_cell(_cost(span.cost_usd, span.cost_estimated), COST_WIDTH, right=True))
    return text


def totals_text(trace: Trace, path: Sequence[TraceSpan]) -> Text:
    """Wall time, tokens, cost, errors, and the slowest path as ``label time › label time``."""
    text = Text()
    text.append("total ", style="bold")
    text.append(f"wall {fmt.latency(trace.duration_ms)} · ")
    text.append(
        f"tokens {fmt.number(trace.tokens_input, 0)} in / {fmt.number(trace.tokens_output, 0)} out · "
    )
    text.append(f"{fmt.usd(trace.cost_usd)}")
    if trace.errors:
        text.append(
            f" · {fmt.number(trace.errors, 0)} error{'s' if trace.errors != 1 else ''}", style="bold red"
        )
    if path:
        text.append("\nslowest path ", style="bold")
        steps = [f"{fmt.safe(span_label(span), 24)} {fmt.latency(span.duration_ms)}" for span in path]
        text.append(" › ".join(steps))
    return text


def failure_text(failure: TraceFailure | None, url: str, trace_id: str) -> str:
    """The status line for a fetch that brought no trace (agent-supplied text made safe)."""
    if failure is None:
        return "unexpected answer"
    if failure.kind == "unreachable":
        return f"cannot reach {fmt.safe(url, 60)}: {fmt.safe(failure.detail, 80)}"
    if failure.kind == "not_found":
        return f"the collector holds no event of trace {fmt.safe(trace_id, 64)}"
    if failure.kind == "unavailable":
        return "traces are not available from this collector"
    if failure.kind == "unauthorized":
        return "unauthorized — check the token"
    if failure.kind == "refused":
        return f"collector refused: {fmt.safe(failure.detail, 120)}"
    return f"undecodable answer: {fmt.safe(failure.detail, 80)}"


class WaterfallScreen(FramePaced, ModalScreen[None]):
    """One trace's spans on a time axis. ``connect=False`` fetches nothing (screenshots call
    :meth:`show`)."""

    DEFAULT_CSS = """
    WaterfallScreen {
        align: center middle;
    }
    WaterfallScreen #waterfall-box {
        width: 100%;
        height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    WaterfallScreen #waterfall-rows {
        height: 1fr;
        border: none;
        padding: 0;
        scrollbar-size-vertical: 1;
    }
    WaterfallScreen #waterfall-status, WaterfallScreen #waterfall-hint {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("j", "cursor('down')", "Next span", show=False),
        Binding("k", "cursor('up')", "Previous span", show=False),
        Binding("r", "refresh_now", "Read again", tooltip="Read the trace from the collector again"),
    ]

    class Fetched(Message):
        """A fetch finished."""

        def __init__(self, result: TraceResult) -> None:
            super().__init__()
            self.result = result

    def __init__(
        self,
        trace_id: str,
        *,
        url: str,
        token: str | None = None,
        connect: bool = True,
        tz: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self.trace_id = trace_id
        self.url = url
        self.token = token
        self.connect = connect
        self._tz = tz
        self.trace: Trace | None = None
        """The trace shown (None before the first answer)."""
        self.rows: list[tuple[TraceSpan, int]] = []
        """The spans in the order shown, with their depth."""
        self.error: str | None = None
        self._widths: Widths | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="waterfall-box"):
            yield Static(self._title(), id="waterfall-title", markup=False)
            yield Static("loading…", id="waterfall-status", markup=False)
            yield Static("", id="waterfall-header", markup=False)
            yield OptionList(id="waterfall-rows")
            yield Static("", id="waterfall-totals", markup=False)
            yield Static(
                "j/k ↑/↓ span · Enter its detail · r read again · Esc closes",
                id="waterfall-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        if self.connect:
            self._fetch()

    def _title(self) -> Text:
        title = Text("Trace ", style="bold")
        title.append(fmt.safe(self.trace_id, 64), style="bold cyan")
        if self.trace is not None:
            agents = sorted({span.agent_id for span in self.trace.spans})
            count = len(self.trace.spans)
            title.append(f"  {fmt.number(count, 0)} span{'s' if count != 1 else ''}", style="dim")
            if agents:
                shown = ", ".join(fmt.safe(agent, 30) for agent in agents[:3])
                title.append(f" · {shown}{' …' if len(agents) > 3 else ''}", style="dim")
        return title

    @work(exclusive=True, group="waterfall", exit_on_error=False)
    async def _fetch(self) -> None:
        async with trace_client() as http:
            result = await fetch_trace(http, self.url, self.trace_id, token=self.token)
        self.post_message(self.Fetched(result))

    def on_waterfall_screen_fetched(self, message: Fetched) -> None:
        message.stop()
        result = message.result
        if result.trace is not None:
            self.error = None
            self.show(result.trace)
        else:
            self.error = failure_text(result.failure, self.url, self.trace_id)
            self.query_one("#waterfall-status", Static).update(Text(f"✗ {self.error}", style="bold yellow"))

    def show(self, trace: Trace) -> None:
        """Draw ``trace`` (the cursor stays on the same span when it is read again)."""
        self.trace = trace
        options = self.query_one(OptionList)
        keep = options.highlighted
        self.rows = nested(trace.spans)
        self.query_one("#waterfall-title", Static).update(self._title())
        notes: list[str] = []
        if trace.spans_dropped:
            notes.append(
                f"{fmt.number(trace.spans_dropped, 0)} older spans not shown (of {fmt.number(trace.spans_total, 0)})"
            )
        if trace.incomplete:
            notes.append(f"may be incomplete: {fmt.safe(trace.incomplete, 100)}")
        if not trace.spans:
            notes.append("no span in this trace")
        status = self.query_one("#waterfall-status", Static)
        status.update(Text(" · ".join(notes), style="yellow") if notes else "")
        status.display = bool(notes)
        self.query_one("#waterfall-totals", Static).update(totals_text(trace, slowest_path(self.rows)))
        self._widths = None
        self._draw_rows()
        if self.rows:
            options.highlighted = min(keep or 0, len(self.rows) - 1)

    def _row_width(self) -> int:
        options = self.query_one(OptionList)
        width = options.scrollable_content_region.width or options.size.width
        return max(20, width - 1)

    def _draw_rows(self) -> None:
        if self.trace is None:
            return
        widths = Widths.fit(self._row_width())
        if widths == self._widths:
            return
        self._widths = widths
        origin = self.trace.start if self.trace.start is not None else 0.0
        wall = (self.trace.duration_ms or 0.0) / 1000
        options = self.query_one(OptionList)
        keep = options.highlighted
        options.clear_options()
        options.add_options(
            [Option(row_text(span, depth, origin, wall, widths)) for span, depth in self.rows]
        )
        if self.rows and keep is not None:
            options.highlighted = min(keep, len(self.rows) - 1)
        self.query_one("#waterfall-header", Static).update(header_text(widths))

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw_rows)

    def row_texts(self) -> list[str]:
        """The rows as plain text, top to bottom (for tests)."""
        options = self.query_one(OptionList)
        return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

    # ------------------------------------------------------------------ keys
    def action_cursor(self, direction: str) -> None:
        options = self.query_one(OptionList)
        if direction == "down":
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.open_span(event.option_index)

    def open_span(self, index: int) -> None:
        """The line detail view of row ``index``'s event (←/→ there step through the rows)."""
        if not 0 <= index < len(self.rows):
            return
        rows = self.rows

        def span_at(number: int) -> LogEntry | None:
            return span_entry(rows[number][0]) if 0 <= number < len(rows) else None

        def heading(number: int) -> str:
            return f"span {number + 1} of {len(rows)} of trace {fmt.safe(self.trace_id, 40)}"

        self.app.push_screen(
            LineDetailScreen(span_at, index, lambda: len(rows) - 1, tz=self._tz, heading=heading)
        )

    def action_refresh_now(self) -> None:
        if self.connect:
            self.query_one("#waterfall-status", Static).update(Text("loading…", style="dim"))
            self.query_one("#waterfall-status", Static).display = True
            self._fetch()

    def action_close(self) -> None:
        self.dismiss(None)
