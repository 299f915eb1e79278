"""What the collector does with OTLP metric data points: count them, make deltas, map the GenAI ones.

:meth:`MetricIngest.accept` takes the points of one request
(:func:`~agentwatch.collector.otlp.decode_metrics`): every point is counted (by family:
``gen_ai``, ``claude_code``, ``codex``, ``gemini_cli``, other), CUMULATIVE points become deltas
(:class:`~agentwatch.collector.otlp.temporality.DeltaConverter`), and two GenAI metrics become
events for the window:

* ``gen_ai.client.token.usage`` (a histogram of tokens per call): its sum, per
  ``gen_ai.token.type`` ``input``/``output``, becomes one :data:`~agentwatch.protocol.SPAN_METRIC`
  event per agent, session and model (``gen_ai.response.model``, else ``gen_ai.request.model``),
  with the cost estimated from the price table like a span's;
* ``gen_ai.client.operation.duration`` (a histogram of seconds per call): each call counted
  becomes a ``completion`` event whose latency is its bucket's middle (the mean when all the
  calls fall in one bucket), with ``error.type`` as its error; at most
  :data:`MAX_CALLS_PER_REQUEST` a request (the rest are counted in ``calls_dropped``).

Both obey :mod:`agentwatch.collector.precedence`: a source that sends its tokens in spans or log
records has these points superseded, and mapped events are held ``hold_seconds`` first so that
spans and log records sent at the same moment win. The coding agents' own metrics
(``claude_code.*``, ``codex.*``, ``gemini_cli.*``) are decoded and counted, not mapped to
events; those that tell what a session did (lines of code, active time, sessions, commits) add
to its :class:`~agentwatch.collector.worktally.WorkTally`.

Pure state, no I/O: :class:`~agentwatch.collector.service.Collector` ingests what
:meth:`MetricIngest.release` hands back, per request and on its tick.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector as PromCollector

from agentwatch.collector.otlp.conventions import metric_agent
from agentwatch.collector.otlp.mapping import (
    ATTR_ERROR_TYPE,
    ATTR_OPERATION,
    ATTR_PROVIDER,
    ATTR_REQUEST_MODEL,
    ATTR_RESPONSE_MODEL,
)
from agentwatch.collector.otlp.metrics import KIND_EXPONENTIAL_HISTOGRAM, KIND_HISTOGRAM, MetricPoint
from agentwatch.collector.otlp.temporality import DEFAULT_MAX_SERIES, DeltaConverter
from agentwatch.collector.precedence import (
    DEFAULT_MAX_SOURCES,
    SESSION_KEYS,
    Source,
    TokenSources,
    session_of,
)
from agentwatch.collector.worktally import DEFAULT_MAX_AGENTS, WORK_METRICS, WorkTally
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    MAX_LATENCY_MS,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_FIELD_LENGTH,
    MAX_TOKENS,
    SPAN_COMPLETION,
    SPAN_METRIC,
    Event,
)

METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
ATTR_TOKEN_TYPE: Final = "gen_ai.token.type"
#: The metric an event was made from, in the event's attributes.
ATTR_METRIC_NAME: Final = "otel.metric.name"
#: Metric name prefixes counted apart; any other name counts as ``other``.
FAMILIES: Final = ("gen_ai", "claude_code", "codex", "gemini_cli")
FAMILY_OTHER: Final = "other"
#: Calls one request may add through ``gen_ai.client.operation.duration``.
MAX_CALLS_PER_REQUEST: Final = 10_000
#: Seconds mapped points wait before they count (see :mod:`agentwatch.collector.precedence`).
DEFAULT_HOLD_SECONDS: Final = 10.0
#: Events held at most; beyond, the oldest are decided early.
MAX_HELD_EVENTS: Final = 100_000
_TO_MS: Final = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


@dataclass
class MetricCounts:
    """Since start: requests, data points by family, and what became of them."""

    requests: int = 0
    points: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*FAMILIES, FAMILY_OTHER), 0))
    rejected: int = 0
    #: GenAI points not counted: their source sends its tokens in spans or log records.
    superseded: int = 0
    #: GenAI points whose events reached the window.
    mapped: int = 0
    #: Calls of ``gen_ai.client.operation.duration`` beyond :data:`MAX_CALLS_PER_REQUEST`.
    calls_dropped: int = 0


@dataclass(slots=True)
class _Held:
    due: float
    source: Source
    points: int
    events: list[Event]


@dataclass(slots=True)
class _Tokens:
    time_ns: int
    attributes: dict[str, Any]
    points: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None


class MetricIngest:
    """Counts, deltas, GenAI mapping and the hold (see the module docstring). Event-loop only."""

    def __init__(
        self,
        *,
        max_series: int = DEFAULT_MAX_SERIES,
        max_sources: int = DEFAULT_MAX_SOURCES,
        max_agents: int = DEFAULT_MAX_AGENTS,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.hold_seconds = hold_seconds
        self.deltas = DeltaConverter(max_series, started_ns=int(clock() * 1e9))
        self.sources = TokenSources(max_sources)
        self.counts = MetricCounts()
        self.work = WorkTally(max_agents)
        self._held: deque[_Held] = deque()
        self._held_events = 0

    def note_events(self, events: Sequence[Event]) -> None:
        """An aggregator of the collector: every accepted event may make its source win over metrics."""
        self.sources.note(events)

    def accept(self, points: Sequence[MetricPoint], rejected: int = 0) -> None:
        """Count one request's points and hold the events its GenAI deltas make."""
        counts = self.counts
        counts.requests += 1
        counts.rejected += rejected
        by_family = counts.points
        tokens: dict[tuple[Source, str | None], _Tokens] = {}
        calls: dict[Source, tuple[int, list[Event]]] = {}
        budget = MAX_CALLS_PER_REQUEST
        for point in points:
            family = point.name.partition(".")[0]
            family = family if family in by_family else FAMILY_OTHER
            by_family[family] += 1
            if point.name != METRIC_TOKEN_USAGE and point.name != METRIC_OPERATION_DURATION:
                delta = self.deltas.delta(point)  # kept for its series all the same
                if delta is not None and point.name in WORK_METRICS:
                    self.work.add(metric_agent(delta.agent, delta.resource, delta.attributes), delta)
                continue
            delta = self.deltas.delta(point)
            if delta is None or delta.kind not in (KIND_HISTOGRAM, KIND_EXPONENTIAL_HISTOGRAM):
                continue
            agent = metric_agent(delta.agent, delta.resource, delta.attributes)
            source = (agent, session_of(delta.attributes, delta.resource))
            if point.name == METRIC_TOKEN_USAGE:
                _add_tokens(tokens, source, delta)
            else:
                events = _calls(delta, source, budget)
                counts.calls_dropped += (delta.count or 0) - len(events)
                budget -= len(events)
                held_points, held = calls.get(source, (0, []))
                held.extend(events)
                calls[source] = (held_points + 1, held)
        due = self.clock() + self.hold_seconds
        for (source, model), group in tokens.items():
            self._hold(due, source, group.points, [_token_event(source, model, group)])
        for source, (count, events) in calls.items():
            self._hold(due, source, count, events)

    def release(self) -> list[Event]:
        """The held events now due whose source still counts; the others are superseded."""
        held, now, out = self._held, self.clock(), []
        while held and (held[0].due <= now or self._held_events > MAX_HELD_EVENTS):
            entry = held.popleft()
            self._held_events -= len(entry.events)
            if self.sources.metrics_superseded(*entry.source):
                self.counts.superseded += entry.points
            else:
                self.counts.mapped += entry.points
                out.extend(entry.events)
        return out

    def _hold(self, due: float, source: Source, points: int, events: list[Event]) -> None:
        if self.sources.metrics_superseded(*source):
            self.counts.superseded += points
            return
        self._held.append(_Held(due, source, points, events))
        self._held_events += len(events)


