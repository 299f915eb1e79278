"""Decode OTLP/HTTP trace and log exports into :class:`agentwatch.protocol.Event`, and metric
exports into data points (:class:`~agentwatch.collector.otlp.metrics.MetricPoint`).

Pure functions, no HTTP framework: the route in :mod:`agentwatch.collector.app` inflates
the body (``Content-Encoding: gzip``), calls :func:`decode_traces` / :func:`decode_logs` /
:func:`decode_metrics`, and answers with :func:`success_response` or :func:`error_response`.

One module per step: :mod:`.json` and :mod:`.proto` read a body (by its content type) into
spans or log records, :mod:`.mapping` turns each into an event. ``application/json`` and
``application/x-protobuf`` are accepted; anything else is 415, an undecodable body 400
(either raises :class:`OtlpError`). A span or log record that cannot be mapped is rejected
and counted; the rest of the request is kept, and the response carries OTLP's
``partialSuccess``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from agentwatch.collector.otlp.errors import BadResource, OtlpError, Reject, Skip
from agentwatch.collector.otlp.json import log_records_from_json, spans_from_json
from agentwatch.collector.otlp.mapping import Batches
from agentwatch.collector.otlp.metrics import MetricPoint, metrics_success_body, read_metrics
from agentwatch.collector.otlp.proto import (
    PROTOBUF_MISSING,
    log_records_from_protobuf,
    spans_from_protobuf,
    status_body,
    success_body,
)
from agentwatch.protocol import Event

__all__ = [
    "JSON",
    "PROTOBUF",
    "PROTOBUF_MISSING",
    "SIGNAL_LOGS",
    "SIGNAL_METRICS",
    "SIGNAL_TRACES",
    "MetricPoint",
    "OtlpError",
    "OtlpResult",
    "decode_logs",
    "decode_metrics",
    "decode_traces",
    "error_response",
    "success_response",
]

JSON: Final = "application/json"
PROTOBUF: Final = "application/x-protobuf"
SIGNAL_TRACES: Final = "traces"
SIGNAL_LOGS: Final = "logs"
SIGNAL_METRICS: Final = "metrics"
_GRPC_CODES: Final = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 408: 4, 413: 8, 415: 3, 429: 8, 500: 13}
_GRPC_CODES_5XX: Final = {501: 12, 502: 14, 503: 14, 504: 4}


@dataclass
class OtlpResult:
    """What a request yielded: usable events (data points for metrics), how many items were
    rejected, and why; how many were accepted but ignored (:class:`Skip`)."""

    events: list[Event]
    rejected: int = 0
    error_message: str | None = None
    signal: str = SIGNAL_TRACES
    points: list[MetricPoint] = field(default_factory=list)
    ignored: int = 0


_json_encoder = msgspec.json.Encoder()


def decode_traces(
    body: bytes, content_type: str | None, *, clock: Callable[[], float] = time.time
) -> OtlpResult:
    """Decode an ExportTraceServiceRequest into events (one per span).

    Raises :class:`OtlpError` (415 content type, 400 undecodable); per-span problems are
    counted in ``rejected``. Spans without timestamps are stamped ``clock()``.
    """
    media = _media_type(content_type)
    if media == JSON:
        batches = spans_from_json(body)
    else:
        batches = spans_from_protobuf(body)
    return _map_all(batches, clock(), SIGNAL_TRACES, "span")


def decode_logs(
    body: bytes, content_type: str | None, *, clock: Callable[[], float] = time.time
) -> OtlpResult:
    """Decode an ExportLogsServiceRequest into ``log`` events (one per log record)."""
    media = _media_type(content_type)
    if media == JSON:
        batches = log_records_from_json(body)
    else:
        batches = log_records_from_protobuf(body)
    return _map_all(batches, clock(), SIGNAL_LOGS, "log record")


def decode_metrics(
    body: bytes, content_type: str | None, *, clock: Callable[[], float] = time.time
) -> OtlpResult:
    """Decode an ExportMetricsServiceRequest into data points (``points``; ``events`` stays empty).

    Raises :class:`OtlpError` (415 content type, 400 undecodable); per-point problems are
    counted in ``rejected``. Points without a time are stamped ``clock()``.
    """
    media = _media_type(content_type)
    points, rejected, message = read_metrics(body, media == JSON, int(clock() * 1e9))
    return OtlpResult([], rejected, message, SIGNAL_METRICS, points)


def success_response(result: OtlpResult, content_type: str | None) -> tuple[bytes, str]:
    """The 200 body: an Export*ServiceResponse, with ``partialSuccess`` when items were rejected.

    Encoded like the request (protobuf or JSON; int64 counts as decimal strings in JSON).
    """
    logs = result.signal == SIGNAL_LOGS
    metrics = result.signal == SIGNAL_METRICS
    media = _response_media(content_type)
    if media == PROTOBUF:
        try:
            if metrics:
                return metrics_success_body(result.rejected, result.error_message), PROTOBUF
            return success_body(result.rejected, result.error_message, logs), PROTOBUF
        except ImportError:
            media = JSON
    if result.rejected <= 0:
        return b"{}", JSON
    counted = "rejectedDataPoints" if metrics else "rejectedLogRecords" if logs else "rejectedSpans"
    partial: dict[str, Any] = {counted: str(result.rejected)}
    if result.error_message:
        partial["errorMessage"] = result.error_message
    return _json_encoder.encode({"partialSuccess": partial}), JSON


def error_response(status: int, message: str, content_type: str | None) -> tuple[bytes, str]:
    """A ``google.rpc.Status``-shaped body (gRPC code from the HTTP status, and the message)."""
    code = _GRPC_CODES.get(status) or _GRPC_CODES_5XX.get(status) or (13 if status >= 500 else 3)
    if _response_media(content_type) == PROTOBUF:
        return status_body(code, message), PROTOBUF
    return _json_encoder.encode({"code": code, "message": message}), JSON


def _media_type(content_type: str | None) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in (JSON, PROTOBUF):
        shown = media or "none"
        raise OtlpError(415, f"unsupported Content-Type {shown!r}: use {JSON} or {PROTOBUF}")
    return media


def _response_media(content_type: str | None) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return PROTOBUF if media == PROTOBUF else JSON


def _map_all(batches: Batches, now: float, signal: str, noun: str) -> OtlpResult:
    """Map every item into an event that already satisfies the native ingest rules (the
    mappers check the same limits as :mod:`agentwatch.collector.ingest`, see
    :func:`~agentwatch.collector.otlp.mapping.map_span`),
    so no second decode is needed. Rejections are counted; the first is named in the message."""
    events: list[Event] = []
    first_reason: tuple[int, str] | None = None
    index = ignored = 0
    append = events.append
    for fallback, mapper, items in batches:
        if isinstance(fallback, BadResource):
            if first_reason is None and len(items):
                first_reason = (index, f"resource: {fallback}")
            index += len(items)
            continue
        for item in items:
            try:
                append(mapper(item, fallback, now))
            except Reject as exc:
                if first_reason is None:
                    first_reason = (index, str(exc))
            except Skip:
                ignored += 1
            index += 1
    rejected = index - len(events) - ignored
    message = None
    if first_reason is not None:
        first_index, reason = first_reason
        plural = "s" if rejected != 1 else ""
        message = f"{rejected} {noun}{plural} rejected; first: {noun} {first_index}: {reason}"
    return OtlpResult(events, rejected, message, signal, ignored=ignored)
