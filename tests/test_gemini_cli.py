"""Gemini CLI's telemetry shows the totals the real CLI (0.61) reported about its own runs, and,
built from the keys and types it sends, the token totals its bodies carry: once, whichever of
events, spans and metrics arrive."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agentwatch.collector.otlp import conventions, gemini_cli
from agentwatch.collector.otlp.errors import Reject
from agentwatch.collector.otlp.mapping import RawLog, map_log, map_span
from agentwatch.collector.otlp_grpc import LOGS_SERVICE, METRICS_SERVICE, TRACE_SERVICE
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    ATTR_TOKENS_CACHE_READ,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
)
from tests.helpers import RunningCollector, serve_in_thread
from tests.otlp_fixtures import Variant, variant, variants
from tests.test_claude_code import last_timestamp, replay, totals

GEMINI = variants("gemini")
ERROR_RUNS = [v for v in GEMINI if v.totals["is_error"]]
TRACED_RUNS = [v for v in GEMINI if any(True for _ in v.requests("traces"))]

SESSION = "3f2a9c1e-5b7d-4e0f-9a8b-1c2d3e4f5a6b"
OTHER_SESSION = "b81e0d47-2c3a-4f5e-8d9c-0a1b2c3d4e5f"
INSTALLATION = "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f"
MODEL = "gemini-3.8-flash"  # not in the price table: no cost is invented
START_NS = 1_796_000_000_000_000_000
NOW = START_NS / 1e9 + 1.0
CALLS: tuple[tuple[int | str, ...], ...] = (
    (100, 7, 20, 3, 0, 11),
    (240, "31", "0", 12, 5, "420"),
)  # input, output, cached, thoughts, tool, ms


def value(raw: Any) -> dict[str, Any]:
    """An OTLP/JSON AnyValue of the kind Gemini CLI sends for this Python value."""
    if raw is None:
        return {}
    if isinstance(raw, bool):
        return {"boolValue": raw}
    if isinstance(raw, int):
        return {"intValue": str(raw)}
    if isinstance(raw, float):
        return {"doubleValue": raw}
    if isinstance(raw, list):
        return {"arrayValue": {"values": [value(item) for item in raw]}}
    return {"stringValue": raw}


def kvs(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": value(raw)} for key, raw in attributes.items()]


def resource(session: str) -> dict[str, Any]:
    return {
        "attributes": kvs(
            {
                "service.name": "gemini-cli",
                "service.version": "v20.20.2",
                "session.id": session,
                "host.name": "devbox",
                "process.pid": 4242,
                "process.executable.name": "node",
                "process.command_args": ["node", "gemini", "-p", "say hi"],
            }
        )
    }


def record(session: str, name: str, offset_ms: int, body: str, **attributes: Any) -> dict[str, Any]:
    common = {
        "session.id": session,
        "installation.id": INSTALLATION,
        "interactive": False,
        "auth_type": "gemini-api-key",
        "event.name": name,
        "event.timestamp": "2026-12-01T10:00:00.000Z",
    }
    time_ns = START_NS + offset_ms * 1_000_000
    return {
        "timeUnixNano": str(time_ns),
        "observedTimeUnixNano": str(time_ns),
        "body": {"stringValue": body},
        "attributes": kvs(common | attributes),
    }


def run_records(session: str) -> list[dict[str, Any]]:
    """The log records of one ``gemini -p`` run with two model calls, a tool call and a 429."""
    records = [
        record(
            session, "gemini_cli.config", 0, "CLI configuration loaded.", model="auto", approval_mode="yolo"
        ),
        record(
            session,
            "gemini_cli.user_prompt",
            1,
            "User prompt.",
            prompt_length=6,
            prompt_id=session,
            prompt="say hi",
        ),
        record(
            session,
            "gemini_cli.model_routing",
            2,
            "Model routing decision.",
            decision_model=MODEL,
            routing_latency_ms=4,
            failed=False,
        ),
    ]
    for index, (tokens_in, tokens_out, cached, thoughts, tool, ms) in enumerate(CALLS):
        at = 10 + index * 100
        records.append(
            record(
                session,
                "gemini_cli.api_request",
                at,
                f"API request to {MODEL}.",
                model=MODEL,
                prompt_id=session,
                role="main",
                request_text='[{"role":"user"}]',
            )
        )
        records.append(
            record(
                session,
                "gen_ai.client.inference.operation.details",
                at + 1,
                "GenAI operation details. Status: 200.",
                **{
                    "gen_ai.operation.name": "generate_content",
                    "gen_ai.request.model": MODEL,
                    "gen_ai.usage.input_tokens": tokens_in,
                    "gen_ai.usage.output_tokens": tokens_out,
                },
            )
        )
        records.append(
            record(
                session,
                "gemini_cli.api_response",
                at + 2,
                f"API response from {MODEL}. Status: 200. Duration: {ms}ms.",
                model=MODEL,
                duration_ms=ms,
                input_token_count=tokens_in,
                output_token_count=tokens_out,
                cached_content_token_count=cached,
                thoughts_token_count=thoughts,
                tool_token_count=tool,
                total_token_count=int(tokens_in) + int(tokens_out),
                prompt_id=session,
                status_code=200,
                finish_reasons=["stop"],
                role="main",
                response_text='{"text":"hi"}',
                **{"http.status_code": 200},
            )
        )
    records.append(
        record(
            session,
            "gemini_cli.tool_call",
            50,
            "Tool call: run_shell_command. Decision: accept. Success: true. Duration: 33ms.",
            function_name="run_shell_command",
            function_args='{"command":"ls"}',
            duration_ms=33,
            success=True,
            decision="accept",
            tool_type="native",
        )
    )
    records.append(
        record(
            session,
            "gemini_cli.api_error",
            300,
            f"API error for {MODEL}. Error: Resource exhausted. Duration: 5ms.",
            model=MODEL,
            model_name=MODEL,
            error='{"error":{"code":429,"message":"Resource exhausted"}}',
            duration_ms=5,
            duration=5,
            prompt_id=session,
            role="main",
            **{
                "error.message": "Resource exhausted",
                "error.type": "ApiError",
                "status_code": 429,
                "http.status_code": 429,
            },
        )
    )
    records.append(
        record(
            session,
            "gemini_cli.file_operation",
            400,
            "File operation: create.",
            tool_name="write_file",
            operation="create",
            lines=3,
        )
    )
    return records


def logs_json(session: str) -> dict[str, Any]:
    scope = {"scope": {"name": "gemini-cli"}, "logRecords": run_records(session)}
    return {"resourceLogs": [{"resource": resource(session), "scopeLogs": [scope]}]}


def logs_protobuf(session: str) -> bytes:
    return ParseDict(logs_json(session), ExportLogsServiceRequest()).SerializeToString()


def traces_json(session: str) -> dict[str, Any]:
    common = {
        "gen_ai.agent.name": "gemini-cli",
        "gen_ai.agent.description": "Gemini CLI",
        "gen_ai.conversation.id": session,
    }
    spans = []
    for index, (tokens_in, tokens_out, *_rest) in enumerate(CALLS):
        start = START_NS + (10 + index * 100) * 1_000_000
        spans.append(
            {
                "traceId": f"{index + 1:032x}",
                "spanId": f"{index + 1:016x}",
                "name": "llm_call",
                "kind": 1,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 11_000_000),
                "attributes": kvs(
                    common
                    | {
                        "gen_ai.operation.name": "generate_content",
                        "gen_ai.request.model": MODEL,
                        "gen_ai.usage.input_tokens": int(tokens_in),
                        "gen_ai.usage.output_tokens": int(tokens_out),
                    }
                ),
                "status": {"code": 1},
            }
        )
    spans.append(
        {
            "traceId": f"{9:032x}",
            "spanId": f"{9:016x}",
            "name": "tool_call",
            "kind": 1,
            "startTimeUnixNano": str(START_NS + 50_000_000),
            "endTimeUnixNano": str(START_NS + 83_000_000),
            "attributes": kvs(
                common | {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "run_shell_command"}
            ),
            "status": {"code": 1},
        }
    )
    scope = {"scope": {"name": "gemini-cli", "version": "v1"}, "spans": spans}
    return {"resourceSpans": [{"resource": resource(session), "scopeSpans": [scope]}]}


def metrics_json(session: str) -> dict[str, Any]:
    """Gemini CLI's CUMULATIVE token metrics for the same calls: its own and the GenAI histogram."""
    point_attrs = {"session.id": session, "installation.id": INSTALLATION, "interactive": False}
    start_ns = int(NOW * 1e9)  # the run began while the collector watched: its first point counts
    start, end = str(start_ns), str(start_ns + 10_000_000_000)
    own = [
        {
            "attributes": kvs(point_attrs | {"model": MODEL, "type": kind}),
            "startTimeUnixNano": start,
            "timeUnixNano": end,
            "asInt": str(amount),
        }
        for kind, amount in (("input", TOKENS_IN), ("output", TOKENS_OUT), ("cache", CACHED))
    ]
    genai = [
        {
            "attributes": kvs(point_attrs | {"gen_ai.token.type": kind, "gen_ai.request.model": MODEL}),
            "startTimeUnixNano": start,
            "timeUnixNano": end,
            "count": str(len(CALLS)),
            "sum": amount,
            "bucketCounts": [str(len(CALLS))],
            "explicitBounds": [],
        }
        for kind, amount in (("input", TOKENS_IN), ("output", TOKENS_OUT))
    ]
    metrics = [
        {
            "name": "gemini_cli.token.usage",
            "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": own},
        },
        {
            "name": "gen_ai.client.token.usage",
            "unit": "token",
            "histogram": {"aggregationTemporality": 2, "dataPoints": genai},
        },
    ]
    scope = {"scope": {"name": "gemini-cli"}, "metrics": metrics}
    return {"resourceMetrics": [{"resource": resource(session), "scopeMetrics": [scope]}]}


