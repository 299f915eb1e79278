"""The viewer's state model: filters, tail, markers, agents, sort — no Textual involved."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agentwatch.protocol import AgentRow, LogEntry, Snapshot
from agentwatch.tui.state import (
    DIRTY_AGENTS,
    DIRTY_HEADER,
    DIRTY_LOGS_APPENDED,
    DIRTY_LOGS_REFILTERED,
    DIRTY_METRICS,
    Marker,
    ViewState,
)
from tests.helpers import NOW


def entry(agent: str = "a1", level: str = "info", message: str = "hello", ts: float = NOW, id: int = 0):
    return LogEntry(timestamp=ts, agent_id=agent, level=level, message=message, id=id)


def fresh(**kwargs) -> ViewState:
    state = ViewState(clock=lambda: NOW, **kwargs)
    state.take_dirty()
    state.visible_lines()
    return state


def messages(lines) -> list[str]:
    return [line.message if isinstance(line, LogEntry) else f"<{line.kind} {line.count}>" for line in lines]


@dataclass
class Conn:
    phase: str
    retry_at: float | None = None
    error: str | None = None


def test_new_entries_become_pending_once_and_mark_logs_appended():
    state = fresh()
    state.add_log_entries([entry(message="one"), entry(message="two")])
    assert DIRTY_LOGS_APPENDED in state.take_dirty()
    assert messages(state.take_pending_lines()) == ["one", "two"]
    assert state.take_pending_lines() == []
    assert state.take_dirty() == set()


def test_buffer_is_bounded_and_keeps_the_newest_lines():
    state = fresh(max_lines=3)
    state.add_log_entries(entry(message=str(i)) for i in range(10))
    assert messages(state.visible_lines()) == ["7", "8", "9"]
    assert len(state.buffer) == 3


def test_agent_filter_refilters_what_was_already_received():
    state = fresh()
    state.add_log_entries([entry("a1", message="x"), entry("a2", message="y"), entry("a1", message="z")])
    state.take_dirty()
    state.set_agent_filter("a1")
    assert DIRTY_LOGS_REFILTERED in state.take_dirty()
    assert messages(state.visible_lines()) == ["x", "z"]
    state.add_log_entries([entry("a2", message="hidden"), entry("a1", message="shown")])
    assert messages(state.take_pending_lines()) == ["shown"]


def test_min_level_cycles_debug_info_warning_error_and_filters_below():
    state = fresh()
    state.add_log_entries([entry(level=lv, message=lv) for lv in ("debug", "info", "warn", "error", "fatal")])
    assert [state.cycle_min_level() for _ in range(4)] == ["info", "warning", "error", "debug"]
    state.set_min_level("warning")
    assert messages(state.visible_lines()) == ["warn", "error", "fatal"]


def test_unknown_level_counts_as_info():
    state = fresh(min_level="info")
    state.add_log_entries([entry(level="SHOUTING", message="odd")])
    assert messages(state.take_pending_lines()) == ["odd"]


def test_errors_only_shows_error_and_critical():
    state = fresh()
    state.add_log_entries(
        [entry(level="info"), entry(level="error", message="e"), entry(level="critical", message="c")]
    )
    state.set_errors_only(True)
    assert messages(state.visible_lines()) == ["e", "c"]


def test_plain_search_is_case_insensitive_substring_with_spans():
    state = fresh()
    state.add_log_entries([entry(message="Timeout calling tool"), entry(message="ok")])
    state.set_search("timeout")
    assert messages(state.visible_lines()) == ["Timeout calling tool"]
    assert state.search_spans("a TIMEOUT and timeout") == [(2, 9), (14, 21)]


@pytest.mark.parametrize("text", ["/time.ut/", "re:time.ut"])
def test_regex_search_in_slashes_or_re_prefix(text):
    state = fresh()
    state.add_log_entries([entry(message="timeout"), entry(message="time"), entry(message="[bold]timeXut")])
    state.set_search(text)
    assert state.search_error is None
    assert messages(state.visible_lines()) == ["timeout", "[bold]timeXut"]


def test_bad_regex_sets_a_message_instead_of_raising():
    state = fresh()
    state.add_log_entries([entry(message="a(b")])
    state.set_search("/a(b/")
    assert state.search_error is not None and "bad regex" in state.search_error
    assert state.visible_lines() == []
    assert state.search_spans("a(b") == []
    state.set_search("a(b")  # the same text as a plain search is fine
    assert state.search_error is None
    assert messages(state.visible_lines()) == ["a(b"]


def test_clear_filters_restores_everything_but_keeps_drill_down():
    state = fresh()
    state.add_log_entries([entry("a1", "debug", "d"), entry("a2", "error", "e")])
    state.set_min_level("error")
    state.set_errors_only(True)
    state.set_search("zzz")
    state.clear_filters()
    assert messages(state.visible_lines()) == ["d", "e"]
    assert state.active_filters() == []
    state.drill_into("a2")
    state.clear_filters()
    assert state.agent_filter == "a2"
    assert messages(state.visible_lines()) == ["e"]


def test_pause_freezes_pending_and_counts_new_matching_lines():
    state = fresh()
    state.set_agent_filter("a1")
    state.visible_lines()
    state.set_paused(True)
    state.add_log_entries([entry("a1", message="1"), entry("a2", message="x"), entry("a1", message="2")])
    assert state.new_while_paused == 2
    assert state.take_pending_lines() == []
    assert DIRTY_HEADER in state.take_dirty()
    state.set_paused(False)
    assert state.new_while_paused == 0
    assert DIRTY_LOGS_APPENDED in state.take_dirty()
    assert messages(state.take_pending_lines()) == ["1", "2"]


def test_markers_pass_every_filter_and_are_counted():
    state = fresh()
    state.set_search("nothing matches this")
    state.add_marker("dropped", 1234)
    state.add_marker("gap", 5)
    state.add_marker("gap", 0)  # ignored
    assert state.take_pending_lines() == [Marker("dropped", 1234, NOW), Marker("gap", 5, NOW)]
    assert messages(state.visible_lines()) == ["<dropped 1234>", "<gap 5>"]
    assert state.lines_missed == 1239


def test_agents_are_known_from_logs_when_snapshots_have_no_rows():
    state = fresh()
    state.apply_snapshot(Snapshot(timestamp=NOW))  # minimal form: no agent rows
    state.add_log_entries([entry("b", ts=NOW - 5), entry("b", "error", ts=NOW - 2), entry("a", ts=NOW - 9)])
    views = state.agent_views()
    assert [v.agent_id for v in views] == ["a", "b"]
    b = views[1]
    assert b.row is None and b.errors == 1 and b.last_seen == NOW - 2
    assert state.known_agents() == ["a", "b"]


def test_snapshot_rows_merge_with_log_agents():
    state = fresh()
    state.apply_snapshot(Snapshot(timestamp=NOW, agents=[AgentRow("a", errors=3, last_seen=NOW - 30)]))
    state.add_log_entries([entry("a", ts=NOW - 1)])
    (view,) = state.agent_views()
    assert view.row is not None and view.errors == 3 and view.last_seen == NOW - 1


def test_sort_cycles_columns_and_reverses_with_missing_values_last():
    state = fresh()
    state.apply_snapshot(
        Snapshot(
            timestamp=NOW,
            agents=[AgentRow("a", tokens_per_second=5), AgentRow("b", tokens_per_second=50), AgentRow("c")],
        )
    )
    state.add_log_entries([entry("d")])
    assert [v.agent_id for v in state.agent_views()] == ["a", "b", "c", "d"]
    assert state.cycle_sort() == "status"
    assert state.cycle_sort() == "tok/s"
    assert [v.agent_id for v in state.agent_views()] == ["c", "a", "b", "d"]
    state.reverse_sort()
    assert [v.agent_id for v in state.agent_views()] == ["d", "b", "a", "c"]


def test_drill_down_snapshot_goes_to_panels_and_late_ones_are_ignored():
    state = fresh()
    state.apply_snapshot(Snapshot(timestamp=NOW, tokens_per_second=100))
    state.drill_into("a1")
    assert state.shown_snapshot is None
    state.apply_snapshot(Snapshot(timestamp=NOW, agent="a2", tokens_per_second=1))
    assert state.shown_snapshot is None
    state.apply_snapshot(Snapshot(timestamp=NOW, agent="a1", tokens_per_second=7))
    assert state.shown_snapshot is not None and state.shown_snapshot.tokens_per_second == 7
    assert state.agent_filter == "a1"
    state.drill_into(None)
    assert state.shown_snapshot is not None and state.shown_snapshot.tokens_per_second == 100
    assert state.agent_filter is None


def test_snapshot_marks_metrics_agents_and_header_dirty_and_records_age():
    clock = [NOW]
    state = ViewState(clock=lambda: clock[0])
    state.take_dirty()
    assert state.snapshot_age() is None
    state.apply_snapshot(Snapshot(timestamp=NOW))
    assert {DIRTY_METRICS, DIRTY_AGENTS, DIRTY_HEADER} <= state.take_dirty()
    clock[0] += 12
    assert state.snapshot_age() == 12


def test_connection_state_is_kept_per_stream():
    state = fresh()
    state.set_connection("logs", Conn("reconnecting", retry_at=NOW + 3))
    assert state.connections["logs"].phase == "reconnecting"
    assert DIRTY_HEADER in state.take_dirty()
