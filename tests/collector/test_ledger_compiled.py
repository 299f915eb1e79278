"""The ledger fold's compiled second pass (``_ledgerscan.apply``) does exactly what its Python twin does.

Every observable of two ledgers fed alike, one on the compiled pass and one on the Python loop, is
compared bit for bit (floats by ``repr``): scopes' open, closed and total intervals with their
breakdowns and sketches, traces, decisions, novelties and counters.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.collector import ledger as ledger_module
from agentwatch.collector.config import AlertSettings
from agentwatch.collector.ledger import Ledger, ScopeSeries, Stats
from agentwatch.collector.sketch import LatencySketch
from agentwatch.protocol import Event
from agentwatch.simulator import Fleet
from tests.helpers import NOW

needs_compiled = pytest.mark.skipif(
    not ledger_module.COMPILED_AVAILABLE, reason="the compiled ledger pass is not built here, or turned off"
)


def stats_state(stats: Stats) -> Any:
    sketch = stats.latency
    if isinstance(sketch, LatencySketch):
        latency: Any = (sorted(sketch.counts.items()), sketch.count, sketch.zero_count, repr(sketch.sum))
    else:
        latency = (list(sketch.keys), list(sketch.values), sketch.count, sketch.zero_count, repr(sketch.sum))
    sums = [repr(getattr(stats, name)) for name in Stats.__slots__ if name not in ("dims", "latency")]
    dims = [(key, [repr(value) for value in row]) for key, row in stats.dims.items()]
    return sums, latency, dims


def series_state(series: ScopeSeries) -> Any:
    return (
        series.scope,
        repr(series.first_seen),
        repr(series.last_seen),
        repr(series.events_total),
        stats_state(series.open),
        stats_state(series.total),
        [stats_state(stats) for stats in series.closed],
    )


def ledger_state(ledger: Ledger) -> Any:
    return (
        series_state(ledger.fleet),
        [series_state(series) for series in ledger.scopes.values()],
        [
            (
                agent,
                [
                    (d, repr(s.count), repr(s.confidence_sum), repr(s.confidence_n), s.novel)
                    for d, s in t.items()
                ],
            )
            for agent, t in ledger.decisions.items()
        ],
        [(agent, repr(made)) for agent, made in ledger.decisions_made.items()],
        list(ledger.novelties),
        [(k, t.agent, repr(t.cost), repr(t.inferences), t.path, t.last) for k, t in ledger._traces.items()],
        (ledger.received, ledger.analysed, ledger.sampled_out, ledger.scopes_dropped, ledger.traces_evicted),
        [repr(point) for point in ledger.cost_points],
        len(ledger.recent),
    )


def fed_alike(
    batches: list[list[Event]], settings: AlertSettings | None = None, *, step: int | None = 500
) -> tuple[Ledger, Ledger]:
    """A ledger on the compiled pass and one on the Python loop, fed alike: folds in steps, some
    batches left to pile up (sampling), intervals closed now and then."""
    compiled = Ledger(settings, clock=lambda: NOW, compiled=True)
    python = Ledger(settings, clock=lambda: NOW, compiled=False)
    assert compiled.compiled and not python.compiled
    for number, batch in enumerate(batches):
        now = NOW + number
        for ledger in (compiled, python):
            ledger.add_many(batch)
            if number % 3 != 1:
                while ledger.fold(now, limit=step):
                    pass
            if number % 4 == 3:
                ledger.close_interval(now)
    for ledger in (compiled, python):  # the rest, as the next ticks would
        while ledger.fold(NOW + len(batches), limit=step):
            pass
    return compiled, python


def odd_events(rng: random.Random, count: int) -> list[Event]:
    """Every field the fold reads varied, edge values included (as tests/test_ledger_fold.py)."""
    spans = ["llm_call", "completion", "tool_call", "decision", "error", "log", "heartbeat", None]
    return [
        Event(
            agent_id=f"a{rng.randrange(30)}",
            timestamp=NOW,
            span_type=rng.choice(spans),
            model=rng.choice([None, "", "m1", "m2", "m3"]),
            trace_id=rng.choice([None, "", *(f"t{i}" for i in range(40))]),
            tokens_output=rng.choice([None, 0, rng.randrange(1000)]),
            latency_ms=rng.choice([None, 0.0, 1e-4, -0.0, rng.uniform(0, 5000), 1e12, 2e12, math.nan]),
            cost_usd=rng.choice([None, 0.0, rng.uniform(0, 0.1), -1.0, 2e6, math.nan]),
            error=rng.choice([None, None, "", "Timeout: slow", "RateLimit", ":"]),
            tool_name=rng.choice([None, "", "search", "code", "m1"]),  # a tool named as a model too
            decision_made=rng.choice(
                [None, "", "retry", "escalate", f"d{rng.randrange(5)}", "décidé", "x" * 150]
            ),
            confidence=rng.choice([None, 0.0, 0.5, 1.0, 1.5, math.nan]),
        )
        for _ in range(count)
    ]


@needs_compiled
@pytest.mark.parametrize(
    "scenario", ["steady", "error-spike", "new-decision", "latency-degradation", "cost-drift"]
)
def test_the_compiled_pass_matches_the_python_loop_on_simulated_fleets(scenario: str) -> None:
    fleet = Fleet(40, seed=3, scenario=scenario, start=NOW, rate=200)
    batches = [fleet.events_until(NOW + 2.0 * (i + 1)) for i in range(30)]
    compiled, python = fed_alike(batches, AlertSettings(fold_limit=700))
    assert compiled.analysed > 1000 and compiled.sampled_out > 0
    assert ledger_state(compiled) == ledger_state(python)


@needs_compiled
def test_the_compiled_pass_matches_on_odd_values_the_scope_cap_and_the_breakdown_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ledger_module, "MAX_DIM_VALUES", 6)  # rows past it go to (other)
    monkeypatch.setattr(ledger_module, "MAX_TRACES", 25)
    rng = random.Random(5)
    batches = [odd_events(rng, rng.choice([1, 50, 700])) for _ in range(30)]
    compiled, python = fed_alike(batches, AlertSettings(max_scopes=12, fold_limit=400), step=37)
    assert compiled.scopes_dropped > 0 and compiled.traces_evicted > 0 and compiled.sampled_out > 0
    assert any(key[1] == ledger_module.OTHER for key in compiled.fleet.open.dims)
    assert ledger_state(compiled) == ledger_state(python)


@needs_compiled
def test_events_it_cannot_read_exactly_are_left_to_the_python_loop_unchanged() -> None:
    """An int cost or a float token count (an Event built in Python, not decoded) makes the first
    pass return None before changing anything; the Python loop then gives what it always gives."""
    assert ledger_module._compiled_group is not None
    for odd in (
        Event("a", span_type="llm_call", model="m", trace_id="t", cost_usd=1, latency_ms=3.0),
        Event("a", span_type="llm_call", model="m", trace_id="t", tokens_output=2.5),  # type: ignore[arg-type]
        Event("a", span_type="decision", trace_id="t", decision_made=7),  # type: ignore[arg-type]
    ):
        events = [Event("b", span_type="llm_call", trace_id="u", cost_usd=0.5), odd]
        ledger = Ledger(clock=lambda: NOW, compiled=True)
        before = ledger_state(ledger)
        groups: dict[Any, Any] = {}
        credits: dict[Any, Any] = {}
        answer = ledger._group_compiled(events, NOW, 1.0, groups, credits)
        assert answer is None and groups == {} and credits == {} and ledger_state(ledger) == before
        compiled, python = fed_alike([events, events])
        assert ledger_state(compiled) == ledger_state(python)


def test_a_decision_path_is_cut_at_its_length_limit() -> None:
    events = [Event("a", span_type="decision", trace_id="t", decision_made="é" * 100) for _ in range(4)]
    for compiled in (True, False):
        ledger = Ledger(clock=lambda: NOW, compiled=compiled)
        ledger.add_many(events)
        ledger.fold(NOW)
        assert (
            ledger._traces["t"].path
            == ledger_module.PATH_JOIN.join(["é" * 100] * 3)[: ledger_module.MAX_PATH]
        )


@needs_compiled
def test_groups_it_cannot_take_exactly_are_left_to_the_python_loop_unchanged() -> None:
    """An int latency (an Event built in Python, not decoded) makes the pass return None before
    changing anything; the Python loop then gives what it always gives."""
    events = [
        Event("a", span_type="llm_call", model="m", latency_ms=250, cost_usd=0.01, tokens_output=3),
        Event("b", span_type="completion", model="m", latency_ms=12.5),
    ]
    ledger = Ledger(clock=lambda: NOW, compiled=True)
    groups = ledger._group(events, NOW, 1.0)
    before = ledger_state(ledger)
    assert ledger_module._compiled_apply is not None
    assert ledger_module._compiled_apply(groups, ledger.fleet, NOW, 1.0) is None
    assert ledger_state(ledger) == before
    compiled, python = fed_alike([events, events])
    assert compiled.fleet.open.latency.count == 4  # type: ignore[union-attr]
    assert ledger_state(compiled) == ledger_state(python)


event_mixes = st.lists(
    st.builds(
        Event,
        agent_id=st.sampled_from(["a", "b", "c", "agent-ü"]),
        span_type=st.sampled_from(["llm_call", "completion", "tool_call", "decision", "error", "log", None]),
        model=st.sampled_from([None, "", "m1", "m2"]),
        trace_id=st.sampled_from([None, "", "t1", "t2", "t3"]),
        tokens_output=st.one_of(st.none(), st.integers(0, 10**6)),
        latency_ms=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        cost_usd=st.one_of(st.none(), st.floats(-1.0, 10.0)),
        error=st.sampled_from([None, "", "Timeout: slow", "Boom"]),
        tool_name=st.sampled_from([None, "", "search", "m1"]),
        decision_made=st.sampled_from([None, "", "retry", "stop"]),
        confidence=st.one_of(st.none(), st.floats(0.0, 1.0)),
    ),
    max_size=60,
)


@needs_compiled
@settings(max_examples=200, deadline=None)
@given(batches=st.lists(event_mixes, min_size=1, max_size=6), fold_limit=st.sampled_from([3, 40, 5000]))
def test_the_compiled_pass_matches_the_python_loop_on_random_event_mixes(
    batches: list[list[Event]], fold_limit: int
) -> None:
    compiled, python = fed_alike(batches, AlertSettings(fold_limit=fold_limit, max_scopes=4), step=7)
    assert ledger_state(compiled) == ledger_state(python)
