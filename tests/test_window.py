"""The window: bucketed fleet and per-agent aggregates, in simulated time."""

from __future__ import annotations

import math
from typing import Any

import pytest

from agentwatch.collector.sketch import RELATIVE_ACCURACY
from agentwatch.collector.window import ATTR_SDK_DROPPED, Window, activity_text
from agentwatch.protocol import (
    SPAN_COMPLETION,
    SPAN_DECISION,
    SPAN_ERROR,
    SPAN_HEARTBEAT,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    STATUS_DEGRADED,
    STATUS_FAILING,
    STATUS_IDLE,
    STATUS_OFFLINE,
    STATUS_OK,
    Event,
)
from tests.helpers import NOW, Clock


def event(agent: str = "a1", at: float | None = None, span_type: str = SPAN_LLM_CALL, **fields: Any) -> Event:
    return Event(agent_id=agent, timestamp=NOW if at is None else at, span_type=span_type, **fields)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def window(clock: Clock) -> Window:
    return Window(60, history_seconds=120, clock=clock)


# ----------------------------------------------------------------------- rates


def test_tokens_per_second_counts_tokens_not_events(window: Window) -> None:
    window.add_many([event(tokens_input=1000, tokens_output=200), event(tokens_input=800, tokens_output=0)])
    snap = window.snapshot()
    assert snap.tokens_per_second == pytest.approx(2000 / 60)
    assert snap.input_tokens_per_second == pytest.approx(1800 / 60)
    assert snap.output_tokens_per_second == pytest.approx(200 / 60)
    assert snap.events_per_second == pytest.approx(2 / 60)


def test_error_rate_and_counts_are_exact_on_known_input(window: Window) -> None:
    events = (
        [event(span_type=SPAN_LLM_CALL, latency_ms=100.0) for _ in range(6)]
        + [event(span_type=SPAN_COMPLETION, latency_ms=100.0) for _ in range(2)]
        + [event(span_type=SPAN_TOOL_CALL) for _ in range(7)]
        + [event(span_type=SPAN_TOOL_CALL, error="Timeout") for _ in range(3)]
        + [event(span_type=SPAN_ERROR) for _ in range(2)]
    )
    window.add_many(events)
    snap = window.snapshot()
    assert snap.events == 20
    assert snap.errors == 5
    assert snap.error_rate == 0.25
    assert snap.tool_calls_total == 10
    assert snap.completions == 8
    assert snap.window_seconds == 60


def test_no_events_gives_zero_rates_and_no_percentiles(window: Window) -> None:
    snap = window.snapshot()
    assert snap.events == 0 and snap.error_rate == 0.0 and snap.tokens_per_second == 0.0
    assert snap.p50_latency_ms is None and snap.p95_latency_ms is None and snap.p99_latency_ms is None
    assert snap.agents == [] and snap.active_agents == 0


def test_percentiles_come_from_inference_spans_only(window: Window) -> None:
    window.add_many([event(span_type=SPAN_LLM_CALL, latency_ms=float(ms)) for ms in range(1, 101)])
    window.add_many([event(span_type=SPAN_TOOL_CALL, latency_ms=99_999.0) for _ in range(100)])
    snap = window.snapshot()
    assert snap.p50_latency_ms == pytest.approx(50.0, rel=RELATIVE_ACCURACY)
    assert snap.p95_latency_ms == pytest.approx(95.0, rel=RELATIVE_ACCURACY)
    assert snap.p99_latency_ms == pytest.approx(99.0, rel=RELATIVE_ACCURACY)
    assert snap.latency_relative_error == RELATIVE_ACCURACY


