"""The agents table at fleet scale: kept sorted without sorting the fleet, formatted only where seen."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pytest

from agentwatch.protocol import STATUS_DEGRADED, STATUS_FAILING, STATUS_OK, AgentRow, LogEntry, Snapshot
from agentwatch.tui import agenttable
from agentwatch.tui import formatting as fmt
from agentwatch.tui.agentorder import SortedAgents, sort_key
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.state import SORT_COLUMNS, ViewState
from tests.helpers import async_wait_until, screen_lines, table_row

SIZE = (120, 36)
FLEET = 2_000


def random_value(rng: random.Random) -> float | None:
    return rng.choice([None, math.nan, 0.0, 1.0, rng.uniform(-5, 5), rng.uniform(0, 1e6)])


def test_the_sorted_index_equals_a_full_sort_over_random_updates() -> None:
    rng = random.Random(15)
    index = SortedAgents()
    values: dict[str, float | None] = {}
    for step in range(300):
        changes = rng.choice([0, 1, 3, 20, 400])  # none, a few (moved one by one), most (sorted again)
        for _ in range(changes):
            values[f"a{rng.randrange(500):03d}"] = random_value(rng)
        for _ in range(rng.choice([0, 0, 1, 5])):
            values.pop(f"a{rng.randrange(500):03d}", None)
        index.update({agent_id: sort_key(agent_id, value) for agent_id, value in values.items()})
        expected = sorted(values, key=lambda agent_id: sort_key(agent_id, values[agent_id]))
        assert index.ids() == expected, step
    assert 0 < index.full_sorts < 300  # both ways were taken


def test_missing_and_nan_values_sort_last_and_ties_go_by_agent_id() -> None:
    index = SortedAgents()
    index.update(
        {a: sort_key(a, v) for a, v in {"d": None, "c": math.nan, "b": 2.0, "a": 2.0, "e": -1.0}.items()}
    )
    assert index.ids() == ["e", "a", "b", "c", "d"]


def reference_order(state: ViewState) -> list[str]:
    """The order as the table had it: every view built, by agent id, then by the column's value."""
    views = [state.agent_view(agent_id) for agent_id in state.known_agents()]

    def value(view: Any) -> float | None:
        row, column = view.row, state.sort_column
        if column == "last seen":
            return -view.last_seen if view.last_seen is not None else None
        if row is None or column == "agent":
            return None if column != "agent" else 0.0
        return {
            "status": {STATUS_FAILING: 0.0, STATUS_DEGRADED: 1.0, STATUS_OK: 2.0}.get(row.status, 5.0),
            "tok/s": row.tokens_per_second,
            "p50": row.p50_latency_ms,
            "p99": row.p99_latency_ms,
            "err %": row.error_rate,
            "cost": row.cost_usd,
        }[column]

    ordered = [view.agent_id for view in sorted(views, key=lambda v: sort_key(v.agent_id, value(v)))]
    return ordered[::-1] if state.sort_reverse else ordered


def random_fleet(rng: random.Random, agents: int, now: float) -> Snapshot:
    rows = [
        AgentRow(
            agent_id=f"agent-{i:04d}",
            status=rng.choice([STATUS_OK, STATUS_OK, STATUS_DEGRADED, STATUS_FAILING]),
            tokens_per_second=rng.choice([0.0, rng.uniform(0, 500), math.nan]),
            p50_latency_ms=rng.choice([None, rng.uniform(1, 900)]),
            p99_latency_ms=rng.uniform(1, 9000),
            error_rate=rng.choice([None, 0.0, rng.random()]),
            cost_usd=rng.uniform(0, 3),
            last_seen=now - rng.uniform(0, 100),
        )
        for i in range(agents)
        if rng.random() < 0.95  # some agents come and go
    ]
    return Snapshot(timestamp=now, agents=rows, active_agents=len(rows))


def test_the_agents_order_equals_a_full_sort_for_every_column_over_random_snapshots() -> None:
    rng = random.Random(7)
    now = time.time()
    state = ViewState(clock=lambda: now)
    for step in range(40):
        state.apply_snapshot(random_fleet(rng, 300, now))
        state.add_log_entries(
            [LogEntry(timestamp=now - rng.uniform(0, 50), agent_id=f"logs-only-{rng.randrange(20)}", level="info",
                      message="m") for _ in range(5)]
        )  # fmt: skip
        if step % 3 == 0:
            state.cycle_sort()
        if step % 7 == 0:
            state.reverse_sort()
        assert state.agent_order() == reference_order(state), (step, state.sort_column, state.sort_reverse)
        assert [view.agent_id for view in state.agent_views()] == state.agent_order()
    assert state.sort_column in SORT_COLUMNS


def fleet(n: int, *, scale: float = 1.0) -> Snapshot:
    rows = [
        AgentRow(
            agent_id=f"agent-{i:04d}",
            tokens_per_second=float((i * 7919) % FLEET) * scale,
            last_seen=time.time(),
        )
        for i in range(n)
    ]
    return Snapshot(timestamp=time.time(), agents=rows, active_agents=n)


def quiet_app() -> AgentWatchApp:
    return AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False)


def rows_in_view(app: AgentWatchApp) -> int:
    table = app.agent_table
    return table.size.height - table.header_height


