"""OTLP/HTTP decoding: JSON and protobuf exports mapped onto protocol events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentwatch.collector import ingest, otlp
from agentwatch.collector.otlp import OtlpError, OtlpResult, decode_logs, decode_traces, mapping, proto
from agentwatch.protocol import (
    MAX_AGENT_ID_LENGTH,
    MAX_ATTRIBUTES_BYTES,
    MAX_TIMESTAMP,
    PATH_OTLP_LOGS,
    PATH_OTLP_TRACES,
    SPAN_LOG,
    Event,
)
from tests.helpers import serve_in_thread, wait_until

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
TRACE_ID = "5B8EFFF798038103D269B633813FC60C"
SPAN_ID = "EEE19B7EC3C1B174"

REFERENCE_EXAMPLE = b"""{"resourceSpans":[{"resource":{"attributes":[
 {"key":"service.name","value":{"stringValue":"agent-7"}}]},
 "scopeSpans":[{"scope":{"name":"my.lib"},
  "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"",
   "name":"chat gpt-4o","kind":3,
   "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
   "attributes":[{"key":"gen_ai.usage.input_tokens","value":{"intValue":"120"}}],
   "status":{"code":2,"message":"timeout"}}]}]}]}"""


def attr(key: str, value: Any) -> dict[str, Any]:
    """One OTLP JSON KeyValue, typed like an exporter would type it."""
    if isinstance(value, bool):
        any_value: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        any_value = {"intValue": str(value)}
    elif isinstance(value, float):
        any_value = {"doubleValue": value}
    elif isinstance(value, list):
        any_value = {"arrayValue": {"values": [attr("", v)["value"] for v in value]}}
    else:
        any_value = {"stringValue": value}
    return {"key": key, "value": any_value}


def span_json(attributes: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    span = {
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "name": "op",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000250000000",
        "attributes": [attr(k, v) for k, v in attributes.items()],
    }
    span.update(overrides)
    return span


def traces_body(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> bytes:
    resource_attrs = [
        attr(k, v) for k, v in ({"service.name": "svc"} if resource is None else resource).items()
    ]
    return json.dumps(
        {
            "resourceSpans": [
                {"resource": {"attributes": resource_attrs}, "scopeSpans": [{"spans": list(spans)}]}
            ]
        }
    ).encode()


def one_event(attributes: dict[str, Any], **overrides: Any) -> Event:
    result = decode_traces(traces_body(span_json(attributes, **overrides)), JSON)
    assert result.rejected == 0, result.error_message
    (event,) = result.events
    return event


# ---------------------------------------------------------------- JSON traces
def test_reference_example_span_decodes_with_hex_ids_tokens_latency_and_error() -> None:
    result = decode_traces(REFERENCE_EXAMPLE, JSON)
    assert result.rejected == 0
    (event,) = result.events
    assert event.agent_id == "agent-7"
    assert event.trace_id == TRACE_ID.lower()
    assert event.span_id == SPAN_ID.lower()
    assert event.parent_span_id is None
    assert event.tokens_input == 120
    assert event.latency_ms == pytest.approx(1000.0)
    assert event.timestamp == pytest.approx(1544712661.0)
    assert event.error == "timeout"


@pytest.mark.parametrize(
    ("operation", "span_type"),
    [
        ("chat", "llm_call"),
        ("text_completion", "llm_call"),
        ("generate_content", "llm_call"),
        ("embeddings", "embedding"),
        ("execute_tool", "tool_call"),
        ("invoke_agent", "agent"),
        ("create_agent", "agent"),
        ("invoke_workflow", "agent"),
        ("plan", "agent"),
    ],
)
def test_operation_name_maps_to_span_type(operation: str, span_type: str) -> None:
    event = one_event({"gen_ai.operation.name": operation})
    assert event.span_type == span_type
    assert event.attributes is not None and event.attributes["gen_ai.operation.name"] == operation


def test_without_operation_name_span_type_comes_from_attributes_or_is_span() -> None:
    assert one_event({"agentwatch.span_type": "decision"}).span_type == "decision"
    assert one_event({"gen_ai.tool.name": "search"}).span_type == "tool_call"
    assert one_event({"gen_ai.request.model": "gpt-4o"}).span_type == "llm_call"
    assert one_event({}).span_type == "span"


def test_genai_chat_span_maps_every_field() -> None:
    event = one_event(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 48,
            "gen_ai.agent.name": "planner",
            "gen_ai.agent.id": "agent-123",
            "gen_ai.conversation.id": "conv-9",
            "agentwatch.cost_usd": 0.0042,
            "agentwatch.decision": "use_search",
            "agentwatch.confidence": 0.82,
        },
        parentSpanId="00f067aa0ba902b7",
    )
    assert event.agent_id == "planner"
    assert event.span_type == "llm_call"
    assert event.model == "gpt-4o-2024-08-06"
    assert (event.tokens_input, event.tokens_output) == (120, 48)
    assert event.latency_ms == pytest.approx(250.0)
    assert event.timestamp == pytest.approx(1700000000.25)
    assert event.cost_usd == pytest.approx(0.0042)
    assert event.decision_made == "use_search"
    assert event.confidence == pytest.approx(0.82)
    assert event.parent_span_id == "00f067aa0ba902b7"
    assert event.error is None
    assert event.attributes is not None
    assert event.attributes["gen_ai.provider.name"] == "openai"
    assert event.attributes["gen_ai.conversation.id"] == "conv-9"
    assert event.attributes["otel.span.name"] == "op"


def test_deprecated_names_are_accepted() -> None:
    event = one_event(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.usage.prompt_tokens": 10,
            "gen_ai.usage.completion_tokens": 20,
        }
    )
    assert event.model == "claude-sonnet-4"
    assert (event.tokens_input, event.tokens_output) == (10, 20)
    assert event.attributes is not None and event.attributes["gen_ai.provider.name"] == "anthropic"


def test_tool_span_carries_tool_name_and_error_type() -> None:
    event = one_event(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "web_search",
            "error.type": "TimeoutError",
        }
    )
    assert event.span_type == "tool_call"
    assert event.tool_name == "web_search"
    assert event.error == "TimeoutError"


def test_error_combines_error_type_and_status_message() -> None:
    event = one_event({"error.type": "RateLimitError"}, status={"code": 2, "message": "429 from upstream"})
    assert event.error == "RateLimitError: 429 from upstream"
    assert one_event({}, status={"code": 2}).error == "error"
    assert one_event({}, status={"code": 1, "message": "fine"}).error is None


def test_agent_id_falls_back_from_agent_name_to_agent_id_to_service_name_to_unknown() -> None:
    assert one_event({"gen_ai.agent.id": "a-1"}).agent_id == "a-1"
    body = traces_body(span_json({}), resource={"service.name": "checkout-agent"})
    assert decode_traces(body, JSON).events[0].agent_id == "checkout-agent"
    assert decode_traces(traces_body(span_json({}), resource={}), JSON).events[0].agent_id == "unknown"


def test_int64_as_number_and_unknown_fields_are_accepted() -> None:
    span = span_json(
        {"gen_ai.usage.input_tokens": 5},
        startTimeUnixNano=1_700_000_000_000_000_000,
        endTimeUnixNano=1_700_000_001_000_000_000,
        droppedAttributesCount=3,
        flags=1,
    )
    span["attributes"][0]["value"] = {"intValue": 5}
    event = decode_traces(traces_body(span), JSON).events[0]
    assert event.tokens_input == 5
    assert event.latency_ms == pytest.approx(1000.0)


def test_unmappable_spans_are_rejected_and_counted_while_the_rest_is_kept() -> None:
    good = span_json({"gen_ai.operation.name": "chat"})
    too_long = span_json({"gen_ai.agent.name": "x" * (MAX_AGENT_ID_LENGTH + 1)})
    negative = span_json({}, startTimeUnixNano="2000", endTimeUnixNano="1000")
    bad_id = span_json({}, traceId="not-hex")
    bad_tokens = span_json({"gen_ai.usage.input_tokens": -3})
    result = decode_traces(traces_body(good, too_long, negative, bad_id, bad_tokens), JSON)
    assert len(result.events) == 1
    assert result.rejected == 4
    assert result.error_message is not None and "longer than" in result.error_message


def test_partial_success_response_in_json_and_protobuf() -> None:
    result = OtlpResult(events=[], rejected=3, error_message="3 spans rejected")
    body, media = otlp.success_response(result, JSON)
    assert media == JSON
    assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "3 spans rejected"}}
    assert otlp.success_response(OtlpResult(events=[]), JSON) == (b"{}", JSON)

    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    body, media = otlp.success_response(result, PROTOBUF)
    assert media == PROTOBUF
    parsed = ExportTraceServiceResponse.FromString(body)
    assert parsed.partial_success.rejected_spans == 3
    assert parsed.partial_success.error_message == "3 spans rejected"
    logs = OtlpResult(events=[], rejected=2, error_message="bad", signal=otlp.SIGNAL_LOGS)
    assert (
        ExportLogsServiceResponse.FromString(
            otlp.success_response(logs, PROTOBUF)[0]
        ).partial_success.rejected_log_records
        == 2
    )
    assert json.loads(otlp.success_response(logs, JSON)[0])["partialSuccess"]["rejectedLogRecords"] == "2"


def test_undecodable_body_is_400_and_unknown_content_type_is_415() -> None:
    with pytest.raises(OtlpError) as bad_json:
        decode_traces(b"{not json", JSON)
    assert bad_json.value.status == 400
    with pytest.raises(OtlpError) as wrong_shape:
        decode_traces(b'{"resourceSpans": {"a": 1}}', JSON)
    assert wrong_shape.value.status == 400 and "resourceSpans" in wrong_shape.value.message
    with pytest.raises(OtlpError) as bad_pb:
        decode_traces(b"\xff\xff\xff\xff", PROTOBUF)
    assert bad_pb.value.status == 400
    for content_type in ("text/plain", None, "application/grpc"):
        with pytest.raises(OtlpError) as unsupported:
            decode_logs(b"{}", content_type)
        assert unsupported.value.status == 415


def test_content_type_parameters_and_case_are_ignored() -> None:
    assert decode_traces(REFERENCE_EXAMPLE, "Application/JSON; charset=utf-8").events


def test_error_response_is_google_rpc_status_in_the_request_encoding() -> None:
    body, media = otlp.error_response(400, "invalid OTLP JSON", JSON)
    assert media == JSON and json.loads(body) == {"code": 3, "message": "invalid OTLP JSON"}
    body, media = otlp.error_response(415, "unsupported", "text/plain")
    assert media == JSON
    from google.rpc.status_pb2 import Status

    body, media = otlp.error_response(400, "bad protobuf", PROTOBUF)
    status = Status.FromString(body)
    assert media == PROTOBUF and (status.code, status.message) == (3, "bad protobuf")


def test_protobuf_without_opentelemetry_proto_is_415_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    for name in list(sys.modules):
        if name.startswith("opentelemetry.proto"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry.proto", None)
    with pytest.raises(OtlpError) as missing:
        decode_traces(b"", PROTOBUF)
    assert missing.value.status == 415
    assert "agentwatch[otlp]" in missing.value.message


def test_oversized_attributes_are_bounded_not_rejected() -> None:
    event = one_event({f"k{i}": "v" * 1000 for i in range(40)})
    assert event.attributes is not None
    assert len(msgspec.json.encode(event.attributes)) <= MAX_ATTRIBUTES_BYTES
    assert event.attributes[mapping.ATTR_TRUNCATED] > 0


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_either_decode_or_raise_otlp_error(body: bytes) -> None:
    for content_type in (JSON, PROTOBUF):
        for decode in (decode_traces, decode_logs):
            try:
                result = decode(body, content_type)
            except OtlpError as exc:
                assert exc.status == 400
            else:
                assert result.signal == (otlp.SIGNAL_LOGS if decode is decode_logs else otlp.SIGNAL_TRACES)
                assert (result.rejected > 0) == (result.error_message is not None)
                assert all(type(event) is Event for event in result.events)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "traceId",
                "spanId",
                "startTimeUnixNano",
                "endTimeUnixNano",
                "attributes",
                "status",
                "name",
                "parentSpanId",
            ]
        ),
        json_values,
    )
)
def test_malformed_span_fields_never_escape_as_other_exceptions(overrides: dict[str, Any]) -> None:
    span = span_json({})
    span.update(overrides)
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    try:
        result = decode_traces(body.encode(), JSON)
    except OtlpError as exc:
        assert exc.status == 400
    else:
        assert len(result.events) + result.rejected == 1


# ---------------------------------------------------------------- logs
def logs_body(*records: dict[str, Any], resource: dict[str, Any] | None = None) -> bytes:
    resource_attrs = [
        attr(k, v) for k, v in ({"service.name": "svc"} if resource is None else resource).items()
    ]
    return json.dumps(
        {
            "resourceLogs": [
                {"resource": {"attributes": resource_attrs}, "scopeLogs": [{"logRecords": list(records)}]}
            ]
        }
    ).encode()


@pytest.mark.parametrize(
    ("number", "level"),
    [
        (1, "debug"),
        (4, "debug"),
        (5, "debug"),
        (9, "info"),
        (12, "info"),
        (13, "warning"),
        (17, "error"),
        (20, "error"),
        (21, "critical"),
        (24, "critical"),
    ],
)
def test_log_severity_number_maps_to_level(number: int, level: str) -> None:
    result = decode_logs(logs_body({"severityNumber": number, "body": {"stringValue": "m"}}), JSON)
    assert result.events[0].level == level


def test_log_record_maps_text_body_severity_text_attributes_and_agent() -> None:
    record = {
        "timeUnixNano": "1700000000500000000",
        "severityText": "WARN",
        "body": {"kvlistValue": {"values": [attr("step", 3)]}},
        "attributes": [attr("gen_ai.agent.name", "planner"), attr("retry", True)],
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
    }
    result = decode_logs(logs_body(record), JSON)
    (event,) = result.events
    assert result.signal == otlp.SIGNAL_LOGS
    assert event.span_type == SPAN_LOG
    assert event.agent_id == "planner"
    assert event.level == "warning"
    assert json.loads(event.message or "") == {"step": 3}
    assert event.timestamp == pytest.approx(1700000000.5)
    assert event.trace_id == TRACE_ID.lower()
    assert event.attributes == {"gen_ai.agent.name": "planner", "retry": True}


def test_log_without_time_uses_observed_time_then_the_clock() -> None:
    observed = decode_logs(logs_body({"observedTimeUnixNano": "2000000000"}), JSON).events[0]
    assert observed.timestamp == pytest.approx(2.0)
    stamped = decode_logs(logs_body({"body": {"stringValue": "x"}}), JSON, clock=lambda: 123.0).events[0]
    assert stamped.timestamp == 123.0 and stamped.level == "info"


# ---------------------------------------------------------------- protobuf from the real exporter
class OtlpCapture:
    """A tiny OTLP/HTTP receiver that keeps raw bodies and answers with this module's responses."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes, str | None]] = []

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            body = await request.body()
            if request.headers.get("content-encoding") == "gzip":
                import gzip

                body = gzip.decompress(body)
            content_type = request.headers.get("content-type")
            self.bodies.append((request.url.path, body, content_type))
            decode = decode_traces if request.url.path == PATH_OTLP_TRACES else decode_logs
            try:
                result = decode(body, content_type)
            except OtlpError as exc:
                payload, media = otlp.error_response(exc.status, exc.message, content_type)
                return Response(payload, exc.status, media_type=media)
            payload, media = otlp.success_response(result, content_type)
            return Response(payload, 200, media_type=media)

        return Starlette(
            routes=[
                Route(PATH_OTLP_TRACES, receive, methods=["POST"]),
                Route(PATH_OTLP_LOGS, receive, methods=["POST"]),
            ]
        )


