"""The time scrub: a cursor on the sparklines shows one past second — its panel values, the agents with the
most lines in it, and its log lines fetched from a real collector — and End goes live again.

The Pilot tests run the app against a collector on 127.0.0.1 fed over HTTP with events stamped in the past;
the pure pieces (the cursor, the values of a second, spikes, contributors, the sparkline columns) are
tested without an app.
"""

from __future__ import annotations

import time
from datetime import UTC

from agentwatch.protocol import History, LogEntry
from agentwatch.tui import formatting as fmt
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.scrub import SPREAD, Scrub, contributors, panel_values, spike_seconds
from agentwatch.tui.sparkcursor import CursorSparkline, column_of, column_span
from agentwatch.tui.widgets import AgentTable, MetricPanel
from tests.helpers import async_wait_until, entry_lines, header

SIZE = (120, 36)


# ---------------------------------------------------------------- pure pieces
def history(events: list[float], errors: list[float] | None = None, end: float = 1000.0) -> History:
    return History(
        end=end,
        tokens_per_second=[0.0] * len(events),
        p99_latency_ms=[None] * len(events),
        error_rate=errors or [0.0] * len(events),
        events_per_second=events,
        cost_per_second=[0.0] * len(events),
    )


def test_scrub_steps_from_the_newest_second_and_stays_within_the_history():
    scrub = Scrub()
    scrub.begin(history([1.0] * 10), None)
    assert scrub.step(-1) and scrub.at == 1000  # the first step back lands on the newest second
    assert scrub.step(-1) and scrub.at == 999
    assert scrub.step(-100) and scrub.at == 991  # clamped to the oldest second held
    assert not scrub.step(-1)
    assert scrub.step(100) and scrub.at == 1000
    scrub.leave()
    assert scrub.at is None and not scrub.active


def test_a_step_from_live_starts_before_a_second_still_filling():
    scrub = Scrub()
    scrub.begin(history([1.0] * 10), None, now=1000.4)  # the snapshot was taken inside second 1000
    assert scrub.step(-1) and scrub.at == 999  # the newest whole second, not a part of one
    scrub.leave()
    scrub.begin(history([1.0] * 10), None, now=1000.4)
    assert scrub.step(1) and scrub.at == 999
    assert scrub.step(1) and scrub.at == 1000  # still reachable once scrubbing
    scrub.leave()
    scrub.begin(history([1.0] * 10), None, now=1001.0)  # taken after second 1000 ended
    assert scrub.step(-1) and scrub.at == 1000


def test_scrub_keeps_a_copy_of_the_history_the_live_snapshot_moves_on_from():
    live = history([1.0, 2.0, 3.0])
    scrub = Scrub()
    scrub.begin(live, None)
    live.events_per_second.append(4.0)
    live.end += 1
    assert scrub.history is not None and scrub.history.events_per_second == [1.0, 2.0, 3.0]


def test_an_answer_for_a_second_the_cursor_has_left_is_dropped():
    from agentwatch.tui.scrub import Fetched

    scrub = Scrub()
    scrub.begin(history([1.0] * 10), None)
    scrub.step(-1)
    asked = scrub.generation
    scrub.step(-1)
    assert not scrub.take(Fetched(1000), asked)
    assert scrub.take(Fetched(999), scrub.generation) and scrub.fetched is not None


def test_panel_values_are_that_seconds():
    values = History(
        end=1002.0,
        tokens_per_second=[10.0, 20.0, 30.0],
        p99_latency_ms=[None, 60_000.0, 100.0],
        error_rate=[0.0, 0.5, 0.0],
        events_per_second=[1.0, 8.0, 2.0],
        cost_per_second=[0.0, 0.02, 0.0],
    )
    shown = panel_values(values, 1)
    assert shown["m-tokens"].value == "20.0"
    assert shown["m-latency"].value == f"p99 {fmt.latency(60_000.0)}" and shown["m-latency"].level_class
    assert shown["m-errors"].value == "50.0 %" and shown["m-errors"].level_class == "-error"
    assert shown["m-cost"].value == "$0.02/s"
    assert shown["m-agents"].value == "8.0 ev/s"
    assert panel_values(values, 0)["m-latency"].value == f"p99 {fmt.MISSING}"  # no sample that second


