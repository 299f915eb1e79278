"""Per-scope interval statistics: what the alert rules test and the analysis views read.

:class:`Ledger` is an aggregator: ``add_many`` (the ingest hot path) only appends the batch
to a bounded deque. :meth:`Ledger.fold` (called from the collector's tick) groups what
arrived into the open *interval* of each scope: the fleet, each agent (``agent:<id>``) and
each model (``model:<name>``). :meth:`Ledger.close_interval` (called by the alert engine
every ``interval`` seconds) closes them. A window over the last N seconds merges the closed
intervals it covers, so reading costs O(intervals), never O(events).

Bounds: at most ``fold_limit`` events are analysed per fold; beyond that the newest are
kept, the rest are counted in ``sampled_out`` and every analysed event weighs
``received / analysed`` so counts and costs stay unbiased estimates (``Analysis.sampled``).
At most ``max_scopes`` agents + models are tracked (``scopes_dropped`` counts the events
of the others, which still count for the fleet); a scope silent for ``forget_after``
seconds is forgotten. Closed intervals are kept for the longest alert window; their
breakdown by dimension only for ``window_seconds`` (see :meth:`Ledger.close_interval`).
Open traces (for cost by decision path) are capped at
:data:`MAX_TRACES` and expire after :data:`TRACE_TTL` seconds; their undecided cost then
goes to :data:`NO_DECISION`. Each agent keeps at most :data:`MAX_DECISIONS` distinct
decisions (the rest count as :data:`OTHER`).

Definitions: an *error* is an event with ``error`` set or span type ``error``; an
*inference* is an ``llm_call`` with a cost (given or estimated); latency percentiles use
successful events of :data:`~agentwatch.protocol.LATENCY_SPAN_TYPES`; *token efficiency*
is output tokens per successful ``llm_call``.

The counters, traces and decisions are the types of :mod:`~agentwatch.collector.ledgerstats`. Both
passes of the fold have a compiled twin (``_ledgerscan.c``, built where a C compiler is found) that
gives the same results bit for bit; ``Ledger(compiled=False)`` keeps a ledger on the Python loops.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat, starmap
from typing import Any, Final

from agentwatch.collector.compiled import load_wanted
from agentwatch.collector.config import AlertSettings
from agentwatch.collector.ledgerstats import (
    DIM_DECISION,
    DIM_ERROR_TYPE,
    DIM_MODEL,
    DIM_PATH,
    DIM_TOOL,
    MAX_PATH,
    NO_DECISION,
    NONE,
    OTHER,
    PATH_JOIN,
    DecisionStat,
    ScopeSeries,
    Stats,
    Trace,
    agent_scope,
    error_type,
    model_scope,
)
from agentwatch.collector.sketch import INV_LOG_GAMMA, MIN_VALUE, LatencySketch, PackedSketch
from agentwatch.protocol import (
    LATENCY_SPAN_TYPES,
    MAX_EVENT_COST_USD,
    MAX_LATENCY_MS,
    SCOPE_AGENT_PREFIX,
    SCOPE_FLEET,
    SCOPE_MODEL_PREFIX,
    SPAN_COMPLETION,
    SPAN_DECISION,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    CostPoint,
    Event,
)

__all__ = [
    "DIM_DECISION",
    "DIM_ERROR_TYPE",
    "DIM_MODEL",
    "DIM_PATH",
    "DIM_TOOL",
    "MAX_PATH",
    "NONE",
    "NO_DECISION",
    "OTHER",
    "PATH_JOIN",
    "DecisionStat",
    "Ledger",
    "ScopeSeries",
    "Stats",
    "Trace",
    "agent_scope",
    "error_type",
    "model_scope",
]

MAX_TRACES: Final = 20_000
TRACE_TTL: Final = 300.0
MAX_DECISIONS: Final = 256
MAX_DIM_VALUES: Final = 1_000
RECENT_EVENTS: Final = 20_000
#: Under overload, the events of the time expected to bring this many times ``fold_limit`` are
#: queued before a fold (see :meth:`Ledger.plan`).
QUEUE_MARGIN: Final = 2
COST_POINTS: Final = 360
_log = math.log
#: Whether an ``llm_call``'s latency counts (it is one of the latency span types).
_LLM_TIMED: Final = SPAN_LLM_CALL in LATENCY_SPAN_TYPES
_ceil = math.ceil


def _add_credit(
    credits: dict[tuple[str, str], list[float]], agent_id: str, path: str, cost: float, n: float
) -> None:
    """Sum a decision path's (cost, inferences) for one agent, to be credited once per fold."""
    row = credits.get((agent_id, path))
    if row is None:
        credits[(agent_id, path)] = [cost, n]
    else:
        row[0] += cost
        row[1] += n


