"""The ledger's grouped fold gives the same numbers as folding event by event.

:class:`PerEventLedger` is the straightforward per-event fold (the definition of every
counter); the grouped :meth:`Ledger.fold` must agree with it on every scope, dimension,
latency sketch, trace, decision and counter, with sampling and with the scope cap.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from agentwatch.collector.config import AlertSettings
from agentwatch.collector.ledger import (
    DIM_DECISION,
    DIM_ERROR_TYPE,
    DIM_MODEL,
    DIM_TOOL,
    NO_DECISION,
    NONE,
    Ledger,
    ScopeSeries,
    Stats,
    agent_scope,
    error_type,
    model_scope,
)
from agentwatch.protocol import (
    LATENCY_SPAN_TYPES,
    MAX_EVENT_COST_USD,
    SPAN_DECISION,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    Event,
)
from agentwatch.simulator import Fleet
from tests.helpers import NOW


class PerEventLedger(Ledger):
    """Reference: each event added to each of its scopes on its own, in arrival order."""

    def fold(self, now: float | None = None) -> int:
        now = self.clock() if now is None else now
        if not self._pending:
            return 0
        events = list(self._pending)
        self._pending.clear()
        arrived = self.received - self._received_folded
        self._received_folded = self.received
        weight = 1.0
        if arrived > len(events):
            self.sampled_out += arrived - len(events)
            weight = arrived / len(events)
        self.analysed += len(events)
        self.recent.extend(events)
        self.fleet.last_seen = now
        for event in events:
            self._fold_one(event, now, weight)
        return len(events)

    def _fold_one(self, event: Event, now: float, w: float) -> None:
        agent_id, span = event.agent_id, event.span_type
        is_error = bool(event.error) or span == SPAN_ERROR
        cost = event.cost_usd
        if cost is not None and not 0.0 <= cost <= MAX_EVENT_COST_USD:
            cost = None
        agent = self._series(agent_scope(agent_id), now)
        model = event.model
        model_series = self._series(model_scope(model), now) if model else None
        trace = self._trace(event, agent_id, now) if event.trace_id else None
        path = trace.path if trace is not None else None
        inference = span == SPAN_LLM_CALL and cost is not None
        ok_call = span == SPAN_LLM_CALL and not is_error
        latency = event.latency_ms
        timed = latency is not None and not is_error and span in LATENCY_SPAN_TYPES and 0.0 <= latency < 1e12
        targets = [self.fleet] + ([agent] if agent is not None else [])
        for series in targets + ([model_series] if model_series is not None else []):
            series.last_seen = now
            series.events_total += w
            s = series.open
            s.events += w
            if is_error:
                s.errors += w
            if inference:
                s.inferences += w
                s.cost += cost * w
                s.cost_sq += cost * cost * w
            if ok_call:
                s.calls_ok += w
                s.tokens_out += (event.tokens_output or 0) * w
            if timed:
                s.latency.add(latency)
        values = [(DIM_DECISION, path or NONE)]
        if model:
            values.append((DIM_MODEL, model))
        if event.tool_name:
            values.append((DIM_TOOL, event.tool_name))
        if is_error:
            values.append((DIM_ERROR_TYPE, error_type(event.error)))
        for series in targets:
            for dimension, value in values:
                row = self._dim(series.open, dimension, value)
                row[0] += w
                row[1] += w if is_error else 0.0
            if inference and model:
                row = self._dim(series.open, DIM_MODEL, model)
                row[2] += cost * w
                row[3] += w
        if inference:
            if trace is None:
                self._credit(NO_DECISION, agent_id, cost * w, w, now)
            elif trace.path is not None:
                self._credit(trace.path, agent_id, cost * w, w, now)
            else:
                trace.cost += cost * w
                trace.inferences += w
        if span == SPAN_DECISION and event.decision_made:
            self._decision(agent_id, event.decision_made, event.confidence, w, now)
            if trace is not None:
                first = trace.path is None
                trace.path = event.decision_made if first else f"{trace.path} → {event.decision_made}"[:256]
                if first and trace.inferences:
                    self._credit(trace.path, agent_id, trace.cost, trace.inferences, now)
                    trace.cost = trace.inferences = 0.0


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def assert_stats_equal(a: Stats, b: Stats, where: str) -> None:
    for name in ("events", "errors", "inferences", "cost", "cost_sq", "calls_ok", "tokens_out"):
        assert close(getattr(a, name), getattr(b, name)), (
            f"{where}.{name}: {getattr(a, name)} != {getattr(b, name)}"
        )
    assert a.latency.counts == b.latency.counts, f"{where}: latency buckets differ"
    assert (a.latency.count, a.latency.zero_count) == (b.latency.count, b.latency.zero_count), where
    assert close(a.latency.sum, b.latency.sum), where
    assert a.dims.keys() == b.dims.keys(), f"{where}: dimension values differ"
    for key, row in a.dims.items():
        assert all(close(x, y) for x, y in zip(row, b.dims[key], strict=True)), (
            f"{where} {key}: {row} != {b.dims[key]}"
        )


def assert_series_equal(a: ScopeSeries, b: ScopeSeries) -> None:
    assert close(a.events_total, b.events_total) and a.last_seen == b.last_seen, a.scope
    assert_stats_equal(a.open, b.open, a.scope + " open")
    assert_stats_equal(a.total, b.total, a.scope + " total")
    assert len(a.closed) == len(b.closed), a.scope
    for x, y in zip(a.closed, b.closed, strict=True):
        assert_stats_equal(x, y, a.scope + " closed")


def assert_ledgers_equal(grouped: Ledger, reference: Ledger) -> None:
    assert list(grouped.scopes) == list(reference.scopes)  # same scopes, created in the same order
    assert_series_equal(grouped.fleet, reference.fleet)
    for scope, series in grouped.scopes.items():
        assert_series_equal(series, reference.scopes[scope])
    for name in ("received", "analysed", "sampled_out", "scopes_dropped", "traces_evicted"):
        assert getattr(grouped, name) == getattr(reference, name), name
    assert grouped.novelties == reference.novelties
    assert grouped.decisions.keys() == reference.decisions.keys()
    for agent, table in grouped.decisions.items():
        ref = reference.decisions[agent]
        assert list(table) == list(ref)
        for decision, stat in table.items():
            other = ref[decision]
            assert (stat.first_seen, stat.novel) == (other.first_seen, other.novel)
            assert close(stat.count, other.count) and close(stat.confidence_sum, other.confidence_sum)
    assert list(grouped._traces) == list(reference._traces)
    for trace_id, trace in grouped._traces.items():
        ref_trace = reference._traces[trace_id]
        assert (trace.agent, trace.path, trace.last) == (ref_trace.agent, ref_trace.path, ref_trace.last)
        assert close(trace.cost, ref_trace.cost) and close(trace.inferences, ref_trace.inferences)


def feed(ledgers: list[Ledger], batches: list[list[Event]], times: list[float], close_every: int = 3) -> None:
    for step, (batch, now) in enumerate(zip(batches, times, strict=True)):
        for ledger in ledgers:
            ledger.add_many(batch)
            ledger.fold(now)
            if step % close_every == close_every - 1:
                ledger.close_interval(now)


@pytest.mark.parametrize(
    "scenario", ["steady", "error-spike", "new-decision", "latency-degradation", "cost-drift"]
)
def test_grouped_fold_matches_the_per_event_fold_on_simulated_fleets(scenario: str) -> None:
    fleet = Fleet(12, seed=5, scenario=scenario, start=NOW, rate=40)
    times = [NOW + 10.0 * (i + 1) for i in range(40)]
    batches = [fleet.events_until(t) for t in times]
    grouped, reference = Ledger(clock=lambda: NOW), PerEventLedger(clock=lambda: NOW)
    feed([grouped, reference], batches, times)
    assert grouped.analysed > 1000
    assert_ledgers_equal(grouped, reference)


def odd_events(rng: random.Random, count: int) -> list[Event]:
    """Events with every field the fold reads varied, including edge values."""
    spans = [SPAN_LLM_CALL, "completion", "tool_call", SPAN_DECISION, SPAN_ERROR, "log", "heartbeat", None]
    events = []
    for _ in range(count):
        span = rng.choice(spans)
        events.append(
            Event(
                agent_id=f"a{rng.randrange(30)}",
                timestamp=NOW,
                span_type=span,
                model=rng.choice([None, "", "m1", "m2", "m3"]),
                trace_id=rng.choice([None, "", *(f"t{i}" for i in range(40))]),
                tokens_output=rng.choice([None, 0, rng.randrange(1000)]),
                latency_ms=rng.choice([None, 0.0, 1e-4, rng.uniform(0, 5000), 2e12, math.nan]),
                cost_usd=rng.choice([None, 0.0, rng.uniform(0, 0.1), -1.0, 2e6, math.nan]),
                error=rng.choice([None, None, "", "Timeout: slow", "RateLimit", ":"]),
                tool_name=rng.choice([None, "", "search", "code"]),
                decision_made=rng.choice([None, "", "retry", "escalate", f"d{rng.randrange(5)}"]),
                confidence=rng.choice([None, 0.5, 1.5]),
            )
        )
    return events


def test_grouped_fold_matches_on_odd_values_sampling_and_the_scope_cap() -> None:
    rng = random.Random(7)
    settings = AlertSettings(max_scopes=20, fold_limit=400)
    times = [NOW + i for i in range(1, 31)]
    batches = [odd_events(rng, rng.choice([1, 50, 700])) for _ in times]
    grouped = Ledger(settings, clock=lambda: NOW)
    reference = PerEventLedger(settings, clock=lambda: NOW)
    feed([grouped, reference], batches, times)
    assert grouped.sampled_out > 0 and grouped.scopes_dropped > 0
    assert_ledgers_equal(grouped, reference)


def test_trace_eviction_credits_undecided_cost_the_same(monkeypatch: Any) -> None:
    import agentwatch.collector.ledger as ledger

    monkeypatch.setattr(ledger, "MAX_TRACES", 25)
    rng = random.Random(11)
    times = [NOW + i for i in range(1, 21)]
    batches = [odd_events(rng, 300) for _ in times]
    grouped, reference = Ledger(clock=lambda: NOW), PerEventLedger(clock=lambda: NOW)
    feed([grouped, reference], batches, times)
    assert grouped.traces_evicted > 0
    assert_ledgers_equal(grouped, reference)


def test_a_fold_in_steps_gives_the_same_numbers_as_one_fold() -> None:
    rng = random.Random(13)
    settings = AlertSettings(max_scopes=20, fold_limit=400)
    whole, stepped = Ledger(settings, clock=lambda: NOW), Ledger(settings, clock=lambda: NOW)
    for step, now in enumerate(NOW + i for i in range(1, 31)):
        batch = odd_events(rng, rng.choice([1, 50, 700]))
        whole.add_many(batch)
        whole.fold(now)
        stepped.add_many(batch[: len(batch) // 2])
        stepped.add_many(batch[len(batch) // 2 :])
        folds = 0
        while stepped.fold(now, limit=37):
            folds += 1
        assert folds <= 400 // 37 + 1
        if step % 3 == 2:
            whole.close_interval(now)
            stepped.close_interval(now)
    assert whole.sampled_out > 0
    assert_ledgers_equal(stepped, whole)