TOKENS_IN = sum(int(call[0]) for call in CALLS)
TOKENS_OUT = sum(int(call[1]) for call in CALLS)
CACHED = sum(int(call[2]) for call in CALLS)


def post(collector: RunningCollector, path: str, body: Any) -> None:
    if isinstance(body, bytes):
        content, kind = body, "application/x-protobuf"
    else:
        content, kind = json.dumps(body).encode(), "application/json"
    response = httpx.post(collector.url + path, content=content, headers={"Content-Type": kind}, timeout=10)
    assert response.status_code == 200, (path, response.text)
    assert response.content in (b"", b"{}"), f"items rejected: {response.content!r}"


def session_rows(shown: dict[str, Any]) -> list[str]:
    return [
        row["agent_id"] for row in shown["snapshot"]["agents"] if row["agent_id"].startswith("gemini-cli")
    ]


@pytest.fixture
def collector(start_collector: Any) -> RunningCollector:
    return start_collector(clock=lambda: NOW)


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_totals_equal_what_the_bodies_carry(collector: RunningCollector, encoding: str) -> None:
    post(collector, "/v1/logs", logs_json(SESSION) if encoding == "json" else logs_protobuf(SESSION))
    shown = totals(collector)
    assert (shown["input_tokens"], shown["output_tokens"], shown["cache_read_tokens"]) == (
        TOKENS_IN,
        TOKENS_OUT,
        CACHED,
    )
    assert shown["cost_usd"] == 0, "the model is not priced and Gemini CLI sends no cost"
    assert session_rows(shown) == ["gemini-cli·3f2a9c1e"]
    assert shown["snapshot"]["errors"] >= 1
    errors = [line.message for line in shown["logs"] if line.level == "error"]
    assert any("HTTP 429" in message and "ApiError" in message for message in errors), errors
    assert all(line.message for line in shown["logs"]), "every line reads as something"
    assert not any("say hi" in str(line.metadata) for line in shown["logs"]), "no prompt text"


