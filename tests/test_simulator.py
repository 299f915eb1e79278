"""The simulator: a deterministic, realistic fleet, its scenarios, and the sender that posts it."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import importlib.util
import json
import math
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentwatch import cli, pricing, simulator
from agentwatch.protocol import (
    EVENT_SPAN_START,
    KNOWN_SPAN_TYPES,
    LEVELS,
    MAX_AGENT_ID_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_FIELD_LENGTH,
    PATH_EVENTS,
    PATH_HEALTH,
    SPAN_COMPLETION,
    SPAN_DECISION,
    SPAN_HEARTBEAT,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
    json_encoder,
)
from agentwatch.simulator import SCENARIOS, Fleet, RunStats, run
from tests.helpers import NOW, WAIT_TIMEOUT, serve_in_thread


def generate(
    scenario: str = "steady",
    seconds: float = 60.0,
    *,
    agents: int = 12,
    rate: float = 100.0,
    seed: int = 7,
    step: float = 0.25,
) -> tuple[Fleet, list[Event]]:
    """Drive a fleet in simulated time in ``step``-second slices, as the sender would; the events
    without the span starts (tests/test_simulator_starts.py checks those)."""
    fleet = Fleet(agents, seed=seed, scenario=scenario, start=NOW, rate=rate, span_starts=True)
    events: list[Event] = []
    for i in range(1, round(seconds / step) + 1):
        events.extend(e for e in fleet.events_until(NOW + i * step) if e.event_type != EVENT_SPAN_START)
    return fleet, events


def elapsed(event: Event) -> float:
    assert isinstance(event.timestamp, float)
    return event.timestamp - NOW


def calls(events: list[Event]) -> list[Event]:
    return [e for e in events if e.span_type in (SPAN_LLM_CALL, SPAN_TOOL_CALL)]


def error_share(events: list[Event]) -> float:
    found = calls(events)
    return sum(1 for e in found if e.error) / len(found)


def validation_problems(event: Event) -> list[str]:
    """The collector's ingest rules, checked directly."""
    problems = []
    if not (isinstance(event.agent_id, str) and 0 < len(event.agent_id) <= MAX_AGENT_ID_LENGTH):
        problems.append("agent_id")
    if not (isinstance(event.timestamp, float) and math.isfinite(event.timestamp)):
        problems.append("timestamp")
    if event.span_type not in KNOWN_SPAN_TYPES:
        problems.append("span_type")
    for name in ("tokens_input", "tokens_output"):
        value = getattr(event, name)
        if value is not None and not (isinstance(value, int) and value >= 0):
            problems.append(name)
    for name in ("latency_ms", "cost_usd"):
        value = getattr(event, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            problems.append(name)
    if event.confidence is not None and not (0.0 <= event.confidence <= 1.0):
        problems.append("confidence")
    for name in ("model", "tool_name", "decision_made", "trace_id", "span_id", "parent_span_id", "level"):
        value = getattr(event, name)
        if value is not None and not 0 < len(value) <= MAX_SHORT_FIELD_LENGTH:
            problems.append(name)
    for name in ("message", "error"):
        value = getattr(event, name)
        if value is not None and len(value) > MAX_MESSAGE_LENGTH:
            problems.append(name)
    if event.level is not None and event.level not in LEVELS:
        problems.append("level")
    return problems


# ------------------------------------------------------------------ determinism
def test_scenario_names_match_the_cli():
    assert SCENARIOS == cli.SCENARIOS


def test_same_seed_and_same_times_give_identical_events():
    _, first = generate(seed=3, seconds=20)
    _, second = generate(seed=3, seconds=20)
    assert json_encoder.encode(first) == json_encoder.encode(second)
    assert len(first) > 1000


def test_different_seeds_give_different_events():
    _, first = generate(seed=3, seconds=20)
    _, second = generate(seed=4, seconds=20)
    assert json_encoder.encode(first) != json_encoder.encode(second)


def test_events_do_not_depend_on_how_time_is_sliced():
    _, fine = generate(seed=5, seconds=30, step=0.1)
    _, coarse = generate(seed=5, seconds=30, step=3.0)
    assert json_encoder.encode(fine) == json_encoder.encode(coarse)


def test_each_call_returns_only_its_own_window_in_time_order():
    fleet = Fleet(6, seed=1, start=NOW, rate=50)
    previous = NOW
    for i in range(1, 41):
        now = NOW + i * 0.5
        batch = fleet.events_until(now)
        stamps = [elapsed(e) + NOW for e in batch]
        assert stamps == sorted(stamps)
        assert all(previous < s <= now for s in stamps)
        previous = now
    assert fleet.events_until(previous) == []
    assert fleet.events_until(previous - 10) == []


def test_events_until_refuses_a_time_that_is_not_finite():
    fleet = Fleet(2, start=NOW)
    with pytest.raises(ValueError):
        fleet.events_until(math.nan)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scenario": "meltdown"}, "unknown scenario"),
        ({"agents": 0}, "at least one"),
        ({"rate": 0.0}, "rate"),
    ],
)
def test_bad_fleet_parameters_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Fleet(**kwargs)


