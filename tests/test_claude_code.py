"""Claude Code's telemetry, as the real CLI sent it, shows the totals the CLI reported about itself."""

from __future__ import annotations

import gzip
import json
import math
from typing import Any

import grpc
import httpx
import pytest

from agentwatch.collector.loglines import event_to_log_entry
from agentwatch.collector.otlp import claude_code, conventions, decode_logs, decode_traces
from agentwatch.collector.otlp.errors import Reject
from agentwatch.collector.otlp.mapping import RawLog, map_log, map_span
from agentwatch.collector.otlp.sessions import count, flag, number, session_agent
from agentwatch.collector.otlp_grpc import LOGS_SERVICE, METRICS_SERVICE, TRACE_SERVICE
from agentwatch.collector.precedence import TokenSources
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    ATTR_TOKENS_CACHE_READ,
    ATTR_TOKENS_CACHE_WRITE,
    MAX_AGENT_ID_LENGTH,
    PATH_SNAPSHOT,
    SPAN_DECISION,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
)
from tests.helpers import RunningCollector, all_logs, serve_in_thread
from tests.otlp_fixtures import Variant, variant, variants

CLAUDE = variants("claude")
OK_RUNS = [v for v in CLAUDE if not v.totals["is_error"]]
ERROR_RUNS = [v for v in CLAUDE if v.totals["is_error"]]


def by_id(variants_: list[Variant]) -> Any:
    return pytest.mark.parametrize("captured", variants_, ids=[v.id for v in variants_])


def last_timestamp(*captured: Variant) -> float:
    """The newest event time of these runs: the collector's clock is set just after it."""
    newest = 0.0
    for run in captured:
        for request in run.requests():
            decode = {"logs": decode_logs, "traces": decode_traces}.get(request.signal)
            if decode is not None:
                for event in decode(request.body, request.content_type, clock=lambda: 0.0).events:
                    newest = max(newest, float(event.timestamp or 0.0))
    return newest


def replay(
    collector: RunningCollector, run: Variant, signals: tuple[str, ...] = ("traces", "logs", "metrics")
) -> None:
    """Post every request of ``run`` in arrival order, as the CLI sent it (gzip included)."""
    for request in run.requests():
        if request.signal not in signals:
            continue
        headers = {"Content-Type": request.content_type}
        body = request.body
        if request.arrived_gzipped:
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        response = httpx.post(collector.url + request.path, content=body, headers=headers, timeout=10)
        assert response.status_code == 200, (request.path, response.text)
        assert response.content in (b"", b"{}"), f"items rejected: {response.content!r}"


def totals(collector: RunningCollector) -> dict[str, Any]:
    series = collector.service.totals.series.values()
    logs = all_logs(collector.url, collector.service.logs.last_id)
    cache: dict[str, int] = {ATTR_TOKENS_CACHE_READ: 0, ATTR_TOKENS_CACHE_WRITE: 0}
    for entry in logs:
        attributes = entry.metadata.get("attributes") or {}
        for key in cache:
            cache[key] += attributes.get(key, 0)
    shown = httpx.get(collector.url + PATH_SNAPSHOT, timeout=10).json()
    return {
        "input_tokens": sum(s.tokens_in for s in series),
        "output_tokens": sum(s.tokens_out for s in series),
        "cost_usd": sum(s.cost for s in series),
        "cache_read_tokens": cache[ATTR_TOKENS_CACHE_READ],
        "cache_creation_tokens": cache[ATTR_TOKENS_CACHE_WRITE],
        "snapshot": shown,
        "logs": logs,
    }


@pytest.fixture
def start_at(start_collector: Any) -> Any:
    def start(*runs: Variant) -> RunningCollector:
        now = last_timestamp(*runs) + 1.0
        return start_collector(clock=lambda: now)

    return start


@by_id(CLAUDE)
def test_totals_equal_what_the_cli_reported(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured)
    shown = totals(collector)
    expected = captured.totals
    for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
        assert shown[key] == expected[key], key
    assert math.isclose(shown["cost_usd"], expected["cost_usd"], abs_tol=1e-9)
    assert math.isclose(shown["snapshot"]["total_cost_usd"], expected["cost_usd"], abs_tol=1e-9)
    assert not shown["snapshot"]["cost_estimated"]
    assert shown["snapshot"]["agents"], "the session has a row"
    assert all(line.message for line in shown["logs"]), "every line reads as something"


