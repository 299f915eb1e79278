"""Alerts on screen: a compact panel of what fires now, the header count, the history screen.

Everything here renders an :class:`~agentwatch.tui.state.AlertLog` it is given and does no
I/O. Agent-supplied text in an alert (scope, message) goes through :func:`fmt.safe` into
:class:`rich.text.Text`, never through markup.

Values are shown in their rule's unit (see :class:`~agentwatch.protocol.Alert`): error rate
as a percentage, cost per inference in USD, latency in ms/s, token efficiency in output
tokens per call, silence in seconds, a new decision as times seen, a stuck step's running time. A missing number is "—".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from agentwatch.protocol import (
    ALERT_FIRING,
    RULE_BUDGET,
    RULE_COST_PER_INFERENCE,
    RULE_ERROR_RATE,
    RULE_LATENCY_REGRESSION,
    RULE_NEW_DECISION,
    RULE_SILENT_AGENT,
    RULE_STUCK,
    RULE_TOKEN_EFFICIENCY,
    VIEW_COSTS,
    VIEW_DECISIONS,
    VIEW_FAILURES,
    VIEW_LATENCY,
    Alert,
)
from agentwatch.tui import formatting as fmt
from agentwatch.tui.columns import fit_columns
from agentwatch.tui.state import AlertLog
from agentwatch.tui.textual_internals import FramePaced

#: Alert lines the panel shows at most; the rest are summed up in a last "… N more" line.
PANEL_LINES: Final = 3

#: Severity order, worst first (unknown severities sort after these).
SEVERITY_ORDER: Final = ("critical", "error", "warning", "info")
_SEVERITY_STYLES: Final = {"critical": "bold white on red", "error": "bold red", "warning": "bold yellow"}
#: Alert severity → Textual toast severity.
TOAST_SEVERITY: Final[dict[str, SeverityLevel]] = {
    "critical": "error",
    "error": "error",
    "warning": "warning",
}


def short_age(seconds: float | None) -> str:
    """A compact age: "45s", "2m", "3h", "2d"; missing or non-finite → "—"."""
    if seconds is None or not math.isfinite(seconds):
        return fmt.MISSING
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def rule_value(rule: str, value: float | None) -> str:
    """``value`` in the unit of ``rule`` ("12.0 %", "$0.0042", "1.24 s", "8 tok/call", "95 s", "×3")."""
    if value is None or not math.isfinite(value):
        return fmt.MISSING
    if rule == RULE_ERROR_RATE:
        return fmt.percent(value)
    if rule == RULE_COST_PER_INFERENCE or rule == RULE_BUDGET:
        return fmt.usd(value)
    if rule == RULE_LATENCY_REGRESSION:
        return fmt.latency(value)
    if rule == RULE_TOKEN_EFFICIENCY:
        return f"{value:.0f} tok/call"
    if rule == RULE_SILENT_AGENT:
        return f"{value:.0f} s"
    if rule == RULE_NEW_DECISION:
        return f"×{value:.0f}"
    if rule == RULE_STUCK:
        return fmt.duration(value)
    return fmt.number(value, 2)


def value_vs_threshold(alert: Alert) -> str:
    """ "12.0 % > 5.0 %" (or "<" for a rule that fires below its threshold); "—" parts where missing."""
    value, threshold = alert.value, alert.threshold
    if threshold is None:
        return rule_value(alert.rule, value)
    sign = "<" if value is not None and value < threshold else ">"
    shown, bound = rule_value(alert.rule, value), rule_value(alert.rule, threshold)
    if shown == bound and value is not None and math.isfinite(value) and value != threshold:
        if alert.rule in (RULE_COST_PER_INFERENCE, RULE_BUDGET):  # "$0.02 > $0.02" says nothing
            shown, bound = _usd_apart(value, threshold)
    return f"{shown} {sign} {bound}"


def _usd_apart(value: float, threshold: float) -> tuple[str, str]:
    """Two dollar amounts with the fewest decimals (up to 8) that tell them apart."""
    for decimals in range(3, 9):
        shown, bound = f"${value:.{decimals}f}", f"${threshold:.{decimals}f}"
        if shown != bound:
            break
    return shown, bound


def is_resolving(alert: Alert) -> bool:
    """A firing alert whose value is back on the good side of its threshold: it resolves once it
    stays there for the rule's evaluations (it fires again if it does not)."""
    value, threshold = alert.value, alert.threshold
    if alert.state != ALERT_FIRING or value is None or threshold is None or alert.rule == RULE_NEW_DECISION:
        return False
    if alert.rule == RULE_TOKEN_EFFICIENCY:  # fires below its threshold
        return value >= threshold
    return value <= threshold


def severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def sorted_firing(alerts: Sequence[Alert]) -> list[Alert]:
    """Firing alerts, worst severity first, then the most recently started first."""
    firing = [alert for alert in alerts if alert.state == ALERT_FIRING]
    return sorted(firing, key=lambda a: (severity_rank(a.severity), -a.started_at, a.id))


def alert_line(alert: Alert, now: float) -> Text:
    """One panel line: "⚠ error_rate  agent:coder-03  12.0 % > 5.0 %  2m  message" ("resolving"
    before the value once it is back below its threshold)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("⚠ ", style=_SEVERITY_STYLES.get(alert.severity, "bold"))
    text.append(fmt.safe(alert.rule, 24), style="bold")
    text.append("  ")
    text.append(fmt.safe(alert.scope, 48), style="cyan")
    text.append("  ")
    if is_resolving(alert):
        text.append("resolving ", style="green")
    text.append(value_vs_threshold(alert))
    text.append(f"  {short_age(now - alert.started_at)}", style="dim")
    if alert.message:
        text.append("  ")
        text.append(fmt.safe(alert.message, 120), style="dim")
    return text


def alert_count_text(count: int) -> Text:
    """The header's "⚠ 3 alerts" (empty when none fire)."""
    if count <= 0:
        return Text()
    return Text(f"  ⚠ {count} alert{'s' if count != 1 else ''}", style="bold yellow")


def toast_text(alert: Alert) -> str:
    """The toast shown when an alert starts firing (plain text; shown with markup off)."""
    head = f"{fmt.safe(alert.rule, 24)} · {fmt.safe(alert.scope, 48)} · {value_vs_threshold(alert)}"
    return f"{head}\n{fmt.safe(alert.message, 160)}" if alert.message else head


