"""SSE messages into the view state: decoding, gap and dropped markers, undecodable data — no Textual."""

from __future__ import annotations

from types import SimpleNamespace

import msgspec

from agentwatch.protocol import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    RULE_ERROR_RATE,
    SSE_ALERT,
    SSE_DROPPED,
    SSE_GAP,
    SSE_HELLO,
    SSE_LOG,
    SSE_METRICS,
    SSE_RESET,
    AgentRow,
    Alert,
    Dropped,
    Gap,
    Hello,
    LogEntry,
    Reset,
    Snapshot,
)
from agentwatch.tui.feed import apply_log_event, apply_log_events, apply_metrics_event, apply_metrics_events
from agentwatch.tui.formatting import marker_text
from agentwatch.tui.state import DIRTY_ALERTS, DIRTY_LOGS_APPENDED, DIRTY_METRICS, Marker, ViewState
from tests.helpers import NOW

UNNAMED = "message"  # the event name of a message sent without ``event:``


def fresh() -> ViewState:
    state = ViewState(clock=lambda: NOW)
    state.take_dirty()
    state.visible_lines()
    return state


def sse(event: str, data: str | msgspec.Struct) -> SimpleNamespace:
    text = data if isinstance(data, str) else msgspec.json.encode(data).decode()
    return SimpleNamespace(event=event, data=text)


def log(message: str, *, id: int = 0, agent: str = "a1", level: str = "info") -> LogEntry:
    return LogEntry(timestamp=NOW - 1, agent_id=agent, level=level, message=message, id=id)


def shown(state: ViewState) -> list[str]:
    return [
        f"<{line.kind} {line.count}>" if isinstance(line, Marker) else line.message
        for line in state.visible_lines()
    ]


def alert(alert_id: str = "error_rate:fleet", state: str = ALERT_FIRING) -> Alert:
    return Alert(id=alert_id, rule=RULE_ERROR_RATE, scope="fleet", state=state, started_at=NOW - 30)


# ---------------------------------------------------------------------- log stream
def test_log_entries_of_one_read_arrive_in_order_with_their_fields():
    state = fresh()
    apply_log_events(
        state,
        [
            sse(SSE_LOG, log("one", id=1)),
            sse(UNNAMED, log("two", id=2, agent="a2", level="error")),
            sse(SSE_LOG, log("three", id=3)),
        ],
    )
    assert shown(state) == ["one", "two", "three"]
    second = state.buffer[1]
    assert isinstance(second, LogEntry)
    assert (second.id, second.agent_id, second.level, second.timestamp) == (2, "a2", "error", NOW - 1)
    assert DIRTY_LOGS_APPENDED in state.take_dirty()
    assert state.decode_errors == 0
    assert state.lines_missed == 0


def test_a_gap_is_a_marker_of_the_missed_count_where_it_arrived():
    state = fresh()
    apply_log_events(
        state,
        [
            sse(SSE_LOG, log("before", id=4)),
            sse(SSE_GAP, Gap(missed=3, first_missing=5, last_missing=7)),
            sse(SSE_LOG, log("after", id=8)),
        ],
    )
    assert shown(state) == ["before", "<gap 3>", "after"]
    assert state.lines_missed == 3
    assert state.decode_errors == 0


def test_a_dropped_notice_is_a_marker_of_this_drop_not_the_running_total():
    state = fresh()
    apply_log_events(
        state,
        [
            sse(SSE_LOG, log("one")),
            sse(SSE_DROPPED, Dropped(dropped=7, total_dropped=40)),
            sse(SSE_LOG, log("two")),
            sse(SSE_DROPPED, Dropped(dropped=2, total_dropped=42)),
        ],
    )
    assert shown(state) == ["one", "<dropped 7>", "two", "<dropped 2>"]
    assert state.lines_missed == 9


def test_a_gap_that_is_not_exact_reads_up_to_its_count():
    state = fresh()
    apply_log_events(
        state, [sse(SSE_GAP, Gap(missed=9_818, first_missing=5, last_missing=9_822, exact=False))]
    )
    (marker,) = state.visible_lines()
    assert isinstance(marker, Marker) and not marker.exact
    assert (
        marker_text(marker)
        == "⚠ up to 9 818 lines missed while disconnected (no longer held by the collector)"
    )
    exact = fresh()
    apply_log_events(exact, [sse(SSE_GAP, Gap(missed=3, first_missing=5, last_missing=7))])
    assert marker_text(exact.visible_lines()[0]).startswith("⚠ 3 lines missed")


def test_a_new_run_whose_ids_go_on_is_a_restart_marker_and_the_first_hello_is_none():
    state = fresh()
    first = Hello(run="r1", sequence="s1", continued=True, last_id=10)
    apply_log_events(state, [sse(SSE_HELLO, first), sse(SSE_LOG, log("one", id=11))])
    apply_log_events(state, [sse(SSE_HELLO, first)])  # a reconnect to the same run
    apply_log_events(state, [sse(SSE_HELLO, Hello(run="r2", sequence="s1", continued=True, last_id=11))])
    assert shown(state) == ["one", "<restart 0>"]
    assert marker_text(state.visible_lines()[-1]) == "⚠ collector restarted — its log goes on"
    assert state.lines_missed == 0 and state.collector_run == "r2"