@by_id(ERROR_RUNS)
def test_a_failing_run_shows_its_errors_and_no_cost(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured)
    shown = totals(collector)
    assert shown["snapshot"]["errors"] > 0
    assert shown["snapshot"]["total_cost_usd"] == 0
    errors = [line.message for line in shown["logs"] if line.level == "error"]
    status = "429" if "429" in captured.name else "500"
    assert any(f"HTTP {status}" in message for message in errors), errors


@by_id(OK_RUNS)
def test_traces_on_or_off_give_the_same_totals(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured, signals=("logs",))
    without_traces = totals(collector)
    replay(collector, captured, signals=("traces", "metrics"))
    with_traces = totals(collector)
    for key in ("input_tokens", "output_tokens", "cost_usd", "cache_read_tokens"):
        assert with_traces[key] == without_traces[key], key


def test_a_session_is_one_agent_row_and_three_sessions_are_three(start_at: Any) -> None:
    runs = [variant("claude/protobuf-tool"), variant("claude/json-tool"), variant("claude/protobuf-text")]
    collector = start_at(*runs)
    for run in runs:
        replay(collector, run)
    rows = [row["agent_id"] for row in totals(collector)["snapshot"]["agents"]]
    assert len(rows) == 3, rows
    assert all(row.startswith("claude-code·") and len(row) == len("claude-code·") + 8 for row in rows)
    lines = totals(collector)["logs"]
    attributes = lines[0].metadata["attributes"]
    assert {"session.id", "user.id", "terminal.type"} <= attributes.keys()


def test_the_traces_alone_carry_no_tokens_cost_or_errors() -> None:
    for run in CLAUDE:
        for request in run.requests("traces"):
            for event in decode_traces(request.body, request.content_type).events:
                assert event.tokens_input is None and event.tokens_output is None, run.id
                assert event.cost_usd is None and event.error is None, run.id
                assert event.span_type in ("agent", "span"), event.span_type
                assert event.agent_id.startswith("claude-code·")


# ------------------------------------------------------------------ the convention hook


def test_claude_code_is_recognised_by_service_name_or_scope() -> None:
    assert conventions.log_mapper({"service.name": "claude-code"}) is claude_code.map_log
    assert conventions.log_mapper({}, "com.anthropic.claude_code.events") is claude_code.map_log
    assert conventions.span_mapper({"service.name": "claude-code"}) is claude_code.map_span
    assert conventions.span_mapper({}, "com.anthropic.claude_code.tracing") is claude_code.map_span
    assert conventions.log_mapper({"service.name": "my-agent"}, "other") is map_log
    assert conventions.span_mapper({"service.name": 3}) is map_span


# ---------------------------------------------------------------------- the log mapper

SESSION = "d0615065-1e47-49bc-9ba9-ae4299289f1a"


def record(name: str, **attributes: Any) -> RawLog:
    base = {"session.id": SESSION, "user.id": "ab" * 32, "terminal.type": "dumb", "event.name": name}
    return RawLog(1_796_000_000_000_000_000, 0, 0, "", f"claude_code.{name}", base | attributes, None, None)


def mapped(name: str, **attributes: Any) -> Any:
    return claude_code.map_log(record(name, **attributes), "claude-code", 0.0)


def test_api_request_is_an_inference_with_the_cli_cost_and_cache_tokens() -> None:
    event = mapped(
        "api_request",
        model="claude-opus-4-8",
        input_tokens="126",
        output_tokens=53,
        cache_read_tokens="600",
        cache_creation_tokens=300.0,
        cost_usd="0.0041",
        duration_ms="1234",
    )
    assert event.agent_id == "claude-code·d0615065"
    assert (event.span_type, event.model, event.tokens_input, event.tokens_output) == (
        SPAN_LLM_CALL,
        "claude-opus-4-8",
        126,
        53,
    )
    assert (event.cost_usd, event.cost_estimated, event.latency_ms) == (0.0041, False, 1234.0)
    assert event.attributes[ATTR_TOKENS_CACHE_READ] == 600
    assert event.attributes[ATTR_TOKENS_CACHE_WRITE] == 300
    assert event.attributes["session.id"] == SESSION
    line = event_to_log_entry(event).message
    assert line.startswith("llm_call claude-opus-4-8 126→53 tok")
    assert "1234 ms $0.004" in line
    assert event.level is None


