"""OTLP/gRPC: `agentwatch serve` takes traces, logs and metrics on a gRPC port under the rules of
OTLP/HTTP (token, size bound, gzip, the same decoders and answers), sent by the OpenTelemetry SDK's
gRPC exporters and by raw gRPC calls, to the real collector on 127.0.0.1."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from agentwatch.collector.otlp_grpc import LOGS_SERVICE, METRICS_SERVICE, TRACE_SERVICE
from agentwatch.protocol import (
    DEFAULT_OTLP_GRPC_PORT,
    PATH_HEALTH,
    PATH_METRICS,
    PATH_OTLP_LOGS,
    PATH_OTLP_METRICS,
    PATH_OTLP_TRACES,
)
from tests.helpers import CollectorProcess, RunningCollector, all_logs, serve_in_thread, wait_until

TOKEN = "grpc-s3cret-token"
PROTOBUF = "application/x-protobuf"
SERVICES = (TRACE_SERVICE, LOGS_SERVICE, METRICS_SERVICE)
ENV_WITHOUT_TOKEN = {**os.environ, "AGENTWATCH_TOKEN": ""}

#: Text an agent may send that must stay data: scripts and emoji, terminal escapes (C0 and C1),
#: bidi overrides, Rich markup.
HOSTILE = (
    "naïve 日本語 Ελληνικά עברית 🤖👩🏽‍💻",
    "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x9b2J",
    "\u202egnp.exe \u200b\u2066x\u2069",
    "[bold red]markup[/] \\[not]",
)


# ---------------------------------------------------------------- a collector with a gRPC port
@dataclass
class GrpcCollector:
    http: RunningCollector
    target: str

    def export(self, service: str, body: bytes, **kwargs: Any) -> bytes:
        return export(self.target, service, body, **kwargs)


def export(
    target: str,
    service: str,
    body: bytes,
    *,
    metadata: tuple[tuple[str, str], ...] = (),
    compression: grpc.Compression | None = None,
) -> bytes:
    """One raw Export call: bytes in, bytes out, no (de)serialiser on either side."""
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(f"/{service}/Export")
        answer: bytes = call(body, metadata=metadata, compression=compression, timeout=10)
        return answer


def rpc_error(call: Callable[..., object], *args: Any, **kwargs: Any) -> grpc.RpcError:
    """The error ``call(*args, **kwargs)`` fails with; the test fails if it succeeds."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value


@pytest.fixture
def start_grpc_collector() -> Iterator[Callable[..., GrpcCollector]]:
    """Factory: a collector served in a thread with OTLP/gRPC on an ephemeral port too."""
    from agentwatch.collector.app import create_app
    from agentwatch.collector.service import Collector, Settings

    running: list[RunningCollector] = []

    def start(**settings: Any) -> GrpcCollector:
        settings.setdefault("store_path", None)
        settings.setdefault("otlp_grpc_port", 0)
        service = Collector(Settings(**settings))
        app = create_app(collector=service)
        server, thread, port = serve_in_thread(app)
        http = RunningCollector(f"http://127.0.0.1:{port}", server, thread, service, settings.get("token"))
        running.append(http)
        return GrpcCollector(http, f"127.0.0.1:{app.state.otlp_grpc.port}")

    yield start
    for instance in running:
        instance.stop()


# ---------------------------------------------------------------- payloads
def kv(key: str, value: str | int | float) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(double_value=value))


def span(name: str, start: float, attributes: dict[str, str | int | float], **fields: Any) -> Span:
    nanos = int(start * 1e9)
    return Span(
        trace_id=bytes(range(1, 17)),
        span_id=os.urandom(8),
        name=name,
        start_time_unix_nano=nanos,
        end_time_unix_nano=nanos + 250_000_000,
        attributes=[kv(k, v) for k, v in attributes.items()],
        **fields,
    )