def test_with_events_spans_and_metrics_of_one_run_the_tokens_count_once(collector: RunningCollector) -> None:
    post(collector, "/v1/traces", traces_json(SESSION))
    post(collector, "/v1/logs", logs_json(SESSION))
    post(collector, "/v1/metrics", metrics_json(SESSION))
    shown = totals(collector)
    assert (shown["input_tokens"], shown["output_tokens"], shown["cache_read_tokens"]) == (
        TOKENS_IN,
        TOKENS_OUT,
        CACHED,
    )
    assert collector.service.metric_points.counts.superseded >= 2  # the GenAI histogram's points
    assert session_rows(shown) == ["gemini-cli·3f2a9c1e"]


def test_each_session_is_one_row(collector: RunningCollector) -> None:
    post(collector, "/v1/logs", logs_json(SESSION))
    post(collector, "/v1/logs", logs_protobuf(OTHER_SESSION))
    post(collector, "/v1/traces", traces_json(OTHER_SESSION))
    shown = totals(collector)
    assert sorted(session_rows(shown)) == ["gemini-cli·3f2a9c1e", "gemini-cli·b81e0d47"]
    assert shown["input_tokens"] == 2 * TOKENS_IN


def test_the_logs_over_grpc_show_the_same_totals() -> None:
    from agentwatch.collector.app import create_app
    from agentwatch.collector.service import Collector, Settings

    service = Collector(Settings(store_path=None, otlp_grpc_port=0, clock=lambda: NOW))
    app = create_app(collector=service)
    server, thread, port = serve_in_thread(app)
    running = RunningCollector(f"http://127.0.0.1:{port}", server, thread, service)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{app.state.otlp_grpc.port}") as channel:
            export: Any = channel.unary_unary(f"/{LOGS_SERVICE}/Export")
            assert export(logs_protobuf(SESSION), timeout=10) == b""
        shown = totals(running)
        assert (shown["input_tokens"], shown["output_tokens"]) == (TOKENS_IN, TOKENS_OUT)
    finally:
        running.stop()


