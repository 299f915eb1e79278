"""Alerts in the viewer: the panel, the header count, toast and bell, the history screen.

The first tests feed the state directly (frozen clock, no network); the last one provokes a
real alert in a real collector on 127.0.0.1 and watches it arrive over the metrics stream.
"""

from __future__ import annotations

from types import SimpleNamespace

from agentwatch.collector.config import AlertSettings
from agentwatch.protocol import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    RULE_BUDGET,
    RULE_COST_PER_INFERENCE,
    RULE_ERROR_RATE,
    RULE_SILENT_AGENT,
    SSE_ALERT,
    Alert,
    Snapshot,
    json_encoder,
)
from agentwatch.tui.alerts import AlertHistoryScreen, AlertsPanel, value_vs_threshold
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screenshots import NOW, demo_app
from agentwatch.tui.state import ALERT_HISTORY, AlertLog
from tests.helpers import async_wait_until, header

HOSTILE = "[bold red]x[/]\x1b]0;title\x07\u202eevil"


def alert(
    n: int = 1,
    *,
    state: str = ALERT_FIRING,
    started_at: float = NOW - 125,
    severity: str = "error",
    scope: str | None = None,
    message: str = "error rate 38 % vs baseline 2 %",
) -> Alert:
    scope = scope or f"agent:worker-{n}"
    return Alert(
        id=f"{RULE_ERROR_RATE}:{scope}",
        rule=RULE_ERROR_RATE,
        scope=scope,
        state=state,
        started_at=started_at,
        resolved_at=NOW if state == ALERT_RESOLVED else None,
        value=0.38,
        threshold=0.05,
        message=message,
        severity=severity,
    )


class BellCountingApp(AgentWatchApp):
    """The real app, counting terminal bells instead of ringing them."""

    bells = 0

    def bell(self) -> None:
        self.bells += 1


def counting_demo_app(*, bell: bool = True) -> BellCountingApp:
    template = demo_app()
    app = BellCountingApp(url=template.url, clock=lambda: NOW, tz=template.tz, connect=False, bell=bell)
    app.state = template.state
    return app


def panel(app: AgentWatchApp) -> AlertsPanel:
    return app.query_one(AlertsPanel)


def toasts(app: AgentWatchApp) -> list[str]:
    return [notification.message for notification in app._notifications]


# ------------------------------------------------------------------ the model
def test_alerts_firing_when_the_viewer_connects_are_shown_but_not_announced():
    log = AlertLog()
    assert log.sync([alert(1)], complete=True)
    assert list(log.firing) == [alert(1).id]
    assert log.take_started() == []
    assert [a.id for a in log.recent()] == [alert(1).id]


def test_an_alert_frame_is_announced_once_and_the_next_snapshot_does_not_repeat_it():
    log = AlertLog()
    log.sync([], complete=True)
    log.apply(alert(2))
    log.sync([alert(2)], complete=True)
    assert [a.id for a in log.take_started()] == [alert(2).id]
    assert log.take_started() == []


def test_a_resolved_frame_or_a_complete_snapshot_without_the_id_ends_firing():
    log = AlertLog()
    log.sync([alert(1), alert(2)], complete=True)
    log.apply(alert(1, state=ALERT_RESOLVED))
    assert list(log.firing) == [alert(2).id]
    log.sync([alert(3)], complete=False)  # a drilled snapshot only adds
    assert set(log.firing) == {alert(2).id, alert(3).id}
    log.sync([], complete=True)
    assert log.firing == {}
    assert log.recent()[0].id == alert(3).id


def test_history_keeps_the_last_state_changes_only():
    log = AlertLog()
    for n in range(ALERT_HISTORY + 50):
        log.apply(alert(n))
    assert len(log.history) == ALERT_HISTORY
    assert log.recent()[0].scope == f"agent:worker-{ALERT_HISTORY + 49}"


def test_value_vs_threshold_speaks_each_rules_unit():
    assert value_vs_threshold(alert()) == "38.0 % > 5.0 %"
    silent = Alert(id="s", rule=RULE_SILENT_AGENT, scope="agent:a", value=95.0, threshold=60.0)
    assert value_vs_threshold(silent) == "95 s > 60 s"
    assert value_vs_threshold(Alert(id="x", rule="future_rule", scope="fleet")) == "—"
    cost = Alert(id="c", rule=RULE_COST_PER_INFERENCE, scope="agent:a", value=0.02203, threshold=0.0153)
    assert value_vs_threshold(cost) == "$0.022 > $0.015"  # never "$0.02 > $0.02"
    budget = Alert(id="b", rule=RULE_BUDGET, scope="program:codex", value=12.5, threshold=10.0)
    assert value_vs_threshold(budget) == "$12.50 > $10.00"


# ------------------------------------------------------------------ on screen
async def test_no_alert_no_panel_and_no_header_count():
    app = counting_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not panel(app).display
        assert "alert" not in header(app)