async def test_with_2000_agents_only_the_rows_in_view_are_formatted(monkeypatch: pytest.MonkeyPatch) -> None:
    formatted: list[str] = []
    cell_values = agenttable.agent_cell_values

    def counting(view: Any, now: float) -> Any:
        formatted.append(view.agent_id)
        return cell_values(view, now)

    monkeypatch.setattr(agenttable, "agent_cell_values", counting)
    app = quiet_app()
    async with app.run_test(size=SIZE) as pilot:
        app.state.apply_snapshot(fleet(FLEET))
        app.frame()
        await async_wait_until(lambda: app.agent_table.row_count == FLEET, pilot=pilot)
        in_view = rows_in_view(app)
        assert 0 < in_view < 50
        assert len(formatted) <= in_view
        formatted.clear()
        app.state.apply_snapshot(fleet(FLEET, scale=2.0))  # every agent's numbers moved
        app.frame()
        assert 0 < len(formatted) <= in_view
        assert "agent-0001" in screen_text_now(app) or "agent-0000" in screen_text_now(app)
        # A row scrolled into view is brought up to date then, with the latest numbers.
        table = app.agent_table
        table.focus()
        await pilot.press("G")
        await pilot.pause()
        last = app.state.agent_order()[-1]
        assert table.cursor_row == FLEET - 1
        expected = fmt.rate(app.state.agent_view(last).row.tokens_per_second)  # type: ignore[union-attr]
        await async_wait_until(lambda: any(f" {last} " in line for line in screen_lines(app)), pilot=pilot)
        row = next(line for line in screen_lines(app) if f" {last} " in line)
        assert expected in row
        order = app.state.agent_order()
        assert set(formatted) <= set(order[:in_view]) | set(order[-in_view:])  # never a row out of view


def screen_text_now(app: AgentWatchApp) -> str:
    return "\n".join(screen_lines(app))


async def test_with_2000_agents_a_sort_puts_the_right_agents_on_screen_and_the_cursor_keeps_its_agent() -> (
    None
):
    app = quiet_app()
    async with app.run_test(size=SIZE) as pilot:
        app.state.apply_snapshot(fleet(FLEET))
        app.frame()
        await async_wait_until(lambda: app.agent_table.row_count == FLEET, pilot=pilot)
        table = app.agent_table
        table.focus()
        await pilot.press("j", "j", "j")
        chosen = table.selected_agent()
        assert chosen == "agent-0003" and table.cursor_row == 3
        await pilot.press("s", "s")  # status, then tok/s
        await pilot.pause()
        assert "sort: tok/s" in screen_text_now(app)
        order = app.state.agent_order()
        rates = [app.state.agent_view(a).row.tokens_per_second for a in order]  # type: ignore[union-attr]
        assert rates == sorted(rates)
        assert table.selected_agent() == chosen and table.cursor_row == order.index(chosen)
        shown = [line for line in screen_lines(app) if " agent-" in line]
        cursor_line = next(i for i, line in enumerate(shown) if f" {chosen} " in line)
        assert cursor_line == 3  # still on the fourth line of the table
        for agent_id in order[table.cursor_row - 3 : table.cursor_row + 3]:
            assert table_row(app, agent_id).split(" | ")[2] == fmt.rate(
                app.state.agent_view(agent_id).row.tokens_per_second  # type: ignore[union-attr]
            )
        await pilot.press("g")
        assert table.cursor_row == 0 and table.selected_agent() == order[0]


async def test_set_row_order_moves_rows_by_key_without_reading_cells() -> None:
    """The private DataTable state ``set_row_order`` writes (agentwatch/tui/textual_internals.py)."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from agentwatch.tui.textual_internals import set_row_order

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    async with One().run_test(size=(40, 8)) as pilot:
        table = pilot.app.query_one(DataTable)
        table.add_column("name", key="name")
        keys = {name: table.add_row(name, key=name) for name in ("a", "b", "c")}
        set_row_order(table, [keys["c"], keys["a"], keys["b"]])
        assert [str(table.get_row_at(i)[0]) for i in range(3)] == ["c", "a", "b"]
        assert table.get_row_index("b") == 2
        await pilot.pause()
        assert [str(row.key.value) for row in table.ordered_rows] == ["c", "a", "b"]


async def test_rows_follow_a_fleet_that_shrinks_and_grows() -> None:
    """A few agents gone are removed one by one, many at once make the rows start afresh; either way
    the table's rows are exactly the order, and each row in view shows its own agent."""
    from textual.coordinate import Coordinate

    rng = random.Random(3)
    app = quiet_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.agent_table
        for size in (300, 298, 40, 45, 300, 299, 5):
            agents = sorted(rng.sample(range(400), size))
            rows = [
                AgentRow(agent_id=f"agent-{i:04d}", tokens_per_second=float(rng.randrange(9))) for i in agents
            ]
            app.state.apply_snapshot(Snapshot(timestamp=time.time(), agents=rows, active_agents=size))
            app.frame()
            await pilot.pause()
            order = app.state.agent_order()
            drawn = [
                table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value for i in range(table.row_count)
            ]
            assert drawn == order == table.row_agents(), size
            shown = [line for line in screen_lines(app) if " agent-" in line]
            assert shown and all(
                f" {agent_id} " in line for agent_id, line in zip(order, shown, strict=False)
            )
