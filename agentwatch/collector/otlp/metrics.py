"""OTLP metric exports (ExportMetricsServiceRequest) read into validated :class:`MetricPoint`.

Both encodings are read here, JSON (msgspec, int64 as decimal strings or numbers, doubles as
numbers or ``"NaN"``/``"Infinity"`` strings) and protobuf (``opentelemetry-proto``). Sum
(monotonic or not), Gauge, Histogram and ExponentialHistogram (count and sum; its buckets are
not kept) are read; Summary points are refused. A body that is not such a request raises
:class:`~agentwatch.collector.otlp.errors.OtlpError`; a bad data point is refused alone, with
the reason, and the rest of the request is kept.

Bounds against hostile input: at most :data:`MAX_METRIC_POINTS` points a request (the rest are
refused), at most :data:`MAX_BUCKETS` buckets a point, point attributes trimmed like span
attributes, agent ids and metric names within the protocol's limits, timestamps in the span
range. NaN and infinite values, negative counts and a monotonic sum below zero are refused.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

import msgspec

from agentwatch.collector.otlp.errors import BadResource, OtlpError, Reject
from agentwatch.collector.otlp.json import _as_int, _decode_json, _json_attributes, _KeyValue, _Resource
from agentwatch.collector.otlp.mapping import (
    ATTR_AGENT_ID,
    ATTR_AGENT_NAME,
    Fallback,
    _bounded,
    resource_agent,
)
from agentwatch.protocol import MAX_AGENT_ID_LENGTH, MAX_SHORT_FIELD_LENGTH, MAX_TIMESTAMP

#: Data points read from one request; further points are refused (and counted).
MAX_METRIC_POINTS: Final = 20_000
#: Buckets one histogram point may have (explicit bounds + 1, or each side of an exponential one).
MAX_BUCKETS: Final = 4096

KIND_SUM: Final = "sum"
KIND_GAUGE: Final = "gauge"
KIND_HISTOGRAM: Final = "histogram"
KIND_EXPONENTIAL_HISTOGRAM: Final = "exponential_histogram"
#: OTLP AggregationTemporality; gauges have none.
TEMPORALITY_NONE: Final = 0
TEMPORALITY_DELTA: Final = 1
TEMPORALITY_CUMULATIVE: Final = 2
_TEMPORALITY_NAMES: Final = {
    "AGGREGATION_TEMPORALITY_DELTA": TEMPORALITY_DELTA,
    "AGGREGATION_TEMPORALITY_CUMULATIVE": TEMPORALITY_CUMULATIVE,
}
#: DataPointFlags.FLAG_NO_RECORDED_VALUE: the series has no value now (e.g. it went stale).
FLAG_NO_RECORDED_VALUE: Final = 1

_MAX_TIMESTAMP_NS: Final = int(MAX_TIMESTAMP) * 1_000_000_000
_TIMESTAMP_RANGE: Final = f"timestamp out of range (0 to {MAX_TIMESTAMP:g} s in nanoseconds)"
_INT64: Final = 2**63
_UINT64: Final = 2**64
_key_encoder = msgspec.json.Encoder(order="sorted")


@dataclass(slots=True)
class MetricPoint:
    """One data point, validated, with what identifies its series.

    ``value`` is a Sum's or Gauge's number; ``count``, ``total`` (the sum, None when not sent),
    ``bucket_counts`` and ``bounds`` are a histogram's (an exponential histogram keeps count and
    total only). ``value`` and ``count`` are None for a point flagged "no recorded value".
    ``series`` is a digest of metric name, kind, scope, resource and point attributes.
    ``agent`` is the point's ``gen_ai.agent.name``/``.id``, else its resource's agent, as for spans.
    Times are unix nanoseconds; a missing ``time_ns`` was stamped with the time of receipt.
    """

    name: str
    kind: str
    temporality: int
    monotonic: bool
    unit: str
    agent: str
    resource: dict[str, Any]
    scope: str
    attributes: dict[str, Any]
    series: bytes
    start_ns: int
    time_ns: int
    value: float | int | None = None
    count: int | None = None
    total: float | None = None
    bucket_counts: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()


@dataclass(slots=True)
class _Metric:
    """What a point inherits from its resource, scope and metric (or why all its points are refused)."""

    fallback: Fallback
    resource: dict[str, Any]
    resource_key: bytes
    scope: str
    name: str
    kind: str
    temporality: int
    monotonic: bool
    unit: str


#: Per metric: its context (or the reason every point of it is refused), the reader of one
#: point, and the points.
_Batches = Iterator[tuple[_Metric | Reject, Callable[[Any, _Metric, int], MetricPoint], Sequence[Any]]]


def read_metrics(body: bytes, json: bool, now_ns: int) -> tuple[list[MetricPoint], int, str | None]:
    """The data points of an ExportMetricsServiceRequest: (points, refused, why the first was).

    ``json`` picks the encoding. Raises :class:`OtlpError` (400 undecodable, 415 protobuf
    without the extra).
    """
    batches = _json_metrics(_decode_json(_request_decoder, body)) if json else _pb_metrics(_decode_pb(body))
    points: list[MetricPoint] = []
    first_reason: tuple[int, str] | None = None
    index = 0
    for context, reader, items in batches:
        for item in items:
            try:
                if index >= MAX_METRIC_POINTS:
                    raise Reject(f"more than {MAX_METRIC_POINTS} data points in one request")
                if isinstance(context, Reject):
                    raise context
                points.append(reader(item, context, now_ns))
            except Reject as exc:
                if first_reason is None:
                    first_reason = (index, str(exc))
            index += 1
    rejected = index - len(points)
    message = None
    if first_reason is not None:
        first_index, reason = first_reason
        plural = "s" if rejected != 1 else ""
        message = f"{rejected} data point{plural} rejected; first: data point {first_index}: {reason}"
    return points, rejected, message


# ------------------------------------------------------------------ shared rules
def _context(
    resource: dict[str, Any] | BadResource,
    scope: str,
    name: str,
    unit: str,
    kind: str,
    temporality: int,
    monotonic: bool,
) -> _Metric | Reject:
    if isinstance(resource, BadResource):
        return Reject(f"resource: {resource}")
    if not name:
        return Reject("metric name is empty")
    if len(name) > MAX_SHORT_FIELD_LENGTH or len(unit) > MAX_SHORT_FIELD_LENGTH:
        return Reject(f"metric name or unit is longer than {MAX_SHORT_FIELD_LENGTH} characters")
    if kind != KIND_GAUGE and temporality not in (TEMPORALITY_DELTA, TEMPORALITY_CUMULATIVE):
        return Reject(
            f"{name}: aggregation temporality must be DELTA (1) or CUMULATIVE (2), got {temporality}"
        )
    bounded = _bounded(resource) or {}
    return _Metric(
        resource_agent(resource),
        bounded,
        _key_encoder.encode(bounded),
        scope[:MAX_SHORT_FIELD_LENGTH],
        name,
        kind,
        temporality if kind != KIND_GAUGE else TEMPORALITY_NONE,
        monotonic and kind == KIND_SUM,
        unit,
    )


def _agent(attributes: Mapping[str, Any], fallback: Fallback) -> str:
    for key in (ATTR_AGENT_NAME, ATTR_AGENT_ID):
        value = attributes.get(key)
        if isinstance(value, str) and value.strip():
            if len(value) > MAX_AGENT_ID_LENGTH:
                raise Reject(f"agent id ({key}) is longer than {MAX_AGENT_ID_LENGTH} characters")
            return value.strip()
    if isinstance(fallback, str):
        return fallback
    raise Reject(str(fallback))


def _point(
    metric: _Metric, attributes: dict[str, Any], start_ns: int, time_ns: int, now_ns: int
) -> MetricPoint:
    """The parts every kind shares: agent, attributes (trimmed), series, times (checked)."""
    if not (0 <= start_ns < _MAX_TIMESTAMP_NS and 0 <= time_ns < _MAX_TIMESTAMP_NS):
        raise Reject(_TIMESTAMP_RANGE)
    if start_ns and time_ns and start_ns > time_ns:
        raise Reject("start_time_unix_nano is after time_unix_nano")
    agent = _agent(attributes, metric.fallback)
    bounded = _bounded(attributes) or {}
    digest = hashlib.blake2b(metric.resource_key, digest_size=16)
    digest.update(b"\0".join((metric.scope.encode(), metric.name.encode(), metric.kind.encode(), b"")))
    digest.update(_key_encoder.encode(bounded))
    return MetricPoint(
        metric.name,
        metric.kind,
        metric.temporality,
        metric.monotonic,
        metric.unit,
        agent,
        metric.resource,
        metric.scope,
        bounded,
        digest.digest(),
        start_ns,
        time_ns or now_ns,
    )


def _finite(value: float, name: str) -> float:
    if math.isnan(value):
        raise Reject(f"{name} is NaN")
    if math.isinf(value):
        raise Reject(f"{name} is infinite")
    return value


def _count(value: int, name: str) -> int:
    if value < 0:
        raise Reject(f"{name} is negative ({value})")
    if value >= _UINT64:
        raise Reject(f"{name} does not fit in 64 bits")
    return value


def _number_value(point: MetricPoint, value: float | int | None, flags: int) -> MetricPoint:
    if value is None:
        if flags & FLAG_NO_RECORDED_VALUE:
            return point
        raise Reject(f"{point.name}: data point has no value (asInt or asDouble)")
    if isinstance(value, float):
        value = _finite(value, f"{point.name}: value")
    elif not -_INT64 <= value < _INT64:
        raise Reject(f"{point.name}: asInt does not fit in 64 bits")
    if point.monotonic and value < 0:
        raise Reject(f"{point.name}: a monotonic sum cannot be negative ({value})")
    point.value = value
    return point


def _histogram_values(
    point: MetricPoint,
    count: int,
    total: float | None,
    bucket_counts: Sequence[int],
    bounds: Sequence[float],
    flags: int,
) -> MetricPoint:
    name = point.name
    if flags & FLAG_NO_RECORDED_VALUE:
        return point
    if len(bucket_counts) > MAX_BUCKETS or len(bounds) > MAX_BUCKETS:
        raise Reject(f"{name}: more than {MAX_BUCKETS} buckets")
    count = _count(count, f"{name}: count")
    buckets = tuple(_count(c, f"{name}: bucket_counts[{i}]") for i, c in enumerate(bucket_counts))
    edges = tuple(_finite(b, f"{name}: explicit_bounds[{i}]") for i, b in enumerate(bounds))
    if any(low >= high for low, high in pairwise(edges)):
        raise Reject(f"{name}: explicit_bounds must increase")
    if buckets:
        if len(buckets) != len(edges) + 1:
            raise Reject(
                f"{name}: {len(buckets)} bucket_counts for {len(edges)} explicit_bounds (want {len(edges) + 1})"
            )
        if sum(buckets) != count:
            raise Reject(f"{name}: bucket_counts add up to {sum(buckets)} but count is {count}")
    point.count = count
    point.total = None if total is None else _finite(total, f"{name}: sum")
    point.bucket_counts = buckets
    point.bounds = edges if buckets else ()
    return point


def _exponential_values(
    point: MetricPoint,
    count: int,
    total: float | None,
    zero_count: int,
    positive: Sequence[int],
    negative: Sequence[int],
    flags: int,
) -> MetricPoint:
    name = point.name
    if flags & FLAG_NO_RECORDED_VALUE:
        return point
    if len(positive) > MAX_BUCKETS or len(negative) > MAX_BUCKETS:
        raise Reject(f"{name}: more than {MAX_BUCKETS} buckets")
    count = _count(count, f"{name}: count")
    counted = _count(zero_count, f"{name}: zero_count")
    for side, buckets in (("positive", positive), ("negative", negative)):
        for i, c in enumerate(buckets):
            counted += _count(c, f"{name}: {side}.bucket_counts[{i}]")
    if counted != count:
        raise Reject(f"{name}: zero_count and bucket_counts add up to {counted} but count is {count}")
    point.count = count
    point.total = None if total is None else _finite(total, f"{name}: sum")
    return point


# ------------------------------------------------------------------ JSON
class _NumberPoint(msgspec.Struct):
    attributes: list[_KeyValue] = []
    startTimeUnixNano: int | str = 0
    timeUnixNano: int | str = 0
    asDouble: float | str | None = None
    asInt: int | str | None = None
    flags: int = 0


class _HistogramPoint(msgspec.Struct):
    attributes: list[_KeyValue] = []
    startTimeUnixNano: int | str = 0
    timeUnixNano: int | str = 0
    count: int | str = 0
    sum: float | str | None = None
    bucketCounts: list[int | str] = []
    explicitBounds: list[float | str] = []
    flags: int = 0


class _Buckets(msgspec.Struct):
    offset: int = 0
    bucketCounts: list[int | str] = []


class _ExponentialPoint(msgspec.Struct):
    attributes: list[_KeyValue] = []
    startTimeUnixNano: int | str = 0
    timeUnixNano: int | str = 0
    count: int | str = 0
    sum: float | str | None = None
    zeroCount: int | str = 0
    positive: _Buckets | None = None
    negative: _Buckets | None = None
    flags: int = 0


class _Sum(msgspec.Struct):
    dataPoints: list[_NumberPoint] = []
    aggregationTemporality: int | str = 0
    isMonotonic: bool = False


class _Gauge(msgspec.Struct):
    dataPoints: list[_NumberPoint] = []


class _Histogram(msgspec.Struct):
    dataPoints: list[_HistogramPoint] = []
    aggregationTemporality: int | str = 0


class _ExponentialHistogram(msgspec.Struct):
    dataPoints: list[_ExponentialPoint] = []
    aggregationTemporality: int | str = 0


class _Summary(msgspec.Struct):
    dataPoints: list[msgspec.Raw] = []


class _JsonMetric(msgspec.Struct):
    name: str = ""
    unit: str = ""
    sum: _Sum | None = None
    gauge: _Gauge | None = None
    histogram: _Histogram | None = None
    exponentialHistogram: _ExponentialHistogram | None = None
    summary: _Summary | None = None


class _Scope(msgspec.Struct):
    name: str = ""


class _ScopeMetrics(msgspec.Struct):
    scope: _Scope | None = None
    metrics: list[_JsonMetric] = []


class _ResourceMetrics(msgspec.Struct):
    resource: _Resource | None = None
    scopeMetrics: list[_ScopeMetrics] = []


class _MetricsRequest(msgspec.Struct):
    resourceMetrics: list[_ResourceMetrics] = []


_request_decoder = msgspec.json.Decoder(_MetricsRequest)


def _json_metrics(request: _MetricsRequest) -> _Batches:
    for resource_metrics in request.resourceMetrics:
        resource: dict[str, Any] | BadResource
        try:
            resource = _json_attributes(
                resource_metrics.resource.attributes if resource_metrics.resource else []
            )
        except Reject as exc:
            resource = BadResource(str(exc))
        for scope_metrics in resource_metrics.scopeMetrics:
            scope = scope_metrics.scope.name if scope_metrics.scope else ""
            for metric in scope_metrics.metrics:
                yield from _json_metric(metric, resource, scope)


def _json_metric(metric: _JsonMetric, resource: dict[str, Any] | BadResource, scope: str) -> _Batches:
    def context(kind: str, temporality: int | str, monotonic: bool = False) -> _Metric | Reject:
        try:
            number = _temporality(temporality)
        except Reject as exc:
            return exc
        return _context(resource, scope, metric.name, metric.unit, kind, number, monotonic)

    if metric.sum is not None:
        data = metric.sum
        yield context(KIND_SUM, data.aggregationTemporality, data.isMonotonic), _json_number, data.dataPoints
    elif metric.gauge is not None:
        yield context(KIND_GAUGE, 0), _json_number, metric.gauge.dataPoints
    elif metric.histogram is not None:
        histogram = metric.histogram
        yield context(KIND_HISTOGRAM, histogram.aggregationTemporality), _json_histogram, histogram.dataPoints
    elif metric.exponentialHistogram is not None:
        exponential = metric.exponentialHistogram
        yield (
            context(KIND_EXPONENTIAL_HISTOGRAM, exponential.aggregationTemporality),
            _json_exponential,
            exponential.dataPoints,
        )
    elif metric.summary is not None:
        yield (
            Reject(f"{metric.name}: summary metrics are not supported"),
            _json_number,
            metric.summary.dataPoints,
        )


def _temporality(value: int | str) -> int:
    if isinstance(value, str):
        named = _TEMPORALITY_NAMES.get(value)
        return named if named is not None else _as_int(value, "aggregationTemporality")
    return value


def _json_double(value: float | str | None, name: str) -> float | None:
    if value is None or isinstance(value, float):
        return value
    try:
        return float(value)  # "NaN", "Infinity", "-Infinity" (proto3 JSON), or a number as text
    except ValueError:
        raise Reject(f"{name} {value[:32]!r} is not a number") from None


def _json_number(item: _NumberPoint, metric: _Metric, now_ns: int) -> MetricPoint:
    point = _point(
        metric,
        _json_attributes(item.attributes),
        _as_int(item.startTimeUnixNano, "startTimeUnixNano"),
        _as_int(item.timeUnixNano, "timeUnixNano"),
        now_ns,
    )
    value: float | int | None
    if item.asInt is not None:
        value = _as_int(item.asInt, "asInt")
    else:
        value = _json_double(item.asDouble, "asDouble")
    return _number_value(point, value, item.flags)


def _json_histogram(item: _HistogramPoint, metric: _Metric, now_ns: int) -> MetricPoint:
    point = _point(
        metric,
        _json_attributes(item.attributes),
        _as_int(item.startTimeUnixNano, "startTimeUnixNano"),
        _as_int(item.timeUnixNano, "timeUnixNano"),
        now_ns,
    )
    if len(item.bucketCounts) > MAX_BUCKETS or len(item.explicitBounds) > MAX_BUCKETS:
        raise Reject(f"{metric.name}: more than {MAX_BUCKETS} buckets")
    return _histogram_values(
        point,
        _as_int(item.count, "count"),
        _json_double(item.sum, "sum"),
        [_as_int(c, "bucketCounts") for c in item.bucketCounts],
        [_json_double(b, "explicitBounds") or 0.0 for b in item.explicitBounds],
        item.flags,
    )


def _json_exponential(item: _ExponentialPoint, metric: _Metric, now_ns: int) -> MetricPoint:
    point = _point(
        metric,
        _json_attributes(item.attributes),
        _as_int(item.startTimeUnixNano, "startTimeUnixNano"),
        _as_int(item.timeUnixNano, "timeUnixNano"),
        now_ns,
    )
    sides = [item.positive or _Buckets(), item.negative or _Buckets()]
    if any(len(side.bucketCounts) > MAX_BUCKETS for side in sides):
        raise Reject(f"{metric.name}: more than {MAX_BUCKETS} buckets")
    positive, negative = ([_as_int(c, "bucketCounts") for c in side.bucketCounts] for side in sides)
    return _exponential_values(
        point,
        _as_int(item.count, "count"),
        _json_double(item.sum, "sum"),
        _as_int(item.zeroCount, "zeroCount"),
        positive,
        negative,
        item.flags,
    )


# ------------------------------------------------------------------ protobuf
def _decode_pb(body: bytes) -> Any:
    from agentwatch.collector.otlp.proto import PROTOBUF_MISSING

    try:
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    except ImportError:
        raise OtlpError(415, PROTOBUF_MISSING) from None
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpError(400, f"invalid OTLP protobuf: {exc}") from None
    return request


def _pb_metrics(request: Any) -> _Batches:
    from agentwatch.collector.otlp.proto import _pb_attributes

    for resource_metrics in request.resource_metrics:
        resource = _pb_attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                yield from _pb_metric(metric, resource, scope)


def _pb_metric(metric: Any, resource: dict[str, Any], scope: str) -> _Batches:
    kind = metric.WhichOneof("data")
    if kind is None:
        return
    data = getattr(metric, kind)
    if kind == "summary":
        yield Reject(f"{metric.name}: summary metrics are not supported"), _pb_number, data.data_points
        return
    kinds = {
        "sum": (KIND_SUM, _pb_number),
        "gauge": (KIND_GAUGE, _pb_number),
        "histogram": (KIND_HISTOGRAM, _pb_histogram),
        "exponential_histogram": (KIND_EXPONENTIAL_HISTOGRAM, _pb_exponential),
    }
    name, reader = kinds[kind]
    temporality = data.aggregation_temporality if kind != "gauge" else 0
    monotonic = bool(data.is_monotonic) if kind == "sum" else False
    context = _context(resource, scope, metric.name, metric.unit, name, temporality, monotonic)
    yield context, reader, data.data_points


def _pb_point(item: Any, metric: _Metric, now_ns: int) -> MetricPoint:
    from agentwatch.collector.otlp.proto import _pb_attributes

    return _point(
        metric, _pb_attributes(item.attributes), item.start_time_unix_nano, item.time_unix_nano, now_ns
    )


def _pb_number(item: Any, metric: _Metric, now_ns: int) -> MetricPoint:
    point = _pb_point(item, metric, now_ns)
    kind = item.WhichOneof("value")
    return _number_value(point, getattr(item, kind) if kind else None, item.flags)


def _pb_histogram(item: Any, metric: _Metric, now_ns: int) -> MetricPoint:
    point = _pb_point(item, metric, now_ns)
    return _histogram_values(
        point,
        item.count,
        item.sum if item.HasField("sum") else None,
        item.bucket_counts,
        item.explicit_bounds,
        item.flags,
    )


def _pb_exponential(item: Any, metric: _Metric, now_ns: int) -> MetricPoint:
    point = _pb_point(item, metric, now_ns)
    return _exponential_values(
        point,
        item.count,
        item.sum if item.HasField("sum") else None,
        item.zero_count,
        item.positive.bucket_counts,
        item.negative.bucket_counts,
        item.flags,
    )


def metrics_success_body(rejected: int, error_message: str | None) -> bytes:
    """An ExportMetricsServiceResponse, with ``partial_success`` when points were refused.

    Raises ImportError without ``opentelemetry-proto``.
    """
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    response = metrics_service_pb2.ExportMetricsServiceResponse()
    if rejected > 0:
        response.partial_success.rejected_data_points = rejected
        if error_message:
            response.partial_success.error_message = error_message
    return bytes(response.SerializeToString())