def hostile_traces(now: float) -> bytes:
    """GenAI spans whose every text field is hostile or far from ASCII, one span too long to keep
    its agent name and one with an impossible token count (both rejected, the rest kept)."""
    spans = [
        span(
            "chat " + HOSTILE[0],
            now,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o " + HOSTILE[1],
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 40,
                "gen_ai.agent.name": "agent " + HOSTILE[0],
                "free." + HOSTILE[2]: HOSTILE[3],
            },
        ),
        span(
            "execute_tool",
            now + 0.1,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": HOSTILE[2],
                "error.type": HOSTILE[1],
            },
            status=Status(code=Status.STATUS_CODE_ERROR, message=HOSTILE[3] + " " + "é" * 3000),
        ),
        span("chat", now + 0.2, {"gen_ai.operation.name": "chat", "gen_ai.agent.name": "a" * 500}),
        span("chat", now + 0.3, {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 2**53}),
    ]
    resource = Resource(attributes=[kv("service.name", "svc " + HOSTILE[0])])
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def hostile_logs(now: float) -> bytes:
    records = [
        LogRecord(
            time_unix_nano=int((now + index) * 1e9),
            severity_number=severity,
            body=AnyValue(string_value=text),
            attributes=[kv("event.name", "agent.step"), kv("note", text)],
        )
        for index, (severity, text) in enumerate(zip((9, 13, 17, 21), HOSTILE, strict=True))
    ]
    resource = Resource(attributes=[kv("service.name", "logger " + HOSTILE[0])])
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)])]
    )
    return request.SerializeToString()


def token_metrics(now: float) -> bytes:
    """``gen_ai.client.token.usage`` for two calls (120 input, 40 output tokens; then 300 and 7), a
    counter of a coding agent, and one point no collector can take (a negative count)."""
    bounds = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0]

    def usage(tokens: int, kind: str) -> HistogramDataPoint:
        counts = [0] * (len(bounds) + 1)
        counts[sum(1 for bound in bounds if bound < tokens)] = 1
        labels = {
            "gen_ai.token.type": kind,
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.operation.name": "chat",
        }
        return HistogramDataPoint(
            time_unix_nano=int(now * 1e9),
            count=1,
            sum=float(tokens),
            bucket_counts=counts,
            explicit_bounds=bounds,
            attributes=[kv(k, v) for k, v in labels.items()],
        )

    points = [usage(120, "input"), usage(40, "output"), usage(300, "input"), usage(7, "output")]
    metrics = [
        Metric(
            name="gen_ai.client.token.usage",
            histogram=Histogram(data_points=points, aggregation_temporality=1),
        ),
        Metric(
            name="claude_code.lines_of_code.count",
            sum=Sum(
                data_points=[
                    NumberDataPoint(time_unix_nano=int(now * 1e9), as_int=12),
                    NumberDataPoint(as_double=-1.0),
                ],
                aggregation_temporality=1,
                is_monotonic=True,
            ),
        ),
    ]
    resource = Resource(attributes=[kv("service.name", "metered " + HOSTILE[0])])
    request = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=[ScopeMetrics(metrics=metrics)])]
    )
    return request.SerializeToString()


def tokens_of(collector: GrpcCollector, agent: str) -> tuple[int, int]:
    series = [s for (a, _), s in collector.http.service.totals.series.items() if a == agent]
    return sum(s.tokens_in for s in series), sum(s.tokens_out for s in series)


def post_protobuf(collector: RunningCollector, path: str, body: bytes) -> httpx.Response:
    headers = {**collector.headers(), "Content-Type": PROTOBUF}
    return httpx.post(collector.url + path, content=body, headers=headers, timeout=10)


# ---------------------------------------------------------------- what arrives
def test_the_same_payload_over_grpc_and_http_gets_the_same_answer_log_lines_and_snapshot(
    start_grpc_collector: Callable[..., GrpcCollector],
) -> None:
    over_grpc, over_http = start_grpc_collector(), start_grpc_collector()
    now = time.time()
    traces, logs = hostile_traces(now), hostile_logs(now)

    answers = (over_grpc.export(TRACE_SERVICE, traces), over_grpc.export(LOGS_SERVICE, logs))
    responses = (
        post_protobuf(over_http.http, PATH_OTLP_TRACES, traces),
        post_protobuf(over_http.http, PATH_OTLP_LOGS, logs),
    )
    assert [r.status_code for r in responses] == [200, 200]
    assert answers == tuple(r.content for r in responses)
    partial = ExportTraceServiceResponse.FromString(answers[0]).partial_success
    assert partial.rejected_spans == 2 and "span 2" in partial.error_message

    entries = all_logs(over_grpc.http.url, 6)
    assert entries == all_logs(over_http.http.url, 6)
    messages = " ".join(entry.message for entry in entries)
    for text in HOSTILE:
        assert text in messages  # kept as data, byte for byte; the viewer makes escapes visible
    agents = {entry.agent_id for entry in entries}
    assert agents == {"agent " + HOSTILE[0], "svc " + HOSTILE[0], "logger " + HOSTILE[0]}

    def rows(collector: GrpcCollector) -> list[tuple[Any, ...]]:
        snapshot = collector.http.service.snapshot()
        return sorted((r.agent_id, r.events, r.errors, r.cost_usd, r.p50_latency_ms) for r in snapshot.agents)

    assert rows(over_grpc) == rows(over_http) and len(rows(over_grpc)) == 3