async def test_alert_frame_shows_in_panel_and_header_with_toast_and_one_bell():
    app = counting_demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        before = app.bells  # the demo fleet's failing agent rang already
        app.on_metrics_event(SimpleNamespace(event=SSE_ALERT, data=json_encoder.encode(alert(4)).decode()))
        app.frame()
        await pilot.pause()
        assert panel(app).display
        assert panel(app).plain == (
            "⚠ error_rate  agent:worker-4  38.0 % > 5.0 %  2m  error rate 38 % vs baseline 2 %"
        )
        assert "⚠ 1 alert" in header(app)
        assert any("agent:worker-4" in text and "38.0 % > 5.0 %" in text for text in toasts(app))
        assert app.bells == before + 1
        app.frame()  # the same alert in later frames rings no more
        app.state.apply_snapshot(Snapshot(timestamp=NOW, alerts=[alert(4)]))
        app.frame()
        assert app.bells == before + 1


async def test_bell_off_still_shows_the_toast():
    app = counting_demo_app(bell=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.state.apply_alert(alert(5))
        app.frame()
        await pilot.pause()
        assert app.bells == 0
        assert any("agent:worker-5" in text for text in toasts(app))


async def test_many_alerts_keep_the_80x24_layout_worst_first_and_capped():
    app = counting_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.state.apply_snapshot(
            Snapshot(
                timestamp=NOW,
                alerts=[alert(n, severity="warning", started_at=NOW - n) for n in range(1, 5)]
                + [alert(9, severity="critical")],
            )
        )
        app.frame()
        await pilot.pause()
        lines = panel(app).plain.splitlines()
        assert lines[0].startswith("⚠ error_rate  agent:worker-9")
        assert lines[1].startswith("⚠ error_rate  agent:worker-1")  # then newest first
        assert lines[-1] == "… 2 more (A: alert history)"
        assert panel(app).region.height == 4
        assert "⚠ 5 alerts" in header(app)
        log = app.log_pane
        assert log.region.bottom <= 23 and log.region.height >= 5


async def test_hostile_alert_text_is_shown_literally():
    app = counting_demo_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.state.apply_alert(alert(scope=f"agent:{HOSTILE}", message=HOSTILE))
        app.frame()
        await pilot.pause()
        text = panel(app).plain
        assert "[bold red]x[/]" in text and "␛]0;title␇" in text and "\\u202eevil" in text
        assert "\x1b" not in text and "\u202e" not in text
        assert all("\x1b" not in t for t in toasts(app))


async def test_undecodable_alert_frame_is_counted_not_fatal():
    app = counting_demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.on_metrics_event(SimpleNamespace(event=SSE_ALERT, data='{"id": 3}'))
        app.on_metrics_event(SimpleNamespace(event=SSE_ALERT, data="{not json"))
        assert app.state.decode_errors == 2
        assert app.state.alerts.firing == {}


async def test_capital_a_opens_the_history_newest_first_and_escape_closes():
    app = counting_demo_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.state.apply_alert(alert(1))
        app.state.apply_alert(alert(1, state=ALERT_RESOLVED))
        app.state.apply_alert(alert(2))
        await pilot.press("A")
        screen = await async_wait_until(
            lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen, pilot=pilot
        )
        rows = screen.row_texts
        assert rows[0].startswith("● firing  error  error_rate  agent:worker-2  38.0 % > 5.0 %  2m ago")
        assert rows[1].startswith("✓ resolved  error  error_rate  agent:worker-1")
        assert "0s ago" in rows[1]
        assert len(rows) == 3
        await pilot.press("escape")
        await async_wait_until(lambda: not isinstance(app.screen, AlertHistoryScreen), pilot=pilot)


async def test_a_firing_alert_back_below_its_threshold_reads_resolving_in_panel_and_history():
    app = counting_demo_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.state.apply_alert(alert(1))
        app.frame()
        await pilot.pause()
        assert "resolving" not in panel(app).plain
        # The collector updates a firing alert's value in place; the next snapshot carries it.
        calmer = alert(1)
        calmer.value, calmer.threshold = 0.011, 0.032
        app.state.apply_snapshot(Snapshot(timestamp=NOW, alerts=[calmer]))
        app.frame()
        await pilot.pause()
        assert "agent:worker-1  resolving 1.1 % < 3.2 %" in panel(app).plain
        await pilot.press("A")
        screen = await async_wait_until(
            lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen, pilot=pilot
        )
        assert screen.row_texts[0].startswith("◐ resolving  error  error_rate  agent:worker-1  1.1 % < 3.2 %")


# ------------------------------------------------------------------ a real collector
async def test_real_collector_alert_reaches_panel_header_toast_bell_and_history(start_collector):
    running = start_collector(alerts=AlertSettings(interval=0.5, silent_after=0.5, silent_min_events=1))
    app = BellCountingApp(url=running.url, fps=20)
    async with app.run_test(size=(120, 36)) as pilot:
        await async_wait_until(lambda: app.state.fleet is not None, pilot=pilot)
        response = await running.apost([{"agent_id": "gone-1", "span_type": "log", "message": "bye"}])
        assert response.status_code == 202
        await async_wait_until(lambda: "silent_agent" in panel(app).plain, timeout=20, pilot=pilot)
        assert "agent:gone-1" in panel(app).plain
        assert "⚠ 1 alert" in header(app)
        assert any("agent:gone-1" in text for text in toasts(app))
        assert app.bells == 1
        await pilot.press("A")
        screen = await async_wait_until(
            lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen, pilot=pilot
        )
        assert any("silent_agent" in row and "agent:gone-1" in row for row in screen.row_texts)
