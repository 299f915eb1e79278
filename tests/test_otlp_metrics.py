"""OTLP metrics: ``POST /v1/metrics`` on the real collector, the decoder's rules against hostile
bodies, the GenAI metrics in the window, and spans and logs winning over metrics for one source."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentwatch.collector.metricingest import MAX_CALLS_PER_REQUEST, MetricIngest
from agentwatch.collector.otlp import OtlpError, decode_metrics, success_response
from agentwatch.collector.otlp.metrics import MAX_BUCKETS, MAX_METRIC_POINTS
from agentwatch.collector.precedence import TokenSources
from agentwatch.collector.service import Collector, Settings
from agentwatch.protocol import (
    MAX_AGENT_ID_LENGTH,
    MAX_ATTRIBUTES_BYTES,
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_METRICS,
    PATH_OTLP_LOGS,
    PATH_OTLP_METRICS,
    PATH_OTLP_TRACES,
    Event,
    Health,
)
from tests.helpers import NOW, Clock, RunningCollector, wait_until

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
T0 = int(NOW * 1e9)  # nanoseconds
DELTA, CUMULATIVE = 1, 2


# ---------------------------------------------------------------- building requests
def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [attr(k, v) for k, v in values.items()]


def request(*metrics: dict[str, Any], resource: dict[str, Any] | None = None) -> bytes:
    resource = {"service.name": "svc"} if resource is None else resource
    body = {
        "resourceMetrics": [
            {
                "resource": {"attributes": attrs(resource)},
                "scopeMetrics": [{"scope": {"name": "t"}, "metrics": list(metrics)}],
            }
        ]
    }
    return json.dumps(body).encode()


def number(value: Any, *, time_ns: int = T0, start_ns: int = 0, **attributes: Any) -> dict[str, Any]:
    point: dict[str, Any] = {"timeUnixNano": str(time_ns), "attributes": attrs(attributes)}
    if start_ns:
        point["startTimeUnixNano"] = str(start_ns)
    point["asInt" if isinstance(value, int) else "asDouble"] = str(value) if isinstance(value, int) else value
    return point


def sum_metric(
    name: str, *points: dict[str, Any], temporality: int = DELTA, monotonic: bool = True
) -> dict[str, Any]:
    return {
        "name": name,
        "sum": {"aggregationTemporality": temporality, "isMonotonic": monotonic, "dataPoints": list(points)},
    }


def hist_point(
    counts: list[int],
    bounds: list[float],
    total: float | None,
    *,
    time_ns: int = T0,
    start_ns: int = 0,
    **attributes: Any,
) -> dict[str, Any]:
    point: dict[str, Any] = {
        "timeUnixNano": str(time_ns),
        "attributes": attrs(attributes),
        "count": str(sum(counts)),
        "bucketCounts": [str(c) for c in counts],
        "explicitBounds": bounds,
    }
    if start_ns:
        point["startTimeUnixNano"] = str(start_ns)
    if total is not None:
        point["sum"] = total
    return point


def histogram(name: str, *points: dict[str, Any], temporality: int = DELTA, unit: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "unit": unit,
        "histogram": {"aggregationTemporality": temporality, "dataPoints": list(points)},
    }


def token_usage(tokens: int, kind: str, *, model: str = "gpt-4o", **more: Any) -> dict[str, Any]:
    """One ``gen_ai.client.token.usage`` point: one call of ``tokens`` tokens of ``kind``."""
    bounds = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0]
    counts = [0] * (len(bounds) + 1)
    counts[sum(1 for b in bounds if b < tokens)] = 1
    labels = {
        "gen_ai.token.type": kind,
        "gen_ai.request.model": model,
        "gen_ai.operation.name": "chat",
        **more,
    }
    return hist_point(counts, bounds, float(tokens), **labels)


def tokens_of(collector: Collector, agent: str) -> tuple[int, int]:
    """Exact input and output tokens counted for ``agent`` since start."""
    series = [s for (a, _), s in collector.totals.series.items() if a == agent]
    return sum(s.tokens_in for s in series), sum(s.tokens_out for s in series)


def health(running: RunningCollector) -> Health:
    response = httpx.get(running.url + PATH_HEALTH, headers=running.headers(), timeout=10)
    return msgspec.json.decode(response.content, type=Health)


def post(running: RunningCollector, body: bytes, content_type: str = JSON, **headers: str) -> httpx.Response:
    return httpx.post(
        running.url + PATH_OTLP_METRICS,
        content=body,
        headers={"content-type": content_type, **running.headers(), **headers},
        timeout=10,
    )


# ---------------------------------------------------------------- the route
def test_metrics_are_accepted_in_json_and_protobuf(start_collector: Any) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )

    running = start_collector(metric_hold_seconds=0)
    answer = post(running, request(sum_metric("requests", number(3))))
    assert (answer.status_code, answer.json()) == (200, {})
    answer = post(running, ExportMetricsServiceRequest().SerializeToString(), PROTOBUF)
    assert answer.status_code == 200 and answer.headers["content-type"] == PROTOBUF
    assert not ExportMetricsServiceResponse.FromString(answer.content).HasField("partial_success")
    assert health(running).metric_requests_total == 2 and health(running).metric_points_total == 1


def test_some_bad_points_give_a_partial_success_naming_the_first(start_collector: Any) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

    running = start_collector()
    body = request(sum_metric("requests", number(3), {"asDouble": "NaN"}, number(-1)))
    answer = post(running, body)
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "2"
    assert partial["errorMessage"] == "2 data points rejected; first: data point 1: requests: value is NaN"
    result = decode_metrics(body, JSON)
    payload, media = success_response(result, PROTOBUF)
    decoded = ExportMetricsServiceResponse.FromString(payload).partial_success
    assert (media, decoded.rejected_data_points) == (PROTOBUF, 2) and "value is NaN" in decoded.error_message
    assert health(running).metric_points_rejected == 2


def test_the_route_has_the_rules_of_the_other_otlp_routes(start_collector: Any) -> None:
    running = start_collector(token="s3cret", max_body=2000)
    body = request(sum_metric("requests", number(3)))
    refused = httpx.post(
        running.url + PATH_OTLP_METRICS, content=body, headers={"content-type": JSON}, timeout=10
    )
    assert refused.status_code == 401
    assert post(running, gzip.compress(body), **{"content-encoding": "gzip"}).status_code == 200
    assert post(running, body, "text/plain").status_code == 415
    assert post(running, b"{not json").json()["code"] == 3  # INVALID_ARGUMENT, status 400
    assert post(running, b"{not json").status_code == 400
    too_big = post(running, request(sum_metric("requests", *[number(i) for i in range(100)])))
    assert too_big.status_code == 413 and too_big.headers["connection"] == "close"


# ---------------------------------------------------------------- the OpenTelemetry SDK's exporter
def sdk_meter(url: str, temporality: str, service: str) -> tuple[Any, Any]:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    chosen = getattr(AggregationTemporality, temporality)
    exporter = OTLPMetricExporter(
        endpoint=url + PATH_OTLP_METRICS, preferred_temporality={Histogram: chosen, Counter: chosen}
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": service}))
    return provider, provider.get_meter("gen_ai.test")


@pytest.mark.parametrize("temporality", ["DELTA", "CUMULATIVE"])
def test_the_sdk_exporters_token_usage_counts_once_per_call(start_collector: Any, temporality: str) -> None:
    """Three exports of a growing histogram: each call's tokens count once, whether the exporter
    sends what changed (DELTA) or everything since start (CUMULATIVE)."""
    running = start_collector(metric_hold_seconds=0)
    provider, meter = sdk_meter(running.url, temporality, "sdk-agent")
    usage = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    calls = meter.create_counter("claude_code.session.count")
    labels = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    try:
        for exported, (prompt, completion) in enumerate([(120, 40), (300, 7), (5, 1)], start=1):
            usage.record(prompt, {**labels, "gen_ai.token.type": "input"})
            usage.record(completion, {**labels, "gen_ai.token.type": "output"})
            duration.record(0.25 * exported, labels)
            calls.add(1)
            assert provider.force_flush()
            wait_until(lambda n=exported: health(running).metric_requests_total == n)
        report = health(running)
        scraped = httpx.get(running.url + PATH_METRICS, timeout=10).text
    finally:
        provider.shutdown()  # a last export, not counted below
    assert tokens_of(running.service, "sdk-agent") == (425, 48)
    snapshot = running.service.snapshot("sdk-agent")
    assert snapshot.completions == 3 and snapshot.p50_latency_ms == pytest.approx(500, rel=0.05)
    assert [row.model for row in snapshot.agents] == ["gpt-4o"]
    assert report.metric_points_rejected == 0 and report.metric_points_superseded == 0
    assert report.metric_series == (4 if temporality == "CUMULATIVE" else 0)
    assert 'agentwatch_otlp_metric_points_total{family="claude_code"} 3.0' in scraped
    assert "agentwatch_otlp_metric_points_mapped_total 9.0" in scraped


# ---------------------------------------------------------------- what the GenAI metrics map to
def test_coding_agent_metrics_are_counted_but_not_mapped(start_collector: Any) -> None:
    running = start_collector(metric_hold_seconds=0)
    body = request(
        sum_metric("claude_code.token.usage", number(126.0, type="input", model="claude-opus-4-8")),
        sum_metric("codex.turn.token_usage", number(7, token_type="output")),
        sum_metric("gemini_cli.token.usage", number(3, type="input"), temporality=CUMULATIVE),
        resource={"service.name": "claude-code"},
    )
    assert post(running, body).status_code == 200
    assert tokens_of(running.service, "claude-code") == (0, 0)
    points = running.service.metric_points.counts.points
    assert (points["claude_code"], points["codex"], points["gemini_cli"]) == (1, 1, 1)


def test_token_usage_sums_per_token_type_model_and_agent() -> None:
    clock = Clock()
    collector = Collector(Settings(clock=clock, metric_hold_seconds=0))
    body = request(
        histogram(
            "gen_ai.client.token.usage",
            token_usage(100, "input"),
            token_usage(20, "input"),
            token_usage(30, "output", **{"gen_ai.response.model": "gpt-4o-mini"}),
            token_usage(9, "cached"),  # neither input nor output: not counted
        ),
        resource={"service.name": "planner"},
    )
    result = decode_metrics(body, JSON, clock=clock)
    collector.ingest_metrics(result.points)
    assert tokens_of(collector, "planner") == (120, 30)
    models = {model for (agent, model) in collector.totals.series if agent == "planner"}
    assert models == {"gpt-4o", "gpt-4o-mini"}
    assert collector.window.snapshot("planner").cost_estimated


def test_operation_duration_becomes_calls_with_their_latency_and_errors() -> None:
    clock = Clock()
    collector = Collector(Settings(clock=clock, metric_hold_seconds=0))
    bounds = [0.1, 0.5, 1.0, 5.0]
    body = request(
        histogram(
            "gen_ai.client.operation.duration",
            hist_point([0, 3, 0, 0, 0], bounds, 0.9, **{"gen_ai.request.model": "gpt-4o"}),
            hist_point([0, 0, 0, 1, 0], bounds, 2.0, **{"error.type": "timeout"}),
            unit="s",
        )
    )
    collector.ingest_metrics(decode_metrics(body, JSON, clock=clock).points)
    snapshot = collector.snapshot("svc")
    assert (snapshot.completions, snapshot.errors) == (4, 1)
    assert snapshot.p50_latency_ms == pytest.approx(300, rel=0.02)  # the mean, within its bucket


def test_a_duration_histogram_adds_at_most_the_per_request_cap_of_calls() -> None:
    clock = Clock()
    collector = Collector(Settings(clock=clock, metric_hold_seconds=0))
    many = MAX_CALLS_PER_REQUEST * 3
    body = request(histogram("gen_ai.client.operation.duration", hist_point([many, 0], [1.0], 1.0 * many)))
    collector.ingest_metrics(decode_metrics(body, JSON, clock=clock).points)
    assert collector.snapshot().completions == MAX_CALLS_PER_REQUEST
    assert collector.metric_points.counts.calls_dropped == many - MAX_CALLS_PER_REQUEST


# ---------------------------------------------------------------- spans and logs win over metrics
def span_with_tokens(service: str, session: str | None, tokens_in: int, tokens_out: int) -> bytes:
    labels = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
    }
    if session is not None:
        labels["session.id"] = session
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat gpt-4o",
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 250_000_000),
        "attributes": attrs(labels),
    }
    resource = {
        "resourceSpans": [
            {"resource": {"attributes": attrs({"service.name": service})}, "scopeSpans": [{"spans": [span]}]}
        ]
    }
    return json.dumps(resource).encode()


def log_with_tokens(service: str, session: str, tokens_in: int, tokens_out: int) -> Event:
    """What a program's log record with token counts becomes (as a mapped event)."""
    return Event(
        service,
        NOW,
        "llm_call",
        model="gpt-4o",
        tokens_input=tokens_in,
        tokens_output=tokens_out,
        attributes={"session.id": session},
    )


