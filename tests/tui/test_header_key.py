"""The header is built again only when what it shows changes, and its ages still move each second."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Static

from agentwatch.protocol import Session, Snapshot
from agentwatch.tui import widgets
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screenshots import NOW, FixedConnection
from agentwatch.tui.sessions import SESSION_NEEDS_YOU
from agentwatch.tui.state import STREAM_LOGS, STREAM_METRICS, ViewState
from agentwatch.tui.widgets import HeaderBar, header_key, header_lines
from tests.helpers import async_wait_until, header

SIZE = (120, 36)


def _shown(state: ViewState) -> tuple[object, ...]:
    return tuple((line.plain, *line.spans) for line in header_lines(state))


def _session(state: str) -> Session:
    return Session(session_id="s", program="claude-code", agent_id="a", state=state, since=NOW, updated=NOW)


def _changes(now: list[float]) -> list[Callable[[ViewState], object]]:
    """Each thing the header shows, changed one at a time, with the clock moving in between."""

    def tick(seconds: float) -> Callable[[ViewState], object]:
        def move(_state: ViewState) -> None:
            now[0] += seconds

        return move

    return [
        lambda s: s.set_connection(STREAM_METRICS, FixedConnection("reconnecting", retry_at=now[0] + 3.2)),
        tick(0.4),
        tick(0.4),
        tick(0.4),
        lambda s: s.set_connection(STREAM_LOGS, FixedConnection("reconnecting", retry_at=now[0] + 1)),
        lambda s: s.set_connection(STREAM_METRICS, FixedConnection("reconnecting", retry_at=None, error="x")),
        lambda s: s.set_connection(STREAM_METRICS, FixedConnection("live")),
        lambda s: s.set_connection(STREAM_LOGS, FixedConnection("live")),
        lambda s: s.apply_snapshot(Snapshot(timestamp=now[0])),
        *[tick(0.3)] * 22,  # "0 s ago" … "6 s ago", then "stale for"
        lambda s: s.alerts.firing.update(a=None),  # (only their count is shown)
        lambda s: setattr(s, "fleet", SimpleNamespace(sessions=[_session(SESSION_NEEDS_YOU)])),
        lambda s: setattr(s, "fleet", SimpleNamespace(sessions=[_session("working")])),
        lambda s: setattr(s, "banner", "collector restarted"),
        lambda s: setattr(s, "banner", None),
        lambda s: setattr(s, "paused", True),
        lambda s: setattr(s, "new_while_paused", 4),
        lambda s: setattr(s, "scrolled_back", True),
        lambda s: setattr(s, "paused", False),
        lambda s: setattr(s, "errors_only", True),
        lambda s: setattr(s, "search_error", "bad regex"),
        lambda s: setattr(s, "sort_reverse", True),
        lambda s: setattr(s, "sort_column", "status"),
        lambda s: setattr(s, "lines_missed", 3),
        lambda s: setattr(s, "decode_errors", 2),
        lambda s: s.set_connection(STREAM_LOGS, FixedConnection("unauthorized")),
    ]


def test_equal_header_keys_mean_equal_header_lines() -> None:
    now = [NOW]
    state = ViewState(clock=lambda: now[0], url="http://collector:8787")
    key, shown = header_key(state), _shown(state)
    keys_kept = 0
    for change in _changes(now):
        change(state)
        new_key, new_shown = header_key(state), _shown(state)
        assert new_key is not None
        if new_key == key:
            keys_kept += 1
            assert new_shown == shown, (key, shown, new_shown)
        key, shown = new_key, new_shown
    assert keys_kept >= 5  # (clock moves within a shown second: the key stays)


def test_no_header_key_while_drilled_into_an_agent_or_scrubbing() -> None:
    state = ViewState(clock=lambda: NOW)
    assert header_key(state) is not None
    state.drilled_agent = "coder-01"
    assert header_key(state) is None


async def test_a_frame_that_moves_nothing_in_the_header_does_not_build_it_and_its_age_moves_each_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[int] = []
    real = widgets.header_lines

    def counted(state: ViewState) -> Any:
        built.append(1)
        return real(state)

    monkeypatch.setattr(widgets, "header_lines", counted)
    now = [NOW]
    app = AgentWatchApp(url="http://x", clock=lambda: now[0], connect=False)
    async with app.run_test(size=SIZE) as pilot:
        app.state.set_connection(STREAM_METRICS, FixedConnection("live"))
        app.state.set_connection(STREAM_LOGS, FixedConnection("live"))
        app.state.apply_snapshot(Snapshot(timestamp=NOW))
        await async_wait_until(lambda: "● live · 0 s ago" in header(app), pilot=pilot)
        before = len(built)
        for _ in range(5):
            app.frame()
        assert len(built) == before  # nothing it shows moved: not built again
        now[0] += 1.0
        app.frame()
        assert "● live · 1 s ago" in header(app)
        now[0] += 0.2
        app.frame()
        assert len(built) == before + 1
        now[0] += 0.4
        app.frame()
        assert "● live · 2 s ago" in header(app)
        shown = header(app)
        app.state.sort_reverse = not app.state.sort_reverse
        app.frame()
        assert header(app) != shown and header(app).replace("↓", "↑") == shown.replace("↓", "↑")
        assert len(built) == before + 3


class _Twins(App[None]):
    """The header beside a Static showing the same lines joined, styled alike."""

    CSS = """
    #header, #twin {
        height: 2;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield Static(id="twin", markup=False)


def _rows(widget: Widget) -> list[list[tuple[str, object]]]:
    strips = widget.render_lines(Region(0, 0, widget.outer_size.width, widget.outer_size.height))
    return [[(segment.text, segment.style) for segment in strip] for strip in strips]


async def test_the_header_draws_what_a_static_showing_its_lines_draws_and_a_changed_line_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered: list[int] = []
    to_strips = widgets.Visual.to_strips

    def counted(widget: Widget, *args: Any, **kwargs: Any) -> Any:
        if isinstance(widget, HeaderBar):
            rendered.append(args[2])  # (the height asked for: to the line drawn)
        return to_strips(widget, *args, **kwargs)

    monkeypatch.setattr(widgets.Visual, "to_strips", counted)
    now = [NOW]
    state = ViewState(clock=lambda: now[0], url="http://collector:8787/" + "x" * 80)
    app = _Twins()
    async with app.run_test(size=(100, 6)) as pilot:
        bar, twin = app.query_one(HeaderBar), app.query_one("#twin", Static)

        async def same() -> None:
            twin.update(Text("\n").join(header_lines(state)))
            await pilot.pause()
            assert _rows(bar) == _rows(twin)
            assert bar.plain == "\n".join(line.plain for line in header_lines(state))

        changes = _changes(now)
        for change in changes[:12]:
            change(state)
            bar.show_state(state)
            await same()
        rendered.clear()
        now[0] += 1  # the age: the top line alone is drawn again
        assert bar.show_state(state)
        # The whole row, padding included: a paint of part of a row writes it all, not what changed.
        assert set(bar._repaint_regions) == {Region(0, 0, bar.outer_size.width, 1)}
        await same()
        assert rendered == [1]
        for change in changes[12:]:
            change(state)
            bar.show_state(state)
            await same()
        await pilot.resize_terminal(60, 6)  # cut with an ellipsis
        await same()
        app.theme = "textual-light"
        await same()
        rendered.clear()
        await pilot.pause()
        _rows(bar)
        assert rendered == []  # nothing changed: nothing drawn again