def test_sdk_grpc_exporters_deliver_spans_and_log_records_with_a_token_and_gzip(
    start_grpc_collector: Callable[..., GrpcCollector],
) -> None:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource as SdkResource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    collector = start_grpc_collector(token=TOKEN)
    options: dict[str, Any] = {
        "endpoint": f"http://{collector.target}",
        "insecure": True,
        "headers": {"authorization": f"Bearer {TOKEN}"},
        "compression": grpc.Compression.Gzip,
    }
    resource = SdkResource.create({"service.name": "grpc-agent"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(**options)))
    tracer = tracer_provider.get_tracer("test")
    for tokens in (10, 20, 30):
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.output_tokens": tokens,
                }
            )
    tracer_provider.shutdown()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(**options)))
    logger = logger_provider.get_logger("test")
    logger.emit(body="indexing " + HOSTILE[0], severity_text="WARN", severity_number=SeverityNumber.WARN)
    logger_provider.shutdown()

    snapshot = wait_until(lambda: (s := collector.http.service.snapshot("grpc-agent")).events == 4 and s)
    assert snapshot.completions == 3 and [row.model for row in snapshot.agents] == ["gpt-4o"]
    (entry,) = [e for e in all_logs(collector.http.url, 4, collector.http.headers()) if e.level == "warning"]
    assert (entry.agent_id, entry.message) == ("grpc-agent", "indexing " + HOSTILE[0])


def test_grpc_requests_are_counted_in_healthz_and_metrics_like_http_ones(
    start_grpc_collector: Callable[..., GrpcCollector],
) -> None:
    collector = start_grpc_collector(token=TOKEN)
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    collector.export(TRACE_SERVICE, hostile_traces(time.time()), metadata=metadata)
    headers = collector.http.headers()
    health = httpx.get(collector.http.url + PATH_HEALTH, headers=headers).json()
    assert health["events_total"] == 2 and health["log_entries_total"] == 2
    scrape = httpx.get(collector.http.url + PATH_METRICS, headers=headers).text
    assert 'agentwatch_events_total{agent="agent ' in scrape


def test_a_gzip_compressed_request_is_inflated(start_grpc_collector: Callable[..., GrpcCollector]) -> None:
    collector = start_grpc_collector()
    collector.export(LOGS_SERVICE, hostile_logs(time.time()), compression=grpc.Compression.Gzip)
    assert len(all_logs(collector.http.url, 4)) == 4


def test_metrics_over_grpc_are_taken_and_counted_as_over_http(
    start_grpc_collector: Callable[..., GrpcCollector],
) -> None:
    over_grpc, over_http = (start_grpc_collector(metric_hold_seconds=0) for _ in range(2))
    body = token_metrics(time.time())
    answer = over_grpc.export(METRICS_SERVICE, body)
    response = post_protobuf(over_http.http, PATH_OTLP_METRICS, body)
    assert response.status_code == 200 and answer == response.content
    partial = ExportMetricsServiceResponse.FromString(answer).partial_success
    assert partial.rejected_data_points == 1 and partial.error_message

    agent = "metered " + HOSTILE[0]
    assert tokens_of(over_grpc, agent) == tokens_of(over_http, agent) == (420, 47)
    counted = ("metric_requests_total", "metric_points_total", "metric_points_rejected", "events_total")
    reports = [httpx.get(c.http.url + PATH_HEALTH).json() for c in (over_grpc, over_http)]
    grpc_counts, http_counts = ([report[key] for key in counted] for report in reports)
    assert grpc_counts == http_counts and grpc_counts[:3] == [1, 5, 1]