def test_cost_window_per_minute_and_total(clock: Clock, window: Window) -> None:
    window.add_many([event(cost_usd=0.5), event(cost_usd=0.25)])
    snap = window.snapshot()
    assert snap.window_cost_usd == pytest.approx(0.75)
    assert snap.cost_per_minute == pytest.approx(0.75)
    clock.advance(600)
    window.add(event(at=clock.now, cost_usd=1.0))
    snap = window.snapshot()
    assert snap.window_cost_usd == pytest.approx(1.0)
    assert snap.total_cost_usd == pytest.approx(1.75)
    assert window.total_cost_usd == pytest.approx(1.75)
    assert snap.cost_estimated is False


def test_missing_cost_is_estimated_from_the_price_table_and_flagged(window: Window) -> None:
    window.add(event(model="gpt-4o", tokens_input=1_000_000, tokens_output=0))
    snap = window.snapshot()
    assert snap.window_cost_usd == pytest.approx(2.50)
    assert snap.cost_estimated is True


def test_tokens_of_a_model_with_no_price_mark_the_agent_unpriced(window: Window) -> None:
    window.add_many([event("mystery", model="mystery-model-9", tokens_input=1000, tokens_output=10)])
    window.add_many([event("priced", model="gpt-4o", tokens_input=1000, tokens_output=10)])
    window.add_many([event("told", model="mystery-model-9", tokens_input=5, cost_usd=0.5)])
    rows = {row.agent_id: row for row in window.snapshot().agents}
    assert (rows["mystery"].cost_usd, rows["mystery"].cost_unpriced) == (0.0, True)
    assert rows["priced"].cost_unpriced is False and rows["priced"].cost_usd > 0
    assert rows["told"].cost_unpriced is False, "a cost the program reports needs no price"


def test_bad_cost_counts_as_zero_and_is_counted(window: Window) -> None:
    window.add_many([event(cost_usd=math.nan), event(cost_usd=-1.0), event(cost_usd=0.1)])
    snap = window.snapshot()
    assert snap.window_cost_usd == pytest.approx(0.1)
    assert window.bad_values == 2


# ----------------------------------------------------------------------- time


def test_events_fall_out_of_the_window_as_the_clock_advances(clock: Clock, window: Window) -> None:
    window.add(event(at=NOW, tokens_input=60))
    clock.advance(30)
    window.add(event(at=clock.now, tokens_input=120))
    assert window.snapshot().events == 2
    clock.advance(29.5)  # NOW + 59.5: the first second is still the window's oldest
    assert window.snapshot().events == 2
    clock.advance(1.0)  # NOW + 60.5: the first event's second has left the window
    snap = window.snapshot()
    assert snap.events == 1
    assert snap.tokens_per_second == pytest.approx(2.0)
    clock.advance(60)
    assert window.snapshot().events == 0


def test_bucket_reused_after_a_ring_turn_holds_only_new_events(clock: Clock) -> None:
    window = Window(5, history_seconds=5, clock=clock)
    window.add(event(at=NOW, tokens_input=7))
    clock.advance(5)  # same slot, five seconds later
    window.add(event(at=clock.now, tokens_input=3))
    snap = window.snapshot()
    assert snap.events == 1
    assert snap.tokens_per_second == pytest.approx(3 / 5)


def test_future_timestamps_clamp_to_now(clock: Clock, window: Window) -> None:
    window.add(event(at=NOW + 3600, tokens_input=10))
    window.add(event(at=math.inf, tokens_input=10))
    snap = window.snapshot()
    assert snap.events == 2
    assert snap.agents[0].last_seen == NOW
    assert snap.history.tokens_per_second[-1] == 20.0


def test_events_older_than_the_ring_are_counted_late_not_aggregated(clock: Clock, window: Window) -> None:
    window.add_many([event(at=NOW - 500, cost_usd=1.0), event(at=NOW - 100), event(at=-math.inf)])
    assert window.late_events == 2
    assert window.events_total == 3
    assert window.total_cost_usd == pytest.approx(1.0)
    snap = window.snapshot()
    assert snap.events == 0  # NOW-100 is in the ring (history) but not in the 60 s window
    assert snap.history.events_per_second[-101] == 1.0


