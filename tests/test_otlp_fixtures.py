"""The OTLP payloads captured from the real CLIs load, parse, and carry the CLIs' own totals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.otlp_fixtures import FIXTURES, Variant, variant, variants

MESSAGES: dict[str, Any] = {
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "traces": ExportTraceServiceRequest,
}
#: The top-level list of each export request, in protobuf and in OTLP/JSON.
RESOURCE_LISTS = {
    "logs": ("resource_logs", "resourceLogs"),
    "metrics": ("resource_metrics", "resourceMetrics"),
    "traces": ("resource_spans", "resourceSpans"),
}
TOKEN_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)
ALL = variants()


def by_id(variants_: list[Variant]) -> Any:
    return pytest.mark.parametrize("captured", variants_, ids=[v.id for v in variants_])


def test_both_programs_are_captured_over_each_encoding_in_ok_and_failing_runs() -> None:
    ids = {v.id for v in ALL}
    assert {
        "claude/protobuf-text",
        "claude/protobuf-tool",
        "claude/json-tool",
        "claude/protobuf-error500",
    } <= ids
    assert {"claude/protobuf-error429", "codex/binary-text", "codex/binary-tool", "codex/json-tool"} <= ids


def test_the_fixtures_stay_small() -> None:
    size = sum(path.stat().st_size for path in FIXTURES.rglob("*") if path.is_file())
    assert size < 2 * 1024 * 1024


@by_id(ALL)
def test_every_request_loads_in_arrival_order_with_its_signal_path(captured: Variant) -> None:
    requests = list(captured.requests())
    assert requests, "a run exports at least one request"
    orders = [r.order for r in requests]
    assert orders == sorted(set(orders))
    for request in requests:
        assert request.signal in MESSAGES
        assert request.path.endswith(f"/v1/{request.signal}")
        assert request.body
        assert request.content_encoding in ("", "gzip")
        assert request.arrived_gzipped == (request.content_encoding == "gzip")


@by_id(ALL)
def test_every_protobuf_body_parses_as_its_export_request(captured: Variant) -> None:
    for request in captured.requests():
        if request.is_json:
            continue
        assert request.content_type == "application/x-protobuf"
        message = MESSAGES[request.signal]()
        message.ParseFromString(request.body)
        assert len(getattr(message, RESOURCE_LISTS[request.signal][0])) > 0


@by_id(ALL)
def test_every_json_body_is_an_otlp_json_export_request(captured: Variant) -> None:
    for request in captured.requests():
        if not request.is_json:
            continue
        document = json.loads(request.body)
        assert isinstance(document.get(RESOURCE_LISTS[request.signal][1]), list)


@by_id(ALL)
def test_every_cli_result_has_its_cost_and_token_totals(captured: Variant) -> None:
    totals = captured.totals
    for key in TOKEN_KEYS:
        assert isinstance(totals[key], int) and totals[key] >= 0, key
    if captured.program == "claude":
        assert isinstance(totals["cost_usd"], int | float)
        assert totals["cost_usd"] == captured.cli_result["output"]["total_cost_usd"]
    else:
        assert totals["cost_usd"] is None  # Codex reports no cost
    if not totals["is_error"]:
        assert totals["input_tokens"] > 0 and totals["output_tokens"] > 0


def test_a_gzipped_export_is_stored_decompressed() -> None:
    requests = list(variant("claude/protobuf-tool-gzip").requests())
    assert requests and all(r.arrived_gzipped for r in requests)
    for request in requests:
        MESSAGES[request.signal]().ParseFromString(request.body)


def test_an_unknown_variant_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        variant("claude/no-such-run")