def test_a_reset_is_a_marker_naming_the_last_line_the_viewer_had():
    state = fresh()
    apply_log_events(state, [sse(SSE_HELLO, Hello(run="r1", sequence="s1", continued=False, last_id=0))])
    apply_log_events(
        state,
        [
            sse(SSE_HELLO, Hello(run="r2", sequence="s2", continued=False, last_id=2)),
            sse(SSE_RESET, Reset(sequence="s2", previous="s1", after=3_000, first_id=1)),
            sse(SSE_LOG, log("new", id=1)),
        ],
    )
    assert shown(state) == ["<reset 0>", "new"]
    assert (
        marker_text(state.visible_lines()[0])
        == "⚠ collector restarted, history not kept — lines after #3 000 are not available"
    )


def test_a_malformed_hello_or_reset_is_counted_and_adds_no_marker():
    state = fresh()
    apply_log_events(state, [sse(SSE_HELLO, "{}"), sse(SSE_RESET, "[1]")])
    assert shown(state) == [] and state.decode_errors == 2


def test_markers_keep_their_place_across_reads():
    state = fresh()
    apply_log_events(state, [sse(SSE_LOG, log("one"))])
    apply_log_event(state, SSE_GAP, '{"missed": 5, "first_missing": 2, "last_missing": 6}')
    apply_log_event(state, SSE_LOG, msgspec.json.encode(log("two")).decode())
    assert shown(state) == ["one", "<gap 5>", "two"]
    assert state.lines_missed == 5


def test_an_undecodable_entry_is_counted_and_skipped_and_its_neighbours_arrive():
    state = fresh()
    apply_log_events(
        state,
        [sse(SSE_LOG, log("one")), sse(SSE_LOG, "not json"), sse(SSE_LOG, log("two")), sse(SSE_LOG, "[1, 2")],
    )
    assert shown(state) == ["one", "two"]
    assert state.decode_errors == 2


def test_a_malformed_gap_or_dropped_notice_is_counted_and_adds_no_marker():
    state = fresh()
    apply_log_events(
        state,
        [
            sse(SSE_GAP, '{"missed": "three"}'),
            sse(SSE_DROPPED, "{not json"),
            sse(SSE_LOG, log("still here")),
        ],
    )
    assert shown(state) == ["still here"]
    assert state.lines_missed == 0
    assert state.decode_errors == 2


def test_a_minimal_collectors_entry_is_read_leniently():
    state = fresh()
    apply_log_events(state, [sse(UNNAMED, '{"agent_id": "bare", "message": "no level, no time"}')])
    (entry,) = state.buffer
    assert isinstance(entry, LogEntry)
    assert (entry.agent_id, entry.message, entry.level, entry.timestamp) == (
        "bare",
        "no level, no time",
        "info",
        NOW,
    )


def test_other_log_stream_events_are_ignored():
    state = fresh()
    apply_log_events(state, [sse(SSE_METRICS, msgspec.json.encode(Snapshot(timestamp=NOW)).decode())])
    apply_log_events(state, [sse("heartbeat", "{}")])
    assert shown(state) == []
    assert state.fleet is None
    assert state.decode_errors == 0


# ---------------------------------------------------------------------- metrics stream
def test_a_snapshot_named_or_unnamed_becomes_the_fleet_snapshot():
    state = fresh()
    first = Snapshot(timestamp=NOW - 2, tokens_per_second=12.5, agents=[AgentRow(agent_id="a1")])
    apply_metrics_events(state, [sse(SSE_METRICS, first)])
    assert state.fleet == first
    assert DIRTY_METRICS in state.take_dirty()
    second = Snapshot(timestamp=NOW - 1, tokens_per_second=99.0)
    apply_metrics_event(state, UNNAMED, msgspec.json.encode(second).decode())
    assert state.fleet == second
    assert state.decode_errors == 0


def test_a_minimal_collectors_snapshot_is_read_leniently():
    state = fresh()
    apply_metrics_event(state, SSE_METRICS, '{"tokens_per_second": 3, "unknown": true}')
    assert state.fleet is not None
    assert state.fleet.tokens_per_second == 3.0
    assert state.fleet.timestamp == NOW


def test_an_alert_frame_changes_what_fires():
    state = fresh()
    apply_metrics_events(state, [sse(SSE_ALERT, alert())])
    assert list(state.alerts.firing) == ["error_rate:fleet"]
    assert DIRTY_ALERTS in state.take_dirty()
    assert state.fleet is None
    apply_metrics_events(state, [sse(SSE_ALERT, alert(state=ALERT_RESOLVED))])
    assert state.alerts.firing == {}
    assert [a.state for a in state.alerts.history] == [ALERT_FIRING, ALERT_RESOLVED]


def test_undecodable_snapshots_and_alerts_are_counted_and_change_nothing():
    state = fresh()
    apply_metrics_events(
        state,
        [sse(SSE_METRICS, "[1,2"), sse(UNNAMED, "null"), sse(SSE_ALERT, '{"id": 3}'), sse(SSE_ALERT, "{no")],
    )
    assert state.decode_errors == 4
    assert state.fleet is None
    assert state.alerts.firing == {}


def test_other_metrics_stream_events_are_ignored():
    state = fresh()
    apply_metrics_events(state, [sse(SSE_LOG, log("not a snapshot")), sse(SSE_GAP, "{}")])
    assert state.fleet is None
    assert state.decode_errors == 0
    assert shown(state) == []