def test_missing_or_unparsed_timestamps_are_taken_as_now(window: Window) -> None:
    window.add_many(
        [
            Event(agent_id="a1", timestamp=None, span_type=SPAN_LOG),
            Event(agent_id="a1", timestamp="2024-01-01T00:00:00Z", span_type=SPAN_LOG),
            Event(agent_id="a1", timestamp=math.nan, span_type=SPAN_LOG),
            Event(agent_id="a1", timestamp=int(NOW), span_type=SPAN_LOG),  # type: ignore[arg-type]
        ]
    )
    assert window.snapshot().events == 4
    assert window.bad_values == 2


def test_history_has_one_value_per_second_oldest_first_ending_now(clock: Clock, window: Window) -> None:
    for age in (0, 1, 2):
        window.add_many([event(at=NOW - age, tokens_input=10 * (age + 1)) for _ in range(age + 1)])
    window.add(event(at=NOW - 1, span_type=SPAN_ERROR))
    history = window.snapshot().history
    assert history.end == NOW
    for series in (
        history.tokens_per_second,
        history.p99_latency_ms,
        history.error_rate,
        history.events_per_second,
        history.cost_per_second,
    ):
        assert len(series) == 120
    assert history.events_per_second[-3:] == [3.0, 3.0, 1.0]
    assert history.tokens_per_second[-3:] == [90.0, 40.0, 10.0]
    assert history.error_rate[-3:] == [0.0, pytest.approx(1 / 3), 0.0]
    assert history.events_per_second[:-3] == [0.0] * 117


def test_a_batch_hopping_between_seconds_counts_each_event_in_its_own_second(window: Window) -> None:
    second = float(int(NOW))
    offsets = [0.0, -1.0, 0.999999, -0.000001, -2.0, 0.5, -1.5, -2.0, 0.25, -0.999999]
    window.add_many(
        [event(at=second + offset, tokens_input=1) for offset in offsets if second + offset <= NOW]
    )
    counts: dict[int, int] = {}
    for offset in offsets:
        if second + offset <= NOW:
            counts[math.floor(second + offset)] = counts.get(math.floor(second + offset), 0) + 1
    history = window.snapshot().history
    by_second = {
        int(history.end) - len(history.events_per_second) + 1 + i: v
        for i, v in enumerate(history.events_per_second)
    }
    assert {sec: by_second[sec] for sec in counts} == {sec: float(n) for sec, n in counts.items()}
    assert sum(history.events_per_second) == sum(counts.values())


def test_history_p99_per_second(window: Window) -> None:
    window.add_many([event(at=NOW - 1, latency_ms=float(ms)) for ms in range(1, 101)])
    history = window.snapshot().history
    assert history.p99_latency_ms[-1] is None
    assert history.p99_latency_ms[-2] == pytest.approx(99.0, rel=RELATIVE_ACCURACY)


def test_event_in_a_closed_second_is_seen_by_the_next_snapshot(clock: Clock, window: Window) -> None:
    window.add(event(at=NOW - 10, tokens_input=5))
    assert window.snapshot().events == 1
    window.add(event(at=NOW - 20, tokens_input=5))  # lands in an already merged second
    snap = window.snapshot()
    assert snap.events == 2
    assert snap.agents[0].events == 2


# ----------------------------------------------------------------------- agents


def test_narrowed_snapshot_holds_only_that_agents_numbers(window: Window) -> None:
    window.add_many([event("a1", tokens_input=100, cost_usd=1.0) for _ in range(3)])
    window.add_many([event("a2", tokens_input=10, error="boom", cost_usd=0.5)])
    snap = window.snapshot("a2")
    assert snap.agent == "a2"
    assert snap.events == 1 and snap.errors == 1 and snap.error_rate == 1.0
    assert snap.tokens_per_second == pytest.approx(10 / 60)
    assert snap.total_cost_usd == pytest.approx(0.5)
    assert snap.active_agents == 1
    assert [row.agent_id for row in snap.agents] == ["a2"]
    fleet = window.snapshot()
    assert fleet.agent is None and fleet.events == 4 and fleet.active_agents == 2
    assert [row.agent_id for row in fleet.agents] == ["a1", "a2"]