def _model(attributes: dict[str, Any]) -> str | None:
    for key in (ATTR_RESPONSE_MODEL, ATTR_REQUEST_MODEL):
        model = attributes.get(key)
        if isinstance(model, str) and 0 < len(model) <= MAX_SHORT_FIELD_LENGTH:
            return model
    return None


def _event_attributes(point: MetricPoint) -> dict[str, Any]:
    """What an event made from ``point`` keeps: the metric's name, operation, provider, session."""
    kept: dict[str, Any] = {ATTR_METRIC_NAME: point.name}
    for key in (ATTR_OPERATION, ATTR_PROVIDER, *SESSION_KEYS):
        value = point.attributes.get(key)
        if value is None:
            value = point.resource.get(key) if key in SESSION_KEYS else None
        if isinstance(value, str | int | float | bool) and len(str(value)) <= MAX_SHORT_FIELD_LENGTH:
            kept[key] = value
    return kept


def _add_tokens(groups: dict[tuple[Source, str | None], _Tokens], source: Source, point: MetricPoint) -> None:
    kind = point.attributes.get(ATTR_TOKEN_TYPE)
    total = point.total
    if kind not in ("input", "output") or total is None or not 0 <= total < MAX_TOKENS:
        return
    key = (source, _model(point.attributes))
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Tokens(point.time_ns, _event_attributes(point))
    group.points += 1
    group.time_ns = max(group.time_ns, point.time_ns)
    if kind == "input":
        group.tokens_in = (group.tokens_in or 0) + round(total)
    else:
        group.tokens_out = (group.tokens_out or 0) + round(total)