class Ledger:
    """The aggregator; see the module docstring. ``clock`` gives unix seconds."""

    def __init__(
        self,
        settings: AlertSettings | None = None,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        compiled: bool = True,
    ) -> None:
        self.settings = settings = settings or AlertSettings()
        #: Whether the fold runs its compiled passes (``_ledgerscan``), where they were built.
        self.compiled = compiled and _compiled_apply is not None
        self.window_seconds = float(window_seconds)
        self.clock = clock
        longest = max(
            settings.error_rate_window,
            settings.cost_window,
            settings.latency_window,
            settings.token_efficiency_window,
            self.window_seconds,
        )
        self.keep = math.ceil(longest / settings.interval) + 1
        self._pending: deque[Event] = deque(maxlen=max(1, settings.fold_limit))
        self.received = 0
        self._received_folded = 0
        #: Events arriving before this (unix s) are counted, not queued (see :meth:`plan`); -inf: all queued.
        self.queue_from = -math.inf
        self._queue_span = 0.0  # how far ahead of now queue_from may lie (a clock set back is not trusted)
        self._received_planned = 0
        #: Intervals whose queue :meth:`plan` limited (the collector was over twice the fold limit).
        self.limited_intervals = 0
        #: The fold under way in steps (:meth:`fold` with a ``limit``): [events of it still queued, weight].
        self._round: list[float] | None = None
        self.analysed = 0
        self.sampled_out = 0
        self.scopes_dropped = 0
        self.traces_evicted = 0
        now = clock()
        self.fleet = ScopeSeries(SCOPE_FLEET, self.keep, now)
        self.scopes: dict[str, ScopeSeries] = {}
        self.decisions: dict[str, dict[str, DecisionStat]] = {}
        self.decisions_made: dict[str, float] = {}
        #: (agent, decision, time) of decisions never seen before for their agent; drained by alerts.
        self.novelties: list[tuple[str, str, float]] = []
        self._traces: OrderedDict[str, Trace] = OrderedDict()
        #: The series of agents and models by id and name, for the fold; cleared when scopes are forgotten.
        self._agent_series: dict[str, ScopeSeries] = {}
        self._model_series: dict[str, ScopeSeries] = {}
        self.recent: deque[Event] = deque(maxlen=RECENT_EVENTS)
        self.cost_points: deque[CostPoint] = deque(maxlen=COST_POINTS)

    # ------------------------------------------------------------------ hot path
    def add_many(self, events: Sequence[Event]) -> None:
        """Queue a batch for the next fold: O(1) per event, no grouping here. Before
        :attr:`queue_from` a batch is only counted: newer ones would push it out of the queue
        before the fold (and it is freed now rather than then)."""
        self.received += len(events)
        if self.queue_from != -math.inf:
            now = self.clock()
            if now < self.queue_from <= now + self._queue_span:
                return
        self._pending.extend(events)

    def plan(self, next_fold: float, interval: float) -> None:
        """Called after a fold with when the next one comes (unix s) and the time between folds.

        The queue keeps the newest ``fold_limit`` events; when the last interval brought more than
        :data:`QUEUE_MARGIN` times that, only the events of the part of the next interval expected
        to bring that many are queued (the newest, as before), the others counted in the sampling
        weight as before. Below that every event is queued."""
        arrived = self.received - self._received_planned
        self._received_planned = self.received
        wanted = QUEUE_MARGIN * (self._pending.maxlen or 1)
        if arrived > wanted and interval > 0:
            self.queue_from = next_fold - interval * wanted / arrived
            self._queue_span = interval
            self.limited_intervals += 1
        else:
            self.queue_from = -math.inf

    # --------------------------------------------------------------------- fold
    @property
    def round_left(self) -> int:
        """Events a :meth:`fold` without a limit would analyse now: the rest of the round under
        way, or (none under way) everything queued, as a new round."""
        if self._round is None:
            return len(self._pending)
        return min(int(self._round[0]), len(self._pending))

    def _series(self, scope: str, now: float) -> ScopeSeries | None:
        series = self.scopes.get(scope)
        if series is None:
            if len(self.scopes) >= self.settings.max_scopes:
                self.scopes_dropped += 1
                return None
            series = self.scopes[scope] = ScopeSeries(scope, self.keep, now)
        return series

    def fold(self, now: float | None = None, limit: int | None = None) -> int:
        """Group the queued events into the open intervals. Returns how many were analysed.

        With ``limit``, at most that many: the collector folds a large queue in steps and lets
        other work run between them. The events queued when a fold began are one round: they
        share its sampling weight, whatever the steps.

        Two passes. The first walks the events in order and does only what depends on
        order: scope lookup (new scopes are created in the order their first event comes,
        as the cap requires), traces and their decision paths, decisions. It sums everything
        else per *group* — events alike in agent, model, span type, error, tool and decision
        path. The second adds each group to its scopes' open intervals once, so events that
        are alike (most of a fold) cost a few dict operations each rather than a dozen.
        """
        now = self.clock() if now is None else now
        pending = self._pending
        if not pending:
            return 0
        if self._round is None:  # a new round: what arrived since the last one, as queued now
            arrived = self.received - self._received_folded
            self._received_folded = self.received
            queued = len(pending)
            weight = 1.0
            if arrived > queued:
                self.sampled_out += arrived - queued
                weight = arrived / queued
            self._round = [float(queued), weight]
        left, weight = self._round
        take = min(int(left), len(pending)) if limit is None else min(int(left), len(pending), limit)
        take = max(take, 1)
        if take >= len(pending):
            events = list(pending)
            pending.clear()
        else:
            events = list(starmap(pending.popleft, repeat((), take)))  # popleft × take, in C
        left -= len(events)
        self._round = [left, weight] if left > 0 and pending else None
        self.analysed += len(events)
        self.recent.extend(events)
        self.fleet.last_seen = now
        groups = self._group(events, now, weight)
        self._apply(groups, now, weight)
        return len(events)

    def _group(self, events: list[Event], now: float, w: float) -> dict[tuple[Any, ...], list[Any]]:
        """First pass of :meth:`fold`: order-dependent work per event, sums per group.

        A group is ``[events, inferences, cost, cost², ok calls, output tokens, latencies
        (or None), agent series, model series, is error]`` (unweighted); path credits go
        straight to the scopes at the end, summed per (agent, path). Only what an event's span
        type needs is done: a log line or a heartbeat costs its scope lookups, its trace and
        its group. The loop has a compiled twin (``_ledgerscan.group``).
        """
        groups: dict[tuple[Any, ...], list[Any]] = {}
        credits: dict[tuple[str, str], list[Any]] = {}
        compiled = self.compiled and _compiled_group is not None
        if not compiled or self._group_compiled(events, now, w, groups, credits) is None:
            self._group_events(events, now, w, groups, credits)
        if credits:
            self._credit_paths(credits)
        return groups

    def _group_compiled(
        self,
        events: list[Event],
        now: float,
        w: float,
        groups: dict[tuple[Any, ...], list[Any]],
        credits: dict[tuple[str, str], list[Any]],
    ) -> bool | None:
        """:meth:`_group`'s loop compiled: True, or None (nothing changed) for the Python loop to run."""
        assert _compiled_group is not None
        return _compiled_group(
            events,
            groups,
            credits,
            self._agent_series,
            self._model_series,
            self._traces,
            now,
            w,
            self._agent_of,
            self._model_of,
            self._new_trace,
            self._decide,
            self.decisions,
            self.decisions_made,
        )

    def _agent_of(self, agent_id: str, now: float) -> ScopeSeries | None:
        """An agent's series not in the fold's cache: found or created (and cached), or None over the cap."""
        series = self._series(SCOPE_AGENT_PREFIX + agent_id, now)
        if series is not None:
            self._agent_series[agent_id] = series
        return series

    def _model_of(self, model: str, now: float) -> ScopeSeries | None:
        """A model's series not in the fold's cache, as :meth:`_agent_of`."""
        series = self._series(SCOPE_MODEL_PREFIX + model, now)
        if series is not None:
            self._model_series[model] = series
        return series

    def _new_trace(
        self, trace_id: str, agent_id: str, now: float, credits: dict[tuple[str, str], list[Any]]
    ) -> Trace:
        """A trace seen first now; past :data:`MAX_TRACES` the oldest goes, its undecided cost to ``credits``."""
        traces = self._traces
        trace = traces[trace_id] = Trace(agent_id, now)
        if len(traces) > MAX_TRACES:
            _, old = traces.popitem(last=False)
            self.traces_evicted += 1
            if old.inferences:
                _add_credit(credits, old.agent, NO_DECISION, old.cost, old.inferences)
        return trace

    def _group_events(
        self,
        events: list[Event],
        now: float,
        w: float,
        groups: dict[tuple[Any, ...], list[Any]],
        credits: dict[tuple[str, str], list[Any]],
    ) -> None:
        """:meth:`_group`'s loop in Python."""
        agents, models, traces = self._agent_series, self._model_series, self._traces
        get_group, get_agent, get_model, get_trace = groups.get, agents.get, models.get, traces.get
        get_credit, move_to_end = credits.get, traces.move_to_end
        agent_of, model_of, new_trace = self._agent_of, self._model_of, self._new_trace
        decision_of = self._decide
        max_cost, max_latency = MAX_EVENT_COST_USD, MAX_LATENCY_MS
        llm, error_span, decision_span = SPAN_LLM_CALL, SPAN_ERROR, SPAN_DECISION
        latency_types, llm_timed = LATENCY_SPAN_TYPES, _LLM_TIMED
        no_decision = NO_DECISION
        for event in events:
            agent_id = event.agent_id
            agent = get_agent(agent_id)
            if agent is None:  # new to the cache, or over the scope cap (counted by _series)
                agent = agent_of(agent_id, now)
            model = event.model
            if model:
                model_series = get_model(model)
                if model_series is None:
                    model_series = model_of(model, now)
            else:
                model = model_series = None
            span = event.span_type
            error = event.error
            is_error = bool(error) or span == error_span
            trace_id = event.trace_id
            if trace_id:
                trace = get_trace(trace_id)
                if trace is None:
                    trace = new_trace(trace_id, agent_id, now, credits)
                else:
                    trace.last = now
                    move_to_end(trace_id)
                path = trace.path
            else:
                trace = path = None
            key = (agent_id, model, span, error if is_error else None, event.tool_name, path)
            group = get_group(key)
            if group is None:
                group = groups[key] = [1, 0, 0.0, 0.0, 0, 0, None, agent, model_series, is_error]
            else:
                group[0] += 1
            if span == llm:
                cost = event.cost_usd
                if cost is not None and 0.0 <= cost <= max_cost:
                    group[1] += 1
                    group[2] += cost
                    group[3] += cost * cost
                    if trace is None or path is not None:
                        credit_key = (agent_id, path or no_decision)  # a path is never empty
                        row = get_credit(credit_key)
                        if row is None:
                            credits[credit_key] = [cost * w, w]
                        else:
                            row[0] += cost * w
                            row[1] += w
                    else:
                        trace.cost += cost * w
                        trace.inferences += w
                if not is_error:
                    group[4] += 1
                    group[5] += event.tokens_output or 0
                    if llm_timed:
                        latency = event.latency_ms
                        if latency is not None and 0.0 <= latency <= max_latency:
                            if group[6] is None:
                                group[6] = [latency]
                            else:
                                group[6].append(latency)
            elif span == decision_span:
                decision = event.decision_made
                if decision:
                    if agent is not None:
                        decision_of(agent_id, decision, event.confidence, w, now)
                    if trace is not None:
                        if path is None:
                            trace.path = decision
                            if trace.inferences:
                                _add_credit(credits, agent_id, decision, trace.cost, trace.inferences)
                                trace.cost = trace.inferences = 0.0
                        else:
                            trace.path = f"{path}{PATH_JOIN}{decision}"[:MAX_PATH]
            elif span in latency_types and not is_error:
                latency = event.latency_ms
                if latency is not None and 0.0 <= latency <= max_latency:
                    if group[6] is None:
                        group[6] = [latency]
                    else:
                        group[6].append(latency)

    def _apply(self, groups: dict[tuple[Any, ...], list[Any]], now: float, w: float) -> None:
        """Second pass of :meth:`fold`: add each group's sums to its scopes, weighted by ``w``.

        The fleet is in every group's scopes: its sums are added up over the groups and then
        to its interval once. Each sum gets its terms in the order of the groups, whatever
        the arrangement of this pass."""
        if not groups:
            return
        fleet = self.fleet
        if self.compiled and _compiled_apply(groups, fleet, now, w) is not None:  # type: ignore[misc]
            return
        fs = fleet.open
        f_dims_get = fs.dims.get
        f_sketch = fs.latency
        assert isinstance(f_sketch, LatencySketch)  # an open interval's sketch is never packed
        f_counts = f_sketch.counts
        f_counts_get = f_counts.get
        f_count = f_zero = 0
        f_sum = f_sketch.sum
        dim = self._dim
        log, ceil, inv, lowest = _log, _ceil, INV_LOG_GAMMA, MIN_VALUE
        dim_decision, dim_model, dim_tool, dim_error = DIM_DECISION, DIM_MODEL, DIM_TOOL, DIM_ERROR_TYPE
        none = NONE
        f_events = f_errors = f_inferences = f_cost = f_cost_sq = f_calls = f_tokens = 0.0
        inferences_w = cost_w = cost_sq_w = calls_w = tokens_w = 0.0
        for (_, model, _, error, tool, path), group in groups.items():
            n, inferences, cost, cost_sq, calls_ok, tokens_out, latencies, agent, model_series, is_error = (
                group
            )
            weighted = n * w
            f_events += weighted
            if is_error:
                f_errors += weighted
            if inferences:
                inferences_w = inferences * w
                cost_w = cost * w
                cost_sq_w = cost_sq * w
                f_inferences += inferences_w
                f_cost += cost_w
                f_cost_sq += cost_sq_w
            if calls_ok:
                calls_w = calls_ok * w
                tokens_w = tokens_out * w
                f_calls += calls_w
                f_tokens += tokens_w
            for series in (agent, model_series):
                if series is None:
                    continue
                series.last_seen = now
                series.events_total += weighted
                s = series.open
                s.events += weighted
                if is_error:
                    s.errors += weighted
                if inferences:
                    s.inferences += inferences_w
                    s.cost += cost_w
                    s.cost_sq += cost_sq_w
                if calls_ok:
                    s.calls_ok += calls_w
                    s.tokens_out += tokens_w
            if latencies is not None:
                sketches = [series.open.latency for series in (agent, model_series) if series is not None]
                for latency in latencies:
                    if latency > lowest:
                        key = ceil(log(latency) * inv)
                        f_counts[key] = f_counts_get(key, 0) + 1
                        f_count += 1
                        f_sum += latency
                        for sketch in sketches:
                            counts = sketch.counts
                            counts[key] = counts.get(key, 0) + 1
                            sketch.count += 1
                            sketch.sum += latency
                    else:  # the zero bucket (a latency here is within 0 ≤ latency ≤ MAX_LATENCY_MS)
                        f_zero += 1
                        f_count += 1
                        f_sum += latency
                        for sketch in sketches:
                            sketch.add(latency)
            # The breakdown by dimension, fleet's and agent's; a row not there yet goes through _dim (the cap).
            decision_value = path or none
            kind = error_type(error) if is_error else none
            for s in (fs,) if agent is None else (fs, agent.open):
                dims_get = f_dims_get if s is fs else s.dims.get
                row = dims_get((dim_decision, decision_value)) or dim(s, dim_decision, decision_value)
                row[0] += weighted
                if is_error:
                    row[1] += weighted
                if model:
                    row = dims_get((dim_model, model)) or dim(s, dim_model, model)
                    row[0] += weighted
                    if is_error:
                        row[1] += weighted
                    if inferences:
                        row[2] += cost_w
                        row[3] += inferences_w
                if tool:
                    row = dims_get((dim_tool, tool)) or dim(s, dim_tool, tool)
                    row[0] += weighted
                    if is_error:
                        row[1] += weighted
                if is_error:
                    row = dims_get((dim_error, kind)) or dim(s, dim_error, kind)
                    row[0] += weighted
                    row[1] += weighted
        fleet.last_seen = now
        fleet.events_total += f_events
        fs.events += f_events
        fs.errors += f_errors
        fs.inferences += f_inferences
        fs.cost += f_cost
        fs.cost_sq += f_cost_sq
        fs.calls_ok += f_calls
        fs.tokens_out += f_tokens
        f_sketch.count += f_count
        f_sketch.zero_count += f_zero
        f_sketch.sum = f_sum

    @staticmethod
    def _dim(stats: Stats, dimension: str, value: str) -> list[float]:
        row = stats.dims.get((dimension, value))
        if row is None:
            if len(stats.dims) >= MAX_DIM_VALUES:
                value = OTHER
            row = stats.dim(dimension, value)
        return row

    def _trace(self, event: Event, agent_id: str, now: float) -> Trace:
        traces = self._traces
        trace_id = event.trace_id or ""
        trace = traces.get(trace_id)
        if trace is None:
            trace = traces[trace_id] = Trace(agent_id, now)
            if len(traces) > MAX_TRACES:
                self._evict_trace(now)
        else:
            trace.last = now
            traces.move_to_end(trace_id)
        return trace

    def _evict_trace(self, now: float) -> None:
        _, trace = self._traces.popitem(last=False)
        self.traces_evicted += 1
        if trace.inferences:
            self._credit(NO_DECISION, trace.agent, trace.cost, trace.inferences, now)

    def _credit(self, path: str, agent_id: str, cost: float, inferences: float, now: float) -> None:
        """Count ``cost`` for a decision path in the fleet's and the agent's open interval."""
        targets = [self.fleet]
        agent = self.scopes.get(agent_scope(agent_id))
        if agent is not None:
            targets.append(agent)
        for series in targets:
            row = self._dim(series.open, DIM_PATH, path)
            row[0] += inferences
            row[2] += cost
            row[3] += inferences

    def _credit_paths(self, credits: dict[tuple[str, str], list[Any]]) -> None:
        """:meth:`_credit` for each (agent, path) of a fold, in the order they came (compiled too)."""
        compiled = self.compiled and _compiled_credit_paths is not None
        if compiled and _compiled_credit_paths(  # type: ignore[misc]
            credits, self.fleet, self._agent_series, self.scopes, SCOPE_AGENT_PREFIX, DIM_PATH
        ):
            return
        fleet = self.fleet.open
        agents, scopes, dim = self._agent_series, self.scopes, self._dim
        for (agent_id, path), (cost, inferences) in credits.items():
            key = (DIM_PATH, path)
            agent = agents.get(agent_id) or scopes.get(SCOPE_AGENT_PREFIX + agent_id)
            for stats in (fleet,) if agent is None else (fleet, agent.open):
                row = stats.dims.get(key) or dim(stats, DIM_PATH, path)
                row[0] += inferences
                row[2] += cost
                row[3] += inferences

    def _decision(self, agent_id: str, decision: str, confidence: float | None, w: float, now: float) -> None:
        if agent_scope(agent_id) in self.scopes:
            self._decide(agent_id, decision, confidence, w, now)

    def _decide(self, agent_id: str, decision: str, confidence: float | None, w: float, now: float) -> None:
        """Count a decision of an agent that has a scope."""
        table = self.decisions.get(agent_id)
        if table is None:
            table = self.decisions[agent_id] = {}
        made = self.decisions_made.get(agent_id, 0.0)
        stat = table.get(decision)
        if stat is None:
            if len(table) >= MAX_DECISIONS:
                decision = OTHER
                stat = table.get(decision)
            if stat is None:
                novel = made >= self.settings.new_decision_min_history and decision != OTHER
                stat = table[decision] = DecisionStat(now, novel)
                if novel:
                    self.novelties.append((agent_id, decision, now))
        stat.count += w
        if confidence is not None and 0.0 <= confidence <= 1.0:
            stat.confidence_sum += confidence * w
            stat.confidence_n += w
        self.decisions_made[agent_id] = made + w

    # ------------------------------------------------------------------ intervals
    def all_series(self) -> Iterable[ScopeSeries]:
        yield self.fleet
        yield from self.scopes.values()

    def close_interval(self, end: float) -> None:
        """Close every scope's open interval at ``end``; expire old traces and silent scopes.

        Closed intervals are kept for the longest alert window, so they are slimmed: the
        latency sketch is packed (:class:`PackedSketch`), and the breakdown by dimension, read
        only over the last ``window_seconds``, is dropped once the interval is older than
        that. The ledger's memory then levels off once the longest window has filled.
        """
        slim_before = end - self.window_seconds
        for series in self.all_series():
            stats = series.open
            stats.end = end
            sketch = stats.latency
            assert isinstance(sketch, LatencySketch)  # an open interval's sketch is not packed yet
            stats.latency = PackedSketch(sketch)
            closed = series.closed
            closed.append(stats)
            series.total.merge(stats, latency=False)
            series.open = Stats()
            for old in reversed(closed):  # the newest intervals past the window, until one slimmed
                if old.end > slim_before:
                    continue
                if not old.dims:
                    break
                old.dims = {}
        fleet = self.fleet.closed[-1]
        if fleet.inferences:
            self.cost_points.append(CostPoint(end, round(fleet.cost / fleet.inferences, 8)))
        traces = self._traces
        while traces and next(iter(traces.values())).last < end - TRACE_TTL:
            self._evict_trace(end)
        forget = end - self.settings.forget_after
        for scope in [s for s, series in self.scopes.items() if series.last_seen < forget]:
            del self.scopes[scope]
            self._agent_series.clear()
            self._model_series.clear()
            if scope.startswith(SCOPE_AGENT_PREFIX):
                agent_id = scope[len(SCOPE_AGENT_PREFIX) :]
                self.decisions.pop(agent_id, None)
                self.decisions_made.pop(agent_id, None)

    def in_progress_cost(self, agent: str | None = None) -> tuple[float, float]:
        """(cost, inferences) of open traces that have not decided yet."""
        cost = inferences = 0.0
        for trace in self._traces.values():
            if trace.path is None and (agent is None or trace.agent == agent):
                cost += trace.cost
                inferences += trace.inferences
        return cost, inferences