def test_the_sdk_grpc_metric_exporter_counts_each_calls_tokens_once(
    start_grpc_collector: Callable[..., GrpcCollector],
) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import Histogram as SdkHistogram
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource as SdkResource

    collector = start_grpc_collector(metric_hold_seconds=0)
    exporter = OTLPMetricExporter(
        endpoint=f"http://{collector.target}",
        insecure=True,
        preferred_temporality={SdkHistogram: AggregationTemporality.CUMULATIVE},
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=SdkResource.create({"service.name": "gemini"}))
    usage = provider.get_meter("gen_ai.test").create_histogram("gen_ai.client.token.usage", unit="{token}")
    labels = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gemini-2.5-pro"}
    try:
        for exported, (prompt, completion) in enumerate([(120, 40), (300, 7)], start=1):
            usage.record(prompt, {**labels, "gen_ai.token.type": "input"})
            usage.record(completion, {**labels, "gen_ai.token.type": "output"})
            assert provider.force_flush()
            wait_until(lambda n=exported: collector.http.service.health().metric_requests_total == n)
    finally:
        provider.shutdown()
    assert tokens_of(collector, "gemini") == (420, 47)


# ---------------------------------------------------------------- refused, with the reason
@pytest.mark.parametrize("service", SERVICES)
def test_garbage_bytes_are_invalid_argument_naming_the_protobuf_error(
    start_grpc_collector: Callable[..., GrpcCollector], service: str
) -> None:
    collector = start_grpc_collector()
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\x05abc", os.urandom(64) + b"\x0a\xff\xff\xff\xff\x0f"):
        error = rpc_error(collector.export, service, garbage)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert "invalid OTLP protobuf" in (error.details() or "")
    assert collector.http.service.health().events_total == 0


def test_a_body_over_the_limit_is_resource_exhausted_before_and_after_gzip(
    start_grpc_collector: Callable[..., GrpcCollector],
) -> None:
    collector = start_grpc_collector(max_body=4096)
    big = hostile_logs(time.time()) * 8  # valid protobuf (repeated fields concatenate), over 4 KiB
    assert len(big) > 4096
    error = rpc_error(collector.export, LOGS_SERVICE, big)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Small on the wire, over the limit once inflated.
    bomb = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                scope_logs=[ScopeLogs(log_records=[LogRecord(body=AnyValue(string_value="a" * 100_000))])]
            )
        ]
    ).SerializeToString()
    assert len(gzip.compress(bomb)) < 4096
    error = rpc_error(collector.export, LOGS_SERVICE, bomb, compression=grpc.Compression.Gzip)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert collector.export(LOGS_SERVICE, hostile_logs(time.time())) == b""  # under the limit: taken


@pytest.mark.parametrize("service", SERVICES)
def test_a_missing_or_wrong_token_is_unauthenticated(
    start_grpc_collector: Callable[..., GrpcCollector], service: str
) -> None:
    collector = start_grpc_collector(token=TOKEN)
    body = {TRACE_SERVICE: hostile_traces, LOGS_SERVICE: hostile_logs, METRICS_SERVICE: token_metrics}[
        service
    ](time.time())
    for metadata in (
        (),
        (("authorization", "Bearer wrong"),),
        (("authorization", f"Bearer {TOKEN[:-1]}"),),
        (("authorization", f"Basic {TOKEN}"),),
        (("x-token", TOKEN),),
    ):
        error = rpc_error(collector.export, service, body, metadata=metadata)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "authorization: Bearer" in (error.details() or "") and TOKEN not in (error.details() or "")
    assert collector.http.service.health().events_total == 0
    collector.export(service, body, metadata=(("authorization", f"Bearer {TOKEN}"),))


def test_a_request_not_sent_in_time_is_deadline_exceeded(
    start_grpc_collector: Callable[..., GrpcCollector],
) -> None:
    collector = start_grpc_collector(body_timeout=0.3)
    release = threading.Event()

    def never_sends() -> Iterator[bytes]:
        release.wait(10)
        yield from ()

    with grpc.insecure_channel(collector.target) as channel:
        call = channel.stream_unary(f"/{TRACE_SERVICE}/Export")
        try:
            error = rpc_error(call, never_sends(), timeout=10)
        finally:
            release.set()
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "0.3 s" in (error.details() or "")


