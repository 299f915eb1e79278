"""Cumulative counters by agent and model, exported at ``/metrics`` in Prometheus text format.

Counting happens at ingest in plain dicts (cheap); the Prometheus objects are built only
when scraped, through a custom prometheus-client collector. Latency is exported as a
histogram with the OpenTelemetry GenAI ``gen_ai.client.operation.duration`` boundaries
(0.01 s … 81.92 s, ×2), since a Prometheus summary would carry no quantiles.

The number of (agent, model) series is capped; events beyond the cap are counted under
``agent="_other"`` so totals stay right while memory stays bounded.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector as PromCollector

from agentwatch.protocol import LATENCY_SPAN_TYPES, SPAN_ERROR, SPAN_TOOL_CALL, Event

#: Upper bounds in seconds (gen_ai.client.operation.duration advisory buckets).
LATENCY_BUCKETS_S: tuple[float, ...] = tuple(0.01 * 2**i for i in range(14))
_BOUNDS_MS = [bound * 1000 for bound in LATENCY_BUCKETS_S]
OTHER = "_other"


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
        self.buckets = [0] * (len(_BOUNDS_MS) + 1)


class Totals:
    """Since-start totals keyed by (agent_id, model); at most ``max_series`` keys."""

    def __init__(self, max_series: int = 10_000) -> None:
        self.max_series = max_series
        self.series: dict[tuple[str, str], Series] = {}
        #: agent → model → series, the same objects as :attr:`series` (several (agent, model)
        #: over the cap share the ``_other`` series).
        self._index: dict[str, dict[str, Series]] = {}

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

    def add_many(self, events: Iterable[Event]) -> None:
        """Count a batch. O(1) per event: one lookup of the event's series, then plain adds.

        Series are found through a per-agent index (``agent → model → series``) so no key
        tuple is built per event; a new (agent, model) goes through the cap, and one over the
        cap is never indexed (memory stays bounded whatever the agent ids).
        """
        index = self._index
        index_get = index.get
        latency_types = LATENCY_SPAN_TYPES
        span_error, span_tool = SPAN_ERROR, SPAN_TOOL_CALL
        bounds = _BOUNDS_MS
        for event in events:
            agent_id = event.agent_id
            model = event.model or ""
            models = index_get(agent_id)
            series = models.get(model) if models is not None else None
            if series is None:
                series = self._series(agent_id, model)
                if len(self.series) <= self.max_series and self.series.get((agent_id, model)) is series:
                    index.setdefault(agent_id, {})[model] = series  # over the cap: not indexed
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
                series.cost += cost
            if span_type in latency_types:
                latency = event.latency_ms
                if latency is not None:
                    series.latency_count += 1
                    series.latency_sum_ms += latency
                    series.buckets[bisect_left(bounds, latency)] += 1


class TotalsExporter(PromCollector):
    """prometheus-client collector reading :class:`Totals` at scrape time."""

    def __init__(self, totals: Totals, gauges: Sequence[tuple[str, str, float]] = ()) -> None:
        self.totals = totals
        self.gauges = list(gauges)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        labels = ["agent", "model"]
        families = {
            "events": CounterMetricFamily("agentwatch_events", "Events received", labels=labels),
            "errors": CounterMetricFamily("agentwatch_errors", "Events that carried an error", labels=labels),
            "tool_calls": CounterMetricFamily("agentwatch_tool_calls", "Tool calls", labels=labels),
            "tokens_in": CounterMetricFamily("agentwatch_input_tokens", "Input tokens", labels=labels),
            "tokens_out": CounterMetricFamily("agentwatch_output_tokens", "Output tokens", labels=labels),
            "cost": CounterMetricFamily(
                "agentwatch_cost_usd", "Cost in USD (partly estimated from the price table)", labels=labels
            ),
        }
        latency = HistogramMetricFamily(
            "agentwatch_latency_seconds", "Inference latency (llm_call, completion)", labels=labels
        )
        for (agent, model), series in list(self.totals.series.items()):
            values = [agent, model]
            families["events"].add_metric(values, series.events)
            families["errors"].add_metric(values, series.errors)
            families["tool_calls"].add_metric(values, series.tool_calls)
            families["tokens_in"].add_metric(values, series.tokens_in)
            families["tokens_out"].add_metric(values, series.tokens_out)
            families["cost"].add_metric(values, series.cost)
            if series.latency_count:
                cumulative, running = [], 0
                for bound, count in zip((*LATENCY_BUCKETS_S, float("inf")), series.buckets, strict=True):
                    running += count
                    cumulative.append((_le(bound), running))
                latency.add_metric(values, cumulative, series.latency_sum_ms / 1000)
        yield from families.values()
        yield latency
        for name, help_text, value in self.gauges:
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], value)
            yield gauge


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else f"{bound:g}"