def _load_compiled() -> Any:
    """The compiled pass's module, set up for this module's types and constants; None without it."""
    _ledgerscan = load_wanted("_ledgerscan")
    if _ledgerscan is None:
        return None
    _ledgerscan.setup(
        ScopeSeries,
        Stats,
        LatencySketch,
        Ledger._dim,
        error_type,
        MIN_VALUE,
        INV_LOG_GAMMA,
        DIM_DECISION,
        DIM_MODEL,
        DIM_TOOL,
        DIM_ERROR_TYPE,
        NONE,
    )
    if LATENCY_SPAN_TYPES == {SPAN_LLM_CALL, SPAN_COMPLETION}:  # the two the compiled first pass knows
        _ledgerscan.setup_group(
            Event,
            Trace,
            DecisionStat,
            MAX_EVENT_COST_USD,
            MAX_LATENCY_MS,
            SPAN_LLM_CALL,
            SPAN_COMPLETION,
            SPAN_DECISION,
            SPAN_ERROR,
            NO_DECISION,
            PATH_JOIN,
            MAX_PATH,
        )
    return _ledgerscan


_compiled = _load_compiled()
#: Whether the compiled pass is there (built where a C compiler was found at install, and wanted).
COMPILED_AVAILABLE: Final = _compiled is not None
#: :meth:`Ledger._apply`, compiled (None: not built or not wanted): True, or None to run the Python loop.
_compiled_apply: (
    Callable[[dict[tuple[Any, ...], list[Any]], ScopeSeries, float, float], bool | None] | None
) = _compiled.apply if _compiled is not None else None
#: :meth:`Ledger._group`'s loop, compiled (None: not built, not wanted, or other latency span types).
_compiled_group: Callable[..., bool | None] | None = (
    _compiled.group
    if _compiled is not None and LATENCY_SPAN_TYPES == {SPAN_LLM_CALL, SPAN_COMPLETION}
    else None
)
#: :meth:`Ledger._credit_paths`, compiled (None: not built or not wanted): True, or None for the Python loop.
_compiled_credit_paths: Callable[..., bool | None] | None = (
    _compiled.credit_paths if _compiled is not None else None
)