def metric_tokens(service: str, session: str | None, tokens_in: int, tokens_out: int) -> bytes:
    more = {} if session is None else {"session.id": session}
    return request(
        histogram(
            "gen_ai.client.token.usage",
            token_usage(tokens_in, "input", **more),
            token_usage(tokens_out, "output", **more),
        ),
        resource={"service.name": service},
    )


def test_spans_win_over_metrics_of_the_same_source_and_metric_only_sources_count(
    start_collector: Any,
) -> None:
    running = start_collector(metric_hold_seconds=0)
    traces = httpx.post(
        running.url + PATH_OTLP_TRACES,
        content=span_with_tokens("coder", "s-1", 100, 10),
        headers={"content-type": JSON},
    )
    assert traces.status_code == 200
    assert post(running, metric_tokens("coder", "s-1", 100, 10)).status_code == 200  # the same call again
    assert post(running, metric_tokens("coder", "s-2", 7, 3)).status_code == 200  # a session sending no spans
    assert tokens_of(running.service, "coder") == (107, 13)
    assert health(running).metric_points_superseded == 2


def test_a_log_record_arriving_after_the_metric_of_the_same_call_still_wins() -> None:
    """The program reports one call as a log record and in its metrics, the metric export
    first: the hold lets the log record arrive and win."""
    clock = Clock()
    collector = Collector(Settings(clock=clock, metric_hold_seconds=10))
    collector.ingest_metrics(decode_metrics(metric_tokens("coder", "s-1", 100, 10), JSON, clock=clock).points)
    clock.advance(2)
    collector.ingest([log_with_tokens("coder", "s-1", 100, 10)])
    clock.advance(10)
    collector.release_metric_events()
    assert tokens_of(collector, "coder") == (100, 10)
    assert collector.health().metric_points_superseded == 2


