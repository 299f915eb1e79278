"""Codex's telemetry, as the real CLI sent it, shows the token totals the CLI reported about itself."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentwatch.collector.loglines import event_to_log_entry
from agentwatch.collector.otlp import codex, conventions, decode_logs, decode_traces
from agentwatch.collector.otlp.errors import Reject
from agentwatch.collector.otlp.mapping import RawLog, map_log, map_span
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    ATTR_TOKENS_CACHE_READ,
    ATTR_TOKENS_CACHE_WRITE,
    SPAN_DECISION,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
)
from tests.otlp_fixtures import Variant, variants
from tests.test_claude_code import by_id, replay, totals

CODEX = variants("codex")
ERROR_RUNS = [v for v in CODEX if v.totals["is_error"]]
OK_RUNS = [v for v in CODEX if not v.totals["is_error"]]


@pytest.fixture
def start_at(start_collector: Any) -> Any:
    def start(*runs: Variant) -> Any:
        from tests.test_claude_code import last_timestamp

        now = last_timestamp(*runs) + 1.0
        return start_collector(clock=lambda: now)

    return start


def conversation_rows(shown: dict[str, Any]) -> list[str]:
    return [row["agent_id"] for row in shown["snapshot"]["agents"] if row["agent_id"].startswith("codex·")]


@by_id(CODEX)
def test_totals_equal_what_the_cli_reported(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured)
    shown = totals(collector)
    expected = captured.totals
    for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
        assert shown[key] == expected[key], key
    # Codex reports no cost: it is estimated from the price table, cached tokens at cache rates,
    # and the snapshot says it is an estimate.
    assert expected["cost_usd"] is None
    estimate = estimate_cost(
        "gpt-5.1-codex", expected["input_tokens"], expected["output_tokens"], expected["cache_read_tokens"]
    )
    assert estimate is not None and shown["cost_usd"] == pytest.approx(estimate)
    assert shown["snapshot"]["cost_estimated"] is (estimate > 0)
    assert conversation_rows(shown) == [row["agent_id"] for row in shown["snapshot"]["agents"]], "no bare row"
    assert len(conversation_rows(shown)) == 1
    assert all(line.message for line in shown["logs"]), "every line reads as something"
    assert not any("say hi" in str(line.metadata) for line in shown["logs"]), "no prompt text"


@by_id(ERROR_RUNS)
def test_a_failing_run_shows_its_errors(start_at: Any, captured: Variant) -> None:
    collector = start_at(captured)
    replay(collector, captured)
    shown = totals(collector)
    assert shown["snapshot"]["errors"] >= 1
    errors = [line.message for line in shown["logs"] if line.level == "error"]
    assert any("HTTP 500" in message for message in errors), errors


def test_each_conversation_is_one_row(start_at: Any) -> None:
    collector = start_at(*OK_RUNS)
    for run in OK_RUNS:
        replay(collector, run)
    shown = totals(collector)
    rows = conversation_rows(shown)
    assert len(rows) == len(OK_RUNS), rows
    assert all(len(row) == len("codex·") + 8 for row in rows)
    assert shown["input_tokens"] == sum(run.totals["input_tokens"] for run in OK_RUNS)
    attributes = next(
        line.metadata["attributes"] for line in shown["logs"] if "tokens_input" in line.metadata
    )
    assert {"conversation.id", "model", "slug", "terminal.type"} <= attributes.keys()


def test_tokens_come_only_from_response_completed() -> None:
    for run in CODEX:
        for request in run.requests():
            decode = {"logs": decode_logs, "traces": decode_traces}.get(request.signal)
            if decode is None:
                continue
            for event in decode(request.body, request.content_type, clock=lambda: 0.0).events:
                if event.tokens_input is not None or event.tokens_output is not None:
                    assert event.span_type == SPAN_LLM_CALL, run.id
                    assert (event.attributes or {}).get("event.kind") == "response.completed"
                if request.signal == "traces":
                    assert event.cost_usd is None and event.error is None and event.span_type == "span"


# ------------------------------------------------------------------ the convention hook


def test_codex_is_recognised_by_service_name_or_scope() -> None:
    for service in ("codex_exec", "codex_cli_rs"):
        assert conventions.log_mapper({"service.name": service}) is codex.map_log
        assert conventions.span_mapper({"service.name": service}) is codex.map_span
    assert conventions.log_mapper({}, "codex_otel.log_only") is codex.map_log
    assert conventions.log_mapper({"service.name": "other"}) is map_log
    assert conventions.metric_agent("codex_exec", {"service.name": "codex_exec"}, {}) == "codex"


# ---------------------------------------------------------------------- the log mapper

CONVERSATION = "01a2412a-7707-7271-956b-b0ffe776440e"


def record(name: str, **attributes: Any) -> RawLog:
    base = {
        "conversation.id": CONVERSATION,
        "event.name": name,
        "model": "gpt-5.1-codex",
        "slug": "gpt-5.1-codex",
        "terminal.type": "dumb",
    }
    return RawLog(
        1_796_000_000_000_000_000, 0, 9, "INFO", None, base | attributes, None, None, "event x.rs:1"
    )


def mapped(name: str, **attributes: Any) -> Any:
    return codex.map_log(record(name, **attributes), "codex_exec", 0.0)


def completed(**attributes: Any) -> Any:
    return mapped("codex.sse_event", **{"event.kind": "response.completed"} | attributes)


def test_response_completed_is_the_inference_with_numbers_sent_as_text() -> None:
    event = completed(
        input_token_count="100",
        output_token_count="7",
        cached_token_count=20,
        cache_write_token_count="0",
        reasoning_token_count="3",
        tool_token_count="107",
    )
    assert event.agent_id == "codex·e776440e"
    assert (event.span_type, event.model, event.tokens_input, event.tokens_output) == (
        SPAN_LLM_CALL,
        "gpt-5.1-codex",
        100,
        7,
    )
    assert event.attributes[ATTR_TOKENS_CACHE_READ] == 20
    assert event.attributes[ATTR_TOKENS_CACHE_WRITE] == 0
    assert event.attributes[codex.ATTR_TOKENS_REASONING] == 3
    assert event.cost_usd == pytest.approx(estimate_cost("gpt-5.1-codex", 100, 7, 20, 0))
    assert event.cost_estimated is True
    assert event.level == "info"


def test_a_priced_model_is_estimated_with_cached_tokens_inside_input() -> None:
    event = completed(
        model="gpt-4o", input_token_count="1000", output_token_count="10", cached_token_count="800"
    )
    assert event.cost_estimated is True
    assert event.cost_usd == pytest.approx(estimate_cost("gpt-4o", 1000, 10, 800, None))
    assert event.cost_usd < estimate_cost("gpt-4o", 1000, 10)


def test_other_sse_events_are_log_lines_without_tokens() -> None:
    delta = mapped("codex.sse_event", **{"event.kind": "response.output_text.delta"}, duration_ms="0")
    assert delta.span_type == SPAN_LOG and delta.tokens_input is None
    assert delta.message == "codex.sse_event response.output_text.delta"
    bare = completed(duration_ms="0")  # the record without usage: a line, not a second call
    assert bare.span_type == SPAN_LOG and bare.tokens_input is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("input_token_count", "-1"),
        ("input_token_count", 2**53),
        ("output_token_count", "1e400"),
        ("output_token_count", "NaN"),
        ("cached_token_count", "lots"),
        ("reasoning_token_count", 1.5),
        ("tool_token_count", True),
        ("ttft_ms", "-3"),
    ],
)
def test_hostile_numbers_reject_the_record_with_the_reason(key: str, value: Any) -> None:
    with pytest.raises(Reject, match=key):
        completed(**({"input_token_count": "1"} | {key: value}))


def test_hostile_values_elsewhere_reject_or_are_ignored() -> None:
    with pytest.raises(Reject, match="duration_ms"):
        mapped("codex.api_request", duration_ms="Infinity")
    with pytest.raises(Reject, match=r"http\.response\.status_code"):
        mapped("codex.api_request", **{"http.response.status_code": "five hundred"})
    with pytest.raises(Reject, match="tool_name"):
        mapped("codex.tool_result", tool_name="x" * 10_000)
    assert mapped("codex.tool_result", success="maybe").error is None
    nameless = codex.map_log(record("codex.x", **{"event.name": 7}), "codex_exec", 0.0)
    assert nameless.span_type == SPAN_LOG and nameless.message
    long_id = mapped("codex.user_prompt", **{"conversation.id": "  " + "z" * 5000 + "  "})
    assert long_id.agent_id == "codex·zzzzzzzz"
    assert mapped("codex.user_prompt", **{"conversation.id": 5}).agent_id == "codex"


def test_api_request_is_latency_or_an_error() -> None:
    ok = mapped("codex.api_request", duration_ms="7", **{"http.response.status_code": 200})
    assert (ok.span_type, ok.latency_ms, ok.tokens_input, ok.error) == (SPAN_LOG, 7.0, None, None)
    failed = mapped(
        "codex.api_request",
        duration_ms="31",
        attempt=1,
        **{"http.response.status_code": "500", "error.message": "http 500"},
    )
    assert (failed.span_type, failed.error, failed.latency_ms) == (SPAN_ERROR, "HTTP 500: http 500", 31.0)
    assert event_to_log_entry(failed).level == "error"
    assert mapped("codex.api_request", **{"error.message": "stream closed"}).error == "stream closed"
    assert mapped("codex.api_request", **{"http.response.status_code": 429}).error == "HTTP 429: API error"


def test_tool_results_decisions_prompts_and_other_events() -> None:
    ok = mapped("codex.tool_result", tool_name="exec_command", success="true", duration_ms="46")
    assert (ok.span_type, ok.tool_name, ok.latency_ms, ok.error) == (
        SPAN_TOOL_CALL,
        "exec_command",
        46.0,
        None,
    )
    assert mapped("codex.tool_result", tool_name="exec_command", success="false").error == "failed"
    decision = mapped("codex.tool_decision", tool_name="exec_command", decision="approved", source="Config")
    assert (decision.span_type, decision.decision_made) == (SPAN_DECISION, "approved")
    assert event_to_log_entry(decision).message == "decision exec_command approved — by Config"
    prompt = mapped("codex.user_prompt", prompt_length="6", prompt="say hi")
    assert prompt.message == "codex.user_prompt 6 chars" and "prompt" not in prompt.attributes
    ttft = mapped("codex.turn_ttft", duration_ms="37")
    assert (ttft.span_type, ttft.message, ttft.latency_ms) == (SPAN_LOG, "codex.turn_ttft", 37.0)
    other = mapped("codex.conversation_starts", provider_name="Fake")
    assert other.message == "codex.conversation_starts"


def test_spans_keep_their_shape_but_no_tokens_or_cost() -> None:
    attributes = {
        "conversation.id": CONVERSATION,
        "gen_ai.usage.input_tokens": 42,
        "tool_name": "exec_command",
    }
    event = codex.map_span(
        "a" * 32, "b" * 16, None, "exec_command", 1, 2, attributes, 2, "boom", "codex_exec", 0.0
    )
    assert (event.tokens_input, event.cost_usd, event.error, event.span_type) == (None, None, None, "span")
    assert event.agent_id == "codex·e776440e" and event.tool_name == "exec_command"
    assert event.attributes is not None and event.attributes["error"] == "boom"
    generic = map_span("a" * 32, "b" * 16, None, "x", 1, 2, {"gen_ai.usage.input_tokens": 1}, 0, "", "a", 0.0)
    assert generic.tokens_input == 1


# ----------------------------------------------------- spans, sessions and call latency


def test_spans_of_no_known_conversation_are_counted_never_a_row_of_their_own(start_at: Any) -> None:
    run = next(v for v in CODEX if v.name == "binary-tool")
    collector = start_at(run)
    replay(collector, run)
    shown = totals(collector)
    assert [row["agent_id"] for row in shown["snapshot"]["agents"]] == conversation_rows(shown)
    health = httpx.get(collector.url + "/healthz", timeout=10).json()
    assert health["otlp_items_ignored"] > 0  # at least Codex's "flushing OTEL metrics" line
    spans = [line for line in shown["logs"] if line.span_type == "span"]
    names = " ".join(line.message for line in spans)
    assert all(name in names for name in ("codex.sampling", "exec_command", "run_turn", "codex.exec"))


def span(name: str, trace: str, **attributes: Any) -> Any:
    return codex.map_span(trace, "b" * 16, None, name, 1, 2, attributes, 0, "", "codex_exec", 0.0)


def test_a_span_joins_the_conversation_of_its_trace_or_its_turn() -> None:
    from agentwatch.collector.otlp.errors import Skip

    with pytest.raises(Skip):
        span("fs.read_file", "1" * 32)
    named = span("codex.sampling", "2" * 32, **{"conversation.id": CONVERSATION, "turn.id": "turn-7"})
    assert named.agent_id == "codex·e776440e"
    assert span("append_items", "2" * 32).agent_id == named.agent_id, "same trace"
    assert span("codex.exec", "3" * 32, **{"turn.id": "turn-7"}).agent_id == named.agent_id, "same turn"
    assert span("fs.read_file", "3" * 32).agent_id == named.agent_id, "the turn taught its trace"


def mapped_at(observed_ns: int, name: str, **attributes: Any) -> Any:
    """A Codex record as Codex sends them: no time of its own, only the time it was observed."""
    raw = record(name, **attributes)
    raw.time_ns, raw.observed_ns = 0, observed_ns
    return codex.map_log(raw, "codex_exec", 0.0)


def test_a_completed_call_takes_its_latency_from_its_request() -> None:
    start = 1_796_000_000_000_000_000
    completed = {"event.kind": "response.completed", "input_token_count": "10"}
    request = mapped_at(
        start + 7_000_000, "codex.api_request", duration_ms="7", **{"http.response.status_code": 200}
    )
    assert request.latency_ms == 7.0
    done = mapped_at(start + 52_000_000, "codex.sse_event", **completed)
    assert done.span_type == SPAN_LLM_CALL and done.latency_ms == pytest.approx(52.0)
    again = mapped_at(start + 90_000_000, "codex.sse_event", **completed)
    assert again.latency_ms is None, "one request times one call"


@by_id(OK_RUNS)
def test_every_call_of_a_real_run_has_a_latency(captured: Variant) -> None:
    calls = [
        event
        for request in captured.requests()
        if request.signal == "logs"
        for event in decode_logs(request.body, request.content_type, clock=lambda: 0.0).events
        if event.span_type == SPAN_LLM_CALL
    ]
    assert calls and all(event.latency_ms is not None and event.latency_ms > 0 for event in calls)