def test_api_request_without_its_cost_is_estimated_with_cache_tokens_at_cache_rates() -> None:
    event = mapped(
        "api_request",
        model="claude-sonnet-4",
        input_tokens=100,
        output_tokens=50,
        cache_read_tokens=10_000,
        cache_creation_tokens=2_000,
    )
    assert event.cost_estimated is True
    assert event.cost_usd == pytest.approx(estimate_cost("claude-sonnet-4", 100, 50, 10_000, 2_000))
    assert event.cost_usd != pytest.approx(estimate_cost("claude-sonnet-4", 100, 50))


def test_api_request_without_fields_is_still_a_call() -> None:
    event = mapped("api_request")
    assert event.span_type == SPAN_LLM_CALL
    assert event.tokens_input is None and event.cost_usd is None and event.model is None
    micros = mapped("api_request", cost_usd_micros="1510")
    assert micros.cost_usd == pytest.approx(0.00151) and micros.cost_estimated is False


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("input_tokens", -1),
        ("input_tokens", 2**53),
        ("output_tokens", "1e400"),
        ("output_tokens", "NaN"),
        ("cache_read_tokens", "lots"),
        ("cost_usd", float("nan")),
        ("cost_usd", "-0.5"),
        ("cost_usd", "Infinity"),
        ("duration_ms", -3),
        ("input_tokens", 1.5),
        ("input_tokens", True),
    ],
)
def test_hostile_numbers_reject_the_record_with_the_reason(key: str, value: Any) -> None:
    with pytest.raises(Reject, match=key):
        mapped("api_request", model="m", **{key: value})


def test_errors_carry_status_and_message() -> None:
    error = mapped(
        "api_error", model="claude-opus-4-8", error="fake 500 error", status_code=500, duration_ms=9
    )
    assert error.span_type == SPAN_ERROR and error.error == "HTTP 500: fake 500 error"
    assert error.attributes["status_code"] == 500
    exhausted = mapped("api_retries_exhausted", error="overloaded", status_code="429", total_attempts=3)
    assert exhausted.error == "retries exhausted after 3 attempts: HTTP 429: overloaded"
    assert event_to_log_entry(exhausted).level == "error"


def test_tool_results_and_decisions() -> None:
    ok = mapped("tool_result", tool_name="Bash", success="true", duration_ms="52")
    assert (ok.span_type, ok.tool_name, ok.latency_ms, ok.error) == (SPAN_TOOL_CALL, "Bash", 52.0, None)
    failed = mapped("tool_result", tool_name="Bash", success="false", duration_ms="7", error="exit 1")
    assert failed.error == "exit 1"
    assert mapped("tool_result", tool_name="Write", success=False).error == "failed"
    decision = mapped("tool_decision", tool_name="Write", decision="reject", source="user")
    assert (decision.span_type, decision.decision_made, decision.tool_name) == (
        SPAN_DECISION,
        "reject",
        "Write",
    )
    assert event_to_log_entry(decision).message == "decision Write reject — by user"


def test_prompts_and_answers_are_log_lines_without_their_text() -> None:
    prompt = mapped("user_prompt", prompt_length="6", prompt="<REDACTED>")
    assert (prompt.span_type, prompt.message) == (SPAN_LOG, "user_prompt 6 chars")
    answer = mapped("assistant_response", response_length=19, model="claude-opus-4-8")
    assert answer.message == "assistant_response claude-opus-4-8 19 chars"
    unknown = mapped("compaction")
    assert unknown.span_type == SPAN_LOG and unknown.message == "claude_code.compaction"


def test_an_event_named_only_by_its_body_is_read() -> None:
    raw = record("api_request", input_tokens=3)
    del raw.attributes["event.name"]
    assert claude_code.map_log(raw, "claude-code", 0.0).tokens_input == 3