def test_unknown_agent_gives_zeros_and_no_rows(window: Window) -> None:
    window.add(event("a1"))
    snap = window.snapshot("nobody")
    assert snap.agent == "nobody"
    assert snap.events == 0 and snap.agents == [] and snap.p99_latency_ms is None
    assert len(snap.history.events_per_second) == 120


def test_agent_row_shows_last_activity_model_and_last_seen(window: Window) -> None:
    window.add_many(
        [
            event("a1", at=NOW - 3, span_type=SPAN_LLM_CALL, model="gpt-4o"),
            event("a1", at=NOW - 1, span_type=SPAN_TOOL_CALL, tool_name="search"),
            event("a1", at=NOW - 2, span_type=SPAN_DECISION, decision_made="escalate"),  # older: not "last"
        ]
    )
    row = window.snapshot().agents[0]
    assert row.last_activity == "tool_call search"
    assert row.model == "gpt-4o"
    assert row.last_seen == NOW - 1


def test_activity_text_describes_each_kind_of_event() -> None:
    assert activity_text(event(span_type=SPAN_LLM_CALL, model="gpt-4o")) == "llm_call gpt-4o"
    assert activity_text(event(span_type=SPAN_TOOL_CALL, tool_name="search")) == "tool_call search"
    assert activity_text(event(span_type=SPAN_DECISION, decision_made="escalate")) == "decision escalate"
    assert activity_text(event(span_type=SPAN_TOOL_CALL, error="Timeout")) == "error: Timeout"
    assert activity_text(event(span_type="agent", message="interaction")) == "agent: interaction"
    assert activity_text(event(span_type="span")) == "span"
    long = activity_text(event(span_type=SPAN_LOG, message="x\n" * 500))
    assert len(long) <= 80 and "\n" not in long


def test_heartbeat_reports_telemetry_dropped_latest_value(window: Window) -> None:
    window.add(event("a1", span_type=SPAN_HEARTBEAT, attributes={ATTR_SDK_DROPPED: 5}))
    window.add(event("a1", span_type=SPAN_HEARTBEAT, attributes={ATTR_SDK_DROPPED: 2}))
    window.add(event("a1", span_type=SPAN_HEARTBEAT, attributes={ATTR_SDK_DROPPED: "lots"}))
    assert window.snapshot().agents[0].telemetry_dropped == 2
    assert window.bad_values == 1


def test_cardinality_cap_counts_new_agents_in_fleet_but_gives_no_row(clock: Clock) -> None:
    window = Window(60, max_agents=2, clock=clock)
    window.add_many([event("a1"), event("a2"), event("a3", tokens_input=5), event("a3")])
    snap = window.snapshot()
    assert window.agent_ids() == ["a1", "a2"]
    assert snap.events == 4 and snap.tokens_per_second == pytest.approx(5 / 60)
    assert snap.agents_dropped == 2 and window.agents_dropped == 2
    window.add(event("a1"))  # a tracked agent is never refused
    assert window.agents_dropped == 2


def test_silent_agents_are_evicted_after_retention(clock: Clock) -> None:
    window = Window(60, agent_retention_seconds=300, clock=clock)
    window.add_many([event("old"), event("new")])
    clock.advance(200)
    window.add(event("new", at=clock.now))
    clock.advance(150)
    version = window.version
    snap = window.snapshot()
    assert window.agent_ids() == ["new"]
    assert [row.agent_id for row in snap.agents] == ["new"]
    assert window.agents_evicted == 1
    assert window.version > version