@pytest.fixture
def capture() -> Iterator[tuple[OtlpCapture, str]]:
    receiver = OtlpCapture()
    server, thread, port = serve_in_thread(receiver.app())
    yield receiver, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_real_opentelemetry_exporter_protobuf_spans_decode_with_genai_mapping(
    capture: tuple[OtlpCapture, str],
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode

    receiver, url = capture
    provider = TracerProvider(resource=Resource.create({"service.name": "research-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=url + PATH_OTLP_TRACES)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("invoke_agent researcher") as agent_span:
        agent_span.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.usage.input_tokens": 300,
                    "gen_ai.usage.output_tokens": 75,
                    "agentwatch.cost_usd": 0.0015,
                }
            )
        with tracer.start_as_current_span("execute_tool fetch") as tool:
            tool.set_attributes(
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "fetch",
                    "error.type": "ConnectionError",
                }
            )
            tool.set_status(Status(StatusCode.ERROR, "refused"))
    provider.shutdown()

    wait_until(lambda: len(receiver.bodies) >= 3)
    events: list[Event] = []
    for path, body, content_type in receiver.bodies:
        assert path == PATH_OTLP_TRACES and content_type == PROTOBUF
        result = decode_traces(body, content_type)
        assert result.rejected == 0
        events.extend(result.events)
    by_type = {event.span_type: event for event in events}
    chat_event, tool_event, agent_event = by_type["llm_call"], by_type["tool_call"], by_type["agent"]
    assert {e.agent_id for e in events} == {"research-agent"}
    assert len({e.trace_id for e in events}) == 1 and len(chat_event.trace_id or "") == 32
    assert chat_event.parent_span_id == agent_event.span_id and len(agent_event.span_id or "") == 16
    assert agent_event.parent_span_id is None
    assert (chat_event.model, chat_event.tokens_input, chat_event.tokens_output) == ("gpt-4o", 300, 75)
    assert chat_event.cost_usd == pytest.approx(0.0015)
    assert chat_event.latency_ms is not None and chat_event.latency_ms >= 0
    assert chat_event.attributes is not None and chat_event.attributes["gen_ai.provider.name"] == "openai"
    assert (tool_event.tool_name, tool_event.error) == ("fetch", "ConnectionError: refused")


def test_protobuf_logs_and_partial_success_round_trip() -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value="bot"))]
                ),
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            LogRecord(
                                time_unix_nano=3_000_000_000,
                                severity_number=17,
                                body=AnyValue(string_value="boom"),
                                trace_id=bytes(range(16)),
                                span_id=bytes(range(8)),
                            ),
                            LogRecord(
                                severity_number=9, body=AnyValue(bytes_value=b"\x00\x01"), trace_id=b"short"
                            ),
                        ]
                    )
                ],
            )
        ]
    )
    result = decode_logs(request.SerializeToString(), PROTOBUF)
    (event,) = result.events
    assert (event.agent_id, event.level, event.message, event.timestamp) == ("bot", "error", "boom", 3.0)
    assert event.trace_id == bytes(range(16)).hex() and event.span_id == bytes(range(8)).hex()
    assert result.rejected == 1
    body, _ = otlp.success_response(result, PROTOBUF)
    assert ExportLogsServiceResponse.FromString(body).partial_success.rejected_log_records == 1


