"""Values that would break a total are refused per item, on every ingest path; totals stay finite.

One ``cost_usd: 1e308`` used to turn the Prometheus cost counter into ``+Inf`` for good, and a
``NaN`` literal (Python's ``json.dumps`` writes one) failed a whole batch. Each is now refused by
itself, with its index and the field named, while the rest of the batch goes in. Real collector,
real HTTP.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx
import pytest

from agentwatch.collector.totals import Totals
from agentwatch.protocol import (
    MAX_EVENT_COST_USD,
    MAX_LATENCY_MS,
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_METRICS,
    PATH_OTLP_LOGS,
    PATH_OTLP_METRICS,
    PATH_OTLP_TRACES,
    PATH_SNAPSHOT,
    SPAN_LLM_CALL,
    Event,
)
from tests.helpers import NOW, RunningCollector

T0 = int(NOW * 1e9)


def metric_values(url: str, name: str) -> list[float]:
    """Every sample of the Prometheus family ``name`` (``name{...} value`` lines)."""
    text = httpx.get(url + PATH_METRICS, timeout=10).text
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{")]


def assert_totals_finite(url: str) -> None:
    text = httpx.get(url + PATH_METRICS, timeout=10).text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    for line in samples:
        value = float(line.rsplit(" ", 1)[1])
        assert math.isfinite(value), line
    snapshot = httpx.get(url + PATH_SNAPSHOT, timeout=10).json()
    assert math.isfinite(snapshot["total_cost_usd"]), snapshot["total_cost_usd"]


def post_body(url: str, body: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.post(url + PATH_EVENTS, content=body, headers={"Content-Type": content_type}, timeout=10)


# ------------------------------------------------------------------- native ingest


def test_a_cost_that_would_break_the_totals_is_refused_by_itself(collector: RunningCollector) -> None:
    batch = [
        {"agent_id": "a", "span_type": SPAN_LLM_CALL, "cost_usd": 0.25},
        {"agent_id": "a", "span_type": SPAN_LLM_CALL, "cost_usd": 1e308},
        {"agent_id": "a", "span_type": SPAN_LLM_CALL, "latency_ms": 1e300},
        {"agent_id": "a", "span_type": SPAN_LLM_CALL, "cost_usd": MAX_EVENT_COST_USD * 2},
        {"agent_id": "a", "span_type": SPAN_LLM_CALL, "latency_ms": 250.0},
    ]
    answer = collector.post(batch)
    assert answer.status_code == 202
    assert answer.json()["accepted"] == 2
    rejected = {item["index"]: item["error"] for item in answer.json()["rejected"]}
    assert sorted(rejected) == [1, 2, 3]
    assert rejected[1].startswith("cost_usd:") and rejected[3].startswith("cost_usd:"), rejected
    assert rejected[2].startswith("latency_ms:"), rejected
    assert metric_values(collector.url, "agentwatch_cost_usd_total") == [0.25]
    assert_totals_finite(collector.url)


def test_an_estimate_beyond_the_cost_bound_is_no_estimate(collector: RunningCollector) -> None:
    answer = collector.post({"agent_id": "a", "model": "gpt-4o", "tokens_input": 2**53 - 1})
    assert answer.status_code == 202 and answer.json()["accepted"] == 1
    assert metric_values(collector.url, "agentwatch_cost_usd_total") == [0.0]
    assert_totals_finite(collector.url)


NON_FINITE_BATCH = [
    {"agent_id": "a", "message": "kept"},
    {"agent_id": "a", "span_type": SPAN_LLM_CALL, "cost_usd": float("nan")},
    {"agent_id": "a", "span_type": SPAN_LLM_CALL, "latency_ms": float("inf")},
    {"agent_id": "a", "message": "kept too", "attributes": {"score": [1, float("-inf")]}},
    {"agent_id": "a", "message": "also kept"},
]


def test_a_nan_or_infinity_literal_rejects_its_item_not_the_batch(collector: RunningCollector) -> None:
    body = json.dumps(NON_FINITE_BATCH).encode()  # writes NaN, Infinity and -Infinity
    assert b"NaN" in body and b"-Infinity" in body
    answer = post_body(collector.url, body)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 2
    assert answer.json()["rejected"] == [
        {"index": 1, "error": "cost_usd: NaN is not a number (JSON has no NaN or Infinity)"},
        {"index": 2, "error": "latency_ms: Infinity is not a number (JSON has no NaN or Infinity)"},
        {"index": 3, "error": "attributes.score[1]: -Infinity is not a number (JSON has no NaN or Infinity)"},
    ]
    assert_totals_finite(collector.url)


def test_nan_literals_in_ndjson_and_single_objects_reject_their_item(collector: RunningCollector) -> None:
    lines = b"\n".join(json.dumps(item).encode() for item in NON_FINITE_BATCH)
    answer = post_body(collector.url, lines, "application/x-ndjson")
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 2 and [r["index"] for r in answer.json()["rejected"]] == [1, 2, 3]
    sniffed = post_body(collector.url, lines, "application/json")  # NDJSON found by its shape
    assert sniffed.status_code == 202 and sniffed.json() == answer.json()
    first_line_bad = b"\n".join(json.dumps(item).encode() for item in NON_FINITE_BATCH[1:3])
    assert [r["index"] for r in post_body(collector.url, first_line_bad).json()["rejected"]] == [0, 1]
    single = post_body(collector.url, json.dumps(NON_FINITE_BATCH[1]).encode())
    assert single.status_code == 202 and single.json()["rejected"][0]["error"].startswith("cost_usd: NaN")


def test_a_batch_with_a_nan_and_a_real_syntax_error_is_still_refused_naming_the_fault(
    collector: RunningCollector,
) -> None:
    answer = post_body(collector.url, b'[{"agent_id": "a", "cost_usd": NaN}, {"agent_id": }]')
    assert answer.status_code == 400
    assert "invalid JSON at line 1, column" in answer.json()["error"], answer.json()
    assert httpx.get(collector.url + PATH_HEALTH, timeout=10).json()["events_total"] == 0


# --------------------------------------------------------------------------- OTLP


def attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def otlp_post(url: str, path: str, document: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        url + path, content=json.dumps(document), headers={"Content-Type": "application/json"}, timeout=10
    )


def span(span_id: str, attributes: dict[str, Any], *, start_ns: int = T0 - 250_000_000) -> dict[str, Any]:
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat",
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(T0),
        "attributes": [attribute(key, value) for key, value in attributes.items()],
    }


def test_otlp_spans_with_a_huge_cost_or_duration_are_rejected_by_themselves(
    collector: RunningCollector,
) -> None:
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    spans = [
        span("0000000000000001", {**chat, "agentwatch.cost_usd": 0.5}),
        span("0000000000000002", {**chat, "agentwatch.cost_usd": 1e308}),
        span("0000000000000003", {"openinference.span.kind": "LLM", "llm.cost.total": 1e300}),
        span("0000000000000004", chat, start_ns=1),  # 1.7e12 ms
    ]
    document = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans}]}]}
    answer = otlp_post(collector.url, PATH_OTLP_TRACES, document)
    assert answer.status_code == 200, answer.text
    partial = answer.json()["partialSuccess"]
    assert (T0 - 1) / 1e6 > MAX_LATENCY_MS  # the last span's duration
    assert partial["rejectedSpans"] == "3", partial
    assert "agentwatch.cost_usd must be between 0 and 1e+06" in partial["errorMessage"], partial
    assert metric_values(collector.url, "agentwatch_cost_usd_total") == [0.5]
    assert_totals_finite(collector.url)


def test_a_claude_code_cost_beyond_the_bound_rejects_its_record(collector: RunningCollector) -> None:
    def record(cost: str) -> dict[str, Any]:
        attributes = {
            "event.name": "api_request",
            "session.id": "d0615065-1e47-49bc-9ba9-ae4299289f1a",
            "model": "claude-sonnet-4",
            "input_tokens": 10,
            "cost_usd": cost,
            "duration_ms": "1e300",
        }
        return {
            "timeUnixNano": str(T0),
            "body": {"stringValue": "claude_code.api_request"},
            "attributes": [attribute(key, value) for key, value in attributes.items()],
        }

    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": [attribute("service.name", "claude-code")]},
                "scopeLogs": [
                    {"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": [record("1e308")]}
                ],
            }
        ]
    }
    answer = otlp_post(collector.url, PATH_OTLP_LOGS, document)
    assert answer.status_code == 200, answer.text
    assert answer.json()["partialSuccess"]["rejectedLogRecords"] == "1", answer.json()
    assert_totals_finite(collector.url)


def test_a_duration_histogram_past_the_latency_bound_adds_calls_without_latency(
    start_collector: Any,
) -> None:
    running = start_collector(metric_hold_seconds=0)
    point = {
        "timeUnixNano": str(time.time_ns()),  # now: in the window
        "attributes": [
            attribute("gen_ai.request.model", "gpt-4o"),
            attribute("gen_ai.operation.name", "chat"),
        ],
        "count": "2",
        "bucketCounts": ["0", "2"],
        "explicitBounds": [1e300],
        "sum": 1e300,
    }
    histogram = {
        "name": "gen_ai.client.operation.duration",
        "unit": "s",
        "histogram": {"aggregationTemporality": 1, "dataPoints": [point]},
    }
    document = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [attribute("service.name", "svc")]},
                "scopeMetrics": [{"scope": {"name": "t"}, "metrics": [histogram]}],
            }
        ]
    }
    assert otlp_post(running.url, PATH_OTLP_METRICS, document).status_code == 200
    snapshot = running.service.snapshot("svc")
    assert snapshot.completions == 2 and snapshot.p99_latency_ms is None
    assert metric_values(running.url, "agentwatch_latency_seconds_count") == []
    assert_totals_finite(running.url)


# ------------------------------------------------------------------- the aggregates


@pytest.mark.parametrize("cost", [float("nan"), float("inf"), 1e308, -1.0])
def test_the_totals_leave_out_a_cost_no_ingest_path_should_let_through(cost: float) -> None:
    totals = Totals()
    totals.add_many([Event("a", cost_usd=0.5), Event("a", cost_usd=cost)])
    totals.add_many([Event("a", span_type=SPAN_LLM_CALL, latency_ms=cost)])
    (series,) = totals.series.values()
    assert series.cost == 0.5 and series.latency_count == 0 and math.isfinite(series.latency_sum_ms)
    assert totals.values_refused == 2