def test_spans_keep_their_shape_but_no_tokens_or_cost() -> None:
    attributes = {
        "session.id": SESSION,
        "gen_ai.request.model": "claude-opus-4-8[1m]",
        "gen_ai.usage.input_tokens": 42,
        "input_tokens": 42,
        "agentwatch.cost_usd": 1.0,
    }
    event = claude_code.map_span(
        "a" * 32, "b" * 16, None, "claude_code.llm_request", 1, 2, attributes, 2, "boom", "claude-code", 0.0
    )
    assert (event.tokens_input, event.cost_usd, event.error, event.span_type) == (None, None, None, "span")
    assert event.model == "claude-opus-4-8[1m]" and event.message == "llm_request"
    assert event.attributes is not None and event.attributes["error"] == "boom"
    generic = map_span("a" * 32, "b" * 16, None, "x", 1, 2, {"gen_ai.usage.input_tokens": 1}, 0, "", "a", 0.0)
    assert generic.tokens_input == 1


def blocked(span_id: str, decision: str) -> Any:
    attributes = {"session.id": SESSION, "span.type": "tool.blocked_on_user", "decision": decision}
    return claude_code.map_span(
        "a" * 32,
        span_id,
        "c" * 16,
        "claude_code.tool.blocked_on_user",
        1,
        2,
        attributes,
        0,
        "",
        "claude-code",
        0.0,
    )


def decided(span_id: str, decision: str) -> Any:
    raw = record("tool_decision", tool_name="Bash", decision=decision, source="user")
    raw.trace_id, raw.span_id = "a" * 32, span_id
    return claude_code.map_log(raw, "claude-code", 0.0)


def test_a_tool_blocked_on_the_user_is_one_decision_whichever_source_arrives_first() -> None:
    span_first = blocked("1" * 16, "reject")  # claude -p denies a tool with this span alone
    assert (span_first.span_type, span_first.decision_made) == (SPAN_DECISION, "reject")
    assert event_to_log_entry(span_first).message.endswith("waited for permission, reject")
    late_log = decided("1" * 16, "reject")
    assert (late_log.span_type, late_log.decision_made) == (SPAN_LOG, None)
    assert late_log.message == "tool_decision reject by user"

    log_first = decided("2" * 16, "accept")
    assert (log_first.span_type, log_first.decision_made) == (SPAN_DECISION, "accept")
    late_span = blocked("2" * 16, "accept")
    assert (late_span.span_type, late_span.decision_made) == ("span", None)

    unknown = blocked("3" * 16, "unknown")  # every tool run by config: no decision of its own
    assert (unknown.span_type, unknown.decision_made) == ("span", None)
    assert decided("3" * 16, "accept").span_type == SPAN_DECISION


# ------------------------------------------------------------------- shared readers


def test_session_agents_stay_within_the_agent_id_limit() -> None:
    assert session_agent("claude-code", {"session.id": SESSION}) == "claude-code·d0615065"
    assert session_agent("claude-code", {"session.id": "  "}) == "claude-code"
    assert session_agent("claude-code", {}) == "claude-code"
    assert len(session_agent("x" * MAX_AGENT_ID_LENGTH, {"session.id": SESSION})) == MAX_AGENT_ID_LENGTH


def test_numbers_sent_as_text_are_read_as_numbers() -> None:
    assert (
        count("42", "k") == 42
        and count(" 7 ", "k") == 7
        and count("3.0", "k") == 3
        and count(None, "k") is None
    )
    assert number("1.5", "k") == 1.5 and number("", "k") is None
    assert flag("true") is True and flag("FALSE") is False and flag(True) is True and flag("maybe") is None
    with pytest.raises(Reject):
        number("1e400", "k")


# ------------------------------------------------------- events, spans and metrics at once