def test_version_increases_on_every_change_only(window: Window) -> None:
    v0 = window.version
    window.snapshot()
    assert window.version == v0
    window.add(event())
    assert window.version > v0
    v1 = window.version
    window.add_many([])
    assert window.version == v1


# ----------------------------------------------------------------------- status


def status_of(window: Window, agent: str = "a1") -> str:
    return window.snapshot(agent).agents[0].status


def test_status_ok_for_a_healthy_busy_agent(window: Window) -> None:
    window.add_many([event(latency_ms=100.0) for _ in range(50)])
    assert status_of(window) == STATUS_OK


def test_status_failing_needs_quarter_errors_and_four_events(window: Window) -> None:
    window.add_many([event(error="x"), event(error="x"), event()])
    assert status_of(window) == STATUS_DEGRADED  # 2/3 errors but only 3 events
    window.add(event())
    assert status_of(window) == STATUS_FAILING  # 2/4 = 50 %


def test_status_degraded_on_five_percent_errors(window: Window) -> None:
    window.add_many([event() for _ in range(19)] + [event(span_type=SPAN_ERROR)])
    assert status_of(window) == STATUS_DEGRADED
    window.add_many([event() for _ in range(10)])  # 1/30 ≈ 3.3 %
    assert status_of(window) == STATUS_OK


def test_status_degraded_when_sdk_dropped_telemetry(window: Window) -> None:
    window.add_many([event(), event(span_type=SPAN_HEARTBEAT, attributes={ATTR_SDK_DROPPED: 1})])
    assert status_of(window) == STATUS_DEGRADED


def test_status_degraded_when_p99_is_twice_the_fleet_with_enough_samples(window: Window) -> None:
    window.add_many([event(f"fast{i}", latency_ms=100.0) for i in range(10) for _ in range(300)])
    window.add_many([event("slow", latency_ms=1000.0) for _ in range(19)])
    assert status_of(window, "slow") == STATUS_OK  # 19 samples: not enough to judge
    window.add(event("slow", latency_ms=1000.0))
    assert status_of(window, "slow") == STATUS_DEGRADED
    assert status_of(window, "fast0") == STATUS_OK


def test_status_idle_after_quiet_and_offline_after_silence(clock: Clock, window: Window) -> None:
    window.add(event())
    clock.advance(14)
    assert status_of(window) == STATUS_OK
    clock.advance(1)
    assert status_of(window) == STATUS_IDLE
    window.add(event(span_type=SPAN_HEARTBEAT, at=clock.now))  # alive, still doing nothing
    assert status_of(window) == STATUS_IDLE
    clock.advance(120)
    assert status_of(window) == STATUS_OFFLINE


# ----------------------------------------------------------------------- cost of a snapshot


def _filled(events_per_second: int, clock: Clock) -> Window:
    window = Window(60, history_seconds=120, clock=clock)
    for age in range(60):
        window.add_many(
            [
                event(f"a{i % 5}", at=NOW - age + 0.5, latency_ms=50.0 + (i % 400) * 7.0, tokens_input=10)
                for i in range(events_per_second)
            ]
        )
    return window


def test_snapshot_merges_the_same_buckets_whatever_the_event_count() -> None:
    small, large = _filled(10, Clock()), _filled(2_000, Clock())
    small_snap, large_snap = small.snapshot(), large.snapshot()
    assert small_snap.events == 600 and large_snap.events == 120_000
    assert small.last_snapshot_merges == large.last_snapshot_merges
    assert large.last_snapshot_merges <= 60 * (1 + 5)  # fleet plus five agents, one window each
    # Sketch size is bounded by the latency range, not by the number of samples.
    assert len(large._fleet.closed.sketch.counts) < 400


def test_repeated_snapshot_in_the_same_second_reuses_the_merge(clock: Clock) -> None:
    window = _filled(100, clock)
    window.snapshot()
    window.add_many([event("a1", at=clock.now) for _ in range(10)])  # current second only
    snap = window.snapshot()
    assert window.last_snapshot_merges == 2  # the current bucket, fleet and agent a1
    assert snap.events == 6_010