@pytest.mark.parametrize(
    ("agents", "rate", "seed"), [(12, 100.0, 0), (3, 20.0, 1), (50, 1000.0, 2), (1, 10.0, 3)]
)
def test_average_rate_is_within_15_percent_over_60_seconds(agents, rate, seed):
    _, events = generate(agents=agents, rate=rate, seed=seed, seconds=60)
    assert abs(len(events) / 60 - rate) <= 0.15 * rate


# ------------------------------------------------------------------- realism
def test_agent_ids_are_numbered_roles_and_models_are_priced():
    fleet, events = generate(agents=16, seconds=30)
    assert fleet.agent_ids[:4] == ["planner-1", "researcher-2", "coder-3", "support-bot-4"]
    assert len(set(fleet.agent_ids)) == 16
    assert {e.agent_id for e in events} == set(fleet.agent_ids)
    models = {e.model for e in events if e.span_type == SPAN_LLM_CALL}
    assert len(models) >= 4
    assert all(pricing.price_for(m) is not None for m in models)


def test_every_event_passes_the_ingest_validation_rules_in_every_scenario():
    for scenario in SCENARIOS:
        _, events = generate(scenario, seconds=60, rate=150)
        bad = [(e, p) for e in events if (p := validation_problems(e))]
        assert bad == [], f"{scenario}: {bad[:3]}"
        decoded = msgspec.json.decode(json_encoder.encode(events), type=list[Event])
        assert decoded == events


@pytest.mark.skipif(
    importlib.util.find_spec("agentwatch.collector.ingest") is None, reason="no ingest module"
)
def test_a_batch_round_trips_through_the_collector_ingest():
    from agentwatch.collector.ingest import decode_events

    _, events = generate("error-spike", seconds=40)
    body = json_encoder.encode(events)
    decoded, rejected = decode_events(body, "application/json", now=NOW + 40)
    assert rejected == []
    assert len(decoded) == len(events)
    assert [e.agent_id for e in decoded] == [e.agent_id for e in events]


def test_a_trace_runs_llm_call_then_tools_then_decision_then_completion():
    _, events = generate(seconds=30)
    by_trace: dict[str, list[Event]] = {}
    for e in events:
        if e.trace_id and e.span_type != SPAN_LOG:
            by_trace.setdefault(e.trace_id, []).append(e)
    complete = [
        spans
        for spans in by_trace.values()  # traces that began before the fleet's start are cut
        if spans[-1].span_type == SPAN_COMPLETION and elapsed(spans[-1]) > spans[-1].latency_ms / 1000
    ]
    assert len(complete) > 100
    for spans in complete:
        kinds = [s.span_type for s in spans]
        assert kinds[0] == SPAN_LLM_CALL and kinds[-2] == SPAN_DECISION
        root = spans[-1].span_id
        assert all(s.parent_span_id == root for s in spans[:-1])
        assert spans[-1].latency_ms >= spans[0].latency_ms
    assert any(SPAN_TOOL_CALL in [s.span_type for s in spans] for spans in complete)