# ------------------------------------------------------------------ what the real CLI sent


def by_id(runs: list[Variant]) -> Any:
    return pytest.mark.parametrize("captured", runs, ids=[run.id for run in runs])


@pytest.fixture
def start_at(start_collector: Any) -> Any:
    def start(*runs: Variant, **settings: Any) -> RunningCollector:
        now = last_timestamp(*runs) + 1.0
        return start_collector(clock=lambda: now, **settings)

    return start


def expected_cost(run: Variant) -> float | None:
    """The price table's estimate of the CLI's own counts, model by model, thoughts billed as output
    (as Google bills them); None when a model of the run is not priced."""
    cost = 0.0
    for model, counts in run.totals["by_model"].items():
        call = estimate_cost(
            model,
            counts["input_tokens"],
            counts["output_tokens"] + counts["reasoning_tokens"],
            counts["cache_read_tokens"],
        )
        if call is None:
            return None
        cost += call
    return cost


def tool_calls_reported(run: Variant) -> int:
    output = run.cli_result["output"]
    return (
        int(output["stats"]["tools"]["totalCalls"]) if isinstance(output, dict) and "stats" in output else 0
    )


def records_named(run: Variant, name: str) -> int:
    found = 0
    for request in run.requests("logs"):
        for resource in json.loads(request.body)["resourceLogs"]:
            for scope in resource["scopeLogs"]:
                for item in scope["logRecords"]:
                    found += any(
                        kv["key"] == "event.name" and kv["value"].get("stringValue") == name
                        for kv in item["attributes"]
                    )
    return found


def test_the_fixtures_cover_text_tools_errors_and_the_router() -> None:
    assert {v.name for v in GEMINI} >= {
        "http-text",
        "http-tool",
        "http-auto-text",
        "http-error500",
        "http-error429",
    }
    assert all(v.index["cli_version"].startswith("0.") for v in GEMINI)
    assert all(request.is_json for v in GEMINI for request in v.requests()), "Gemini CLI's http is JSON"


@by_id(GEMINI)
def test_totals_equal_what_the_cli_reported(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured)
    shown = totals(collector)
    expected = captured.totals
    for key in ("input_tokens", "output_tokens", "cache_read_tokens"):
        assert shown[key] == expected[key], key
    snapshot = shown["snapshot"]
    cost = expected_cost(captured)
    if cost is None:  # a model the price table does not know: no cost is invented
        assert shown["cost_usd"] == 0 and not snapshot["cost_estimated"]
        assert [row["cost_unpriced"] for row in snapshot["agents"]] == [True]
    else:
        assert shown["cost_usd"] == pytest.approx(cost)
        assert snapshot["total_cost_usd"] == pytest.approx(cost)
        assert snapshot["cost_estimated"] is (cost > 0)
    assert snapshot["tool_calls_total"] == tool_calls_reported(captured)
    assert session_rows(shown) == [row["agent_id"] for row in snapshot["agents"]], "one row, the session's"
    assert len(session_rows(shown)) == 1
    assert all(line.message for line in shown["logs"]), "every line reads as something"
    kept = " ".join(str(line.metadata) for line in shown["logs"])
    assert "say hi" not in kept, "no prompt text"
    assert "non-interactive CLI agent" not in kept, "no system instructions"