def test_metric_tokens_of_a_source_sending_no_spans_count_once_the_hold_is_over() -> None:
    clock = Clock()
    collector = Collector(Settings(clock=clock, metric_hold_seconds=10))
    collector.ingest_metrics(decode_metrics(metric_tokens("coder", "s-1", 100, 10), JSON, clock=clock).points)
    collector.ingest([log_with_tokens("coder", "s-2", 5, 5)])  # another session
    assert tokens_of(collector, "coder") == (5, 5)
    clock.advance(10)
    collector.release_metric_events()
    assert tokens_of(collector, "coder") == (105, 15)
    assert collector.metric_points.counts.mapped == 2


@pytest.mark.parametrize(
    ("event_session", "metric_session", "superseded"),
    [
        ("s-1", "s-1", True),
        ("s-1", "s-2", False),
        ("s-1", None, True),  # a metric naming no session may be any session's
        (None, "s-2", True),  # spans naming no session may be any session's
        (None, None, True),
    ],
)
def test_which_sources_metrics_are_superseded(
    event_session: str | None, metric_session: str | None, superseded: bool
) -> None:
    sources = TokenSources()
    attributes = None if event_session is None else {"session.id": event_session}
    sources.note([Event("coder", NOW, "llm_call", tokens_input=1, attributes=attributes)])
    assert sources.metrics_superseded("coder", metric_session) is superseded
    assert not sources.metrics_superseded("other", metric_session)