def test_native_ingest_rules_apply_to_otlp_events() -> None:
    bad_confidence = span_json({"agentwatch.confidence": 0.5, "agentwatch.decision": "x" * 300})
    priced = span_json(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 1_000_000,
        }
    )
    result = decode_traces(traces_body(bad_confidence, priced), JSON)
    assert result.rejected == 1 and "span 0" in (result.error_message or "")
    (event,) = result.events
    assert (event.cost_usd, event.cost_estimated) == (pytest.approx(2.5), True)
    assert type(event) is Event


def test_opentelemetry_exporter_spans_reach_the_real_collector(start_collector: Any) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    collector = start_collector()
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-agent"}))
    exporter = OTLPSpanExporter(endpoint=collector.url + PATH_OTLP_TRACES)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for tokens in (10, 20, 30):
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.output_tokens": tokens,
                }
            )
    provider.shutdown()
    snapshot = wait_until(lambda: (s := collector.service.snapshot("otel-agent")).events == 3 and s)
    assert snapshot.completions == 3 and snapshot.p50_latency_ms is not None
    assert [row.model for row in snapshot.agents] == ["gpt-4o"]


# ---------------------------------------------------------------- same rules as the native path
genai_keys = st.sampled_from(
    [
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.agent.name",
        "gen_ai.agent.id",
        "gen_ai.tool.name",
        "error.type",
        "agentwatch.cost_usd",
        "agentwatch.confidence",
        "agentwatch.decision",
        "agentwatch.span_type",
        "free.key",
    ]
)
genai_values = (
    st.integers(min_value=-5, max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has no literal for them
    | st.booleans()
    | st.text(max_size=3)
    | st.sampled_from(["chat", "execute_tool", "gpt-4o", "  ", "x" * 300, "a" * 129])
)
nanos = st.integers(min_value=-1, max_value=2**64) | st.sampled_from(["0", "1700000000000000000"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(genai_keys, genai_values, max_size=6), min_size=1, max_size=4),
    nanos,
    nanos,
)
def test_every_mapped_event_passes_the_native_ingest_rules_unchanged(
    attribute_sets: list[dict[str, Any]], start: int | str, end: int | str
) -> None:
    spans = [
        span_json(attributes, startTimeUnixNano=start, endTimeUnixNano=end) for attributes in attribute_sets
    ]
    result = decode_traces(traces_body(*spans), JSON, clock=lambda: 1.7e9)
    assert len(result.events) + result.rejected == len(spans)
    if not result.events:
        return
    body = msgspec.json.encode(result.events)
    accepted, rejected = ingest.decode_events(body, JSON, now=1.7e9)
    assert rejected == []
    assert accepted == msgspec.json.decode(body, type=list[Event])


def test_timestamps_beyond_the_native_range_are_rejected_not_rescaled() -> None:
    too_late = str(int(MAX_TIMESTAMP) * 10**9)
    huge = "9" * 400  # a float conversion of this would overflow
    result = decode_traces(
        traces_body(
            span_json({}, startTimeUnixNano=too_late, endTimeUnixNano=too_late),
            span_json({}, startTimeUnixNano="1", endTimeUnixNano=huge),
            span_json({}),
        ),
        JSON,
    )
    assert result.rejected == 2 and len(result.events) == 1
    assert "timestamp out of range" in (result.error_message or "")


def test_token_counts_at_or_above_2_to_the_53_are_rejected() -> None:
    result = decode_traces(traces_body(span_json({"gen_ai.usage.input_tokens": 2**53})), JSON)
    assert result.rejected == 1 and "gen_ai.usage.input_tokens" in (result.error_message or "")
    assert one_event({"gen_ai.usage.input_tokens": 2**53 - 1}).tokens_input == 2**53 - 1


def test_blank_agent_names_fall_back_and_names_are_stripped() -> None:
    assert one_event({"gen_ai.agent.name": "   ", "gen_ai.agent.id": " a-1 "}).agent_id == "a-1"


# ---------------------------------------------------------------- protobuf read with the lean schema
def any_value_pb(value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value_pb(v) for v in value]))
    if isinstance(value, dict):
        pairs = [KeyValue(key=k, value=any_value_pb(v)) for k, v in value.items()]
        return AnyValue(kvlist_value=KeyValueList(values=pairs))
    return AnyValue(string_value=value)