# ----------------------------------------------------------------------- against brute force


def _brute_force(events: list[Event], now: float, agent: str | None = None) -> dict[str, Any]:
    start = int(now) - 60 + 1
    chosen = [e for e in events if int(e.timestamp) >= start and (agent is None or e.agent_id == agent)]  # type: ignore[arg-type]
    latencies = sorted(
        e.latency_ms for e in chosen if e.span_type in (SPAN_LLM_CALL, SPAN_COMPLETION) and e.latency_ms
    )
    return {
        "events": len(chosen),
        "errors": sum(1 for e in chosen if e.error or e.span_type == SPAN_ERROR),
        "tokens": sum((e.tokens_input or 0) + (e.tokens_output or 0) for e in chosen),
        "tool_calls": sum(1 for e in chosen if e.span_type == SPAN_TOOL_CALL),
        "cost": sum(e.cost_usd or 0.0 for e in chosen),
        "p99": latencies[math.floor(0.99 * (len(latencies) - 1))] if latencies else None,
    }


@pytest.mark.parametrize("history_seconds", [120, 60])
def test_snapshots_match_a_brute_force_rescan_as_time_passes(clock: Clock, history_seconds: int) -> None:
    import random

    rnd = random.Random(history_seconds)
    window = Window(60, history_seconds=history_seconds, clock=clock)
    seen: list[Event] = []
    kinds = [SPAN_LLM_CALL, SPAN_COMPLETION, SPAN_TOOL_CALL, SPAN_DECISION, SPAN_ERROR, SPAN_LOG]
    for step in range(80):
        clock.advance(rnd.choice([0.0, 0.3, 1.0, 7.0]))
        batch = [
            event(
                f"a{rnd.randrange(6)}",
                at=clock.now - rnd.choice([0.0, 0.0, 0.0, rnd.uniform(0, 110)]),
                span_type=rnd.choice(kinds),
                tokens_input=rnd.randrange(500),
                tokens_output=rnd.randrange(50),
                latency_ms=rnd.lognormvariate(5, 1),
                cost_usd=rnd.random() / 100,
                error="boom" if rnd.random() < 0.1 else None,
            )
            for _ in range(rnd.randrange(0, 60))
        ]
        window.add_many(batch)
        seen.extend(batch)
        for agent in (None, "a0"):
            snap = window.snapshot(agent)
            expected = _brute_force(seen, clock.now, agent)
            assert snap.events == expected["events"], step
            assert snap.errors == expected["errors"], step
            assert snap.tokens_per_second * 60 == pytest.approx(expected["tokens"]), step
            assert snap.tool_calls_total == expected["tool_calls"], step
            assert snap.window_cost_usd == pytest.approx(expected["cost"]), step
            if expected["p99"] is None:
                assert snap.p99_latency_ms is None
            else:
                assert snap.p99_latency_ms == pytest.approx(expected["p99"], rel=RELATIVE_ACCURACY * 1.000001)


def test_next_second_slides_the_merge_instead_of_remerging_the_window() -> None:
    clock = Clock()
    window = _filled(100, clock)
    window.snapshot()
    clock.advance(1)
    snap = window.snapshot()
    # Per series (fleet + 5 agents): one second enters, one leaves; nothing in the new second yet.
    assert window.last_snapshot_merges == 2 * 6
    assert snap.events == 59 * 100


# ----------------------------------------------------------------------- batches