def test_latency_differs_by_model_and_has_a_tail():
    _, events = generate(seconds=120, rate=300)
    latency: dict[str, list[float]] = {}
    for e in events:
        if e.span_type == SPAN_LLM_CALL and not e.error:
            latency.setdefault(e.model, []).append(e.latency_ms)
    medians = {m: statistics.median(v) for m, v in latency.items() if len(v) > 50}
    assert medians["gpt-4o-mini"] < 600 < medians["gpt-4o"] < medians["claude-sonnet-4"]
    every = sorted(v for values in latency.values() for v in values)
    assert every[int(len(every) * 0.99)] > 3 * every[len(every) // 2]


def test_tokens_and_cost_are_plausible_and_cost_is_sometimes_left_to_the_collector():
    _, events = generate(seconds=60)
    llm = [e for e in events if e.span_type == SPAN_LLM_CALL and not e.error]
    assert 300 < statistics.median(e.tokens_input for e in llm) < 5000
    assert 20 < statistics.median(e.tokens_output for e in llm) < 600
    priced = [e for e in llm if e.cost_usd is not None]
    assert 0.05 < 1 - len(priced) / len(llm) < 0.3
    for e in priced:
        assert e.cost_usd == pytest.approx(
            pricing.estimate_cost(e.model, e.tokens_input, e.tokens_output), abs=1e-8
        )


def test_logs_cover_every_level_and_heartbeats_come_about_every_five_seconds():
    fleet, events = generate(seconds=60)
    levels = Counter(e.level for e in events if e.span_type == SPAN_LOG)
    assert {"debug", "info", "warning", "error"} <= set(levels)
    assert all(e.message for e in events if e.span_type == SPAN_LOG)
    messages = " ".join(e.message for e in events if e.span_type == SPAN_LOG)
    assert "context window" in messages and "retrying tool" in messages
    beats = Counter(e.agent_id for e in events if e.span_type == SPAN_HEARTBEAT)
    assert set(beats) == set(fleet.agent_ids)
    assert all(10 <= n <= 14 for n in beats.values())


def test_baseline_errors_are_one_to_two_percent_of_calls_with_known_types():
    _, events = generate(seconds=120, rate=200)
    assert 0.008 <= error_share(events) <= 0.03
    kinds = {e.error.split(":")[0] for e in events if e.error}
    assert kinds <= {"Timeout", "RateLimitError", "ToolError", "ValidationError"}
    assert len(kinds) >= 3


# ----------------------------------------------------------------- scenarios
def test_burst_multiplies_the_rate_during_its_window():
    _, events = generate("burst", seconds=100, rate=100)
    first = simulator.BURST_FIRST_AT
    inside = sum(1 for e in events if first + 1 <= elapsed(e) < first + simulator.BURST_SECONDS)
    quiet_from, quiet_to = first + simulator.BURST_SECONDS + 5, first + simulator.BURST_EVERY - 5
    outside = sum(1 for e in events if quiet_from <= elapsed(e) < quiet_to)
    inside_rate, outside_rate = inside / (simulator.BURST_SECONDS - 1), outside / (quiet_to - quiet_from)
    assert 3.5 < inside_rate / outside_rate < 6.0
    assert outside_rate == pytest.approx(100, rel=0.2)


def test_error_spike_makes_a_third_of_agents_fail_only_inside_the_spike():
    fleet, events = generate("error-spike", seconds=90)
    assert len(fleet.failing_agents) == 4
    failing = [e for e in events if e.agent_id in fleet.failing_agents]
    others = [e for e in events if e.agent_id not in fleet.failing_agents]

    def during(items: list[Event]) -> list[Event]:
        return [e for e in items if simulator.ERROR_SPIKE_START <= elapsed(e) < simulator.ERROR_SPIKE_END]

    def outside(items: list[Event]) -> list[Event]:
        # A call that times out reports its error when its deadline passes.
        tail = simulator.LLM_TIMEOUT_MS / 1000 + 1
        return [
            e
            for e in items
            if not simulator.ERROR_SPIKE_START <= elapsed(e) < simulator.ERROR_SPIKE_END + tail
        ]

    assert 0.3 < error_share(during(failing)) < 0.5
    assert error_share(outside(failing)) < 0.05
    assert error_share(during(others)) < 0.05


def test_latency_degradation_slows_one_model_by_its_factor():
    fleet, events = generate("latency-degradation", seconds=140, rate=200)

    def median_latency(model_is_degraded: bool, low: float, high: float) -> float:
        return statistics.median(
            e.latency_ms
            for e in events
            if e.span_type == SPAN_LLM_CALL
            and not e.error
            and low <= elapsed(e) < high
            and (e.model == fleet.degraded_model) == model_is_degraded
        )

    start = simulator.LATENCY_DEGRADATION_START
    late = start + simulator.LATENCY_DEGRADATION_RAMP
    factor = simulator.LATENCY_DEGRADATION_FACTOR
    degraded = median_latency(True, late, 140) / median_latency(True, 0, start)
    assert 0.85 * factor < degraded < 1.15 * factor
    assert 0.8 < median_latency(False, late, 140) / median_latency(False, 0, start) < 1.25
    ramp = simulator.LATENCY_DEGRADATION_RAMP
    halfway = median_latency(True, start + 0.3 * ramp, start + 0.7 * ramp) / median_latency(True, 0, start)
    assert 1.2 < halfway < factor  # on its way: calls are slowed by when they start


def test_cost_drift_grows_cost_per_call_by_its_factor():
    _, events = generate("cost-drift", seconds=140, rate=200)

    def cost_per_call(low: float, high: float) -> float:
        llm = [e for e in events if e.span_type == SPAN_LLM_CALL and not e.error and low <= elapsed(e) < high]
        return sum(pricing.estimate_cost(e.model, e.tokens_input, e.tokens_output) for e in llm) / len(llm)

    late = simulator.COST_DRIFT_START + simulator.COST_DRIFT_RAMP
    factor = simulator.COST_DRIFT_FACTOR
    assert (
        0.85 * factor
        < cost_per_call(late, 140) / cost_per_call(0, simulator.COST_DRIFT_START)
        < 1.15 * factor
    )


def test_new_decision_appears_only_after_its_time_and_from_one_agent():
    fleet, events = generate("new-decision", seconds=90)
    new = [e for e in events if e.decision_made == simulator.NEW_DECISION]
    assert len(new) >= 5
    assert all(elapsed(e) >= simulator.NEW_DECISION_AT for e in new)
    assert {e.agent_id for e in new} == {fleet.new_decision_agent}
    _, steady = generate("steady", seconds=90)
    assert not any(e.decision_made == simulator.NEW_DECISION for e in steady)


def test_skip_to_jumps_over_a_long_gap_without_replaying_it():
    fleet = Fleet(12, seed=2, start=NOW, rate=100)
    fleet.events_until(NOW + 5)
    fleet.skip_to(NOW + 3600)
    after = fleet.events_until(NOW + 3605)
    assert after and all(NOW + 3600 < elapsed(e) + NOW <= NOW + 3605 for e in after)
    assert 200 < len(after) < 900


# ------------------------------------------------------------- the sender
@dataclass
class Recorder:
    """What the test collector received; ``statuses`` are answered first, then 202."""

    statuses: list[int] = field(default_factory=list)
    bodies: list[list[dict]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> int:
        with self.lock:
            return sum(len(body) for body in self.bodies)


def recording_app(recorder: Recorder) -> Starlette:
    async def post_events(request: Request) -> Response:
        raw = await request.body()
        with recorder.lock:
            if recorder.statuses:
                return JSONResponse({"error": "try later"}, status_code=recorder.statuses.pop(0))
            recorder.headers.append(dict(request.headers))
        if request.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        with recorder.lock:
            recorder.bodies.append(body)
        return JSONResponse({"accepted": len(body), "rejected": []}, status_code=202)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route(PATH_EVENTS, post_events, methods=["POST"]), Route(PATH_HEALTH, health)])


