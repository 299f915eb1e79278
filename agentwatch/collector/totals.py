"""Cumulative counters by agent and model, exported at ``/metrics`` in Prometheus text format.

Counting happens at ingest in plain dicts (cheap): the collector's window counts each event here
in the same pass that aggregates it (``Window(totals=...)``), so an event is read once for both;
:meth:`Totals.add_many` counts a batch on its own, the same way. The Prometheus objects are built
only when scraped, through a custom prometheus-client collector. Latency is exported as a
histogram with the OpenTelemetry GenAI ``gen_ai.client.operation.duration`` boundaries
(0.01 s … 81.92 s, ×2), since a Prometheus summary would carry no quantiles.

The number of (agent, model) series is capped; events beyond the cap are counted under
``agent="_other"`` so totals stay right while memory stays bounded. What a scrape exports is
bounded again (:class:`TotalsExporter`): the busiest agents by name, the rest summed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector as PromCollector

from agentwatch.protocol import (
    LATENCY_SPAN_TYPES,
    MAX_EVENT_COST_USD,
    MAX_LATENCY_MS,
    SPAN_ERROR,
    SPAN_TOOL_CALL,
    Event,
)

#: Upper bounds in seconds (gen_ai.client.operation.duration advisory buckets).
LATENCY_BUCKETS_S: tuple[float, ...] = tuple(0.01 * 2**i for i in range(14))
#: The same bounds in milliseconds (a latency's bucket: ``bisect_left(BOUNDS_MS, latency_ms)``).
BOUNDS_MS: Final = [bound * 1000 for bound in LATENCY_BUCKETS_S]
OTHER = "_other"
#: Agents with their own ``agent`` label value at ``/metrics`` by default (the busiest by events).
DEFAULT_EXPORTED_AGENTS: Final = 100
#: Models named per ``agent`` label value at ``/metrics``; the others are summed under :data:`OTHER`.
EXPORTED_MODELS_PER_AGENT: Final = 10
#: The numbers of a :class:`Series` copied for export, in the order of the counter families.
_FIELDS: Final = (
    "events",
    "errors",
    "tool_calls",
    "tokens_in",
    "tokens_out",
    "cost",
    "latency_count",
    "latency_sum_ms",
)
_LATENCY_COUNT: Final = _FIELDS.index("latency_count")
_LATENCY_SUM: Final = _FIELDS.index("latency_sum_ms")
_numbers = attrgetter(*_FIELDS)


class Series:
    __slots__ = (
        "buckets",
        "cost",
        "errors",
        "events",
        "latency_count",
        "latency_sum_ms",
        "tokens_in",
        "tokens_out",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.events = 0
        self.errors = 0
        self.tool_calls = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = 0.0
        self.latency_count = 0
        self.latency_sum_ms = 0.0
        self.buckets = [0] * (len(BOUNDS_MS) + 1)


class Totals:
    """Since-start totals keyed by (agent_id, model); at most ``max_series`` keys."""

    def __init__(self, max_series: int = 10_000) -> None:
        self.max_series = max_series
        self.series: dict[tuple[str, str], Series] = {}
        #: agent → model → series, the same objects as :attr:`series` (several (agent, model)
        #: over the cap share the ``_other`` series).
        self._index: dict[str, dict[str, Series]] = {}
        #: Costs and latencies left out of every total (NaN, infinite or out of bounds).
        self.values_refused = 0

    def _series(self, agent_id: str, model: str) -> Series:
        key = (agent_id, model)
        series = self.series.get(key)
        if series is None:
            if len(self.series) >= self.max_series:
                key = (OTHER, OTHER)
                series = self.series.get(key)
                if series is not None:
                    return series
            series = self.series[key] = Series()
        return series

    def series_for(self, agent_id: str, model: str) -> Series:
        """The series of (``agent_id``, ``model``), made (and indexed, under the cap) when new."""
        series = self._series(agent_id, model)
        if len(self.series) <= self.max_series and self.series.get((agent_id, model)) is series:
            self._index.setdefault(agent_id, {})[model] = series  # over the cap: not indexed
        return series

    def models_of(self, agent_id: str) -> dict[str, Series] | None:
        """The indexed series of one agent by model (``""``: none), or None."""
        return self._index.get(agent_id)

    def add_many(self, events: Iterable[Event]) -> None:
        """Count a batch. O(1) per event: one lookup of the event's series, then plain adds.

        Series are found through a per-agent index (``agent → model → series``) so no key
        tuple is built per event; a new (agent, model) goes through the cap, and one over the
        cap is never indexed (memory stays bounded whatever the agent ids). A cost or latency
        that is NaN, infinite or out of bounds (the ingest paths refuse them) is left out and
        counted in :attr:`values_refused`: one would turn a counter into NaN or +Inf for good.
        """
        index = self._index
        index_get = index.get
        latency_types = LATENCY_SPAN_TYPES
        span_error, span_tool = SPAN_ERROR, SPAN_TOOL_CALL
        bounds = BOUNDS_MS
        max_cost, max_latency = MAX_EVENT_COST_USD, MAX_LATENCY_MS
        for event in events:
            agent_id = event.agent_id
            model = event.model or ""
            models = index_get(agent_id)
            series = models.get(model) if models is not None else None
            if series is None:
                series = self.series_for(agent_id, model)
            series.events += 1
            span_type = event.span_type
            if event.error is not None or span_type == span_error:
                series.errors += 1
            if span_type == span_tool:
                series.tool_calls += 1
            tokens = event.tokens_input
            if tokens:
                series.tokens_in += tokens
            tokens = event.tokens_output
            if tokens:
                series.tokens_out += tokens
            cost = event.cost_usd
            if cost:
                if 0.0 < cost <= max_cost:
                    series.cost += cost
                else:
                    self.values_refused += 1
            if span_type in latency_types:
                latency = event.latency_ms
                if latency is not None:
                    if 0.0 <= latency <= max_latency:
                        series.latency_count += 1
                        series.latency_sum_ms += latency
                        series.buckets[bisect_left(bounds, latency)] += 1
                    else:
                        self.values_refused += 1


class TotalsExporter(PromCollector):
    """prometheus-client collector over a copy of :class:`Totals` taken when it is made.

    Cardinality is bounded: the busiest ``agents`` agents (most events since start) keep their own
    ``agent`` label value, every other agent is summed under ``agent="_other"``; each ``agent``
    value names its busiest :data:`EXPORTED_MODELS_PER_AGENT` models and sums the rest under
    ``model="_other"``. Sums cover every series, so totals over all label values stay right.

    Thread use: make it on the event loop (one pass copying each series' numbers, no
    aggregation), then :meth:`collect` (rank, sum, build the families) may run in a worker
    thread while ingest goes on, since it reads only the copy.
    """

    def __init__(
        self,
        totals: Totals,
        gauges: Sequence[tuple[str, str, float]] = (),
        *,
        agents: int = DEFAULT_EXPORTED_AGENTS,
    ) -> None:
        self.agents = agents
        self.gauges = list(gauges)
        self._rows = [
            (agent, model, (*_numbers(series), *series.buckets))
            for (agent, model), series in totals.series.items()
        ]
        #: Agents summed under ``_other`` at the last :meth:`collect`.
        self.agents_summed = 0

    def exported(self) -> dict[tuple[str, str], list[float]]:
        """(agent, model) label values → summed numbers (the :data:`_FIELDS`, then the buckets)."""
        events_by_agent: dict[str, int] = {}
        for agent, _, values in self._rows:
            if agent != OTHER:
                events_by_agent[agent] = events_by_agent.get(agent, 0) + int(values[0])
        ranked = sorted(events_by_agent, key=lambda agent: (-events_by_agent[agent], agent))
        kept = set(ranked[: self.agents])
        self.agents_summed = len(ranked) - len(kept)
        by_agent: dict[str, dict[str, list[float]]] = {}
        for agent, model, values in self._rows:
            models = by_agent.setdefault(agent if agent in kept else OTHER, {})
            _add(models, model, values)
        exported: dict[tuple[str, str], list[float]] = {}
        for agent in sorted(by_agent):
            models = by_agent[agent]
            if len(models) > EXPORTED_MODELS_PER_AGENT:
                busiest = sorted(models, key=lambda model: (-models[model][0], model))
                named = set(busiest[: EXPORTED_MODELS_PER_AGENT - 1])
                folded: dict[str, list[float]] = {}
                for model, numbers in models.items():
                    _add(folded, model if model in named else OTHER, numbers)
                models = folded
            for model in sorted(models):
                exported[(agent, model)] = models[model]
        return exported

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        labels = ["agent", "model"]
        families = [
            CounterMetricFamily("agentwatch_events", "Events received", labels=labels),
            CounterMetricFamily("agentwatch_errors", "Events that carried an error", labels=labels),
            CounterMetricFamily("agentwatch_tool_calls", "Tool calls", labels=labels),
            CounterMetricFamily("agentwatch_input_tokens", "Input tokens", labels=labels),
            CounterMetricFamily("agentwatch_output_tokens", "Output tokens", labels=labels),
            CounterMetricFamily(
                "agentwatch_cost_usd", "Cost in USD (partly estimated from the price table)", labels=labels
            ),
        ]
        latency = HistogramMetricFamily(
            "agentwatch_latency_seconds", "Inference latency (llm_call, completion)", labels=labels
        )
        bounds = (*LATENCY_BUCKETS_S, float("inf"))
        for (agent, model), values in self.exported().items():
            names = [agent, model]
            for family, value in zip(families, values[: len(families)], strict=True):
                family.add_metric(names, value)
            latency_count, latency_sum_ms = values[_LATENCY_COUNT], values[_LATENCY_SUM]
            if latency_count:
                cumulative, running = [], 0.0
                for bound, count in zip(bounds, values[len(_FIELDS) :], strict=True):
                    running += count
                    cumulative.append((_le(bound), running))
                latency.add_metric(names, cumulative, latency_sum_ms / 1000)
        yield from families
        yield latency
        gauges = [
            *self.gauges,
            (
                "agentwatch_metrics_agents_summed",
                'Agents whose series are summed under agent="_other" (beyond the busiest)',
                self.agents_summed,
            ),
        ]
        for name, help_text, value in gauges:
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], value)
            yield gauge


def _add(into: dict[str, list[float]], key: str, values: Sequence[float]) -> None:
    total = into.get(key)
    if total is None:
        into[key] = list(values)
    else:
        for i, value in enumerate(values):
            total[i] += value


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else f"{bound:g}"
