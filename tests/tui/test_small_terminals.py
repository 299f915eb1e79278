"""What the viewer keeps on screen at 60×15, 80×24, 120×36 and 200×50, and what stays in place.

Rules: the connection state is never cut; a column is left out whole before a number in it is
cut; free width goes to the activity column; columns do not move when a value grows a digit.
Each test reads the screen as the terminal would show it.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from agentwatch.protocol import STATUS_DEGRADED, STATUS_OK
from agentwatch.tui.agenttable import AGENT_COLUMNS, agent_cell_values
from agentwatch.tui.alerts import AlertHistoryScreen, value_vs_threshold
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screenshots import NOW, demo_alerts, demo_app, fleet_snapshot
from tests.helpers import async_wait_until, screen_lines

SIZES = [(60, 15), (80, 24), (100, 30), (120, 36), (200, 50)]
LONG_ACTIVITY = (
    "log: step 32: prompt assembled, 1735 tokens, context window 72 % full, truncating the oldest turns"
)


def long_activity_app() -> AgentWatchApp:
    """The demo state, with one agent doing something with a long description and a slow p99."""
    app = demo_app()
    snapshot = fleet_snapshot()
    snapshot.agents[0].last_activity = LONG_ACTIVITY
    app.state.apply_snapshot(snapshot)
    return app


def table_rows_on_screen(app: AgentWatchApp) -> dict[str, str]:
    """Agent id → the screen row that shows it."""
    lines = screen_lines(app)
    top = app.agent_table.region.y
    rows = lines[top + 1 : top + app.agent_table.region.height]
    return {agent: row for agent in app.agent_table.row_agents() for row in rows if f" {agent} " in row}


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_the_connection_state_is_on_the_first_line_at_every_size(size):
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        first = screen_lines(app)[0]
        assert "● live" in first, first
        assert "SIMULATED DATA" in first


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_the_footer_ends_with_the_palette_key_and_nothing_after_it(size):
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        footer = (await async_wait_until(lambda: screen_lines(app)[-1].strip(), pilot=pilot)).rstrip()
        assert footer.endswith("^p palette"), footer


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_table_columns_are_whole_or_left_out_and_never_scroll_sideways(size):
    app = long_activity_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.agent_table
        assert not table.show_horizontal_scrollbar
        assert table.virtual_size.width <= table.size.width
        layout = table.layout_shown
        assert layout is not None and {"status", "agent", "err %"} <= set(layout.columns)
        rows = table_rows_on_screen(app)
        assert rows, screen_lines(app)
        views = {view.agent_id: view for view in app.state.agent_views()}
        for agent, row in rows.items():
            for (column, _), (text, _) in zip(
                AGENT_COLUMNS, agent_cell_values(views[agent], NOW), strict=True
            ):
                if column in layout.columns and column not in ("agent", "activity"):
                    assert f" {text} " in f"{row} ", (size, agent, column, text, row)


async def test_80x24_panels_take_two_lines_and_show_every_number_whole():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        metrics = app.query_one("#metrics")
        assert metrics.region.height == 2
        shown = "\n".join(screen_lines(app)[metrics.region.y : metrics.region.bottom])
        for value in ("1 305.8", "840 ms / 9.12 s", "6.8 %", "$3.82/min est.", "4 active"):
            assert value in shown, shown


async def test_60x15_keeps_every_panel_value_whole():
    app = demo_app()
    async with app.run_test(size=(60, 15)) as pilot:
        await pilot.pause()
        metrics = app.query_one("#metrics")
        shown = "\n".join(screen_lines(app)[metrics.region.y : metrics.region.bottom])
        for value in ("1 305.8", "840 ms / 9.12 s", "6.8 %", "$3.82/min est.", "4 active"):
            assert value in shown, shown
        assert app.log_pane.region.height >= 4


async def test_120x36_panel_subtitles_fit_their_borders():
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        snapshot = fleet_snapshot()
        snapshot.input_tokens_per_second, snapshot.output_tokens_per_second = 45_126.0, 4_019.0
        snapshot.window_cost_usd = 123.45
        snapshot.history.end += 1  # the next second: the details move once a second
        app.state.apply_snapshot(snapshot)
        app.frame()
        await pilot.pause()
        metrics = app.query_one("#metrics")
        bottom = screen_lines(app)[metrics.region.bottom - 1]
        assert "…" not in bottom, bottom
        for detail in ("in 45k · out 4.0k", "latency ±1 %", "225 errors", "$123.45/60 s", "55.2 events/s"):
            assert detail in bottom, bottom


@pytest.mark.parametrize(("size", "least"), [((120, 36), 24), ((200, 50), 95)])
async def test_free_width_goes_to_the_activity_column_which_ends_in_an_ellipsis(size, least):
    app = long_activity_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        row = table_rows_on_screen(app)["planner-01"]
        start = LONG_ACTIVITY[:least]
        assert start in row, row
        if LONG_ACTIVITY not in row:
            assert row[row.index(start) :].rstrip().endswith("…"), row


async def test_columns_stay_in_place_when_a_p99_reaches_10_s_and_statuses_change():
    app = AgentWatchApp(url="http://127.0.0.1:8787", clock=lambda: NOW, connect=False)
    async with app.run_test(size=(120, 36)) as pilot:
        snapshot = fleet_snapshot()
        for row in snapshot.agents:
            row.status, row.p99_latency_ms = STATUS_OK, 990.0
        app.state.apply_snapshot(snapshot)
        app.frame()
        await pilot.pause()
        header_row = app.agent_table.region.y
        before = screen_lines(app)[header_row]
        snapshot = fleet_snapshot()
        snapshot.agents[0].status, snapshot.agents[0].p99_latency_ms = STATUS_DEGRADED, 14_200.0
        app.state.apply_snapshot(snapshot)
        app.frame()
        await pilot.pause()
        after = screen_lines(app)[header_row]
        assert after == before
        assert "14.20 s" in table_rows_on_screen(app)["planner-01"]


async def test_a_cost_of_no_price_fits_its_column():
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        snapshot = fleet_snapshot()
        snapshot.agents[0].cost_unpriced, snapshot.agents[0].cost_usd = True, 0.0
        snapshot.agents[1].cost_unpriced, snapshot.agents[1].cost_usd = True, 1234.56
        app.state.apply_snapshot(snapshot)
        app.frame()
        await pilot.pause()
        rows = table_rows_on_screen(app)
        assert " no price " in rows["planner-01"]
        assert " ≥$1 234.56 " in rows["retriever-02"]


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (200, 50)], ids=["80x24", "120x36", "200x50"])
async def test_the_alert_history_shows_each_value_whole_and_gives_the_rest_to_the_message(size):
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        snapshot = fleet_snapshot()
        snapshot.alerts = demo_alerts()
        app.state.apply_snapshot(snapshot)
        app.frame()
        await pilot.press("A")
        screen = await async_wait_until(
            lambda: app.screen if isinstance(app.screen, AlertHistoryScreen) else None, pilot=pilot
        )
        await pilot.pause()
        table = screen.query_one(DataTable)
        assert not table.show_horizontal_scrollbar
        shown = "\n".join(screen_lines(app))
        for alert in demo_alerts():
            assert value_vs_threshold(alert) in shown, shown
        if size[0] >= 200:
            assert all(alert.message in shown for alert in demo_alerts()), shown


async def test_a_long_agent_id_keeps_its_start_and_its_end_in_the_table():
    agent_id = "claude-code·5f1c2e0a-9b7d-4c1e-8f3a-2d0615065aa1"
    app = demo_app()
    async with app.run_test(size=(120, 36)) as pilot:
        snapshot = fleet_snapshot()
        snapshot.agents[0].agent_id = agent_id
        app.state.apply_snapshot(snapshot)
        app.frame()
        await pilot.pause()
        width = app.agent_table.layout_shown.widths["agent"]
        assert width < len(agent_id)
        shown = f"{agent_id[: width - 9]}…{agent_id[-8:]}"
        assert any(f" {shown} " in row for row in screen_lines(app)), shown
