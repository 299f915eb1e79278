"""Alerts on screen: a compact panel of what fires now, the header count, the history screen.

Everything here renders an :class:`~agentwatch.tui.state.AlertLog` it is given and does no
I/O. Agent-supplied text in an alert (scope, message) goes through :func:`fmt.safe` into
:class:`rich.text.Text`, never through markup.

An acknowledged or snoozed alert (see :mod:`agentwatch.collector.alertacks`) is *quiet*: shown
dimmed with who and when ("ack by ana@laptop 3m ago", "snoozed 42m left"), after the others, never
hidden, and neither toasted nor told. :class:`AlertActing` (a mixin of the app) sends the keys'
acknowledgements and snoozes to the collector, which shows them to every viewer.

Values are shown in their rule's unit (see :class:`~agentwatch.protocol.Alert`): error rate
as a percentage, cost per inference in USD, latency in ms/s, token efficiency in output
tokens per call, silence in seconds, a new decision as times seen, a stuck step's running time. A missing number is "—".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from agentwatch.client.alertactions import (
    SNOOZE_PRESET,
    SNOOZE_SHORT,
    AlertActionError,
    is_quiet,
    parse_snooze,
)
from agentwatch.protocol import (
    ALERT_ACK,
    ALERT_FIRING,
    ALERT_SNOOZE,
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
from agentwatch.tui.state import DIRTY_ALERTS, AlertLog, ViewState
from agentwatch.tui.textual_internals import FramePaced

if TYPE_CHECKING:
    import httpx

    from agentwatch.tui.fleetview import FleetFeed

#: The undo key's action: what keeps an alert quiet (its acknowledgement, its snooze) ends.
UNDO: Final = "undo"
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


def sorted_firing(alerts: Sequence[Alert], now: float | None = None) -> list[Alert]:
    """Firing alerts, worst severity first, then the most recently started first; with ``now``,
    the quiet ones (acknowledged, snoozed) after all the others."""
    firing = [alert for alert in alerts if alert.state == ALERT_FIRING]
    return sorted(
        firing,
        key=lambda a: (
            now is not None and is_quiet(a, now),
            severity_rank(a.severity),
            -a.started_at,
            a.id,
        ),
    )


def quiet_note(alert: Alert, now: float) -> str:
    """ "ack by ana@laptop 3m ago", "snoozed 42m left", both joined by " · ", or "" (not quiet)."""
    notes = []
    if alert.acked_by is not None:
        ago = f" {short_age(now - alert.acked_at)} ago" if alert.acked_at is not None else ""
        notes.append(f"ack by {fmt.safe(alert.acked_by, 40)}{ago}")
    if alert.snoozed_until is not None and alert.snoozed_until > now:
        notes.append(f"snoozed {short_age(alert.snoozed_until - now)} left")
    return " · ".join(notes)


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
    note = quiet_note(alert, now)
    if note:
        text.append(f"  {note}", style="italic")
    if alert.message:
        text.append("  ")
        text.append(fmt.safe(alert.message, 120), style="dim")
    if note:
        text.stylize("dim")
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
        firing = sorted_firing(alerts, now)
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
    ("quiet", "ack / snooze"),
    ("message", "message"),
)


#: Columns left out first, by label, when the history is too wide for the screen; the scope is cut
#: with "…" before any is, and the message takes the width left.
HISTORY_DROP_FIRST: Final = ("resolved", "started", "severity", "message")
_SCOPE: Final = 3
_MESSAGE: Final = 8


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
    note = quiet_note(alert, now) if firing else ""
    cells = (
        state,
        Text(fmt.safe(alert.severity, 10), style=_SEVERITY_STYLES.get(alert.severity, "")),
        Text(fmt.safe(alert.rule, 24)),
        Text(fmt.safe(alert.scope, 48)),
        Text(value_vs_threshold(alert)),
        Text(f"{short_age(now - alert.started_at)} ago" if alert.started_at else fmt.MISSING),
        Text(resolved),
        Text(note or fmt.MISSING, style="italic" if note else "dim"),
        Text(fmt.safe(alert.message, 100)),
    )
    if note:
        for cell in cells:
            cell.stylize("dim")
    return cells


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
        Binding("K", f"act({ALERT_ACK!r})", "Acknowledge", show=False),
        Binding("z", f"act({ALERT_SNOOZE!r}, {SNOOZE_SHORT})", "Snooze 15 min", show=False),
        Binding("Z", f"act({ALERT_SNOOZE!r}, -1)", "Snooze for…", show=False),
        Binding("U", "act('undo')", "Undo ack and snooze", show=False),
    ]

    def __init__(self, alerts: AlertLog, clock: Callable[[], float]) -> None:
        super().__init__()
        self._alerts = alerts
        self._row_alerts: list[Alert] = []
        self._clock = clock
        self._shown: tuple[object, ...] | None = None
        self._rows: list[tuple[Text, ...]] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="alert-history-box"):
            yield Static("", id="alert-history-title", markup=False)
            yield DataTable(id="alert-history-table", cursor_type="row", zebra_stripes=True)
            yield Static(Text(NO_ALERTS_YET), id="alert-history-empty", markup=False)
            yield Static(
                "K acknowledge · z snooze 15 min · Z snooze for… · U undo · "
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
        shown = [_as_now(alert, live) for alert in recent]
        rows = [history_cells(alert, now) for alert in shown]
        key = tuple(tuple(cell.plain for cell in row) for row in rows)
        if key == self._shown:
            return
        self._shown = key
        self._rows = rows
        self._row_alerts = shown
        firing = len(self._alerts.firing)
        title = Text("Alert history", style="bold")
        title.append(f"  {firing} firing · last {len(recent)} state changes (newest first)", style="dim")
        self.query_one("#alert-history-title", Static).update(title)
        table = self.query_one(DataTable)
        labels = [label for _, label in HISTORY_COLUMNS]
        fit = fit_columns(labels, [[cell.plain for cell in row] for row in rows], max(20, self.app.size.width - 6),
                          drop_first=HISTORY_DROP_FIRST, shrink=_SCOPE, shrink_min=20, grow=_MESSAGE)  # fmt: skip
        cursor = table.cursor_row
        table.clear(columns=True)
        for index, width in fit:
            table.add_column(labels[index], key=HISTORY_COLUMNS[index][0], width=width)
        for index, row in enumerate(rows):
            table.add_row(*(_cut(row[column], width) for column, width in fit), key=str(index))
        if rows:  # the cursor stays on its row while ages move
            table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)
        table.display = bool(rows)
        self.query_one("#alert-history-empty", Static).display = not rows

    @property
    def row_texts(self) -> list[str]:
        """Each row's cells, shown or left out for width, joined by two spaces (for tests and screenshots)."""
        return ["  ".join(cell.plain for cell in row) for row in self._rows]

    def action_close(self) -> None:
        self.dismiss(None)

    @property
    def selected(self) -> Alert | None:
        """The alert of the row under the cursor (as it is now when it still fires)."""
        row = self.query_one(DataTable).cursor_row
        return self._row_alerts[row] if 0 <= row < len(self._row_alerts) else None

    def action_act(self, kind: str, seconds: float | None = None) -> None:
        """K, z, Z, U on the row under the cursor: the app sends it (see :class:`AlertActing`)."""
        alert = self.selected
        if alert is not None:
            self.post_message(AlertAct(alert, kind, seconds))