def test_a_blank_session_names_no_session() -> None:
    sources = TokenSources()
    sources.note([Event("coder", NOW, "llm_call", tokens_input=1, attributes={"session.id": "", "x": 1})])
    assert sources.metrics_superseded("coder", "s-9")  # as for spans naming no session


def test_events_without_tokens_and_events_made_from_metrics_are_no_source() -> None:
    sources = TokenSources()
    sources.note([Event("coder", NOW, "tool_call"), Event("coder", NOW, "metric", tokens_input=5)])
    assert not sources.metrics_superseded("coder", None)


def test_the_sources_remembered_are_bounded() -> None:
    sources = TokenSources(max_sources=2)
    sources.note(
        [Event("a", NOW, tokens_input=1), Event("b", NOW, tokens_input=1), Event("c", NOW, tokens_input=1)]
    )
    assert (
        sources.evicted,
        sources.metrics_superseded("a", None),
        sources.metrics_superseded("c", None),
    ) == (1, False, True)


def test_held_events_are_bounded() -> None:
    clock = Clock()
    ingest = MetricIngest(hold_seconds=3600, clock=clock)
    body = request(
        histogram("gen_ai.client.operation.duration", hist_point([MAX_CALLS_PER_REQUEST], [], 1.0))
    )
    points = decode_metrics(body, JSON, clock=clock).points
    released = 0
    for _ in range(12):
        ingest.accept(points)
        released += len(ingest.release())
    assert released >= MAX_CALLS_PER_REQUEST  # the oldest went early rather than piling up