@pytest.fixture
def collector() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    server, thread, port = serve_in_thread(recording_app(recorder))
    yield f"http://127.0.0.1:{port}", recorder
    server.should_exit = True
    thread.join(timeout=10)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_run_posts_json_array_batches_with_the_bearer_token(collector):
    url, recorder = collector
    before = time.time()
    stats = await run(
        url, token="s3cret", agents=6, rate=200, seed=1, duration=1.0, scenario="steady", batch_interval=0.1
    )
    assert len(recorder.bodies) >= 3
    assert all(isinstance(body, list) and body for body in recorder.bodies)
    assert all(h["authorization"] == "Bearer s3cret" for h in recorder.headers)
    assert all(h["content-type"] == "application/json" for h in recorder.headers)
    assert stats.sent == stats.accepted == recorder.events() > 100
    assert stats.dropped == stats.rejected == stats.failed_requests == 0
    stamps = [e["timestamp"] for body in recorder.bodies for e in body]
    assert before < min(stamps) and max(stamps) <= time.time()


async def test_run_retries_5xx_and_429_without_losing_events(collector):
    url, recorder = collector
    recorder.statuses = [503, 429, 500]
    stats = await run(
        url, token=None, agents=4, rate=100, seed=2, duration=1.5, scenario="steady", batch_interval=0.05
    )
    assert stats.failed_requests == 3
    assert stats.dropped == 0
    assert stats.sent == recorder.events() > 50
    assert "authorization" not in recorder.headers[0]
    stamps = [e["timestamp"] for body in recorder.bodies for e in body]
    assert stamps == sorted(stamps)