def token_histogram(session: str, tokens: int, time_ns: int) -> bytes:
    """A gen_ai.client.token.usage export from a claude-code resource, in OTLP JSON."""

    def kv(key: str, value: str) -> dict[str, Any]:
        return {"key": key, "value": {"stringValue": value}}

    point = {
        "attributes": [
            kv("session.id", session),
            kv("gen_ai.token.type", "input"),
            kv("gen_ai.request.model", "m"),
        ],
        "startTimeUnixNano": str(time_ns - 1_000_000_000),
        "timeUnixNano": str(time_ns),
        "count": "1",
        "sum": tokens,
        "bucketCounts": ["1"],
        "explicitBounds": [],
    }
    metric = {
        "name": "gen_ai.client.token.usage",
        "unit": "{token}",
        "histogram": {"aggregationTemporality": 1, "dataPoints": [point]},
    }
    resource = {"attributes": [kv("service.name", "claude-code")]}
    return json.dumps(
        {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": [metric]}]}]}
    ).encode()


def test_with_events_spans_and_metrics_at_once_the_events_win(start_at: Any) -> None:
    run = variant("claude/protobuf-tool")
    collector = start_at(run)
    replay(collector, run)  # traces, logs and Claude Code's own metrics
    before = totals(collector)
    session = before["logs"][0].metadata["attributes"]["session.id"]
    now_ns = int(collector.service.clock() * 1e9)
    for body in (token_histogram(session, 126, now_ns), token_histogram("another-session", 5, now_ns)):
        response = httpx.post(
            collector.url + "/v1/metrics",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200
    counts = collector.service.metric_points.counts
    assert counts.superseded == 1  # the session's own tokens, already counted from its events
    after = totals(collector)
    assert (after["input_tokens"], after["output_tokens"]) == (
        before["input_tokens"],
        before["output_tokens"],
    )
    assert after["input_tokens"] == run.totals["input_tokens"]


@by_id([v for v in CLAUDE if v.name in ("json-tool", "protobuf-tool")])
def test_a_session_shows_the_work_its_metrics_tell(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured)
    rows = httpx.get(collector.url + PATH_SNAPSHOT, timeout=10).json()["agents"]
    (row,) = rows
    work = row["work"]
    assert work["lines_added"] >= 1 and work.get("lines_removed", 0) == 0, work
    assert work["sessions"] == 1 and 0 < work["active_seconds"] < 60, work


def test_a_program_metric_naming_no_session_is_superseded_by_any_of_its_sessions() -> None:
    sources = TokenSources(max_sources=2)
    sources.note(
        [Event("claude-code·d0615065", 1.0, "llm_call", tokens_input=1, attributes={"session.id": SESSION})]
    )
    assert sources.metrics_superseded("claude-code", None)
    assert sources.metrics_superseded("claude-code·d0615065", SESSION)
    assert not sources.metrics_superseded("claude-code·aaaaaaaa", "aaaaaaaa-other")
    sources.note(
        [Event("a", 1.0, tokens_input=1), Event("b", 1.0, tokens_input=1)]
    )  # the session is forgotten
    assert not sources.metrics_superseded("claude-code", None)


GRPC_SERVICES = {"logs": LOGS_SERVICE, "metrics": METRICS_SERVICE, "traces": TRACE_SERVICE}


@pytest.fixture
def start_with_grpc() -> Any:
    """Factory: a collector (clock just after ``runs``) with OTLP/gRPC on an ephemeral port, and that port."""
    from agentwatch.collector.app import create_app
    from agentwatch.collector.service import Collector, Settings

    running: list[RunningCollector] = []

    def start(*runs: Variant) -> tuple[RunningCollector, str]:
        now = last_timestamp(*runs) + 1.0
        service = Collector(Settings(store_path=None, otlp_grpc_port=0, clock=lambda: now))
        app = create_app(collector=service)
        server, thread, port = serve_in_thread(app)
        running.append(RunningCollector(f"http://127.0.0.1:{port}", server, thread, service))
        return running[-1], f"127.0.0.1:{app.state.otlp_grpc.port}"

    yield start
    for instance in running:
        instance.stop()


@by_id([v for v in CLAUDE if not v.index["requests"][0]["content_type"].endswith("json")])
def test_totals_over_grpc_equal_what_the_cli_reported(start_with_grpc: Any, captured: Variant) -> None:
    collector, target = start_with_grpc(captured)
    with grpc.insecure_channel(target) as channel:
        for request in captured.requests():
            export: Any = channel.unary_unary(f"/{GRPC_SERVICES[request.signal]}/Export")
            assert export(request.body, timeout=10) == b""
    shown = totals(collector)
    for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
        assert shown[key] == captured.totals[key], key
    assert math.isclose(shown["cost_usd"], captured.totals["cost_usd"], abs_tol=1e-9)