# ---------------------------------------------------------------- hostile bodies
def rejection(*metrics: dict[str, Any], resource: dict[str, Any] | None = None) -> str:
    result = decode_metrics(request(*metrics, resource=resource), JSON)
    assert result.rejected == 1 and not result.points, result.error_message
    assert result.error_message is not None
    return result.error_message.split(": ", 2)[-1]


@pytest.mark.parametrize(
    ("metric", "reason"),
    [
        (sum_metric("m", {"asDouble": "Infinity"}), "m: value is infinite"),
        (sum_metric("m", {"asDouble": "-Infinity"}), "m: value is infinite"),
        (sum_metric("m", {"asDouble": "many"}), "asDouble 'many' is not a number"),
        (sum_metric("m", {"asInt": str(2**63)}), "m: asInt does not fit in 64 bits"),
        (sum_metric("m", number(-3)), "m: a monotonic sum cannot be negative (-3)"),
        (sum_metric("m", {"timeUnixNano": str(T0)}), "m: data point has no value (asInt or asDouble)"),
        (
            sum_metric("m", number(1, time_ns=10**21)),
            "timestamp out of range (0 to 1e+11 s in nanoseconds)",
        ),
        (sum_metric("m", number(1, start_ns=T0 + 1)), "start_time_unix_nano is after time_unix_nano"),
        (
            sum_metric("m", number(1), temporality=0),
            "m: aggregation temporality must be DELTA (1) or CUMULATIVE (2), got 0",
        ),
        (histogram("h", {**hist_point([1, 1], [1.0], 2.0), "count": "-2"}), "h: count is negative (-2)"),
        (
            histogram("h", {**hist_point([1, 1], [1.0], 2.0), "bucketCounts": ["3", "-1"]}),
            "h: bucket_counts[1] is negative (-1)",
        ),
        (
            histogram("h", {**hist_point([1, 1], [1.0], 2.0), "count": "5"}),
            "h: bucket_counts add up to 2 but count is 5",
        ),
        (histogram("h", hist_point([1, 1, 1], [2.0, 1.0], 2.0)), "h: explicit_bounds must increase"),
        (
            histogram("h", hist_point([1, 1], [1.0, 2.0, 3.0], 2.0)),
            "h: 2 bucket_counts for 3 explicit_bounds (want 4)",
        ),
        (histogram("h", {**hist_point([1, 1], [1.0], 2.0), "sum": "NaN"}), "h: sum is NaN"),
        (
            histogram("h", hist_point([0] * (MAX_BUCKETS + 2), list(range(MAX_BUCKETS + 1)), 0.0)),
            f"h: more than {MAX_BUCKETS} buckets",
        ),
        (
            {
                "name": "e",
                "exponentialHistogram": {
                    "aggregationTemporality": 1,
                    "dataPoints": [{"count": "3", "zeroCount": "1"}],
                },
            },
            "e: zero_count and bucket_counts add up to 1 but count is 3",
        ),
        ({"name": "s", "summary": {"dataPoints": [{}]}}, "s: summary metrics are not supported"),
        (sum_metric("", number(1)), "metric name is empty"),
        (
            sum_metric("m", number(1, **{"gen_ai.agent.name": "a" * (MAX_AGENT_ID_LENGTH + 1)})),
            f"agent id (gen_ai.agent.name) is longer than {MAX_AGENT_ID_LENGTH} characters",
        ),
    ],
)
def test_a_bad_data_point_is_refused_with_a_precise_reason(metric: dict[str, Any], reason: str) -> None:
    assert rejection(metric) == reason


def test_a_resource_that_cannot_be_read_refuses_its_points() -> None:
    body = request(sum_metric("m", number(1), number(2)))
    broken = body.replace(b'"stringValue": "svc"', b'"intValue": "svc"')
    result = decode_metrics(broken, JSON)
    assert result.rejected == 2 and "resource: intValue 'svc' is not an integer" in (
        result.error_message or ""
    )


def test_points_beyond_the_per_request_bound_are_refused() -> None:
    points = [number(1, n=i) for i in range(MAX_METRIC_POINTS + 5)]
    result = decode_metrics(request(sum_metric("m", *points)), JSON)
    assert (len(result.points), result.rejected) == (MAX_METRIC_POINTS, 5)
    assert f"more than {MAX_METRIC_POINTS} data points in one request" in (result.error_message or "")


