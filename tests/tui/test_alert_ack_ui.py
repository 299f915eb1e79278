"""Acknowledge and snooze from the viewer: the keys (panel and history), the dimmed lines that say who
and for how long, and no toast, bell or notification for a quiet alert. The keys go to a real collector
on 127.0.0.1; the rendering tests feed the state directly (frozen clock, no network)."""

from __future__ import annotations

import re

import httpx
import msgspec

from agentwatch.collector.config import AlertSettings
from agentwatch.protocol import ALERT_FIRING, PATH_ALERTS, RULE_ERROR_RATE, Alert, AlertsResponse, Snapshot
from agentwatch.tui.alerts import AlertHistoryScreen, AlertsPanel, SnoozeScreen, alert_line
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screenshots import NOW, demo_app
from tests.helpers import RunningCollector, async_wait_until

SIZE = (120, 36)
QUICK = AlertSettings(interval=0.5, silent_after=1.5, silent_min_events=1, fire_after=1)


def panel(app: AgentWatchApp) -> str:
    return app.query_one(AlertsPanel).plain


def toasts(app: AgentWatchApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def error_alert(n: int, **marks: object) -> Alert:
    scope = f"agent:worker-{n}"
    return Alert(
        id=f"{RULE_ERROR_RATE}:{scope}",
        rule=RULE_ERROR_RATE,
        scope=scope,
        state=ALERT_FIRING,
        started_at=NOW - 300 - n,
        value=0.38,
        threshold=0.05,
        message="error rate 38 % vs baseline 2 %",
        severity="error",
        **marks,  # type: ignore[arg-type]
    )


async def collector_alerts(running: RunningCollector) -> list[Alert]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(running.url + PATH_ALERTS, headers=running.headers())
    return msgspec.json.decode(response.content, type=AlertsResponse).firing


# ------------------------------------------------------------------ keys, against a real collector
async def test_panel_keys_acknowledge_snooze_and_undo_at_the_collector(start_collector) -> None:
    running = start_collector(alerts=QUICK, token="s3cret")
    app = AgentWatchApp(url=running.url, token="s3cret", fps=20, viewer_name="ana@laptop")
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: app.state.fleet is not None, pilot=pilot)
        await running.apost([{"agent_id": "gone-1", "span_type": "log", "message": "bye"}])
        await async_wait_until(lambda: "silent_agent" in panel(app), timeout=20, pilot=pilot)

        await pilot.press("K")
        await async_wait_until(lambda: "ack by ana@laptop 0s ago" in panel(app), pilot=pilot)
        [kept] = await collector_alerts(running)
        assert kept.acked_by == "ana@laptop"
        assert any("Acknowledged: silent_agent:agent:gone-1" in text for text in toasts(app))

        await pilot.press("U")
        await async_wait_until(lambda: "ack by" not in panel(app), pilot=pilot)
        assert (await collector_alerts(running))[0].acked_by is None

        await pilot.press("z")
        await async_wait_until(lambda: re.search(r"snoozed 1[45]m left", panel(app)), pilot=pilot)
        await pilot.press("U")
        await async_wait_until(lambda: "snoozed" not in panel(app), pilot=pilot)

        # Z asks how long: a duration it cannot read says why and stays open; 30m snoozes.
        await pilot.press("Z")
        box = await async_wait_until(lambda: isinstance(app.screen, SnoozeScreen) and app.screen, pilot=pilot)
        await pilot.press("backspace", "backspace", "s", "o", "o", "n", "enter")
        assert "expected a duration such as 15m" in str(box.query_one("#snooze-problem").render())
        assert isinstance(app.screen, SnoozeScreen)
        for _ in range(4):
            await pilot.press("backspace")
        await pilot.press("3", "0", "m", "enter")
        await async_wait_until(lambda: re.search(r"snoozed (29|30)m left", panel(app)), pilot=pilot)
        [kept] = await collector_alerts(running)
        assert kept.snoozed_by == "ana@laptop"
        assert kept.snoozed_until is not None and 1700 < kept.snoozed_until - running.service.clock() <= 1800