@by_id(ERROR_RUNS)
def test_a_failing_run_shows_each_failed_attempt_and_no_cost(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured)
    shown = totals(collector)
    attempts = records_named(captured, "gemini_cli.api_error")
    assert attempts >= 1
    assert shown["snapshot"]["errors"] == attempts, "spans with an error status add none"
    assert shown["snapshot"]["total_cost_usd"] == 0
    status = "429: RESOURCE_EXHAUSTED" if "429" in captured.name else "500: INTERNAL"
    errors = [line.message for line in shown["logs"] if line.level == "error"]
    assert len(errors) == attempts
    assert all(f"HTTP {status}: fake {status[:3]} error" in message for message in errors), errors


@by_id(TRACED_RUNS)
def test_traces_on_or_off_give_the_same_totals(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured, signals=("logs",))
    without_traces = totals(collector)
    replay(collector, captured, signals=("traces", "metrics"))
    with_traces = totals(collector)
    for key in ("input_tokens", "output_tokens", "cost_usd", "cache_read_tokens"):
        assert with_traces[key] == without_traces[key], key
    assert with_traces["snapshot"]["errors"] == without_traces["snapshot"]["errors"]
    assert len(with_traces["logs"]) > len(without_traces["logs"]), "the spans are kept, as spans"


def test_each_real_session_is_one_row(start_at: Any) -> None:
    collector = start_at(*GEMINI)
    for run in GEMINI:
        replay(collector, run)
    shown = totals(collector)
    rows = session_rows(shown)
    assert len(rows) == len(GEMINI), rows
    assert all(len(row) == len("gemini-cli·") + 8 for row in rows)
    assert shown["input_tokens"] == sum(run.totals["input_tokens"] for run in GEMINI)


def _hex_ids_as_base64(value: Any) -> Any:
    """OTLP/JSON spells trace and span ids in hex, protobuf's JSON mapping in base64."""
    if isinstance(value, list):
        return [_hex_ids_as_base64(item) for item in value]
    if isinstance(value, dict):
        return {
            key: base64.b64encode(bytes.fromhex(item)).decode()
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(item, str)
            else _hex_ids_as_base64(item)
            for key, item in value.items()
        }
    return value


def test_a_real_run_over_grpc_gzip_shows_the_same_totals() -> None:
    """Gemini CLI's default export: OTLP/gRPC, each message gzip-compressed."""
    from agentwatch.collector.app import create_app
    from agentwatch.collector.service import Collector, Settings

    run = variant("gemini/http-tool")
    now = last_timestamp(run) + 1.0
    service = Collector(Settings(store_path=None, otlp_grpc_port=0, clock=lambda: now))
    app = create_app(collector=service)
    server, thread, port = serve_in_thread(app)
    running = RunningCollector(f"http://127.0.0.1:{port}", server, thread, service)
    kinds = {
        "logs": (LOGS_SERVICE, ExportLogsServiceRequest),
        "metrics": (METRICS_SERVICE, ExportMetricsServiceRequest),
        "traces": (TRACE_SERVICE, ExportTraceServiceRequest),
    }
    try:
        with grpc.insecure_channel(f"127.0.0.1:{app.state.otlp_grpc.port}") as channel:
            for request in run.requests():
                service_name, message = kinds[request.signal]
                body = ParseDict(_hex_ids_as_base64(json.loads(request.body)), message()).SerializeToString()
                export: Any = channel.unary_unary(f"/{service_name}/Export")
                assert export(body, timeout=10, compression=grpc.Compression.Gzip) == b""
        shown = totals(running)
        for key in ("input_tokens", "output_tokens", "cache_read_tokens"):
            assert shown[key] == run.totals[key], key
        assert shown["cost_usd"] == pytest.approx(expected_cost(run))
        assert len(session_rows(shown)) == 1
    finally:
        running.stop()


# ------------------------------------------------------------------ the convention hook


