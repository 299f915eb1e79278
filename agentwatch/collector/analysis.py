"""The analysis views served at ``/api/analysis``: costs, decisions, latency, failures.

Each view reads a :class:`~agentwatch.collector.ledger.Ledger` (its windows, totals,
decision tables and recent events) and returns an :class:`~agentwatch.protocol.Analysis`
of at most :data:`MAX_ROWS` rows per section, biggest first; nothing here changes the
ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from agentwatch.collector.ledger import (
    DIM_DECISION,
    DIM_ERROR_TYPE,
    DIM_MODEL,
    DIM_PATH,
    DIM_TOOL,
    MAX_DIM_VALUES,
    NONE,
    OTHER,
    Ledger,
    ScopeSeries,
    Stats,
    agent_scope,
)
from agentwatch.collector.sketch import LatencySketch
from agentwatch.protocol import (
    SCOPE_AGENT_PREFIX,
    SCOPE_MODEL_PREFIX,
    SPAN_ERROR,
    Analysis,
    AnalysisRow,
    AnalysisSection,
    CostPoint,
)

MAX_ROWS: Final = 50
IN_PROGRESS: Final = "(in progress)"


def _r(value: float, digits: int = 6) -> float:
    return round(value, digits)


def _ratio(num: float, den: float, digits: int = 6) -> float | None:
    return round(num / den, digits) if den > 0 else None


def _window_and_total(ledger: Ledger, series: ScopeSeries, now: float) -> tuple[Stats, Stats]:
    window = series.window(now, ledger.window_seconds, dims=True)
    window.merge(series.open, latency=False)
    return window, series.since_start()


def _dim_rows(window: Stats, dimension: str) -> dict[str, list[float]]:
    return {value: row for (dim, value), row in window.dims.items() if dim == dimension}


def _top(rows: list[AnalysisRow], name: str, sort_key: Callable[[AnalysisRow], Any]) -> AnalysisSection:
    rows.sort(key=sort_key)
    return AnalysisSection(name, rows[:MAX_ROWS], max(0, len(rows) - MAX_ROWS))


def costs_view(ledger: Ledger, now: float, agent: str | None = None) -> Analysis:
    """Cost by model, by agent and by decision path, in the window and since start."""
    series = ledger.fleet if agent is None else ledger.scopes.get(agent_scope(agent))
    analysis = Analysis("costs", now, ledger.window_seconds, agent=agent, sampled=ledger.sampled_out > 0)
    if series is None:
        return analysis
    window, total = _window_and_total(ledger, series, now)
    sections: list[AnalysisSection] = []
    for dimension in (DIM_MODEL, DIM_PATH):
        w_rows, t_rows = _dim_rows(window, dimension), _dim_rows(total, dimension)
        all_cost = sum(row[2] for row in t_rows.values())
        rows = []
        for key, trow in t_rows.items():
            wrow = w_rows.get(key, [0.0, 0.0, 0.0, 0.0])
            rows.append(
                AnalysisRow(
                    key,
                    inferences=_r(trow[3], 1),
                    cost_window_usd=_r(wrow[2]),
                    cost_total_usd=_r(trow[2]),
                    cost_per_inference_usd=_ratio(wrow[2], wrow[3], 8),
                    share=_ratio(trow[2], all_cost, 4),
                )
            )
        if dimension == DIM_PATH:
            cost, inferences = ledger.in_progress_cost(agent)
            if inferences:
                rows.append(AnalysisRow(IN_PROGRESS, inferences=_r(inferences, 1), cost_total_usd=_r(cost)))
        sections.append(_top(rows, dimension, lambda r: -(r.cost_total_usd or 0.0)))
    agents = (
        [series]
        if agent is not None
        else [s for s in ledger.scopes.values() if s.scope.startswith(SCOPE_AGENT_PREFIX)]
    )
    fleet_total = ledger.fleet.since_start().cost
    rows = []
    for agent_series in agents:
        w, t = _window_and_total(ledger, agent_series, now)
        rows.append(
            AnalysisRow(
                agent_series.scope[len(SCOPE_AGENT_PREFIX) :],
                inferences=_r(t.inferences, 1),
                cost_window_usd=_r(w.cost),
                cost_total_usd=_r(t.cost),
                cost_per_inference_usd=_ratio(w.cost, w.inferences, 8),
                share=_ratio(t.cost, fleet_total, 4),
            )
        )
    sections.insert(1, _top(rows, "agent", lambda r: -(r.cost_total_usd or 0.0)))
    analysis.sections = sections
    if agent is None:
        analysis.cost_per_inference = list(ledger.cost_points)
    else:
        analysis.cost_per_inference = [
            CostPoint(s.end, round(s.cost / s.inferences, 8)) for s in series.closed if s.inferences
        ]
    return analysis


def decisions_view(ledger: Ledger, now: float, agent: str | None = None, *, hold: float = 300.0) -> Analysis:
    """Per agent: each decision's count, share, mean confidence, first seen; ``new`` marks
    decisions that were novel for that agent and first seen less than ``hold`` seconds ago."""
    analysis = Analysis("decisions", now, ledger.window_seconds, agent=agent, sampled=ledger.sampled_out > 0)
    agents = [agent] if agent is not None else sorted(ledger.decisions)
    for agent_id in agents[:MAX_ROWS]:
        table = ledger.decisions.get(agent_id)
        if not table:
            continue
        made = ledger.decisions_made.get(agent_id, 0.0)
        rows = [
            AnalysisRow(
                decision,
                count=_r(stat.count, 1),
                share=_ratio(stat.count, made, 4),
                mean_confidence=_ratio(stat.confidence_sum, stat.confidence_n, 3),
                first_seen=stat.first_seen,
                new=stat.novel and now - stat.first_seen < hold,
            )
            for decision, stat in table.items()
        ]
        analysis.sections.append(_top(rows, agent_scope(agent_id), lambda r: (not r.new, -(r.count or 0.0))))
    return analysis


#: scope → (baseline mean p99, upper bound, regression firing) or None when no baseline yet.
BaselineLookup = Callable[[str], "tuple[float, float, bool] | None"]


def latency_view(
    ledger: Ledger, now: float, baseline: BaselineLookup, agent: str | None = None, *, seconds: float = 60.0
) -> Analysis:
    """p50 / p95 / p99 per model over the last ``seconds`` against each model's baseline."""
    analysis = Analysis("latency", now, seconds, agent=agent, sampled=ledger.sampled_out > 0)
    if agent is not None:
        chosen = [s for s in (ledger.scopes.get(agent_scope(agent)),) if s is not None]
    else:
        chosen = [ledger.fleet] + [
            s for s in ledger.scopes.values() if s.scope.startswith(SCOPE_MODEL_PREFIX)
        ]
    rows = []
    for series in chosen:
        stats = series.window(now, seconds, latency=True)
        merged = stats.latency
        assert isinstance(merged, LatencySketch)  # a merged window's sketch is never packed
        merged.merge(series.open.latency)
        p50, p95, p99 = stats.latency.quantiles((0.5, 0.95, 0.99))
        row = AnalysisRow(
            series.scope,
            events=_r(stats.latency.count, 1),
            p50_latency_ms=None if p50 is None else _r(p50, 1),
            p95_latency_ms=None if p95 is None else _r(p95, 1),
            p99_latency_ms=None if p99 is None else _r(p99, 1),
        )
        known = baseline(series.scope)
        if known is not None:
            row.baseline_p99_ms, row.upper_bound_ms, row.regression = (
                _r(known[0], 1),
                _r(known[1], 1),
                known[2],
            )
        rows.append(row)
    analysis.sections.append(_top(rows, "model", lambda r: (not r.regression, -(r.p99_latency_ms or 0.0))))
    return analysis


