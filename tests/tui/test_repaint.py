"""Only what changed is repainted: a panel's value, sparkline and detail once a second."""

from __future__ import annotations

from agentwatch.protocol import History, Snapshot
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.widgets import MetricPanel
from tests.helpers import NOW, async_wait_until, screen_text

SIZE = (120, 36)


def snapshot(at: float, tokens: float, series: list[float], agent: str | None = None) -> Snapshot:
    history = History(end=at, tokens_per_second=series, events_per_second=[1.0] * len(series))
    return Snapshot(
        timestamp=at, tokens_per_second=tokens, history=history, events_per_second=tokens, agent=agent
    )


async def test_a_panel_moves_once_a_second_not_at_every_snapshot() -> None:
    second = float(int(NOW))
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False, clock=lambda: second + 0.9)
    async with app.run_test(size=SIZE) as pilot:
        tokens = app.query_one("#m-tokens", MetricPanel)
        app.state.apply_snapshot(snapshot(second + 0.2, 3.0, [1.0, 2.0, 3.0]))
        app.frame()
        await async_wait_until(lambda: tokens.series == [1.0, 2.0, 3.0], pilot=pilot)

        app.state.apply_snapshot(snapshot(second + 0.7, 5.0, [1.0, 2.0, 5.0]))  # the same second
        app.frame()
        await pilot.pause()
        assert tokens.value_text == "3.0" and "3.0" in screen_text(app)  # held until the next second
        assert tokens.series == [1.0, 2.0, 3.0]

        app.state.apply_snapshot(snapshot(second + 1.1, 7.0, [2.0, 5.0, 7.0]))  # the next second
        app.frame()
        await pilot.pause()
        assert tokens.value_text == "7.0" and "7.0" in screen_text(app)
        assert tokens.series == [2.0, 5.0, 7.0]


async def test_another_scope_in_the_same_second_shows_its_own_sparkline_at_once() -> None:
    second = float(int(NOW))
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False, clock=lambda: second + 0.9)
    async with app.run_test(size=SIZE) as pilot:
        tokens = app.query_one("#m-tokens", MetricPanel)
        tokens_bar = app.metrics_bar
        tokens_bar.update_from(snapshot(second + 0.2, 3.0, [1.0, 2.0, 3.0]))
        await pilot.pause()
        tokens_bar.update_from(snapshot(second + 0.5, 9.0, [9.0, 9.0, 9.0], agent="alpha"))
        await pilot.pause()
        assert tokens.series == [9.0, 9.0, 9.0]