def protobuf_traces(*attribute_sets: dict[str, Any]) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    spans = [
        Span(
            trace_id=bytes.fromhex(TRACE_ID),
            span_id=bytes.fromhex(SPAN_ID),
            start_time_unix_nano=1_700_000_000_000_000_000,
            end_time_unix_nano=1_700_000_000_500_000_000,
            attributes=[KeyValue(key=k, value=any_value_pb(v)) for k, v in attributes.items()],
        )
        for attributes in attribute_sets
    ]
    resource = Resource(attributes=[KeyValue(key="service.name", value=any_value_pb("svc"))])
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )
    return bytes(request.SerializeToString())


pb_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=200)
    | st.binary(max_size=20)
)
pb_values = st.recursive(
    pb_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10).map(lambda key: "x." + key), pb_values, max_size=6))
def test_lean_protobuf_attributes_read_the_same_values_as_the_full_schema(attributes: dict[str, Any]) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    body = protobuf_traces(attributes)
    full_span = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans[0]
    expected = proto._pb_attributes(full_span.attributes)
    (event,) = decode_traces(body, PROTOBUF).events
    got = {k: v for k, v in (event.attributes or {}).items() if k.startswith("x.")}
    assert msgspec.json.encode(got) == msgspec.json.encode(expected)  # NaN compares equal once encoded