def failures_view(
    ledger: Ledger, now: float, agent: str | None = None, attribute: str | None = None
) -> Analysis:
    """Errors and error rate in the window grouped by error type, model, tool, decision and,
    when asked, one attribute key; biggest contributors first."""
    series = ledger.fleet if agent is None else ledger.scopes.get(agent_scope(agent))
    analysis = Analysis(
        "failures",
        now,
        ledger.window_seconds,
        agent=agent,
        attribute=attribute,
        sampled=ledger.sampled_out > 0,
    )
    if series is None:
        return analysis
    window = series.window(now, ledger.window_seconds, dims=True)
    window.merge(series.open, latency=False)
    total_errors = window.errors
    for dimension in (DIM_ERROR_TYPE, DIM_MODEL, DIM_TOOL, DIM_DECISION):
        rows = [
            AnalysisRow(
                key,
                events=_r(row[0], 1),
                errors=_r(row[1], 1),
                error_rate=None if dimension == DIM_ERROR_TYPE else _ratio(row[1], row[0], 4),
                share=_ratio(row[1], total_errors, 4),
            )
            for key, row in _dim_rows(window, dimension).items()
        ]
        analysis.sections.append(_top(rows, dimension, lambda r: (-(r.errors or 0.0), -(r.events or 0.0))))
    if attribute is not None:
        analysis.sections.append(attribute_section(ledger, now, attribute, agent))
    return analysis


def attribute_section(ledger: Ledger, now: float, attribute: str, agent: str | None) -> AnalysisSection:
    """Events and errors of the ledger's recent events in the window (at most
    :data:`~agentwatch.collector.ledger.RECENT_EVENTS`) grouped by the value of one attribute
    key; events without it count under ``(none)``."""
    since = now - ledger.window_seconds
    groups: dict[str, list[float]] = {}
    for event in ledger.recent:
        ts = event.timestamp
        if ts.__class__ is float and ts < since:
            continue
        if agent is not None and event.agent_id != agent:
            continue
        attrs = event.attributes
        value = attrs.get(attribute) if attrs else None
        key = NONE if value is None else str(value)[:128]
        row = groups.get(key)
        if row is None:
            if len(groups) >= MAX_DIM_VALUES:
                key = OTHER
                row = groups.get(key)
            if row is None:
                row = groups[key] = [0.0, 0.0]
        row[0] += 1
        if event.error or event.span_type == SPAN_ERROR:
            row[1] += 1
    total_errors = sum(row[1] for row in groups.values())
    rows = [
        AnalysisRow(
            key,
            events=row[0],
            errors=row[1],
            error_rate=_ratio(row[1], row[0], 4),
            share=_ratio(row[1], total_errors, 4),
        )
        for key, row in groups.items()
    ]
    return _top(rows, f"attribute {attribute}", lambda r: (-(r.errors or 0.0), -(r.events or 0.0)))