class AlertsPanel(Static):
    """What fires now, worst first, at most :data:`PANEL_LINES` lines plus "… N more".

    Hidden while nothing fires, so it costs the 80×24 layout nothing. :meth:`update_from`
    re-renders only when the text changed (ages move once a second at most).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._shown: str | None = None
        self.plain = ""
        """The panel as plain text (what a reader sees without colour)."""
        self.display = False

    def update_from(self, alerts: Sequence[Alert], now: float) -> bool:
        """Show these firing alerts; returns False (touching nothing) when the text is unchanged."""
        firing = sorted_firing(alerts)
        lines = [alert_line(alert, now) for alert in firing[:PANEL_LINES]]
        if len(firing) > PANEL_LINES:
            lines.append(Text(f"… {len(firing) - PANEL_LINES} more (A: alert history)", style="dim"))
        joined = Text("\n").join(lines)
        key = joined.plain + "".join(str(span) for span in joined.spans)
        if key == self._shown:
            return False
        self._shown = key
        self.plain = joined.plain
        self.display = bool(lines)
        self.update(joined)
        return True


#: (column key, label) of the alert history table.
HISTORY_COLUMNS: Final = (
    ("state", "state"),
    ("severity", "severity"),
    ("rule", "rule"),
    ("scope", "scope"),
    ("value", "value vs threshold"),
    ("started", "started"),
    ("resolved", "resolved"),
    ("message", "message"),
)


#: Columns left out first, by label, when the history is too wide for the screen; the scope is cut
#: with "…" before any is, and the message takes the width left.
HISTORY_DROP_FIRST: Final = ("resolved", "started", "severity", "message")
_SCOPE: Final = 3
_MESSAGE: Final = 7


def _cut(cell: Text, width: int) -> Text:
    """The cell cut to ``width`` cells with "…" (a copy; the row keeps the whole text)."""
    if cell.cell_len <= width:
        return cell
    cut = cell.copy()
    cut.truncate(width, overflow="ellipsis")
    return cut


def history_cells(alert: Alert, now: float) -> tuple[Text, ...]:
    """One history row: state and severity as words (never colour alone), ages relative to ``now``."""
    firing = alert.state == ALERT_FIRING
    if is_resolving(alert):
        state = Text("◐ resolving", style="green")
    else:
        state = Text("● firing" if firing else "✓ resolved", style="bold yellow" if firing else "green")
    resolved = f"{short_age(now - alert.resolved_at)} ago" if alert.resolved_at is not None else fmt.MISSING
    return (
        state,
        Text(fmt.safe(alert.severity, 10), style=_SEVERITY_STYLES.get(alert.severity, "")),
        Text(fmt.safe(alert.rule, 24)),
        Text(fmt.safe(alert.scope, 48)),
        Text(value_vs_threshold(alert)),
        Text(f"{short_age(now - alert.started_at)} ago" if alert.started_at else fmt.MISSING),
        Text(resolved),
        Text(fmt.safe(alert.message, 100)),
    )


#: What the alert history says before any alert: which rules can fire, and from when (the
#: collector's defaults; ``agentwatch serve --config`` may change them).
NO_ALERTS_YET: Final = (
    "No alert yet: nothing has fired since this viewer connected.\n\n"
    "The collector checks its rules every 10 s, for the fleet, each agent and each model:\n"
    "• error rate, p99 latency, cost per inference: against their own baseline, so they can fire once "
    "about 5 minutes of data have made one;\n"
    "• silent agent: an agent that was active sends nothing for 60 s;\n"
    "• stuck: a step in flight runs longer than 3 × its usual p99, and at least 60 s;\n"
    "• new decision: an agent makes a decision it never made before (after its first 200);\n"
    "• token efficiency: successful LLM calls average under 10 output tokens.\n\n"
    "A firing alert also shows above the agents table, with a toast and the bell."
)


def _as_now(alert: Alert, live: Mapping[str, Alert]) -> Alert:
    current = live.get(alert.id)
    if alert.state == ALERT_FIRING and current is not None and current.started_at == alert.started_at:
        return current
    return alert


class AlertHistoryScreen(FramePaced, ModalScreen[None]):
    """The last state changes this viewer received, newest first. Esc or A closes it.

    Re-reads the :class:`AlertLog` once a second and redraws only when it changed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,A", "close", "Close"),
        Binding("1", f"app.analysis({VIEW_COSTS!r})", "Costs", show=False),
        Binding("2", f"app.analysis({VIEW_DECISIONS!r})", "Decisions", show=False),
        Binding("3", f"app.analysis({VIEW_LATENCY!r})", "Latency", show=False),
        Binding("4", f"app.analysis({VIEW_FAILURES!r})", "Failures", show=False),
    ]

    def __init__(self, alerts: AlertLog, clock: Callable[[], float]) -> None:
        super().__init__()
        self._alerts = alerts
        self._clock = clock
        self._shown: tuple[object, ...] | None = None
        self._rows: list[tuple[Text, ...]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="alert-history-box"):
            yield Static("", id="alert-history-title", markup=False)
            yield DataTable(id="alert-history-table", cursor_type="row", zebra_stripes=True)
            yield Static(Text(NO_ALERTS_YET), id="alert-history-empty", markup=False)
            yield Static(
                "Esc close · 1 costs · 2 decisions · 3 latency · 4 failures",
                id="alert-history-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.refresh_rows()
        self.set_interval(1.0, self.refresh_rows, name="alert-history")
        self.query_one(DataTable).focus()

    def on_resize(self) -> None:
        self._shown = None
        self.refresh_rows()

    def refresh_rows(self) -> None:
        """Redraw the table from the alert log when anything in it (or a shown age) changed."""
        now = self._clock()
        recent = self._alerts.recent()
        live = self._alerts.firing
        # A firing frame shows its alert as it is now (its value moves in place: resolving, say).
        rows = [history_cells(_as_now(alert, live), now) for alert in recent]
        key = tuple(tuple(cell.plain for cell in row) for row in rows)
        if key == self._shown:
            return
        self._shown = key
        self._rows = rows
        firing = len(self._alerts.firing)
        title = Text("Alert history", style="bold")
        title.append(f"  {firing} firing · last {len(recent)} state changes (newest first)", style="dim")
        self.query_one("#alert-history-title", Static).update(title)
        table = self.query_one(DataTable)
        labels = [label for _, label in HISTORY_COLUMNS]
        fit = fit_columns(labels, [[cell.plain for cell in row] for row in rows], max(20, self.app.size.width - 6),
                          drop_first=HISTORY_DROP_FIRST, shrink=_SCOPE, shrink_min=20, grow=_MESSAGE)  # fmt: skip
        table.clear(columns=True)
        for index, width in fit:
            table.add_column(labels[index], key=HISTORY_COLUMNS[index][0], width=width)
        for index, row in enumerate(rows):
            table.add_row(*(_cut(row[column], width) for column, width in fit), key=str(index))
        table.display = bool(rows)
        self.query_one("#alert-history-empty", Static).display = not rows

    @property
    def row_texts(self) -> list[str]:
        """Each row's cells, shown or left out for width, joined by two spaces (for tests and screenshots)."""
        return ["  ".join(cell.plain for cell in row) for row in self._rows]

    def action_close(self) -> None:
        self.dismiss(None)