def test_lean_protobuf_reads_genai_values_of_every_width() -> None:
    (event,) = decode_traces(
        protobuf_traces(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "m" * 200,  # a string over 127 bytes takes the general path
                "gen_ai.usage.input_tokens": 127,
                "gen_ai.usage.output_tokens": 16_384,
                "agentwatch.confidence": 0.25,
                "flag": True,
                "negative": -1,
                "unicode": "¿qué?",
            }
        ),
        PROTOBUF,
    ).events
    assert (event.model, event.tokens_input, event.tokens_output) == ("m" * 200, 127, 16_384)
    assert event.confidence == 0.25
    assert event.attributes is not None
    assert (event.attributes["flag"], event.attributes["negative"], event.attributes["unicode"]) == (
        True,
        -1,
        "¿qué?",
    )


def test_an_attribute_string_that_is_not_utf8_rejects_its_span_only() -> None:
    good = protobuf_traces({"k": "ok"}, {"k": "XX"})
    bad = good.replace(b"\x0a\x02XX", b"\x0a\x02\xff\xfe")  # the AnyValue of the second span
    assert bad != good
    result = decode_traces(bad, PROTOBUF)
    assert (len(result.events), result.rejected) == (1, 1)
    assert "UTF-8" in (result.error_message or "")


def protobuf_span_with(**fields: Any) -> bytes:
    """One span (full schema), given as keyword fields of ``Span``, under resource ``svc``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    span = Span(
        trace_id=bytes.fromhex(TRACE_ID),
        span_id=bytes.fromhex(SPAN_ID),
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_500_000_000,
        **fields,
    )
    resource = Resource(attributes=[KeyValue(key="service.name", value=any_value_pb("svc"))])
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])]
    )
    return bytes(request.SerializeToString())


def test_every_mapped_field_lands_in_its_own_event_field_in_both_encodings() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Status

    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 34,
        "gen_ai.agent.name": "planner",
        "gen_ai.tool.name": "search",
        "error.type": "Timeout",
        "agentwatch.cost_usd": 0.5,
        "agentwatch.decision": "retry",
        "agentwatch.confidence": 0.75,
        "free.key": "kept",
    }
    expected = Event(
        agent_id="planner",
        timestamp=1_700_000_000.5,
        span_type="llm_call",
        trace_id=TRACE_ID.lower(),
        span_id=SPAN_ID.lower(),
        parent_span_id="00f067aa0ba902b7",
        model="gpt-4o",
        tokens_input=1200,
        tokens_output=34,
        latency_ms=500.0,
        cost_usd=0.5,
        cost_estimated=None,
        decision_made="retry",
        confidence=0.75,
        error="Timeout: slow",
        tool_name="search",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.agent.name": "planner",
            "error.type": "Timeout",
            "free.key": "kept",
            "otel.span.name": "chat gpt-4o",
        },
    )
    pb_body = protobuf_span_with(
        parent_span_id=bytes.fromhex("00f067aa0ba902b7"),
        name="chat gpt-4o",
        attributes=[KeyValue(key=k, value=any_value_pb(v)) for k, v in attributes.items()],
        status=Status(code=Status.STATUS_CODE_ERROR, message="slow"),
    )
    json_body = traces_body(
        span_json(
            attributes,
            parentSpanId="00f067aa0ba902b7",
            name="chat gpt-4o",
            endTimeUnixNano="1700000000500000000",
            status={"code": 2, "message": "slow"},
        )
    )
    for body, media in ((pb_body, PROTOBUF), (json_body, JSON)):
        (event,) = decode_traces(body, media).events
        assert event == expected, media
        assert list(event.attributes or {}) == list(expected.attributes or {}), media  # order kept


def test_counts_of_every_varint_width_read_the_same_when_seen_again() -> None:
    """Pairs met before are read from memory (whole, or by key for counts): same values."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    counts = [0, 1, 127, 128, 300, 16_383, 16_384, 2**21 - 1, 2**21, 2**40, -1, -(2**63)]
    sets = [{"x.count": n, "x.other": n, "x.name": f"n{n % 3}"} for n in counts]
    body = protobuf_traces(*sets)
    full = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans
    expected = [proto._pb_attributes(span.attributes) for span in full]
    for _ in range(3):  # first sight, then from memory
        events = decode_traces(body, PROTOBUF).events
        assert [
            {k: v for k, v in (e.attributes or {}).items() if k.startswith("x.")} for e in events
        ] == expected