def test_without_a_grpc_port_the_app_opens_none() -> None:
    from agentwatch.collector.app import create_app
    from agentwatch.collector.service import Settings

    app = create_app(Settings(store_path=None))
    server, thread, _ = serve_in_thread(app)
    try:
        assert not hasattr(app.state, "otlp_grpc")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ---------------------------------------------------------------- the serve command
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (Linux: its socket inodes in /proc/net/tcp{,6})."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


#: Exit statuses of a collector stopped with Ctrl-C: uvicorn shuts down, then passes the interrupt on.
CLEAN_EXIT = (0, 130)
linux_only = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc/net/tcp")


@linux_only
def test_serve_listens_for_grpc_beside_http_and_stops_cleanly(
    start_collector_process: Callable[..., CollectorProcess],
) -> None:
    port = free_port()
    process = start_collector_process("--no-store", "--otlp-grpc-port", str(port))
    assert wait_until(lambda: listening_ports(process.process.pid) == {process.port, port})
    export(f"127.0.0.1:{port}", TRACE_SERVICE, hostile_traces(time.time()))
    assert httpx.get(process.url + PATH_HEALTH).json()["events_total"] == 2
    process.stop()
    assert process.process.returncode in CLEAN_EXIT
    assert process.process.stderr is not None
    assert "Traceback" not in process.process.stderr.read()


@linux_only
def test_grpc_port_zero_turns_grpc_off(start_collector_process: Callable[..., CollectorProcess]) -> None:
    process = start_collector_process("--no-store", "--otlp-grpc-port", "0")
    assert listening_ports(process.process.pid) == {process.port}
    process.stop()
    assert process.process.stderr is not None
    assert "gRPC" not in process.process.stderr.read()


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agentwatch", "serve", "--port", "0", "--no-store", *args]


def test_an_explicit_busy_port_is_refused_and_a_busy_default_only_turns_grpc_off() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        result = subprocess.run(
            serve_command("--otlp-grpc-port", str(busy)),
            capture_output=True,
            text=True,
            timeout=30,
            env=ENV_WITHOUT_TOKEN,
        )
    assert result.returncode == 1 and result.stdout == ""
    assert f"cannot listen on 127.0.0.1:{busy} for OTLP/gRPC" in result.stderr

    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", DEFAULT_OTLP_GRPC_PORT))
            holder.listen()
        except OSError:
            pass  # taken already: busy all the same
        process = subprocess.Popen(
            serve_command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV_WITHOUT_TOKEN
        )
        try:
            assert process.stdout is not None
            first_line = process.stdout.readline()
            url = next(word for word in first_line.split() if word.startswith("http://"))
            assert "gRPC" not in first_line
            wait_until(lambda: _health(url) == 200, timeout=15)
        finally:
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=15)
    assert process.returncode in CLEAN_EXIT
    assert f"OTLP/gRPC is off: cannot listen on 127.0.0.1:{DEFAULT_OTLP_GRPC_PORT}" in err
    assert "--otlp-grpc-port" in err


def _health(url: str) -> int:
    try:
        return httpx.get(url + PATH_HEALTH, timeout=1).status_code
    except httpx.TransportError:
        return 0


def test_non_loopback_grpc_without_a_token_is_refused_at_start() -> None:
    result = subprocess.run(
        serve_command("--host", "0.0.0.0", "--otlp-grpc-port", str(free_port())),
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV_WITHOUT_TOKEN,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "refusing to listen on 0.0.0.0" in result.stderr and "--token" in result.stderr


def test_without_grpcio_serve_runs_and_says_grpc_is_off(
    start_collector_process: Callable[..., CollectorProcess],
) -> None:
    without_grpc = "import sys; sys.modules['grpc'] = None; from agentwatch.cli import main; sys.exit(main())"
    process = start_collector_process(
        "--no-store", "--otlp-grpc-port", str(free_port()), launcher=("-c", without_grpc)
    )
    assert httpx.get(process.url + PATH_HEALTH).status_code == 200
    process.stop()
    assert process.process.stderr is not None
    err = process.process.stderr.read()
    assert "OTLP/gRPC is off: grpcio is not installed" in err and "agentwatch[otlp]" in err
