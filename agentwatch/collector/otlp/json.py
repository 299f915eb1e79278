"""OTLP/JSON (``application/json``) export requests, read into items for :mod:`.mapping`.

Walked with msgspec: ids are hex, int64 values are decimal strings or numbers, enums are
integers, unknown fields are ignored. A body that is not such a request raises
:class:`~agentwatch.collector.otlp.errors.OtlpError` (400); a bad value in one span or log
record rejects that item only.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final

import msgspec

from agentwatch.collector.otlp.conventions import LogMapper, SpanMapper, log_mapper, span_mapper
from agentwatch.collector.otlp.errors import BadResource, OtlpError, Reject
from agentwatch.collector.otlp.mapping import (
    EXCEPTION_EVENT,
    MAX_VALUE_DEPTH,
    Batches,
    Fallback,
    RawLog,
    exception_status,
    map_log,
    map_span,
    resource_agent,
)
from agentwatch.protocol import Event

_HEX: Final = frozenset("0123456789abcdef")


class _AnyValue(msgspec.Struct):
    stringValue: str | None = None
    boolValue: bool | None = None
    intValue: int | str | None = None
    doubleValue: float | str | None = None
    arrayValue: _ArrayValue | None = None
    kvlistValue: _KeyValueList | None = None
    bytesValue: str | None = None


class _KeyValue(msgspec.Struct):
    key: str = ""
    value: _AnyValue | None = None


class _ArrayValue(msgspec.Struct):
    values: list[_AnyValue] = []


class _KeyValueList(msgspec.Struct):
    values: list[_KeyValue] = []


class _Resource(msgspec.Struct):
    attributes: list[_KeyValue] = []


class _Status(msgspec.Struct):
    code: int | str = 0
    message: str = ""


class _SpanEvent(msgspec.Struct):
    name: str = ""
    attributes: list[_KeyValue] = []


class _Span(msgspec.Struct):
    traceId: str = ""
    spanId: str = ""
    parentSpanId: str = ""
    name: str = ""
    startTimeUnixNano: int | str = 0
    endTimeUnixNano: int | str = 0
    attributes: list[_KeyValue] = []
    status: _Status | None = None
    events: list[_SpanEvent] = []


class _Scope(msgspec.Struct):
    name: str = ""


class _ScopeSpans(msgspec.Struct):
    scope: _Scope | None = None
    spans: list[_Span] = []


class _ResourceSpans(msgspec.Struct):
    resource: _Resource | None = None
    scopeSpans: list[_ScopeSpans] = []


class _TracesRequest(msgspec.Struct):
    resourceSpans: list[_ResourceSpans] = []


class _LogRecord(msgspec.Struct):
    timeUnixNano: int | str = 0
    observedTimeUnixNano: int | str = 0
    severityNumber: int | str = 0
    severityText: str = ""
    body: _AnyValue | None = None
    attributes: list[_KeyValue] = []
    traceId: str = ""
    spanId: str = ""
    eventName: str = ""


class _ScopeLogs(msgspec.Struct):
    scope: _Scope | None = None
    logRecords: list[_LogRecord] = []


class _ResourceLogs(msgspec.Struct):
    resource: _Resource | None = None
    scopeLogs: list[_ScopeLogs] = []


class _LogsRequest(msgspec.Struct):
    resourceLogs: list[_ResourceLogs] = []


_traces_decoder = msgspec.json.Decoder(_TracesRequest)
_logs_decoder = msgspec.json.Decoder(_LogsRequest)


def spans_from_json(body: bytes) -> Batches:
    """The spans of an ExportTraceServiceRequest, per resource and scope."""
    return _json_spans(_decode_json(_traces_decoder, body))


def log_records_from_json(body: bytes) -> Batches:
    """The log records of an ExportLogsServiceRequest, per resource and scope."""
    return _json_logs(_decode_json(_logs_decoder, body))


def _decode_json(decoder: msgspec.json.Decoder[Any], body: bytes) -> Any:
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise OtlpError(400, f"invalid OTLP JSON: {exc}") from None
    except RecursionError:
        raise OtlpError(400, "invalid OTLP JSON: nested too deeply") from None


def _json_value(value: _AnyValue | None, depth: int = 0) -> Any:
    """An OTLP JSON AnyValue as a plain Python value (bytes stay base64 text)."""
    if value is None:
        return None
    if value.stringValue is not None:
        return value.stringValue
    if value.boolValue is not None:
        return value.boolValue
    if value.intValue is not None:
        return _as_int(value.intValue, "intValue")
    if value.doubleValue is not None:
        raw = value.doubleValue
        if isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                raise Reject(f"doubleValue {raw[:32]!r} is not a number") from None
        return raw
    if depth >= MAX_VALUE_DEPTH:
        return None
    if value.arrayValue is not None:
        return [_json_value(item, depth + 1) for item in value.arrayValue.values]
    if value.kvlistValue is not None:
        return {kv.key: _json_value(kv.value, depth + 1) for kv in value.kvlistValue.values}
    if value.bytesValue is not None:
        return value.bytesValue
    return None


def _json_attributes(pairs: list[_KeyValue]) -> dict[str, Any]:
    return {kv.key: _json_value(kv.value) for kv in pairs}


def _json_resource(resource: _Resource | None) -> tuple[dict[str, Any], Fallback | BadResource]:
    try:
        attributes = _json_attributes(resource.attributes if resource else [])
    except Reject as exc:
        return {}, BadResource(str(exc))
    return attributes, resource_agent(attributes)


def _json_spans(request: _TracesRequest) -> Batches:
    for resource_spans in request.resourceSpans:
        resource, fallback = _json_resource(resource_spans.resource)
        for scope in resource_spans.scopeSpans:
            mapper = span_mapper(resource, scope.scope.name if scope.scope else "")
            reader = _json_span_event if mapper is map_span else partial(_json_span_event, map_item=mapper)
            yield fallback, reader, scope.spans


def _json_logs(request: _LogsRequest) -> Batches:
    for resource_logs in request.resourceLogs:
        resource, fallback = _json_resource(resource_logs.resource)
        for scope in resource_logs.scopeLogs:
            mapper = log_mapper(resource, scope.scope.name if scope.scope else "")
            reader = _json_log_event if mapper is map_log else partial(_json_log_event, map_item=mapper)
            yield fallback, reader, scope.logRecords


def _json_span_event(span: _Span, fallback: Fallback, now: float, map_item: SpanMapper = map_span) -> Event:
    """Called per span inside the mapping loop, so that a bad value rejects one span, not the request.
    ``map_item`` is the program's span mapper (:mod:`.conventions`)."""
    status = span.status or _Status()
    code, message = _as_int(status.code, "status.code"), status.message
    for event in span.events:
        if event.name == EXCEPTION_EVENT:
            code, message = exception_status(code, message, _json_attributes(event.attributes))
            break
    return map_item(
        _json_id(span.traceId, 32, "traceId"),
        _json_id(span.spanId, 16, "spanId"),
        _json_id(span.parentSpanId, 16, "parentSpanId"),
        span.name,
        _as_int(span.startTimeUnixNano, "startTimeUnixNano"),
        _as_int(span.endTimeUnixNano, "endTimeUnixNano"),
        _json_attributes(span.attributes),
        code,
        message,
        fallback,
        now,
    )


def _json_log_event(
    record: _LogRecord, fallback: Fallback, now: float, map_item: LogMapper = map_log
) -> Event:
    raw = RawLog(
        _as_int(record.timeUnixNano, "timeUnixNano"),
        _as_int(record.observedTimeUnixNano, "observedTimeUnixNano"),
        _as_int(record.severityNumber, "severityNumber"),
        record.severityText,
        _json_value(record.body),
        _json_attributes(record.attributes),
        _json_id(record.traceId, 32, "traceId"),
        _json_id(record.spanId, 16, "spanId"),
        record.eventName,
    )
    return map_item(raw, fallback, now)


def _json_id(value: str, length: int, name: str) -> str | None:
    """A hex id, lowercased; None when absent. Wrong length or non-hex characters reject."""
    if not value:
        return None
    lowered = value.lower()
    if len(lowered) != length or not _HEX.issuperset(lowered):
        raise Reject(f"{name} must be {length} hex characters")
    return lowered


def _as_int(value: int | str, name: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise Reject(f"{name} {value[:32]!r} is not an integer") from None