def test_a_count_key_seen_before_does_not_vouch_for_a_pair_of_another_width() -> None:
    """Counts are remembered by the bytes before their varint, one table per varint width:
    a pair that starts like a known 2-byte count but carries 3 varint bytes is parsed in
    full (here it is not a valid KeyValue, so its span is rejected), never read as a count."""
    body = protobuf_traces({"x.count": 300}, {"x.count": 1_000_000})
    assert [(e.attributes or {})["x.count"] for e in decode_traces(body, PROTOBUF).events] == [300, 1_000_000]
    three_bytes = b"\x0a\x07x.count\x12\x04\x18"
    assert three_bytes in body
    claims_two = body.replace(three_bytes, b"\x0a\x07x.count\x12\x03\x18")
    result = decode_traces(claims_two, PROTOBUF)
    assert [(e.attributes or {})["x.count"] for e in result.events] == [300]
    assert result.rejected == 1 and "not a valid KeyValue" in (result.error_message or "")


def test_remembered_attributes_stay_bounded_whatever_the_variety() -> None:
    for start in range(0, 6000, 500):
        body = protobuf_traces(*({"x.id": f"value-{start + i}", "x.n": start + i} for i in range(500)))
        events = decode_traces(body, PROTOBUF).events
        assert [(e.attributes or {})["x.id"] for e in events] == [f"value-{start + i}" for i in range(500)]
        assert [(e.attributes or {})["x.n"] for e in events] == [start + i for i in range(500)]
    assert len(proto._PAIRS_READ) <= proto._PAIRS_READ_MAX
    assert all(len(keys) <= proto._COUNT_KEYS_MAX for keys in proto._COUNT_KEYS)