def test_gemini_cli_is_recognised_by_service_name_or_scope() -> None:
    assert conventions.log_mapper({"service.name": "gemini-cli"}) is gemini_cli.map_log
    assert conventions.span_mapper({"service.name": "gemini-cli"}) is gemini_cli.map_span
    assert conventions.log_mapper({}, "gemini-cli") is gemini_cli.map_log
    assert conventions.span_mapper({}, "gemini-cli") is gemini_cli.map_span
    assert conventions.log_mapper({"service.name": "other"}) is map_log
    assert conventions.span_mapper({"service.name": "other"}) is map_span
    point = {"session.id": SESSION}
    assert (
        conventions.metric_agent("gemini-cli", {"service.name": "gemini-cli"}, point) == "gemini-cli·3f2a9c1e"
    )


# ---------------------------------------------------------------------- the log mapper


def raw(name: str, **attributes: Any) -> RawLog:
    base = {"session.id": SESSION, "event.name": name, "model": MODEL}
    return RawLog(START_NS, 0, 0, "", "a sentence", base | attributes, None, None, "")


def mapped(name: str, **attributes: Any) -> Any:
    return gemini_cli.map_log(raw(name, **attributes), "gemini-cli", 0.0)


def response(**attributes: Any) -> Any:
    return mapped("gemini_cli.api_response", **attributes)


def test_api_response_is_the_inference_with_numbers_sent_as_text() -> None:
    event = response(
        input_token_count="100",
        output_token_count=7,
        cached_content_token_count="20",
        thoughts_token_count="3",
        tool_token_count=0,
        duration_ms="11",
    )
    assert event.agent_id == "gemini-cli·3f2a9c1e"
    assert (event.span_type, event.model, event.tokens_input, event.tokens_output, event.latency_ms) == (
        SPAN_LLM_CALL,
        MODEL,
        100,
        7,
        11.0,
    )
    assert event.attributes[ATTR_TOKENS_CACHE_READ] == 20
    assert event.attributes[gemini_cli.ATTR_TOKENS_THOUGHTS] == 3
    assert event.attributes[gemini_cli.ATTR_TOKENS_TOOL] == 0
    assert event.cost_usd is None and event.cost_estimated is None


def test_a_priced_model_is_estimated_with_cached_tokens_at_cache_rates() -> None:
    event = response(
        model="gemini-2.5-pro", input_token_count=1000, output_token_count=10, cached_content_token_count=800
    )
    assert event.cost_estimated is True
    assert event.cost_usd == pytest.approx(estimate_cost("gemini-2.5-pro", 1000, 10, 800, None))
    assert event.cost_usd < estimate_cost("gemini-2.5-pro", 1000, 10)


def test_thoughts_tokens_are_billed_as_output() -> None:
    event = response(
        model="gemini-2.5-flash", input_token_count=100, output_token_count=7, thoughts_token_count=3
    )
    assert event.tokens_output == 7, "the output shown is the CLI's, thoughts apart"
    assert event.cost_usd == pytest.approx(estimate_cost("gemini-2.5-flash", 100, 10))
    only_thoughts = response(model="gemini-2.5-flash", input_token_count=100, thoughts_token_count=3)
    assert only_thoughts.cost_usd == pytest.approx(estimate_cost("gemini-2.5-flash", 100, 3))


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        (
            '{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}',
            "HTTP 429: RESOURCE_EXHAUSTED: Quota",
        ),
        ('{"error":{"code":429,"message":"Quota"}}', "HTTP 429: Quota"),
        ('{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}', 'HTTP 429: ApiError: {"error":{"code":429,'),
        ('{"error":"flat"}', 'HTTP 429: ApiError: {"error":"flat"}'),
        ("[1, 2]", "HTTP 429: ApiError: [1, 2]"),
        ("{not json", "HTTP 429: ApiError: {not json"),
        ('{"error":{"message":"' + "x" * 20_000 + '"}}', 'HTTP 429: ApiError: {"error":{"message":"xxx'),
    ],
)
def test_an_api_error_reads_googles_json_error_when_it_is_one(sent: str, shown: str) -> None:
    event = mapped("gemini_cli.api_error", error=sent, status_code=429, **{"error.type": "ApiError"})
    assert event.error.startswith(shown), event.error