async def test_run_drops_and_counts_beyond_the_backlog_while_the_collector_is_down():
    stats = await run(
        closed_port_url(),
        token=None,
        agents=4,
        rate=400,
        seed=3,
        duration=0.8,
        scenario="steady",
        batch_interval=0.05,
        backlog_limit=50,
    )
    assert stats.sent == 0
    assert stats.failed_requests >= 1
    assert stats.dropped > 100
    assert "ConnectError" in (stats.last_error or "")


async def test_run_gzips_large_batches(collector):
    url, recorder = collector
    stats = await run(
        url, token=None, agents=12, rate=3000, seed=4, duration=0.6, scenario="burst", batch_interval=0.3
    )
    assert any(h.get("content-encoding") == "gzip" for h in recorder.headers)
    assert stats.sent == recorder.events()


async def test_run_stops_promptly_when_stop_is_set(collector):
    url, _ = collector
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            url,
            token=None,
            agents=3,
            rate=50,
            seed=5,
            duration=None,
            scenario="steady",
            batch_interval=3600.0,  # stopping must not wait for the next batch
            stop=stop,
        )
    )
    await asyncio.sleep(0)  # let it start its first tick
    stop.set()
    stats = await asyncio.wait_for(task, timeout=WAIT_TIMEOUT)
    assert isinstance(stats, RunStats) and stats.dropped == 0


async def test_run_ends_when_the_token_is_refused(collector):
    url, recorder = collector
    recorder.statuses = [401] * 100
    stats = await asyncio.wait_for(
        run(
            url,
            token="wrong",
            agents=3,
            rate=100,
            seed=6,
            duration=30,
            scenario="steady",
            batch_interval=0.05,
        ),
        timeout=10,
    )
    assert stats.fatal and "401" in stats.fatal
    assert stats.sent == 0 and stats.rejected > 0


def namespace(url: str, **overrides) -> argparse.Namespace:
    values = {
        "command": "simulate",
        "url": url,
        "token": None,
        "agents": 3,
        "rate": 50.0,
        "seed": 0,
        "duration": 0.5,
        "scenario": "steady",
    }
    values.update(overrides)
    return argparse.Namespace(**values)


def test_main_exits_1_with_a_clear_message_when_the_collector_is_down(capsys):
    url = closed_port_url()
    assert simulator.main(namespace(url)) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the collector at {url}" in err
    assert "agentwatch serve" in err


def test_main_prints_a_one_line_summary(collector, capsys):
    url, recorder = collector
    assert simulator.main(namespace(url, duration=0.6)) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"sent {recorder.events()} events")
    assert "accepted" in out[0] and "dropped 0" in out[0]