def test_a_key_or_status_that_is_not_utf8_or_malformed_rejects_its_span_only() -> None:
    from opentelemetry.proto.trace.v1.trace_pb2 import Status

    good = protobuf_traces({"KK": "ok"}, {"k": "ok"})
    bad_key = good.replace(b"\x0a\x02KK", b"\x0a\x02\xff\xfe")
    assert bad_key != good
    result = decode_traces(bad_key, PROTOBUF)
    assert (len(result.events), result.rejected) == (1, 1)
    assert "key is not valid UTF-8" in (result.error_message or "")

    with_status = protobuf_span_with(status=Status(code=Status.STATUS_CODE_ERROR, message="XX"))
    assert decode_traces(with_status, PROTOBUF).events[0].error == "XX"
    bad_message = with_status.replace(b"\x12\x02XX", b"\x12\x02\xff\xfe")
    assert bad_message != with_status
    result = decode_traces(bad_message, PROTOBUF)
    assert (result.events, result.rejected) == ([], 1)
    assert "status message is not valid UTF-8" in (result.error_message or "")
    bad_status = with_status.replace(b"\x12\x02XX", b"\x12\x09XX")  # its length runs past the end
    assert decode_traces(bad_status, PROTOBUF).rejected == 1


def test_a_resource_agent_id_too_long_rejects_only_spans_that_name_no_agent() -> None:
    resource = {"service.name": "s" * (MAX_AGENT_ID_LENGTH + 1)}
    body = traces_body(span_json({"gen_ai.agent.name": "named"}), span_json({}), resource=resource)
    result = decode_traces(body, JSON)
    assert [e.agent_id for e in result.events] == ["named"]
    assert result.rejected == 1 and "service.name" in (result.error_message or "")