class AlertAct(Message):
    """Acknowledge (``kind`` ack), snooze (``seconds``; -1: ask how long) or undo (``kind`` undo)."""

    def __init__(self, alert: Alert, kind: str, seconds: float | None = None) -> None:
        super().__init__()
        self.alert = alert
        self.kind = kind
        self.seconds = seconds


class SnoozeScreen(FramePaced, ModalScreen[float | None]):
    """How long to snooze: a duration (``1h`` preset; ``15m``, ``90s``, ``1h30m``, up to 24 h).
    Enter snoozes, Esc cancels; a duration that cannot be read says why and stays open."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self._alert = alert

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box"):
            title = f"Snooze {fmt.safe(self._alert.rule, 24)} · {fmt.safe(self._alert.scope, 40)} for"
            yield Static(title, id="search-title", markup=False)
            yield Input(value=SNOOZE_PRESET, placeholder="15m, 1h, 1h30m … (at most 24h)", id="snooze-input")
            yield Static("", id="snooze-problem", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            seconds = parse_snooze(event.value)
        except ValueError as exc:
            self.query_one("#snooze-problem", Static).update(str(exc))
            return
        self.dismiss(seconds)

    def action_cancel(self) -> None:
        self.dismiss(None)


#: The app's alert keys, in its ``BINDINGS`` (so the help screen, the palette and the README list them).
ALERT_BINDINGS: Final = (
    Binding(
        "K",
        f"act_on_alert({ALERT_ACK!r})",
        "Acknowledge alert",
        show=False,
        tooltip="Acknowledge the first alert of the panel: quiet (dimmed, no toast or notification) until it resolves",
    ),
    Binding(
        "z",
        f"act_on_alert({ALERT_SNOOZE!r}, {SNOOZE_SHORT})",
        "Snooze alert 15 min",
        show=False,
        tooltip="Snooze the first alert of the panel for 15 minutes: quiet until then, even if it fires again",
    ),
    Binding(
        "Z",
        f"act_on_alert({ALERT_SNOOZE!r}, -1)",
        "Snooze alert for…",
        show=False,
        tooltip="Snooze the first alert of the panel for a time you type (1h offered; 15m, 1h30m … up to 24h)",
    ),
    Binding(
        "U",
        f"act_on_alert({UNDO!r})",
        "Unquiet alert",
        show=False,
        tooltip="End the acknowledgement and snooze of the first quiet alert of the panel",
    ),
)


def loud(alerts: Sequence[Alert], now: float) -> list[Alert]:
    """The alerts that are neither acknowledged nor snoozed: the ones to toast, ring and tell."""
    return [alert for alert in alerts if not is_quiet(alert, now)]


class AlertActing(App[int]):
    """The app's alert keys (``K``, ``z``, ``Z``, ``U``) and the history screen's: each acts on the
    first alert of the panel that it would change (in the history: the row under the cursor) and
    asks the collector, whose answer is shown at once (every other viewer sees it with its next
    snapshot). Needs ``state``, ``url``, ``token``, ``connect``, ``viewer_name``, ``_client()``,
    ``frame()``."""

    state: ViewState
    url: str
    token: str | None
    connect: bool
    viewer_name: str
    fleet_feed: FleetFeed | None

    if TYPE_CHECKING:

        def frame(self, *, timed: bool = False) -> None: ...

        def _client(self) -> httpx.AsyncClient: ...

    def panel_target(self, kind: str) -> Alert | None:
        """The first alert in panel order that ``kind`` would change (not yet acknowledged, not
        snoozed, or for undo: quiet), else None."""
        now = self.state.clock()
        for alert in sorted_firing(list(self.state.alerts.firing.values()), now):
            snoozed = alert.snoozed_until is not None and alert.snoozed_until > now
            if (
                (kind == ALERT_ACK and alert.acked_by is None)
                or (kind == ALERT_SNOOZE and not snoozed)
                or (kind == UNDO and is_quiet(alert, now))
            ):
                return alert
        return None

    def action_act_on_alert(self, kind: str, seconds: float | None = None) -> None:
        alert = self.panel_target(kind)
        if alert is None:
            what = {ALERT_ACK: "acknowledge", ALERT_SNOOZE: "snooze"}.get(kind, "undo")
            self.notify(f"No firing alert to {what}", timeout=3)
            return
        self.act_on_alert(alert, kind, seconds)

    def on_alert_act(self, message: AlertAct) -> None:
        self.act_on_alert(message.alert, message.kind, message.seconds)

    def act_on_alert(self, alert: Alert, kind: str, seconds: float | None) -> None:
        """Send it (a snooze of -1 s asks how long first)."""
        if kind == ALERT_SNOOZE and seconds is not None and seconds < 0:
            self.push_screen(
                SnoozeScreen(alert),
                lambda chosen: None if chosen is None else self.act_on_alert(alert, kind, chosen),
            )
            return
        if not self.connect:
            self.notify("Not connected to a collector: nothing to tell", timeout=3)
            return
        self.run_worker(self._send_alert_action(alert, kind, seconds), group="alert-act", exit_on_error=False)

    async def _send_alert_action(self, alert: Alert, kind: str, seconds: float | None) -> None:
        from agentwatch.client.alertactions import act

        now = self.state.clock()
        done: list[Alert] = []
        try:
            if kind == UNDO:  # whatever keeps it quiet: the acknowledgement, the snooze
                if alert.acked_by is not None:
                    done.append(await self._ask(act, alert.id, ALERT_ACK, None, True))
                if alert.snoozed_until is not None and alert.snoozed_until > now:
                    done.append(await self._ask(act, alert.id, ALERT_SNOOZE, None, True))
            else:
                done.append(await self._ask(act, alert.id, kind, seconds, False))
        except AlertActionError as exc:
            self.notify(f"{fmt.safe(alert.id, 80)}: {exc}", severity="warning", timeout=5, markup=False)
            return
        if done:
            self.show_alert(done[-1])
            said = {ALERT_ACK: "Acknowledged", ALERT_SNOOZE: "Snoozed"}.get(kind, "Loud again")
            note = quiet_note(done[-1], self.state.clock())
            self.notify(
                f"{said}: {fmt.safe(alert.id, 80)}{f' ({note})' if note else ''}", timeout=4, markup=False
            )

    async def _ask(self, act: Any, alert_id: str, kind: str, seconds: float | None, undo: bool) -> Alert:
        # Over several collectors, each that raised it is told (a fleet-scoped rule may fire on several).
        urls = (self.fleet_feed.alert_urls(alert_id) if self.fleet_feed is not None else []) or [self.url]
        for url in urls:
            answer: Alert = await act(
                self._client(), url, alert_id, kind, by=self.viewer_name, seconds=seconds, undo=undo,
                token=self.token,
            )  # fmt: skip
        return answer

    def show_alert(self, alert: Alert) -> None:
        """The collector's answer on screen now (its snapshots say the same a moment later)."""
        alerts = self.state.alerts
        if alert.state == ALERT_FIRING and alert.id in alerts.firing:
            alerts.firing[alert.id] = alert
            self.state.dirty.add(DIRTY_ALERTS)
            self.frame()