def test_requests_errors_tools_prompts_and_the_rest() -> None:
    request = mapped("gemini_cli.api_request", request_text="secret", role="main")
    assert request.span_type == SPAN_LOG and request.tokens_input is None
    assert request.message == f"gemini_cli.api_request {MODEL}"
    assert "request_text" not in request.attributes
    error = mapped(
        "gemini_cli.api_error",
        **{"error.type": "ApiError", "error.message": "Internal", "http.status_code": "500"},
    )
    assert (error.span_type, error.level, error.error) == (
        SPAN_ERROR,
        "error",
        "HTTP 500: ApiError: Internal",
    )
    tool = mapped(
        "gemini_cli.tool_call", function_name="write_file", success=False, duration_ms=4, decision="accept"
    )
    assert (tool.span_type, tool.tool_name, tool.latency_ms, tool.error) == (
        SPAN_TOOL_CALL,
        "write_file",
        4.0,
        "failed",
    )
    assert tool.attributes["decision"] == "accept"
    prompt = mapped("gemini_cli.user_prompt", prompt_length="6", prompt="say hi")
    assert prompt.message == "gemini_cli.user_prompt 6 chars" and "prompt" not in prompt.attributes
    other = mapped("gemini_cli.ripgrep_fallback", model=None, error=None)
    assert other.span_type == SPAN_LOG and other.message == "gemini_cli.ripgrep_fallback"
    details = mapped("gen_ai.client.inference.operation.details", **{"gen_ai.usage.input_tokens": 5})
    assert details.tokens_input is None and details.message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("input_token_count", "-1"),
        ("input_token_count", 2**53),
        ("output_token_count", "1e400"),
        ("output_token_count", "NaN"),
        ("cached_content_token_count", "lots"),
        ("thoughts_token_count", 1.5),
        ("tool_token_count", True),
        ("duration_ms", "-3"),
        ("duration_ms", "Infinity"),
    ],
)
def test_hostile_numbers_reject_the_record_with_the_reason(key: str, value: Any) -> None:
    with pytest.raises(Reject, match=key):
        response(**({"input_token_count": "1"} | {key: value}))


def test_hostile_values_elsewhere_reject_with_the_reason() -> None:
    with pytest.raises(Reject, match="status_code"):
        mapped("gemini_cli.api_error", status_code="five hundred")
    with pytest.raises(Reject, match="prompt_length"):
        mapped("gemini_cli.user_prompt", prompt_length=-6)
    with pytest.raises(Reject, match="model"):
        response(model="m" * 100_000)


def test_spans_keep_their_shape_but_no_tokens_cost_or_error() -> None:
    attrs = {
        "gen_ai.agent.name": "gemini-cli",
        "gen_ai.conversation.id": SESSION,
        "gen_ai.operation.name": "generate_content",
        "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 7,
    }
    event = gemini_cli.map_span(
        "a" * 32,
        "b" * 16,
        None,
        "llm_call",
        START_NS,
        START_NS + 11_000_000,
        attrs,
        2,
        "boom",
        "gemini-cli",
        0.0,
    )
    assert event.agent_id == "gemini-cli·3f2a9c1e"
    assert (event.span_type, event.tokens_input, event.tokens_output, event.cost_usd, event.error) == (
        "span",
        None,
        None,
        None,
        None,
    )
    assert "gen_ai.usage.input_tokens" not in (event.attributes or {})


def test_the_conversation_text_of_detail_records_and_spans_is_not_kept() -> None:
    text = {
        "gen_ai.input.messages": '[{"role":"user","parts":[{"text":"say hi"}]}]',
        "gen_ai.output.messages": '[{"role":"model","parts":[{"text":"hi"}]}]',
        "gen_ai.system_instructions": '"You are a CLI agent"',
        "gen_ai.tool.definitions": '[{"functionDeclarations":[]}]',
    }
    details = mapped("gen_ai.client.inference.operation.details", **text)
    span = gemini_cli.map_span(
        "a" * 32,
        "b" * 16,
        None,
        "llm_call",
        START_NS,
        START_NS + 11_000_000,
        {"gen_ai.conversation.id": SESSION, "gen_ai.operation.name": "llm_call"} | text,
        1,
        "",
        "gemini-cli",
        0.0,
    )
    for event in (details, span):
        assert not text.keys() & (event.attributes or {}).keys()
        assert "say hi" not in str(event.attributes)