def test_spikes_are_the_peaks_of_each_run_that_stands_out():
    events = [1.0] * 20
    events[5], events[6], events[7] = 30.0, 50.0, 20.0
    events[15] = 40.0
    assert spike_seconds(history(events)) == [6, 15]
    assert spike_seconds(history([3.0] * 20)) == []


def test_contributors_count_only_that_seconds_lines_most_first():
    lines = [
        LogEntry(timestamp=100.2, agent_id="b", level="error", message="x"),
        LogEntry(timestamp=100.5, agent_id="a", level="info", message="x"),
        LogEntry(timestamp=100.9, agent_id="b", level="info", message="x"),
        LogEntry(timestamp=101.0, agent_id="a", level="info", message="x"),  # the next second
        LogEntry(timestamp=99.9, agent_id="a", level="info", message="x"),
    ]
    top = contributors(lines, 100)
    assert [(c.agent_id, c.lines, c.errors) for c in top] == [("b", 2, 1), ("a", 1, 0)]


def test_sparkline_columns_follow_textuals_buckets():
    # More values than columns: each column is a slice; a value is drawn by exactly one column.
    assert [column_span(c, 120, 20) for c in (0, 19)] == [range(0, 6), range(114, 120)]
    assert all(len(column_of(i, 120, 20)) == 1 for i in range(120))
    # Fewer values than columns: a value takes one or more columns.
    assert column_of(0, 3, 10) == range(0, 4) and column_of(2, 3, 10) == range(7, 10)


# ---------------------------------------------------------------- against a real collector
def panel(app: AgentWatchApp, panel_id: str) -> MetricPanel:
    return app.query_one(f"#{panel_id}", MetricPanel)


async def test_a_spike_becomes_its_lines_and_end_goes_live(collector):
    """`<` jumps to the spike: its second's values, its agents first, its lines from /api/logs; End: live."""
    now = time.time()
    spike = int(now) - 20
    quiet = spike - 12
    events = [
        {"agent_id": "beta", "span_type": "log", "level": "info", "message": f"quiet {i}", "timestamp": quiet + 0.1}
        for i in range(2)
    ] + [
        {"agent_id": "alpha", "span_type": "log", "level": "error", "message": f"boom {i}", "error": "timeout", "timestamp": spike + 0.01 * i}
        for i in range(30)
    ] + [
        {"agent_id": "beta", "span_type": "log", "level": "info", "message": "near", "timestamp": spike + SPREAD - 0.5}
    ]  # fmt: skip
    assert (await collector.apost(events)).status_code < 300
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:

        def spike_in_history() -> bool:
            fleet = app.state.fleet
            if fleet is None or not fleet.history.events_per_second:
                return False
            at = len(fleet.history.events_per_second) - 1 - (int(fleet.history.end) - spike)
            return 0 <= at and fleet.history.events_per_second[at] >= 30

        await async_wait_until(spike_in_history, pilot=pilot)
        await async_wait_until(lambda: any(line.endswith("near") for line in entry_lines(app)), pilot=pilot)
        await pilot.press("less_than_sign")
        when = fmt.clock_time(spike, UTC)
        await async_wait_until(lambda: f"⏪ at {when} · 0 new (End: live)" in header(app), pilot=pilot)
        assert panel(app, "m-agents").value_text == "30.0 ev/s"  # the 30 errors ("near" is 2.5 s later)
        assert panel(app, "m-errors").value_text == "100.0 %"
        await async_wait_until(
            lambda: any(line.endswith("boom 29") for line in entry_lines(app)), pilot=pilot
        )
        shown = entry_lines(app)
        assert sum(" boom " in line for line in shown) == 30
        assert any(line.endswith("near") for line in shown)  # within the spread
        assert not any("quiet" in line for line in shown)  # 12 s before: outside it
        log = app.log_pane
        assert (
            log.mark is not None and log.entry(log.mark).message == "boom 0"
        )  # the second's first line, marked
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: "alpha 30 (30 err)" in str(table.border_title), pilot=pilot)
        assert table.row_agents()[0] == "alpha"
        # The cursor is drawn on the sparkline; the live tail keeps counting meanwhile.
        assert app.query_one("#m-agents CursorSparkline", CursorSparkline).cursor is not None
        await collector.apost(
            {"agent_id": "gamma", "span_type": "log", "level": "info", "message": "live after"}
        )
        await async_wait_until(lambda: "· 1 new (End: live)" in header(app), pilot=pilot)
        assert not any("live after" in line for line in entry_lines(app))
        # One second forward: that second's values (nothing was stamped then).
        await pilot.press("right_square_bracket")
        await async_wait_until(lambda: f"⏪ at {fmt.clock_time(spike + 1, UTC)}" in header(app), pilot=pilot)
        assert panel(app, "m-agents").value_text == "0.0 ev/s"
        await pilot.press("end")
        await async_wait_until(
            lambda: any(line.endswith("live after") for line in entry_lines(app)), pilot=pilot
        )
        assert "⏪" not in header(app) and "⏸" not in header(app)
        assert log.mark is None
        assert app.query_one("#m-agents CursorSparkline", CursorSparkline).cursor is None
        assert "ev/s" not in panel(app, "m-agents").value_text  # the live panel: active agents again
        assert not table.border_title