def _token_event(source: Source, model: str | None, group: _Tokens) -> Event:
    cost = estimate_cost(model, group.tokens_in, group.tokens_out) if model is not None else None
    return Event(
        source[0],
        timestamp=group.time_ns / 1e9,
        span_type=SPAN_METRIC,
        model=model,
        tokens_input=group.tokens_in,
        tokens_output=group.tokens_out,
        cost_usd=cost,
        cost_estimated=True if cost is not None else None,
        message=METRIC_TOKEN_USAGE,
        attributes=group.attributes,
    )


def _calls(point: MetricPoint, source: Source, budget: int) -> list[Event]:
    """One ``completion`` event per call counted in a duration histogram's delta, at most ``budget``."""
    count = point.count or 0
    if count <= 0 or budget <= 0:
        return []
    to_ms = _TO_MS.get(point.unit, 1000.0)
    error = point.attributes.get(ATTR_ERROR_TYPE)
    error_text = str(error)[:MAX_MESSAGE_LENGTH] if error not in (None, "") else None
    model = _model(point.attributes)
    attributes = _event_attributes(point)
    timestamp = point.time_ns / 1e9
    return [
        Event(
            source[0],
            timestamp=timestamp,
            span_type=SPAN_COMPLETION,
            model=model,
            latency_ms=_duration_ms(latency, to_ms),
            error=error_text,
            attributes=attributes,
        )
        for latency in _latencies(point, min(count, budget))
    ]


def _duration_ms(value: float | None, to_ms: float) -> float | None:
    """A histogram's latency in ms; None when there is none or it is no duration (a bucket bound
    past :data:`~agentwatch.protocol.MAX_LATENCY_MS`, which would break every latency total)."""
    if value is None:
        return None
    ms = value * to_ms
    return ms if 0.0 <= ms <= MAX_LATENCY_MS else None


def _latencies(point: MetricPoint, wanted: int) -> Iterator[float | None]:
    """``wanted`` latencies (in the point's unit) spread like the histogram's calls.

    Each call gets its bucket's middle (below the first bound: half of it; above the last: the
    last bound); when every call is in one bucket, the mean, kept within that bucket. Without
    buckets, the mean (None without a sum). With fewer wanted than counted, each bucket gives
    its share.
    """
    count = point.count or 0
    mean = point.total / count if point.total is not None and count else None
    if mean is not None and (mean < 0 or not math.isfinite(mean)):
        mean = None
    buckets, bounds = point.bucket_counts, point.bounds
    if not buckets:
        for _ in range(wanted):
            yield mean
        return
    filled = [i for i, c in enumerate(buckets) if c]
    given = 0
    for i in filled:
        low = bounds[i - 1] if i > 0 else 0.0
        high = bounds[i] if i < len(bounds) else math.inf
        if len(filled) == 1 and mean is not None:
            middle = min(max(mean, low), high)
        elif i == 0:
            middle = high / 2
        elif i == len(bounds):
            middle = low
        else:
            middle = (low + high) / 2
        share = buckets[i] if wanted >= count else round(buckets[i] * wanted / count)
        share = min(share, wanted - given)
        given += share
        for _ in range(share):
            yield max(middle, 0.0)


class MetricIngestExporter(PromCollector):
    """prometheus-client collector over :class:`MetricIngest`'s counts as they were when it was made.

    Made on the event loop (a copy of a few numbers), so :meth:`collect` may run in a worker thread.
    """

    def __init__(self, ingest: MetricIngest) -> None:
        counts, deltas = ingest.counts, ingest.deltas
        self.counts = replace(counts, points=dict(counts.points))
        self.resets, self.out_of_order = deltas.resets, deltas.out_of_order
        self.evicted, self.series = deltas.evicted, deltas.series

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        counts = self.counts
        prefix = "agentwatch_otlp_metric_"
        points = CounterMetricFamily(
            prefix + "points", "OTLP metric data points taken, by metric name prefix", labels=["family"]
        )
        for family, value in counts.points.items():
            points.add_metric([family], value)
        yield points
        for name, help_text, value in (
            ("requests", "OTLP metric export requests taken", counts.requests),
            ("points_rejected", "OTLP metric data points refused", counts.rejected),
            (
                "points_superseded",
                "GenAI metric points not counted: spans or logs carry the tokens",
                counts.superseded,
            ),
            ("points_mapped", "GenAI metric points counted in the window", counts.mapped),
            ("calls_dropped", "Calls of a duration histogram over the per-request cap", counts.calls_dropped),
            ("resets", "Cumulative series started again (restart or counter reset)", self.resets),
            (
                "points_out_of_order",
                "Cumulative points ignored: duplicates, late or replaced",
                self.out_of_order,
            ),
            ("series_evicted", "Cumulative series forgotten to stay within the cap", self.evicted),
        ):
            counter = CounterMetricFamily(prefix + name, help_text)
            counter.add_metric([], value)
            yield counter
        series = GaugeMetricFamily(prefix + "series", "Cumulative series whose last value is kept")
        series.add_metric([], self.series)
        yield series