def test_oversized_point_attributes_are_trimmed_like_span_attributes() -> None:
    big = {f"k{i}": "v" * 1000 for i in range(40)}
    (point,) = decode_metrics(request(sum_metric("m", number(1, **big))), JSON).points
    assert len(msgspec.json.encode(point.attributes)) <= MAX_ATTRIBUTES_BYTES
    assert point.attributes["agentwatch.attributes_truncated"] > 0


def test_series_are_told_apart_by_name_scope_resource_and_attributes_in_any_order() -> None:
    body = request(sum_metric("m", number(1, a=1, b=2), number(1, b=2, a=1), number(1, a=2, b=2)))
    first, same, other = decode_metrics(body, JSON).points
    assert first.series == same.series != other.series
    elsewhere = decode_metrics(
        request(sum_metric("m", number(1, a=1, b=2)), resource={"service.name": "x"}), JSON
    )
    assert elsewhere.points[0].series != first.series


def test_undecodable_and_unknown_bodies_are_refused_whole() -> None:
    with pytest.raises(OtlpError) as undecodable:
        decode_metrics(b"\xff\x00garbage", PROTOBUF)
    assert undecodable.value.status == 400
    with pytest.raises(OtlpError) as unknown:
        decode_metrics(b"{}", "text/csv")
    assert unknown.value.status == 415


otlp_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
metric_fields = st.fixed_dictionaries(
    {},
    optional={
        "name": otlp_json_values,
        "sum": otlp_json_values,
        "histogram": otlp_json_values,
        "exponentialHistogram": otlp_json_values,
        "gauge": otlp_json_values,
    },
)


@given(st.lists(metric_fields, max_size=4), otlp_json_values)
def test_no_json_body_raises_anything_but_a_400(metrics: list[dict[str, Any]], anything: Any) -> None:
    for body in (
        json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": metrics}]}]}),
        json.dumps(anything),
    ):
        try:
            result = decode_metrics(body.encode(), JSON)
        except OtlpError as exc:
            assert exc.status == 400
        else:
            assert result.rejected + len(result.points) >= 0


@given(st.binary(max_size=200))
def test_no_protobuf_body_raises_anything_but_a_400(body: bytes) -> None:
    try:
        decode_metrics(body, PROTOBUF)
    except OtlpError as exc:
        assert exc.status == 400


# ---------------------------------------------------------------- chunked bodies, every ingest route
def chunks(data: bytes, size: int = 37) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


INGEST_BODIES = {
    PATH_EVENTS: json.dumps([{"agent_id": "js-agent", "span_type": "llm_call", "tokens_input": 5}]).encode(),
    PATH_OTLP_TRACES: span_with_tokens("js-agent", None, 5, 1),
    PATH_OTLP_LOGS: json.dumps(
        {
            "resourceLogs": [
                {"scopeLogs": [{"logRecords": [{"timeUnixNano": str(T0), "body": {"stringValue": "hi"}}]}]}
            ]
        }
    ).encode(),
    PATH_OTLP_METRICS: request(sum_metric("requests", number(1))),
}


@pytest.mark.parametrize("path", list(INGEST_BODIES))
@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_a_chunked_body_without_content_length_is_ingested(
    start_collector: Any, path: str, encoding: str | None
) -> None:
    running = start_collector()
    body = INGEST_BODIES[path]
    headers = {"content-type": JSON}
    if encoding:
        body = gzip.compress(body)
        headers["content-encoding"] = encoding
    answer = httpx.post(running.url + path, content=chunks(body), headers=headers, timeout=10)
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in answer.request.headers
    assert answer.status_code in (200, 202), answer.text
    counts = running.service.metric_points.counts
    assert running.service.window.events_total + sum(counts.points.values()) == 1, answer.text


@pytest.mark.parametrize("path", list(INGEST_BODIES))
def test_a_chunked_body_over_the_limit_is_refused_without_being_read_to_the_end(
    start_collector: Any, path: str
) -> None:
    running = start_collector(max_body=64 * 1024)
    sent = 0
    total = 4096  # 64 KiB chunks: 256 MiB if it were all read

    def endless() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(total):
            sent += 1
            yield b" " * 65536

    answer = httpx.post(running.url + path, content=endless(), headers={"content-type": JSON}, timeout=30)
    assert answer.status_code == 413
    assert sent < total