async def test_brackets_step_back_from_live_and_a_click_on_a_sparkline_picks_its_peak(collector):
    now = time.time()
    spike = int(now) - 8
    await collector.apost(
        [{"agent_id": "alpha", "span_type": "log", "level": "info", "message": f"m{i}", "timestamp": spike + 0.2}
         for i in range(12)]
    )  # fmt: skip
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(
            lambda: app.state.fleet is not None and app.state.fleet.history.end > spike, pilot=pilot
        )
        await async_wait_until(
            lambda: max(app.state.fleet.history.events_per_second, default=0) >= 12, pilot=pilot
        )
        shown_end = int(app.state.fleet.history.end)
        await pilot.press("left_square_bracket")
        await async_wait_until(lambda: "⏪ at" in header(app), pilot=pilot)
        held = app.state.scrub.history
        assert held is not None
        # The history frozen at the key press (the one shown then, or a newer one): its newest whole second.
        newest = int(held.end) - app.state.scrub.filling
        assert newest >= shown_end - 1 and f"⏪ at {fmt.clock_time(newest, UTC)}" in header(app)
        await pilot.press("left_curly_bracket")
        assert f"⏪ at {fmt.clock_time(newest - 10, UTC)}" in header(app)
        await pilot.press("end")
        assert "⏪" not in header(app)
        # Scrubbing holds the sparklines still, so the column clicked is the one measured (live, a new
        # second could shift them between reading the data and the click).
        await pilot.press("left_square_bracket")
        await async_wait_until(lambda: "⏪ at" in header(app), pilot=pilot)
        sparkline = app.query_one("#m-agents CursorSparkline", CursorSparkline)
        data = list(sparkline.data or [])
        peak = data.index(max(data))
        column = column_of(peak, len(data), sparkline.size.width).start
        await pilot.click(sparkline, offset=(column, 0))
        await async_wait_until(lambda: f"⏪ at {fmt.clock_time(spike, UTC)}" in header(app), pilot=pilot)
        await async_wait_until(lambda: any(line.endswith("m11") for line in entry_lines(app)), pilot=pilot)
        assert panel(app, "m-agents").value_text == "12.0 ev/s"
        # Drilling into an agent ends the scrub: its history was the fleet's.
        app.drill_into("alpha")
        assert "⏪" not in header(app) and "▶ agent alpha" in header(app)
        assert app.query_one("#m-agents CursorSparkline", CursorSparkline).cursor is None


async def test_the_scrub_tells_its_second_in_the_viewers_time_zone():
    from datetime import timedelta, timezone

    from agentwatch.tui.screenshots import demo_app

    app = demo_app()
    app.tz = timezone(timedelta(hours=5, minutes=30))  # not the machine's
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left_curly_bracket")
        await async_wait_until(lambda: "⏪ at" in header(app), pilot=pilot)
        at = app.state.scrub.at
        assert at is not None
        assert f"⏪ at {fmt.clock_time(at, app.tz)}" in header(app)  # as the log's times are
        assert fmt.clock_time(at, app.tz) != fmt.clock_time(at, UTC)


async def test_scrub_without_history_says_so_and_stays_live():
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left_square_bracket")
        assert "⏪" not in header(app) and not app.state.paused


async def test_scrub_without_a_collector_says_its_lines_are_not_fetched():
    from agentwatch.tui.screenshots import demo_app

    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left_curly_bracket")
        await async_wait_until(lambda: "⏪ at" in header(app), pilot=pilot)
        assert "lines not fetched: no collector connected" in header(app)
        assert panel(app, "m-agents").value_text.endswith("ev/s")
