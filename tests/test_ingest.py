"""Specification of ingest decoding: bodies in, normalised events or precise errors out."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentwatch.collector.ingest import (
    BadRequest,
    IngestError,
    decode_events,
)
from agentwatch.collector.loglines import event_to_log_entry, log_rank, log_ranks
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    DEFAULT_SPAN_TYPE,
    LEVEL_RANK,
    LEVELS,
    MAX_AGENT_ID_LENGTH,
    MAX_ATTRIBUTES_BYTES,
    MAX_MESSAGE_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_SHORT_FIELD_LENGTH,
    MAX_TIMESTAMP,
    SPAN_COMPLETION,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
    Rejected,
)
from tests.helpers import NOW

encode = msgspec.json.encode


def decode(value: Any, content_type: str | None = None) -> tuple[list[Event], list[Rejected]]:
    body = value if isinstance(value, bytes) else encode(value)
    return decode_events(body, content_type, now=NOW)


def one(item: dict[str, Any]) -> Event:
    """Decode a single item that must be accepted."""
    events, rejected = decode([item])
    assert rejected == []
    assert len(events) == 1
    return events[0]


def rejection(item: Any) -> str:
    """Decode a single item that must be rejected; return the error text."""
    events, rejected = decode([item, {"agent_id": "good"}])
    assert [e.agent_id for e in events] == ["good"], "the rest of the batch is still accepted"
    assert len(rejected) == 1 and rejected[0].index == 0
    return rejected[0].error


# ----------------------------------------------------------------- body shapes
def test_single_object_body_is_one_event() -> None:
    events, rejected = decode({"agent_id": "a"})
    assert [e.agent_id for e in events] == ["a"] and rejected == []


def test_array_body_is_a_batch() -> None:
    events, _ = decode([{"agent_id": "a"}, {"agent_id": "b"}])
    assert [e.agent_id for e in events] == ["a", "b"]


def test_ndjson_content_type_decodes_one_object_per_line() -> None:
    body = b'{"agent_id":"a"}\r\n\n{"agent_id":"b"}\n'
    for content_type in ("application/x-ndjson", "application/jsonl; charset=utf-8"):
        events, rejected = decode(body, content_type)
        assert [e.agent_id for e in events] == ["a", "b"] and rejected == []


def test_ndjson_is_recognised_without_content_type() -> None:
    events, _ = decode(b'  {"agent_id":"a"}\n{"agent_id":"b"}', "application/json")
    assert [e.agent_id for e in events] == ["a", "b"]


def test_pretty_printed_single_object_is_not_taken_for_ndjson() -> None:
    events, _ = decode(b'{\n  "agent_id": "a",\n  "message": "hi"\n}\n')
    assert [e.message for e in events] == ["hi"]


def test_utf8_byte_order_mark_is_ignored() -> None:
    events, _ = decode(b'\xef\xbb\xbf[{"agent_id":"a"}]')
    assert [e.agent_id for e in events] == ["a"]


def test_empty_array_accepts_nothing_and_rejects_nothing() -> None:
    assert decode(b"[]") == ([], [])


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\n\n"])
def test_empty_body_is_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest, match="empty body"):
        decode(body)


@pytest.mark.parametrize(
    ("body", "kind"), [(b"5", "int"), (b'"x"', "str"), (b"null", "null"), (b"true", "bool")]
)
def test_top_level_scalar_is_bad_request(body: bytes, kind: str) -> None:
    with pytest.raises(BadRequest, match=f"top level is {kind}"):
        decode(body)


def test_malformed_json_names_line_and_column() -> None:
    with pytest.raises(BadRequest) as caught:
        decode(b'[{"agent_id":"a"},\n {"agent_id": "b",}]')
    assert "line 2, column 19" in caught.value.message
    assert "trailing comma" in caught.value.message


def test_truncated_json_says_so() -> None:
    with pytest.raises(BadRequest, match="ends before"):
        decode(b'[{"agent_id":"a"')


def test_garbage_after_the_array_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="trailing characters"):
        decode(b'[{"agent_id":"a"}] x')


def test_ndjson_bad_line_names_the_line() -> None:
    body = b'{"agent_id":"a"}\n{"agent_id":"b"}\n{"agent_id": nope}\n'
    with pytest.raises(BadRequest) as caught:
        decode(body, "application/x-ndjson")
    assert caught.value.message.startswith("line 3: invalid JSON at column 15")


def test_ndjson_line_failing_validation_is_rejected_by_item_index() -> None:
    body = b'{"agent_id":"a"}\n\n{"agent_id":5}\n7\n{"agent_id":"d"}'
    events, rejected = decode(body, "application/x-ndjson")
    assert [e.agent_id for e in events] == ["a", "d"]
    assert rejected == [
        Rejected(1, "agent_id: expected str, got int"),
        Rejected(2, "item: expected object, got int"),
    ]


def test_invalid_utf8_is_bad_request_naming_the_byte() -> None:
    with pytest.raises(BadRequest, match=r"invalid UTF-8 at line 1, column 29 \(byte 28\)"):
        decode(b'[{"agent_id":"a","message":"\xff"}]')


def test_invalid_utf8_in_an_unknown_field_is_still_bad_request() -> None:
    with pytest.raises(BadRequest, match="invalid UTF-8"):
        decode(b'[{"agent_id":"a","extra":"\xc3\x28"}]')


def test_lone_surrogate_escape_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="surrogate"):
        decode(b'[{"agent_id":"a","message":"\\udc00"}]')


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_deeply_nested_json_is_rejected_cleanly(opening: bytes) -> None:
    body = b'[{"agent_id":"a","extra":' + opening * 100_000 + b"]}]"
    with pytest.raises(BadRequest):
        decode(body)


def test_attributes_nested_deeper_than_the_limit_are_rejected() -> None:
    nested: Any = 1
    for _ in range(MAX_NESTING_DEPTH):
        nested = [nested]
    error = rejection({"agent_id": "a", "attributes": {"k": nested}})
    assert error.startswith("attributes") and f"deeper than {MAX_NESTING_DEPTH}" in error
    shallow: Any = 1
    for _ in range(MAX_NESTING_DEPTH - 1):
        shallow = [shallow]
    assert one({"agent_id": "a", "attributes": {"k": shallow}}).attributes == {"k": shallow}


def test_item_that_is_not_an_object_is_rejected_and_the_rest_accepted() -> None:
    events, rejected = decode([{"agent_id": "a"}, 5, "x", {"agent_id": "b"}])
    assert [e.agent_id for e in events] == ["a", "b"]
    assert rejected == [
        Rejected(1, "item: expected object, got int"),
        Rejected(2, "item: expected object, got str"),
    ]


def test_single_object_failing_validation_is_rejected_not_bad_request() -> None:
    assert decode({"agent_id": 5}) == ([], [Rejected(0, "agent_id: expected str, got int")])


def test_hundred_thousand_item_array_is_decoded() -> None:
    items = [
        {"agent_id": f"agent-{i % 100}", "span_type": SPAN_TOOL_CALL, "latency_ms": i % 500}
        for i in range(100_000)
    ]
    items[50_000] = {"agent_id": "x", "latency_ms": -1}
    events, rejected = decode(items)
    assert len(events) == 99_999
    assert rejected == [Rejected(50_000, "latency_ms: expected float >= 0.0")]


def test_unicode_heavy_agent_ids_and_messages_are_accepted() -> None:
    agent_id = "агент-🤖-代理-" + "é" * 100
    message = "résumé ✓ 数据 🚀 \u202e [bold]markup[/] \x1b[31m"
    event = one({"agent_id": agent_id[:MAX_AGENT_ID_LENGTH], "message": message})
    assert event.agent_id == agent_id[:MAX_AGENT_ID_LENGTH]
    assert event.message == message


def test_unknown_fields_are_ignored() -> None:
    assert one({"agent_id": "a", "whatever": {"x": [1, 2]}}).agent_id == "a"


# --------------------------------------------------------------------- agent_id
def test_missing_agent_id_is_rejected_naming_the_field() -> None:
    assert rejection({"message": "hi"}) == "agent_id: required field missing"


def test_blank_agent_id_is_rejected() -> None:
    assert rejection({"agent_id": "   "}).startswith("agent_id")
    assert rejection({"agent_id": ""}).startswith("agent_id")


def test_agent_id_is_stripped() -> None:
    assert one({"agent_id": "  a-1\t"}).agent_id == "a-1"


def test_agent_id_longer_than_the_limit_is_rejected() -> None:
    assert one({"agent_id": "界" * MAX_AGENT_ID_LENGTH}).agent_id == "界" * MAX_AGENT_ID_LENGTH
    assert rejection({"agent_id": "a" * (MAX_AGENT_ID_LENGTH + 1)}).startswith(
        "agent_id: expected str of length"
    )


# ------------------------------------------------------------------ string limits
@pytest.mark.parametrize(
    "field",
    [
        "model",
        "tool_name",
        "decision_made",
        "trace_id",
        "span_id",
        "parent_span_id",
        "span_type",
        "level",
        "event_type",
    ],
)
def test_short_field_longer_than_the_limit_is_rejected_not_truncated(field: str) -> None:
    assert one({"agent_id": "a", field: "x" * MAX_SHORT_FIELD_LENGTH}) is not None
    assert rejection({"agent_id": "a", field: "x" * (MAX_SHORT_FIELD_LENGTH + 1)}).startswith(f"{field}: ")


@pytest.mark.parametrize("field", ["message", "error"])
def test_message_and_error_longer_than_the_limit_are_rejected_not_truncated(field: str) -> None:
    assert getattr(one({"agent_id": "a", field: "m" * MAX_MESSAGE_LENGTH}), field) == "m" * MAX_MESSAGE_LENGTH
    assert rejection({"agent_id": "a", field: "m" * (MAX_MESSAGE_LENGTH + 1)}).startswith(f"{field}: ")


def test_attributes_larger_than_the_limit_are_rejected() -> None:
    big = {"blob": "x" * MAX_ATTRIBUTES_BYTES}
    assert rejection({"agent_id": "a", "attributes": big}).startswith("attributes: larger than")


def test_payload_larger_than_the_limit_is_rejected() -> None:
    big = {"blob": "x" * MAX_ATTRIBUTES_BYTES}
    assert rejection({"agent_id": "a", "event_type": "token", "payload": big}).startswith(
        "payload: larger than"
    )


def test_bags_over_the_limit_are_rejected_among_typed_events_whatever_the_rest_of_the_batch() -> None:
    # Typed events take the inline path, whose attribute and payload sizes are checked per batch.
    small = {"agent_id": "a", "span_type": SPAN_LOG, "attributes": {"k": "v"}}
    big = {"blob": "x" * MAX_ATTRIBUTES_BYTES}
    exact = {"blob": "x" * (MAX_ATTRIBUTES_BYTES - len(encode({"blob": ""})))}
    items = [
        {**small, "agent_id": "first"},
        {"agent_id": "a", "span_type": SPAN_LOG, "attributes": big},
        {"agent_id": "  ", "span_type": SPAN_LOG},
        {"agent_id": "a", "span_type": SPAN_TOOL_CALL, "payload": big},
        {"agent_id": "exact", "span_type": SPAN_LOG, "attributes": exact},
        *({**small, "agent_id": f"s{i}"} for i in range(MAX_ATTRIBUTES_BYTES // 8)),
    ]
    events, rejected = decode(items)
    assert [r.index for r in rejected] == [1, 2, 3]
    assert rejected[0].error.startswith("attributes: larger than")
    assert rejected[1].error == "agent_id: must not be blank"
    assert rejected[2].error.startswith("payload: larger than")
    assert [e.agent_id for e in events[:2]] == ["first", "exact"]
    assert len(events) == 2 + MAX_ATTRIBUTES_BYTES // 8  # small bags over the limit together: all taken


def test_events_needing_fixes_keep_their_place_among_inline_ones() -> None:
    # Inline events are taken in one pass; the others are fixed after it: order and indices hold.
    items = [
        {"agent_id": "a", "span_type": SPAN_LOG, "timestamp": NOW},
        {"agent_id": " padded ", "span_type": SPAN_LOG, "timestamp": NOW * 1000},
        {"agent_id": "b", "span_type": SPAN_LOG},
        {"agent_id": "c", "event_type": "tool_call", "payload": {"name": "grep", "duration_ms": 5}},
        {"agent_id": "d", "span_type": SPAN_LOG, "timestamp": "not a time"},
        {"agent_id": "e", "span_type": SPAN_LOG, "attributes": {"k": 1}},
        {"agent_id": "", "span_type": SPAN_LOG},
        {"agent_id": "f", "span_type": SPAN_LOG, "level": "WARNING"},
    ]
    events, rejected = decode(items)
    assert [(r.index, r.error.split(":")[0]) for r in rejected] == [(4, "timestamp"), (6, "agent_id")]
    assert [e.agent_id for e in events] == ["a", "padded", "b", "c", "e", "f"]
    assert events[1].timestamp == pytest.approx(NOW) and events[2].timestamp == NOW
    assert (events[3].span_type, events[3].tool_name, events[3].latency_ms) == (SPAN_TOOL_CALL, "grep", 5.0)
    assert events[5].level == "warning" and all(type(e) is Event for e in events)


def test_typed_events_whose_bags_fit_together_are_all_taken() -> None:
    items = [{"agent_id": f"a{i}", "span_type": SPAN_LOG, "attributes": {"i": i}} for i in range(100)]
    events, rejected = decode(items)
    assert rejected == [] and [e.attributes for e in events] == [{"i": i} for i in range(100)]


def test_wrong_json_type_for_a_known_field_is_rejected_naming_the_field() -> None:
    assert rejection({"agent_id": "a", "model": 4}) == "model: expected str, got int"
    assert rejection({"agent_id": "a", "attributes": [1]}) == "attributes: expected object, got array"


# ---------------------------------------------------------------------- numbers
@pytest.mark.parametrize("field", ["tokens_input", "tokens_output"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("5", "expected int, got str"),
        (True, "expected int, got bool"),
        (1.5, "expected int, got float"),
        (-1, "expected int >= 0"),
        (2**53, "expected int <= 9007199254740991"),
    ],
)
def test_token_counts_must_be_non_negative_integers(field: str, value: Any, reason: str) -> None:
    assert rejection({"agent_id": "a", field: value}) == f"{field}: {reason}"


def test_token_counts_up_to_two_to_the_53_are_accepted() -> None:
    assert one({"agent_id": "a", "tokens_input": 2**53 - 1}).tokens_input == 2**53 - 1


@pytest.mark.parametrize("field", ["latency_ms", "cost_usd"])
def test_latency_and_cost_must_be_finite_and_non_negative(field: str) -> None:
    assert rejection({"agent_id": "a", field: -0.5}) == f"{field}: expected float >= 0.0"
    assert rejection({"agent_id": "a", field: "1"}) == f"{field}: expected float, got str"
    events, rejected = decode(f'[{{"agent_id":"a","{field}":1e999}}]'.encode())
    assert events == [] and rejected[0].error.startswith(f"{field}: ")


def test_confidence_must_be_within_zero_and_one() -> None:
    assert one({"agent_id": "a", "confidence": 1}).confidence == 1.0
    assert rejection({"agent_id": "a", "confidence": 1.01}) == "confidence: expected float <= 1.0"
    assert rejection({"agent_id": "a", "confidence": -0.1}) == "confidence: expected float >= 0.0"


# -------------------------------------------------------------------- timestamps
def test_timestamp_in_unix_seconds_is_kept() -> None:
    assert one({"agent_id": "a", "timestamp": 1_700_000_123}).timestamp == 1_700_000_123.0


def test_timestamp_in_milliseconds_is_converted_to_seconds() -> None:
    assert one({"agent_id": "a", "timestamp": 1_700_000_123_456}).timestamp == pytest.approx(
        1_700_000_123.456
    )


def test_timestamp_in_micro_and_nanoseconds_is_converted_to_seconds() -> None:
    assert one({"agent_id": "a", "timestamp": 1_700_000_123_456_789}).timestamp == pytest.approx(
        1_700_000_123.456789
    )
    assert one({"agent_id": "a", "timestamp": 1_700_000_123_456_789_000}).timestamp == pytest.approx(
        1_700_000_123.456789
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.250Z", 1_700_000_000.25),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000.0),
        ("2023-11-14T22:13:20", 1_700_000_000.0),
    ],
)
def test_rfc3339_timestamp_is_converted_to_unix_seconds(text: str, expected: float) -> None:
    assert one({"agent_id": "a", "timestamp": text}).timestamp == pytest.approx(expected)


def test_absent_timestamp_is_time_of_receipt() -> None:
    assert one({"agent_id": "a"}).timestamp == NOW


@pytest.mark.parametrize(
    "value", ["yesterday", "2023-13-45T00:00:00Z", "9999-01-01T00:00:00Z", "", -5, True, 10**30]
)
def test_unusable_timestamp_is_rejected(value: Any) -> None:
    assert rejection({"agent_id": "a", "timestamp": value}).startswith("timestamp: ")


def test_infinite_timestamp_is_rejected() -> None:
    events, rejected = decode(b'[{"agent_id":"a","timestamp":1e999}]')
    assert events == [] and rejected[0].error.startswith("timestamp: ")


# ------------------------------------------------------------- level, span type
def test_level_is_normalised_when_given_and_left_unset_otherwise() -> None:
    assert one({"agent_id": "a", "level": "WARN"}).level == "warning"
    assert one({"agent_id": "a", "level": "bogus"}).level == "info"
    assert one({"agent_id": "a"}).level is None


def test_default_span_type_is_log_with_a_message_error_with_an_error_else_event() -> None:
    assert one({"agent_id": "a", "message": "hi"}).span_type == SPAN_LOG
    assert one({"agent_id": "a", "error": "boom", "message": "hi"}).span_type == SPAN_ERROR
    assert one({"agent_id": "a", "latency_ms": 3}).span_type == DEFAULT_SPAN_TYPE
    assert one({"agent_id": "a", "span_type": "", "message": "hi"}).span_type == SPAN_LOG


def test_unknown_span_type_is_kept() -> None:
    assert one({"agent_id": "a", "span_type": "retrieval"}).span_type == "retrieval"


# ---------------------------------------------------------------------- cost
def test_missing_cost_is_estimated_from_model_and_tokens() -> None:
    event = one({"agent_id": "a", "model": "gpt-4o", "tokens_input": 1000, "tokens_output": 100})
    assert event.cost_usd == pytest.approx(estimate_cost("gpt-4o", 1000, 100))
    assert event.cost_estimated is True


def test_given_cost_is_kept_and_not_marked_estimated() -> None:
    event = one({"agent_id": "a", "model": "gpt-4o", "tokens_input": 1000, "cost_usd": 0.5})
    assert (event.cost_usd, event.cost_estimated) == (0.5, None)


def test_unknown_model_gets_no_cost() -> None:
    event = one({"agent_id": "a", "model": "home-made-7b", "tokens_input": 1000})
    assert event.cost_usd is None and event.cost_estimated is None


# ------------------------------------------------------------ the article's form
def test_article_token_event_counts_one_output_token_by_default() -> None:
    event = one({"agent_id": "a", "event_type": "token", "payload": {"token": "Hel"}})
    assert (event.span_type, event.tokens_output, event.tokens_input) == (SPAN_LLM_CALL, 1, None)
    assert event.payload == {"token": "Hel"}


@pytest.mark.parametrize("key", ["tokens", "count", "token_count"])
def test_article_token_event_takes_its_count_from_the_payload(key: str) -> None:
    event = one({"agent_id": "a", "event_type": "token", "payload": {key: 7, "model": "gpt-4o"}})
    assert (event.tokens_output, event.model, event.cost_estimated) == (7, "gpt-4o", True)


def test_article_tool_call_maps_name_and_latency() -> None:
    event = one({"agent_id": "a", "event_type": "tool_call", "payload": {"name": "search", "latency_ms": 85}})
    assert (event.span_type, event.tool_name, event.latency_ms) == (SPAN_TOOL_CALL, "search", 85.0)


def test_article_error_maps_the_error_text() -> None:
    event = one({"agent_id": "a", "event_type": "error", "payload": {"message": "Timeout"}})
    assert (event.span_type, event.error) == (SPAN_ERROR, "Timeout")


def test_article_completion_maps_latency_tokens_and_model() -> None:
    payload = {"latency_ms": 2300, "tokens": 40, "tokens_input": 900, "model": "gpt-4o"}
    event = one(
        {"agent_id": "a", "event_type": "completion", "timestamp": "2023-11-14T22:13:20Z", "payload": payload}
    )
    assert (event.span_type, event.latency_ms, event.tokens_input, event.tokens_output, event.model) == (
        SPAN_COMPLETION, 2300.0, 900, 40, "gpt-4o"
    )  # fmt: skip
    assert event.timestamp == 1_700_000_000.0


def test_article_unknown_event_type_becomes_the_span_type() -> None:
    assert one({"agent_id": "a", "event_type": "thinking", "payload": {}}).span_type == "thinking"


def test_article_top_level_fields_win_over_the_payload() -> None:
    event = one(
        {"agent_id": "a", "event_type": "tool_call", "tool_name": "top", "payload": {"name": "inner"}}
    )
    assert event.tool_name == "top"


def test_article_payload_value_of_the_wrong_type_is_rejected_naming_it() -> None:
    error = rejection({"agent_id": "a", "event_type": "token", "payload": {"tokens": "many"}})
    assert error == "payload.tokens: expected int >= 0 and < 2**53, got str"
    for latency in (-3, 10**400, True, "5"):
        error = rejection({"agent_id": "a", "event_type": "tool_call", "payload": {"latency_ms": latency}})
        assert error.startswith("payload.latency_ms: expected a number in [0, 1e+12]")


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("token", "tokens"),
        ("token", "count"),
        ("token", "token_count"),
        ("completion", "tokens"),
        ("completion", "tokens_input"),
        ("completion", "input_tokens"),
        ("completion", "tokens_output"),
        ("completion", "output_tokens"),
    ],
)
def test_article_payload_token_count_below_zero_or_too_large_is_rejected_naming_it(
    kind: str, key: str
) -> None:
    for count in (-1, -(2**40), 2**53):
        error = rejection({"agent_id": "a", "event_type": kind, "payload": {key: count}})
        assert error.startswith(f"payload.{key}: expected int >= 0 and < 2**53, got ")


# ------------------------------------------------------------- log entries
def entry_for(**fields: Any):  # type: ignore[no-untyped-def]
    return event_to_log_entry(one({"agent_id": "a", **fields}))


def test_llm_call_log_line_summarises_model_tokens_latency_and_cost() -> None:
    entry = entry_for(
        span_type="llm_call",
        model="gpt-4o",
        tokens_input=2840,
        tokens_output=156,
        latency_ms=1245,
        cost_usd=0.047,
    )
    assert entry.message == "llm_call gpt-4o 2840→156 tok 1245 ms $0.047"
    assert (entry.level, entry.span_type, entry.id) == ("info", SPAN_LLM_CALL, 0)


def test_estimated_cost_is_shown_with_a_tilde() -> None:
    entry = entry_for(span_type="llm_call", model="gpt-4o", tokens_input=2840, tokens_output=156)
    assert entry.message == "llm_call gpt-4o 2840→156 tok ~$0.009"


def test_tool_call_decision_error_completion_log_lines() -> None:
    assert (
        entry_for(span_type="tool_call", tool_name="search", latency_ms=85).message
        == "tool_call search 85 ms"
    )
    decision = entry_for(span_type="decision", decision_made="escalate_to_human", confidence=0.72)
    assert decision.message == "decision escalate_to_human (conf 0.72)"
    error = entry_for(span_type="error", error="Timeout: upstream timed out")
    assert (error.message, error.level) == ("error Timeout: upstream timed out", "error")
    assert entry_for(span_type="completion", latency_ms=2300).message == "completion 2300 ms"


def test_heartbeat_log_line_is_debug() -> None:
    entry = entry_for(span_type="heartbeat")
    assert (entry.message, entry.level) == ("heartbeat", "debug")


def test_log_event_becomes_its_own_message_carried_verbatim() -> None:
    text = "[red]not markup[/red] \x1b[2J done"
    entry = entry_for(message=text, level="warn", trace_id="t1")
    assert (entry.message, entry.level, entry.span_type, entry.trace_id) == (text, "warning", SPAN_LOG, "t1")


def test_log_level_is_error_when_an_error_is_set_and_the_events_own_level_wins() -> None:
    assert entry_for(span_type="llm_call", error="rate limited").level == "error"
    assert entry_for(span_type="llm_call", error="rate limited", level="warning").level == "warning"


def test_log_ranks_of_a_batch_follow_the_one_rule_of_a_lines_level() -> None:
    events = [
        Event(agent_id="a", span_type=span_type, level=level, error=error)
        for span_type in (SPAN_LOG, SPAN_ERROR, "heartbeat", SPAN_LLM_CALL, None)
        for level in (None, *LEVELS, "warn", "FATAL", "trace", "nonsense")
        for error in (None, "boom")
    ]
    ranks = log_ranks(events)
    assert ranks == [LEVEL_RANK[event_to_log_entry(event).level] for event in events]
    assert ranks == [log_rank(event) for event in events]
    assert log_ranks([]) == []


def test_log_metadata_is_compact_and_names_event_fields() -> None:
    entry = entry_for(
        span_type="tool_call", tool_name="search", span_id="s1", trace_id="t1", attributes={"q": "x"}
    )
    assert entry.metadata == {"tool_name": "search", "span_id": "s1", "attributes": {"q": "x"}}
    assert set(entry.metadata) <= set(Event.__struct_fields__)


def test_log_entry_keeps_the_event_time_and_agent() -> None:
    entry = entry_for(timestamp=1_700_000_001.5, message="x")
    assert (entry.timestamp, entry.agent_id) == (1_700_000_001.5, "a")


# ----------------------------------------------------------------- properties
def assert_invariants(event: Event) -> None:
    """What every accepted event satisfies, whatever the sender sent."""
    assert type(event) is Event
    assert event.agent_id and event.agent_id == event.agent_id.strip()
    assert len(event.agent_id) <= MAX_AGENT_ID_LENGTH
    assert isinstance(event.timestamp, float) and 0 <= event.timestamp < MAX_TIMESTAMP
    assert isinstance(event.span_type, str) and event.span_type
    assert event.level is None or event.level in LEVELS
    for count in (event.tokens_input, event.tokens_output):
        assert count is None or (type(count) is int and 0 <= count < 2**53)
    for amount in (event.latency_ms, event.cost_usd):
        assert amount is None or (type(amount) is float and math.isfinite(amount) and amount >= 0)
    assert event.confidence is None or 0 <= event.confidence <= 1
    for short in (
        event.model,
        event.tool_name,
        event.decision_made,
        event.trace_id,
        event.span_id,
        event.level,
    ):
        assert short is None or len(short) <= MAX_SHORT_FIELD_LENGTH
    for text in (event.message, event.error):
        assert text is None or len(text) <= MAX_MESSAGE_LENGTH
    if event.attributes is not None:
        assert len(encode(event.attributes)) <= MAX_ATTRIBUTES_BYTES
    assert msgspec.json.decode(encode(event), type=Event) == event  # re-encodes for viewers and the store
    entry = event_to_log_entry(event)
    assert entry.level in LEVELS and isinstance(entry.message, str)
    encode(entry)


def check_body(body: bytes, content_type: str | None = None) -> None:
    try:
        events, rejected = decode_events(body, content_type, now=NOW)
    except IngestError as exc:
        assert exc.status in (400, 413, 415) and exc.message
        return
    for event in events:
        assert_invariants(event)
    assert all(isinstance(r.error, str) and r.error for r in rejected)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([None, "application/json", "application/x-ndjson"]))
def test_arbitrary_bytes_raise_nothing_but_ingest_errors(body: bytes, content_type: str | None) -> None:
    check_body(body, content_type)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = list(Event.__struct_fields__)
field_values = (
    json_values
    | st.integers(min_value=-10, max_value=2**60)
    | st.floats(min_value=-1, max_value=1e19)
    | st.sampled_from(
        ["2023-11-14T22:13:20Z", "token", "tool_call", "error", "completion", "gpt-4o", " a ", "WARN"]
    )
    | st.text(min_size=200, max_size=300)
)
event_like = st.dictionaries(st.sampled_from([*FIELDS, "x"]), field_values, max_size=10).map(
    lambda d: d if "agent_id" in d and d.get("agent_id") else {**d, "agent_id": "agent"}
)
PAYLOAD_KEYS = [
    *("tokens", "count", "token_count", "tokens_input", "input_tokens", "tokens_output", "output_tokens"),
    *("name", "tool_name", "latency_ms", "duration_ms", "error", "message", "model"),
]
payload_like = st.dictionaries(
    st.sampled_from(PAYLOAD_KEYS),
    field_values,
    max_size=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_values | event_like, max_size=5) | json_values | event_like)
def test_arbitrary_json_values_raise_nothing_but_ingest_errors_and_accepted_events_hold_invariants(
    value: Any,
) -> None:
    body = encode(value)
    check_body(body)
    if isinstance(value, list) and all(isinstance(v, dict) for v in value) and value:
        check_body(b"\n".join(encode(v) for v in value), "application/x-ndjson")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_like, st.sampled_from(["token", "tool_call", "error", "completion", "other"]), payload_like)
def test_arbitrary_article_form_events_hold_invariants(
    item: dict[str, Any], kind: str, payload: dict[str, Any]
) -> None:
    item = {**item, "event_type": kind, "payload": payload}
    item.pop("span_type", None)
    check_body(encode([item]))
