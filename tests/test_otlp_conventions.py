"""Conventions beyond OpenTelemetry GenAI: OpenInference, OpenLLMetry, embeddings, cache tokens,
log records without a body and exceptions recorded as span events."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch import pricing
from agentwatch.collector import ingest
from agentwatch.collector.otlp import decode_logs, decode_traces
from agentwatch.collector.otlp.mapping import RawLog, map_log, map_span
from agentwatch.collector.service import Collector, Settings
from agentwatch.protocol import (
    ATTR_TOKENS_CACHE_READ,
    ATTR_TOKENS_CACHE_WRITE,
    PATH_LOGS_STREAM,
    PATH_OTLP_LOGS,
    PATH_OTLP_TRACES,
    RULE_TOKEN_EFFICIENCY,
    SPAN_EMBEDDING,
    SPAN_LLM_CALL,
    SPAN_TOOL_CALL,
    Event,
)
from tests.helpers import NOW, Clock, all_logs, wait_until

JSON = "application/json"
START_NS = 1_700_000_000_000_000_000


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def span(
    attributes: dict[str, Any], index: int = 0, start_ns: int = START_NS, **extra: Any
) -> dict[str, Any]:
    return {
        "traceId": f"{index + 1:032x}",
        "spanId": f"{index + 1:016x}",
        "name": "op",
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 250_000_000),
        "attributes": [attr(k, v) for k, v in attributes.items()],
        **extra,
    }


def traces(*spans: dict[str, Any], service: str = "svc") -> bytes:
    resource = {"attributes": [attr("service.name", service)]}
    return json.dumps(
        {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": list(spans)}]}]}
    ).encode()


def logs(*records: dict[str, Any], service: str = "svc") -> bytes:
    resource = {"attributes": [attr("service.name", service)]}
    body = {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": list(records)}]}]}
    return json.dumps(body).encode()


def mapped(attributes: dict[str, Any], **kwargs: Any) -> Event:
    return map_span(
        None, None, None, "op", START_NS, START_NS + 10**9, dict(attributes), 0, "", "svc", 0.0, **kwargs
    )


def native_accepts(events: list[Event]) -> None:
    body = msgspec.json.encode(events)
    accepted, rejected = ingest.decode_events(body, JSON, now=1.7e9)
    assert rejected == [] and accepted == msgspec.json.decode(body, type=list[Event])


EMBEDDINGS_GENAI = {
    "gen_ai.operation.name": "embeddings",
    "gen_ai.request.model": "text-embedding-3-small",
    "gen_ai.usage.input_tokens": 400,
}
EMBEDDINGS_OPENINFERENCE = {
    "openinference.span.kind": "EMBEDDING",
    "embedding.model_name": "text-embedding-3-small",
    "llm.token_count.prompt": 400,
    "llm.token_count.total": 400,
}


# ---------------------------------------------------------------- embeddings
@pytest.mark.parametrize(
    "attributes", [EMBEDDINGS_GENAI, EMBEDDINGS_OPENINFERENCE], ids=["genai", "openinference"]
)
def test_embedding_calls_never_fire_token_efficiency(attributes: dict[str, Any]) -> None:
    clock = Clock()
    collector = Collector(Settings(clock=clock, store_path=None))
    collector.evaluate_alerts()
    for second in range(15):
        clock.now = NOW + second * 10
        start = int(clock.now * 1e9)
        spans = [span(attributes, second * 5 + i, start) for i in range(5)]
        result = decode_traces(traces(*spans), JSON, clock=clock)
        assert result.rejected == 0, result.error_message
        collector.ingest(result.events)
        alerts = collector.evaluate_alerts()
        assert not [a for a in alerts if a.rule == RULE_TOKEN_EFFICIENCY], alerts
    snapshot = collector.snapshot()
    assert snapshot.p50_latency_ms is None  # embeddings are not inference latency
    assert snapshot.total_cost_usd == pytest.approx(75 * 400 * 0.02 / 1e6)


def test_embedding_spans_count_tokens_and_cost_but_not_latency_through_http(start_collector: Any) -> None:
    collector = start_collector()
    now_ns = int(collector.service.clock() * 1e9)
    spans = [span(EMBEDDINGS_GENAI, i, now_ns) for i in range(3)]
    spans += [span(EMBEDDINGS_OPENINFERENCE, 3 + i, now_ns) for i in range(3)]
    response = httpx.post(
        collector.url + PATH_OTLP_TRACES,
        content=traces(*spans, service="rag"),
        headers={"Content-Type": JSON},
        timeout=10,
    )
    assert response.status_code == 200
    snapshot = wait_until(lambda: (s := collector.service.snapshot("rag")).events == 6 and s)
    assert snapshot.p50_latency_ms is None and snapshot.completions == 0
    assert snapshot.total_cost_usd == pytest.approx(6 * 400 * 0.02 / 1e6)
    assert snapshot.input_tokens_per_second > 0
    assert [row.model for row in snapshot.agents] == ["text-embedding-3-small"]
    assert snapshot.agents[0].last_activity == "embedding text-embedding-3-small"


def test_genai_embeddings_operation_is_an_embedding_span() -> None:
    event = mapped(EMBEDDINGS_GENAI)
    assert (event.span_type, event.model, event.tokens_input) == (
        SPAN_EMBEDDING,
        "text-embedding-3-small",
        400,
    )
    assert event.cost_estimated is True


# ---------------------------------------------------------------- OpenInference
@pytest.mark.parametrize(
    ("kind", "span_type"),
    [
        ("LLM", SPAN_LLM_CALL),
        ("EMBEDDING", SPAN_EMBEDDING),
        ("TOOL", SPAN_TOOL_CALL),
        ("CHAIN", "chain"),
        ("AGENT", "agent"),
        ("RETRIEVER", "retriever"),
        ("RERANKER", "reranker"),
        ("GUARDRAIL", "guardrail"),
        ("EVALUATOR", "evaluator"),
        ("PROMPT", "prompt"),
        ("llm", SPAN_LLM_CALL),
    ],
)
def test_openinference_span_kind_maps_to_span_type(kind: str, span_type: str) -> None:
    assert mapped({"openinference.span.kind": kind}).span_type == span_type


def test_openinference_llm_span_maps_model_provider_tokens_cache_and_cost() -> None:
    event = mapped(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-2024-08-06",
            "llm.provider": "openai",
            "llm.system": "openai",
            "llm.token_count.prompt": 1000,
            "llm.token_count.completion": 50,
            "llm.token_count.total": 1050,
            "llm.token_count.prompt_details.cache_read": 800,
            "llm.token_count.prompt_details.cache_write": 100,
            "input.value": "hello",
        }
    )
    assert (event.span_type, event.model, event.tokens_input, event.tokens_output) == (
        SPAN_LLM_CALL,
        "gpt-4o-2024-08-06",
        1000,
        50,
    )
    assert event.attributes is not None
    assert event.attributes[ATTR_TOKENS_CACHE_READ] == 800
    assert event.attributes[ATTR_TOKENS_CACHE_WRITE] == 100
    assert event.attributes["gen_ai.provider.name"] == "openai"
    assert event.attributes["input.value"] == "hello"
    # 100 uncached at 2.50, 800 read at 1.25, 100 written at 2.50, 50 out at 10.00 (USD per 1M)
    assert event.cost_usd == pytest.approx((100 * 2.5 + 800 * 1.25 + 100 * 2.5 + 50 * 10.0) / 1e6)
    assert event.cost_estimated is True
    native_accepts([event])


def test_openinference_reported_cost_is_used_not_estimated() -> None:
    event = mapped(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 1000,
            "llm.cost.total": 0.5,
        }
    )
    assert (event.cost_usd, event.cost_estimated) == (0.5, None)


def test_openinference_system_names_the_provider_when_provider_is_absent() -> None:
    event = mapped(
        {"openinference.span.kind": "LLM", "llm.model_name": "claude-sonnet-4", "llm.system": "anthropic"}
    )
    assert event.attributes is not None and event.attributes["gen_ai.provider.name"] == "anthropic"


def test_openinference_tool_and_embedding_names() -> None:
    tool = mapped({"openinference.span.kind": "TOOL", "tool.name": "search"})
    assert (tool.span_type, tool.tool_name) == (SPAN_TOOL_CALL, "search")
    embedding = mapped(EMBEDDINGS_OPENINFERENCE)
    assert (embedding.span_type, embedding.model, embedding.tokens_input) == (
        SPAN_EMBEDDING,
        "text-embedding-3-small",
        400,
    )


def test_openinference_bad_token_count_rejects_the_span() -> None:
    result = decode_traces(
        traces(span({"openinference.span.kind": "LLM", "llm.token_count.prompt": -3})), JSON
    )
    assert result.rejected == 1 and result.error_message and "llm.token_count.prompt" in result.error_message


def test_genai_names_win_over_openinference_names() -> None:
    event = mapped(
        {
            "gen_ai.request.model": "gpt-4o",
            "llm.model_name": "other",
            "gen_ai.usage.input_tokens": 5,
            "llm.token_count.prompt": 7,
        }
    )
    assert (event.model, event.tokens_input) == ("gpt-4o", 5)


def test_openinference_spans_reach_the_real_collector(start_collector: Any) -> None:
    collector = start_collector()
    now_ns = int(collector.service.clock() * 1e9)
    llm = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "llm.provider": "openai",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": 20,
    }
    tool = {"openinference.span.kind": "TOOL", "tool.name": "lookup"}
    spans = [span(llm, 0, now_ns), span(llm, 1, now_ns), span(tool, 2, now_ns)]
    response = httpx.post(
        collector.url + PATH_OTLP_TRACES,
        content=traces(*spans, service="phoenix-app"),
        headers={"Content-Type": JSON},
        timeout=10,
    )
    assert response.status_code == 200
    snapshot = wait_until(lambda: (s := collector.service.snapshot("phoenix-app")).events == 3 and s)
    assert snapshot.completions == 2 and snapshot.tool_calls_total == 1
    assert snapshot.p50_latency_ms == pytest.approx(250, rel=0.02)
    assert snapshot.total_cost_usd == pytest.approx(2 * (100 * 2.5 + 20 * 10.0) / 1e6)
    assert [row.model for row in snapshot.agents] == ["gpt-4o"]


# ---------------------------------------------------------------- OpenLLMetry (Traceloop)
def test_openllmetry_chat_span_maps_tokens_model_and_type() -> None:
    event = mapped(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.usage.prompt_tokens": 200,
            "gen_ai.usage.completion_tokens": 30,
            "llm.usage.total_tokens": 230,
            "gen_ai.usage.cache_read_input_tokens": 100,
        }
    )
    assert (event.span_type, event.model, event.tokens_input, event.tokens_output) == (
        SPAN_LLM_CALL,
        "gpt-4o-mini-2024-07-18",
        200,
        30,
    )
    assert event.attributes is not None
    assert event.attributes["gen_ai.provider.name"] == "OpenAI"
    assert event.attributes["llm.usage.total_tokens"] == 230
    assert event.attributes[ATTR_TOKENS_CACHE_READ] == 100
    assert event.cost_usd == pytest.approx((100 * 0.15 + 100 * 0.075 + 30 * 0.6) / 1e6)
    native_accepts([event])


@pytest.mark.parametrize(
    ("attributes", "span_type", "tool"),
    [
        (
            {"llm.request.type": "embedding", "gen_ai.request.model": "text-embedding-3-small"},
            SPAN_EMBEDDING,
            None,
        ),
        ({"llm.request.type": "completion", "gen_ai.request.model": "gpt-4o"}, SPAN_LLM_CALL, None),
        (
            {"traceloop.span.kind": "tool", "traceloop.entity.name": "get_weather"},
            SPAN_TOOL_CALL,
            "get_weather",
        ),
        ({"traceloop.span.kind": "agent", "traceloop.entity.name": "planner"}, "agent", None),
        ({"traceloop.span.kind": "workflow", "traceloop.entity.name": "rag"}, "workflow", None),
        ({"traceloop.span.kind": "task", "traceloop.entity.name": "split"}, "task", None),
    ],
)
def test_openllmetry_span_kinds(attributes: dict[str, Any], span_type: str, tool: str | None) -> None:
    event = mapped(attributes)
    assert (event.span_type, event.tool_name) == (span_type, tool)


# ---------------------------------------------------------------- cache tokens and costs
def test_genai_cache_tokens_are_priced_at_cache_rates() -> None:
    event = mapped(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.usage.input_tokens": 10_000,
            "gen_ai.usage.output_tokens": 100,
            ATTR_TOKENS_CACHE_READ: 8_000,
            ATTR_TOKENS_CACHE_WRITE: 1_000,
        }
    )
    # Anthropic: read 0.1x input (3.00 → 0.30), write 1.25x (→ 3.75) per 1M tokens
    assert event.cost_usd == pytest.approx((1_000 * 3.0 + 8_000 * 0.3 + 1_000 * 3.75 + 100 * 15.0) / 1e6)


def test_cache_tokens_beyond_input_tokens_count_the_input_as_uncached() -> None:
    # Anthropic's usage counts input_tokens without the cache: 10 input, 20 000 read.
    cost = pricing.estimate_cost("claude-sonnet-4-5", 10, 100, 20_000, 1_000)
    assert cost == pytest.approx((10 * 3.0 + 100 * 15.0 + 20_000 * 0.3 + 1_000 * 3.75) / 1e6)


def test_cache_tokens_without_a_cache_rate_cost_the_input_rate() -> None:
    assert pricing.estimate_cost("mistral-large", 1_000, 0, 600) == pytest.approx(1_000 * 2.0 / 1e6)


def test_a_cost_the_program_reports_is_never_re_estimated() -> None:
    event = mapped(
        {
            "gen_ai.request.model": "claude-sonnet-4",
            "gen_ai.usage.input_tokens": 10,
            ATTR_TOKENS_CACHE_READ: 20_000,
            "agentwatch.cost_usd": 0.00413,
        }
    )
    assert (event.cost_usd, event.cost_estimated) == (0.00413, None)


def test_bad_cache_token_count_rejects_a_span_to_price() -> None:
    attributes = {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 10,
        ATTR_TOKENS_CACHE_READ: -1,
    }
    result = decode_traces(traces(span(attributes)), JSON)
    assert result.rejected == 1


def test_cache_tokens_show_in_the_log_line(start_collector: Any) -> None:
    collector = start_collector()
    now_ns = int(collector.service.clock() * 1e9)
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 30,
        ATTR_TOKENS_CACHE_READ: 2_000,
        ATTR_TOKENS_CACHE_WRITE: 300,
    }
    response = httpx.post(
        collector.url + PATH_OTLP_TRACES,
        content=traces(span(attributes, 0, now_ns)),
        headers={"Content-Type": JSON},
        timeout=10,
    )
    assert response.status_code == 200
    (entry,) = all_logs(collector.url, 1)
    assert "12→30 tok" in entry.message and "cache 2000 read / 300 written" in entry.message


# ---------------------------------------------------------------- log records without a body
def record(attributes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "timeUnixNano": str(START_NS),
        "severityNumber": 9,
        "attributes": [attr(k, v) for k, v in attributes.items()],
        **extra,
    }


def test_log_record_without_body_shows_its_event_name_attribute() -> None:
    result = decode_logs(logs(record({"event.name": "claude_code.user_prompt", "prompt_length": 12})), JSON)
    (event,) = result.events
    assert event.message == "claude_code.user_prompt"


def test_log_record_without_body_shows_its_event_name_field() -> None:
    result = decode_logs(logs(record({"x": 1}, eventName="gen_ai.client.inference.operation.details")), JSON)
    (event,) = result.events
    assert event.message == "gen_ai.client.inference.operation.details"


def test_log_record_without_body_event_name_from_protobuf() -> None:
    pytest.importorskip("opentelemetry.proto")
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    log = request.resource_logs.add().scope_logs.add().log_records.add()
    log.time_unix_nano = START_NS
    log.event_name = "codex.sse_event"
    (event,) = decode_logs(request.SerializeToString(), "application/x-protobuf").events
    assert event.message == "codex.sse_event"


def test_log_record_body_wins_over_event_name_and_unnamed_records_say_so() -> None:
    raw = RawLog(START_NS, 0, 9, "", "hello", {"event.name": "x"}, None, None)
    assert map_log(raw, "svc", 0.0).message == "hello"
    raw = RawLog(START_NS, 0, 9, "", None, {}, None, None)
    assert map_log(raw, "svc", 0.0).message  # never an empty line


def test_log_without_body_reaches_the_log_stream_with_its_event_name(start_collector: Any) -> None:
    collector = start_collector()
    body = logs(record({"event.name": "user_prompt"}), service="claude-code")
    response = httpx.post(
        collector.url + PATH_OTLP_LOGS, content=body, headers={"Content-Type": JSON}, timeout=10
    )
    assert response.status_code == 200
    (entry,) = all_logs(collector.url, 1)
    assert "user_prompt" in entry.message
    assert PATH_LOGS_STREAM  # the stream all_logs reads


# ---------------------------------------------------------------- exceptions as span events
EXCEPTION_EVENT = {
    "name": "exception",
    "timeUnixNano": str(START_NS + 1),
    "attributes": [
        attr("exception.type", "RateLimitError"),
        attr("exception.message", "429 Too Many Requests"),
    ],
}


def test_span_exception_event_becomes_the_error_text_json() -> None:
    body = traces(span({"gen_ai.operation.name": "chat"}, events=[EXCEPTION_EVENT], status={"code": 2}))
    (event,) = decode_traces(body, JSON).events
    assert event.error == "RateLimitError: 429 Too Many Requests"


def test_span_exception_event_becomes_the_error_text_protobuf() -> None:
    pytest.importorskip("opentelemetry.proto")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    pb_span = request.resource_spans.add().scope_spans.add().spans.add()
    pb_span.name = "chat"
    pb_span.start_time_unix_nano, pb_span.end_time_unix_nano = START_NS, START_NS + 10**6
    pb_span.status.code = 2
    other = pb_span.events.add()
    other.name = "gen_ai.choice"
    exception = pb_span.events.add()
    exception.name = "exception"
    for key, value in (("exception.type", "ValueError"), ("exception.message", "bad input")):
        kv = exception.attributes.add()
        kv.key, kv.value.string_value = key, value
    (event,) = decode_traces(request.SerializeToString(), "application/x-protobuf").events
    assert event.error == "ValueError: bad input"
    later = pb_span.events.add()  # an event after the exception (a retry's, a log's) hides nothing
    later.name = "gen_ai.choice"
    (event,) = decode_traces(request.SerializeToString(), "application/x-protobuf").events
    assert event.error == "ValueError: bad input"


def test_exception_event_on_an_ok_span_makes_it_an_error() -> None:
    (event,) = decode_traces(traces(span({}, events=[EXCEPTION_EVENT])), JSON).events
    assert event.error == "RateLimitError: 429 Too Many Requests"


def test_exception_text_is_not_prefixed_twice_by_error_type() -> None:
    attributes = {"error.type": "RateLimitError"}
    (event,) = decode_traces(
        traces(span(attributes, events=[EXCEPTION_EVENT], status={"code": 2})), JSON
    ).events
    assert event.error == "RateLimitError: 429 Too Many Requests"


def test_exception_event_naming_nothing_leaves_the_span_as_it_was() -> None:
    empty = {"name": "exception", "attributes": []}
    (event,) = decode_traces(traces(span({}, events=[empty])), JSON).events
    assert event.error is None


# ---------------------------------------------------------------- same rules as the native path
convention_keys = st.sampled_from(
    [
        "openinference.span.kind",
        "llm.model_name",
        "llm.provider",
        "llm.system",
        "llm.token_count.prompt",
        "llm.token_count.completion",
        "llm.token_count.prompt_details.cache_read",
        "llm.token_count.prompt_details.cache_write",
        "llm.cost.total",
        "tool.name",
        "embedding.model_name",
        "llm.request.type",
        "traceloop.span.kind",
        "traceloop.entity.name",
        "gen_ai.usage.cache_read_input_tokens",
        ATTR_TOKENS_CACHE_READ,
        "gen_ai.request.model",
        "exception.type",
        "exception.message",
    ]
)
convention_values = (
    st.integers(min_value=-5, max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.text(max_size=3)
    | st.sampled_from(["LLM", "EMBEDDING", "TOOL", "tool", "chat", "embedding", "gpt-4o", "x" * 300])
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(convention_keys, convention_values, max_size=8), min_size=1, max_size=4))
def test_every_mapped_convention_span_passes_the_native_ingest_rules_unchanged(
    attribute_sets: list[dict[str, Any]],
) -> None:
    spans = [span(attributes, index) for index, attributes in enumerate(attribute_sets)]
    result = decode_traces(traces(*spans), JSON, clock=lambda: 1.7e9)
    assert len(result.events) + result.rejected == len(spans)
    if result.events:
        native_accepts(result.events)


def test_a_changed_price_table_is_read_at_once() -> None:
    model = "gpt-4o-2099-01-01"
    try:
        assert pricing.price_for(model) == (2.50, 10.00)  # by its prefix, now remembered
        pricing.set_prices({"gpt-4o-2099": (1.0, 2.0)}, cache_prices={"gpt-4o-2099": (0.5, 1.0)})
        assert pricing.price_for(model) == (1.0, 2.0)
        assert pricing.estimate_cost(model, 1_000, 0, 1_000) == pytest.approx(1_000 * 0.5 / 1e6)
    finally:
        pricing.set_prices(pricing.DEFAULT_PRICES, replace=True, cache_prices=pricing.DEFAULT_CACHE_PRICES)