def _mixed_batch(rnd: Any, now: float, size: int) -> list[Event]:
    kinds = [
        SPAN_LLM_CALL,
        SPAN_COMPLETION,
        SPAN_TOOL_CALL,
        SPAN_DECISION,
        SPAN_ERROR,
        SPAN_LOG,
        SPAN_HEARTBEAT,
    ]
    return [
        event(
            f"a{rnd.randrange(8)}",
            at=now - rnd.choice([0.0, 0.0, 0.4, 1.2, 3.0]),
            span_type=rnd.choice(kinds),
            tokens_input=rnd.choice([None, rnd.randrange(500)]),
            tokens_output=rnd.choice([None, rnd.randrange(50)]),
            latency_ms=rnd.choice([None, 0.0, math.inf, rnd.lognormvariate(5, 1)]),
            cost_usd=rnd.choice([None, -1.0, rnd.random() / 100]),
            model=rnd.choice([None, "gpt-4o"]),
            error="boom" if rnd.random() < 0.1 else None,
            attributes={ATTR_SDK_DROPPED: rnd.randrange(3)} if rnd.random() < 0.2 else None,
        )
        for _ in range(size)
    ]


def test_one_batch_gives_the_same_snapshot_as_the_same_events_added_one_by_one(clock: Clock) -> None:
    import random

    rnd = random.Random(7)
    # Under the cardinality cap, a batch admits new agents per second in order of appearance,
    # which can differ from strict event order: that case has its own test above.
    batched = Window(60, history_seconds=120, clock=clock)
    single = Window(60, history_seconds=120, clock=clock)
    for _ in range(12):
        clock.advance(rnd.choice([0.3, 1.0, 2.0]))
        batch = _mixed_batch(rnd, clock.now, 200)
        batched.add_many(batch)
        for item in batch:
            single.add(item)
        for agent in (None, "a1"):
            got, want = batched.snapshot(agent), single.snapshot(agent)
            assert got.events == want.events and got.errors == want.errors
            assert got.tool_calls_total == want.tool_calls_total and got.completions == want.completions
            assert got.tokens_per_second == pytest.approx(want.tokens_per_second)
            assert got.window_cost_usd == pytest.approx(want.window_cost_usd)
            assert got.total_cost_usd == pytest.approx(want.total_cost_usd)
            assert (got.p50_latency_ms, got.p99_latency_ms) == (want.p50_latency_ms, want.p99_latency_ms)
            assert [(r.agent_id, r.events, r.status, r.telemetry_dropped) for r in got.agents] == [
                (r.agent_id, r.events, r.status, r.telemetry_dropped) for r in want.agents
            ]
            got_h, want_h = got.history, want.history
            assert got_h.tokens_per_second == want_h.tokens_per_second
            assert got_h.p99_latency_ms == want_h.p99_latency_ms
            assert got_h.error_rate == want_h.error_rate
            assert got_h.events_per_second == want_h.events_per_second
            assert got_h.cost_per_second == pytest.approx(want_h.cost_per_second)  # sums in another order
    assert batched.agents_dropped == single.agents_dropped
    assert batched.bad_values == single.bad_values


def test_odd_timestamps_are_aggregated_without_changing_the_callers_event(window: Window) -> None:
    odd = event(at=float("nan"), latency_ms=100.0)
    future = event(at=NOW + 500.0, latency_ms=100.0)
    window.add_many([odd, future])
    assert window.snapshot().events == 2
    assert math.isnan(odd.timestamp) and future.timestamp == NOW + 500.0  # type: ignore[arg-type]


def test_rates_divide_by_time_watched_until_the_window_is_full() -> None:
    now = [1_000.0]
    window = Window(60, clock=lambda: now[0], origin=1_000.0)
    window.add_many([Event(agent_id="a", timestamp=1_000.5, span_type="llm_call", tokens_output=100)])
    now[0] = 1_010.0
    assert window.snapshot().tokens_per_second == pytest.approx(100 / 10)
    now[0] = 1_030.0
    window.add_many([Event(agent_id="a", timestamp=1_029.5, span_type="llm_call", tokens_output=100)])
    now[0] = 1_070.0
    assert window.snapshot().tokens_per_second == pytest.approx(100 / 60)