async def test_history_keys_act_on_the_row_under_the_cursor(start_collector) -> None:
    running = start_collector(alerts=QUICK)
    app = AgentWatchApp(url=running.url, fps=20, viewer_name="bo")
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: app.state.fleet is not None, pilot=pilot)
        await running.apost([{"agent_id": f"gone-{n}", "span_type": "log", "message": "bye"} for n in (1, 2)])
        await async_wait_until(lambda: len(app.state.alerts.firing) == 2, timeout=20, pilot=pilot)
        await pilot.press("A")
        screen = await async_wait_until(
            lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen, pilot=pilot
        )
        await pilot.press("down")
        target = screen.selected
        assert target is not None
        await pilot.press("K")
        await async_wait_until(
            lambda: any(target.scope in row and "ack by bo" in row for row in screen.row_texts), pilot=pilot
        )
        other = [row for row in screen.row_texts if target.scope not in row]
        assert other and all("ack by" not in row for row in other)
        acked = {a.id: a.acked_by for a in await collector_alerts(running)}
        assert acked[target.id] == "bo" and list(acked.values()).count(None) == 1


# ------------------------------------------------------------------ rendering and quiet
async def test_quiet_alerts_are_dimmed_after_the_others_and_never_hidden() -> None:
    template = demo_app()
    app = AgentWatchApp(url=template.url, clock=lambda: NOW, tz=template.tz, connect=False)
    app.state = template.state
    acked = error_alert(1, acked_by="bo@desk", acked_at=NOW - 180)
    snoozed = error_alert(2, snoozed_by="cy", snoozed_until=NOW + 42 * 60 + 5)
    loud = error_alert(3)
    async with app.run_test(size=SIZE) as pilot:
        app.state.apply_snapshot(Snapshot(timestamp=NOW, alerts=[acked, snoozed, loud]))
        app.frame()
        await pilot.pause()
        lines = panel(app).splitlines()
        assert "agent:worker-3" in lines[0] and "ack by" not in lines[0]
        assert "agent:worker-1" in lines[1] and "ack by bo@desk 3m ago" in lines[1]
        assert "agent:worker-2" in lines[2] and "snoozed 42m left" in lines[2]
        await pilot.press("A")
        screen = await async_wait_until(
            lambda: isinstance(app.screen, AlertHistoryScreen) and app.screen, pilot=pilot
        )
        rows = {row.split("  ")[3]: row for row in screen.row_texts}
        assert "ack by bo@desk 3m ago" in rows["agent:worker-1"]
        assert "snoozed 42m left" in rows["agent:worker-2"]
    line = alert_line(acked, NOW)
    assert any(span.style == "dim" and (span.start, span.end) == (0, len(line)) for span in line.spans)
    assert not any(
        span.style == "dim" and (span.start, span.end) == (0, len(alert_line(loud, NOW)))
        for span in alert_line(loud, NOW).spans
    )


async def test_a_quiet_alert_gets_no_toast_bell_or_notification() -> None:
    written: list[str] = []
    template = demo_app()
    app = AgentWatchApp(
        url=template.url, clock=lambda: NOW, connect=False, notify=("osc9",), terminal=written.append
    )
    async with app.run_test(size=SIZE) as pilot:
        app.frame()
        await pilot.pause()
        written.clear()
        before = len(toasts(app))
        app.state.apply_alert(error_alert(1, acked_by="bo", acked_at=NOW - 5))
        app.state.apply_alert(error_alert(2, snoozed_by="cy", snoozed_until=NOW + 60))
        app.frame()
        await pilot.pause()
        assert written == []
        assert len(toasts(app)) == before
        assert "agent:worker-1" in panel(app) and "agent:worker-2" in panel(app)
        # A snooze that has ended is loud again: the same alert told as any other.
        app.state.apply_alert(error_alert(3, snoozed_by="cy", snoozed_until=NOW - 1))
        app.frame()
        await pilot.pause()
        assert written == [
            "\x07",
            "\x1b]9;alert: error_rate agent:worker-3: error rate 38 % vs baseline 2 %\x07",
        ]
        assert len(toasts(app)) == before + 1
