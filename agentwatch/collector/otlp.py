"""Decode OTLP/HTTP trace and log exports into :class:`agentwatch.protocol.Event`.

Pure functions, no HTTP framework: the route in :mod:`agentwatch.collector.app` inflates
the body (``Content-Encoding: gzip``), calls :func:`decode_traces` / :func:`decode_logs`,
and answers with :func:`success_response` or :func:`error_response`.

* ``application/json``: OTLP's JSON flavour, walked with msgspec — ids are hex, int64 values
  are decimal strings or numbers, enums are integers, unknown fields are ignored.
* ``application/x-protobuf``: decoded with ``opentelemetry-proto`` (the ``agentwatch[otlp]``
  extra); without it the request gets 415 and a message naming the extra. Traces are read
  through a lean schema (:func:`_lean_classes`) whose span attributes and status stay raw
  bytes until mapped, so a malformed attribute or status, or one that is not UTF-8,
  rejects its span rather than the request.
* Anything else: 415. An undecodable body: 400. Either raises :class:`OtlpError`.

Spans are mapped with the OpenTelemetry GenAI semantic conventions (``gen_ai.*``, current
and deprecated names) plus our own ``agentwatch.cost_usd`` / ``agentwatch.decision`` /
``agentwatch.confidence``. A span or log record that cannot be mapped (an agent id over
:data:`~agentwatch.protocol.MAX_AGENT_ID_LENGTH`, an id that is not hex, a negative
duration, negative tokens...) is rejected and counted. The mappers apply the native
ingest rules themselves (the limits of :mod:`agentwatch.protocol`, the timestamp range
and token bound of :mod:`agentwatch.collector.ingest`, cost estimates), so events come out
as the native path would leave them, without a second decode; a test checks that the
native decoder accepts every mapped event unchanged. Free text (log bodies, status
messages) is clipped to :data:`~agentwatch.protocol.MAX_MESSAGE_LENGTH` rather than
rejected; oversized attribute sets are trimmed (``agentwatch.attributes_truncated`` counts
dropped keys). The rest of the request is kept, and the response carries OTLP's
``partialSuccess``.
"""

from __future__ import annotations

import base64
import functools
import math
import struct
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from agentwatch.collector import ingest
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    MAX_AGENT_ID_LENGTH,
    MAX_ATTRIBUTES_BYTES,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_FIELD_LENGTH,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
    normalize_level,
)

JSON: Final = "application/json"
PROTOBUF: Final = "application/x-protobuf"
SIGNAL_TRACES: Final = "traces"
SIGNAL_LOGS: Final = "logs"
PROTOBUF_MISSING: Final = "install agentwatch[otlp] for protobuf (opentelemetry-proto is not installed)"

#: span_type for agent-level GenAI operations.
SPAN_AGENT: Final = "agent"
#: span_type when nothing says what a span is.
SPAN_GENERIC: Final = "span"
#: agent_id when neither the span, the log record nor the resource names one.
UNKNOWN_AGENT: Final = "unknown"

# GenAI semantic-convention attribute names (current, then deprecated aliases).
ATTR_OPERATION: Final = "gen_ai.operation.name"
ATTR_PROVIDER: Final = "gen_ai.provider.name"
ATTR_SYSTEM: Final = "gen_ai.system"
ATTR_REQUEST_MODEL: Final = "gen_ai.request.model"
ATTR_RESPONSE_MODEL: Final = "gen_ai.response.model"
ATTR_INPUT_TOKENS: Final = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
ATTR_OUTPUT_TOKENS: Final = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
ATTR_AGENT_NAME: Final = "gen_ai.agent.name"
ATTR_AGENT_ID: Final = "gen_ai.agent.id"
ATTR_TOOL_NAME: Final = "gen_ai.tool.name"
ATTR_ERROR_TYPE: Final = "error.type"
ATTR_SERVICE_NAME: Final = "service.name"
ATTR_COST: Final = "agentwatch.cost_usd"
ATTR_DECISION: Final = "agentwatch.decision"
ATTR_CONFIDENCE: Final = "agentwatch.confidence"
ATTR_SPAN_TYPE: Final = "agentwatch.span_type"
ATTR_SPAN_NAME: Final = "otel.span.name"
ATTR_TRUNCATED: Final = "agentwatch.attributes_truncated"

_OPERATION_SPAN_TYPES: Final = {
    "chat": SPAN_LLM_CALL,
    "text_completion": SPAN_LLM_CALL,
    "generate_content": SPAN_LLM_CALL,
    "embeddings": SPAN_LLM_CALL,  # an inference call too; the operation name stays in attributes
    "execute_tool": SPAN_TOOL_CALL,
    "invoke_agent": SPAN_AGENT,
    "create_agent": SPAN_AGENT,
    "invoke_workflow": SPAN_AGENT,
    "plan": SPAN_AGENT,
}
_STATUS_ERROR: Final = 2
_INPUT_TOKENS, _INPUT_TOKENS_OLD = ATTR_INPUT_TOKENS
_OUTPUT_TOKENS, _OUTPUT_TOKENS_OLD = ATTR_OUTPUT_TOKENS
_MAX_TOKENS: Final = ingest.MAX_TOKENS
#: The native rule: a timestamp is unix seconds in [0, ingest.MAX_TIMESTAMP); here in nanoseconds.
_MAX_TIMESTAMP_NS: Final = int(ingest.MAX_TIMESTAMP) * 1_000_000_000
_TIMESTAMP_RANGE: Final = f"timestamp out of range (0 to {ingest.MAX_TIMESTAMP:g} s in nanoseconds)"
_MAX_VALUE_DEPTH: Final = 6  # deeper values become null; stays within ingest.MAX_NESTING_DEPTH
_MAX_ATTRIBUTE_STRING: Final = 4096
_HEX: Final = frozenset("0123456789abcdef")
_GRPC_CODES: Final = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 408: 4, 413: 8, 415: 3, 429: 8, 500: 13}
_GRPC_CODES_5XX: Final = {501: 12, 502: 14, 503: 14, 504: 4}


class OtlpError(Exception):
    """The whole request is unusable: ``status`` 400 (undecodable) or 415 (content type)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class OtlpResult:
    """What a request yielded: usable events, how many items were rejected, and why."""

    events: list[Event]
    rejected: int = 0
    error_message: str | None = None
    signal: str = SIGNAL_TRACES


class _Reject(Exception):
    """One span or log record cannot be mapped (the message says why)."""


# ------------------------------------------------------------------ JSON structures
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


class _Span(msgspec.Struct):
    traceId: str = ""
    spanId: str = ""
    parentSpanId: str = ""
    name: str = ""
    startTimeUnixNano: int | str = 0
    endTimeUnixNano: int | str = 0
    attributes: list[_KeyValue] = []
    status: _Status | None = None


class _ScopeSpans(msgspec.Struct):
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


class _ScopeLogs(msgspec.Struct):
    logRecords: list[_LogRecord] = []


class _ResourceLogs(msgspec.Struct):
    resource: _Resource | None = None
    scopeLogs: list[_ScopeLogs] = []


class _LogsRequest(msgspec.Struct):
    resourceLogs: list[_ResourceLogs] = []


_traces_decoder = msgspec.json.Decoder(_TracesRequest)
_logs_decoder = msgspec.json.Decoder(_LogsRequest)
_json_encoder = msgspec.json.Encoder()


class _BadResource(Exception):
    """A resource whose attributes cannot be read: every item under it is rejected."""


#: The agent of a resource's items when an item names none: the resource's agent id, or a
#: :class:`_Reject` to raise for such items (see :func:`_resource_agent`).
_Fallback = str | _Reject
#: Per resource and scope: the resource's fallback agent (or why the resource is unusable),
#: the mapper of one item to its event, and the items.
_Batches = Iterator[
    tuple[_Fallback | _BadResource, Callable[[Any, _Fallback, float], Event], Collection[Any]]
]


@dataclass(slots=True)
class _RawLog:
    time_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: Any
    attributes: dict[str, Any]
    trace_id: str
    span_id: str


# ------------------------------------------------------------------ public functions
def decode_traces(
    body: bytes, content_type: str | None, *, clock: Callable[[], float] = time.time
) -> OtlpResult:
    """Decode an ExportTraceServiceRequest into events (one per span).

    Raises :class:`OtlpError` (415 content type, 400 undecodable); per-span problems are
    counted in ``rejected``. Spans without timestamps are stamped ``clock()``.
    """
    media = _media_type(content_type)
    if media == JSON:
        batches = _json_spans(_decode_json(_traces_decoder, body))
    else:
        batches = _pb_spans(_decode_pb(body, SIGNAL_TRACES))
    return _map_all(batches, clock(), SIGNAL_TRACES, "span")


def decode_logs(
    body: bytes, content_type: str | None, *, clock: Callable[[], float] = time.time
) -> OtlpResult:
    """Decode an ExportLogsServiceRequest into ``log`` events (one per log record)."""
    media = _media_type(content_type)
    if media == JSON:
        batches = _json_logs(_decode_json(_logs_decoder, body))
    else:
        batches = _pb_logs(_decode_pb(body, SIGNAL_LOGS))
    return _map_all(batches, clock(), SIGNAL_LOGS, "log record")


def success_response(result: OtlpResult, content_type: str | None) -> tuple[bytes, str]:
    """The 200 body: an Export*ServiceResponse, with ``partialSuccess`` when items were rejected.

    Encoded like the request (protobuf or JSON; int64 counts as decimal strings in JSON).
    """
    logs = result.signal == SIGNAL_LOGS
    media = _response_media(content_type)
    if media == PROTOBUF:
        try:
            return _pb_success(result, logs), PROTOBUF
        except ImportError:
            media = JSON
    if result.rejected <= 0:
        return b"{}", JSON
    partial: dict[str, Any] = {("rejectedLogRecords" if logs else "rejectedSpans"): str(result.rejected)}
    if result.error_message:
        partial["errorMessage"] = result.error_message
    return _json_encoder.encode({"partialSuccess": partial}), JSON


def error_response(status: int, message: str, content_type: str | None) -> tuple[bytes, str]:
    """A ``google.rpc.Status``-shaped body (gRPC code from the HTTP status, and the message)."""
    code = _GRPC_CODES.get(status) or _GRPC_CODES_5XX.get(status) or (13 if status >= 500 else 3)
    if _response_media(content_type) == PROTOBUF:
        encoded = message.encode("utf-8", "replace")
        body = b"\x08" + _varint(code) + b"\x12" + _varint(len(encoded)) + encoded
        return body, PROTOBUF
    return _json_encoder.encode({"code": code, "message": message}), JSON


# ------------------------------------------------------------------ content types
def _media_type(content_type: str | None) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in (JSON, PROTOBUF):
        shown = media or "none"
        raise OtlpError(415, f"unsupported Content-Type {shown!r}: use {JSON} or {PROTOBUF}")
    return media


def _response_media(content_type: str | None) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return PROTOBUF if media == PROTOBUF else JSON


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# ------------------------------------------------------------------ JSON front end
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
                raise _Reject(f"doubleValue {raw[:32]!r} is not a number") from None
        return raw
    if depth >= _MAX_VALUE_DEPTH:
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


def _json_resource(resource: _Resource | None) -> _Fallback | _BadResource:
    try:
        return _resource_agent(_json_attributes(resource.attributes if resource else []))
    except _Reject as exc:
        return _BadResource(str(exc))


def _json_spans(request: _TracesRequest) -> _Batches:
    for resource_spans in request.resourceSpans:
        fallback = _json_resource(resource_spans.resource)
        for scope in resource_spans.scopeSpans:
            yield fallback, _json_span_event, scope.spans


def _json_logs(request: _LogsRequest) -> _Batches:
    for resource_logs in request.resourceLogs:
        fallback = _json_resource(resource_logs.resource)
        for scope in resource_logs.scopeLogs:
            yield fallback, _json_log_event, scope.logRecords


def _json_span_event(span: _Span, fallback: _Fallback, now: float) -> Event:
    """Called per span inside the mapping loop, so that a bad value rejects one span, not the request."""
    status = span.status or _Status()
    return _map_span(
        _json_id(span.traceId, 32, "traceId"),
        _json_id(span.spanId, 16, "spanId"),
        _json_id(span.parentSpanId, 16, "parentSpanId"),
        span.name,
        _as_int(span.startTimeUnixNano, "startTimeUnixNano"),
        _as_int(span.endTimeUnixNano, "endTimeUnixNano"),
        _json_attributes(span.attributes),
        _as_int(status.code, "status.code"),
        status.message,
        fallback,
        now,
    )


def _json_log_event(record: _LogRecord, fallback: _Fallback, now: float) -> Event:
    raw = _RawLog(
        _as_int(record.timeUnixNano, "timeUnixNano"),
        _as_int(record.observedTimeUnixNano, "observedTimeUnixNano"),
        _as_int(record.severityNumber, "severityNumber"),
        record.severityText,
        _json_value(record.body),
        _json_attributes(record.attributes),
        _json_id(record.traceId, 32, "traceId"),
        _json_id(record.spanId, 16, "spanId"),
    )
    return _map_log(raw, fallback, now)


def _json_id(value: str, length: int, name: str) -> str | None:
    """A hex id, lowercased; None when absent. Wrong length or non-hex characters reject."""
    if not value:
        return None
    lowered = value.lower()
    if len(lowered) != length or not _HEX.issuperset(lowered):
        raise _Reject(f"{name} must be {length} hex characters")
    return lowered


def _as_int(value: int | str, name: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise _Reject(f"{name} {value[:32]!r} is not an integer") from None


# ------------------------------------------------------------------ protobuf front end
def _decode_pb(body: bytes, signal: str) -> Any:
    try:
        from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: F401 - the extra
    except ImportError:
        raise OtlpError(415, PROTOBUF_MISSING) from None
    request: Any
    if signal == SIGNAL_TRACES:
        request = _lean_classes()["ExportTraceServiceRequest"]()  # the same wire format, fewer objects
    else:
        request = logs_service_pb2.ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpError(400, f"invalid OTLP protobuf: {exc}") from None
    return request


def _pb_value(value: Any, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, kind)
    if depth >= _MAX_VALUE_DEPTH:
        return None
    if kind == "array_value":
        return [_pb_value(item, depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    return base64.b64encode(value.bytes_value).decode("ascii")


_PB_SCALARS: Final = frozenset({"string_value", "int_value", "bool_value", "double_value"})


def _pb_attributes(pairs: Any) -> dict[str, Any]:
    """KeyValues as a dict; scalars (the common case) are read inline, the rest via :func:`_pb_value`."""
    attributes: dict[str, Any] = {}
    scalars = _PB_SCALARS
    for kv in pairs:
        value = kv.value
        kind = value.WhichOneof("value")
        attributes[kv.key] = getattr(value, kind) if kind in scalars else _pb_value(value)
    return attributes


@functools.cache
def _lean_classes() -> dict[str, Any]:
    """ExportTraceServiceRequest under a narrower schema, for speed; and the parts read later.

    Same field numbers and wire types as opentelemetry-proto's, but a span's and a
    resource's attributes and a span's status are read as their raw bytes (a message and
    ``bytes`` share the wire type): upb hands over a span's attributes as one list of
    ``bytes``, and no Python object is made per KeyValue or AnyValue.
    :func:`_wire_attributes` reads the common pairs straight from the bytes; the rest go
    through the lean ``KeyValue`` (key as bytes, value as the AnyValue's bytes) and
    ``Status`` here. Fields agentwatch does not map (kind, events, links, scope...) are
    skipped by the parser. Built once, in a private descriptor pool.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # type: ignore[import-untyped]

    field_type = descriptor_pb2.FieldDescriptorProto
    package = "agentwatch.otlp.lean"
    schema = descriptor_pb2.FileDescriptorProto(
        name="agentwatch/otlp_lean_traces.proto", package=package, syntax="proto3"
    )
    messages: dict[str, tuple[tuple[str, int, int, str], ...]] = {
        # message: (field name, number, type, "" or the field's message type; "[]" prefix: repeated)
        "KeyValue": (("key", 1, field_type.TYPE_BYTES, ""), ("value", 2, field_type.TYPE_BYTES, "")),
        "Status": (("message", 2, field_type.TYPE_BYTES, ""), ("code", 3, field_type.TYPE_INT32, "")),
        "Span": (
            ("trace_id", 1, field_type.TYPE_BYTES, ""),
            ("span_id", 2, field_type.TYPE_BYTES, ""),
            ("parent_span_id", 4, field_type.TYPE_BYTES, ""),
            ("name", 5, field_type.TYPE_STRING, ""),
            ("start_time_unix_nano", 7, field_type.TYPE_FIXED64, ""),
            ("end_time_unix_nano", 8, field_type.TYPE_FIXED64, ""),
            ("attributes", 9, field_type.TYPE_BYTES, "[]"),
            ("status", 15, field_type.TYPE_BYTES, ""),
        ),
        "Resource": (("attributes", 1, field_type.TYPE_BYTES, "[]"),),
        "ScopeSpans": (("spans", 2, field_type.TYPE_MESSAGE, "[]Span"),),
        "ResourceSpans": (
            ("resource", 1, field_type.TYPE_MESSAGE, "Resource"),
            ("scope_spans", 2, field_type.TYPE_MESSAGE, "[]ScopeSpans"),
        ),
        "ExportTraceServiceRequest": (("resource_spans", 1, field_type.TYPE_MESSAGE, "[]ResourceSpans"),),
    }
    for message_name, fields in messages.items():
        message = schema.message_type.add(name=message_name)
        for name, number, kind, message_type in fields:
            repeated = message_type.startswith("[]")
            label = field_type.LABEL_REPEATED if repeated else field_type.LABEL_OPTIONAL
            field = message.field.add(name=name, number=number, type=kind, label=label)
            if message_type.removeprefix("[]"):
                field.type_name = f".{package}.{message_type.removeprefix('[]')}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
        for name in ("ExportTraceServiceRequest", "KeyValue", "Status")
    }


_unpack_double = struct.Struct("<d").unpack_from


def _any_value_bytes(data: bytes) -> Any:
    """An AnyValue's wire bytes as a plain value (see :func:`_pb_value`).

    Bytes that hold exactly one short string (< 128 bytes), one small int (< 16 384), one
    bool or one double are read inline; anything else is parsed as a real AnyValue. Raises
    :class:`_Reject` for bytes that are not an AnyValue or a string that is not UTF-8.
    """
    size = len(data)
    if size >= 2:
        tag, first = data[0], data[1]
        try:
            if tag == 0x0A and first == size - 2 and first < 0x80:  # string_value
                return data[2:].decode()
            if tag == 0x18:  # int_value
                if size == 2 and first < 0x80:
                    return first
                if size == 3 and first >= 0x80 and data[2] < 0x80:
                    return (first & 0x7F) | (data[2] << 7)
            elif tag == 0x10 and size == 2 and first < 2:  # bool_value
                return first == 1
            elif tag == 0x21 and size == 9:  # double_value
                return _unpack_double(data, 1)[0]
        except UnicodeDecodeError:
            raise _Reject("an attribute string is not valid UTF-8") from None
    elif not data:
        return None
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    try:
        return _pb_value(AnyValue.FromString(data))
    except DecodeError:
        raise _Reject("an attribute value is not a valid AnyValue") from None


#: KeyValues already read: their wire bytes → (key, value), for scalar values (immutable, so
#: one object can serve many events). Categorical attributes (operation, provider, model,
#: agent, tool names) repeat byte for byte from span to span and are then one lookup; counts
#: and ids mostly miss. Cleared when full, so variety costs misses, never memory.
_PAIRS_READ: dict[bytes, tuple[str, Any]] = {}
_PAIRS_READ_MAX: Final = 4096
_PAIR_READ_BYTES: Final = 256  # longer pairs are not kept
_IMMUTABLE_VALUES: Final = frozenset({str, int, float, bool, type(None)})


def _wire_attributes(pairs: list[bytes]) -> dict[str, Any]:
    """KeyValues given as their wire bytes (the lean schema's ``repeated bytes``) as a dict.

    Later keys win, as in the full schema. Raises :class:`_Reject` for a pair that is not a
    KeyValue, a key or string that is not UTF-8, or a value that is not an AnyValue.
    """
    known = list(map(_PAIRS_READ.get, pairs))
    if None in known:
        for index, read in enumerate(known):
            if read is None:
                known[index] = _read_pair(pairs[index])
    return dict(known)  # type: ignore[arg-type]


#: Keys of counts (int values of 2 or 3 varint bytes: token counts...), by the bytes of the
#: pair before the varint: tag and length of the key, the key, tag and length of the value,
#: the int_value tag. Those bytes fix the pair's layout, so a pair that starts with them and
#: ends with a varint of that width is that key and that count. One table per width.
_COUNT_KEYS: Final[tuple[dict[bytes, str], dict[bytes, str]]] = ({}, {})
_COUNT_KEYS_MAX: Final = 1024


def _read_pair(pair: bytes) -> tuple[str, Any]:
    """One KeyValue's wire bytes as (key, value), remembered in :data:`_PAIRS_READ` if scalar.

    A pair that is exactly a key of < 128 bytes then a value of < 128 bytes (nearly every
    attribute) is sliced apart inline; anything else (long, empty or reordered fields,
    unknown fields) is parsed as a lean ``KeyValue``. Integers from 128 to 2**21 - 1 (token
    counts) seldom repeat: such a pair is not remembered, its key is (:data:`_COUNT_KEYS`).
    """
    size = len(pair)
    if size > 5 and pair[-1] < 0x80 and pair[-2] >= 0x80:  # ends like a 2- or 3-byte varint
        if pair[-3] < 0x80:
            key = _COUNT_KEYS[0].get(pair[:-2])
            if key is not None:
                return key, (pair[-2] & 0x7F) | (pair[-1] << 7)
        else:
            key = _COUNT_KEYS[1].get(pair[:-3])
            if key is not None:
                return key, (pair[-3] & 0x7F) | ((pair[-2] & 0x7F) << 7) | (pair[-1] << 14)
    mark = pair[1] + 2 if size >= 4 else 0xFF  # where the value's tag is, for a short key
    if (
        mark < 0x82
        and mark + 2 <= size
        and pair[0] == 0x0A
        and pair[mark] == 0x12
        and pair[mark + 1] == size - mark - 2 < 0x80
    ):
        try:
            key = pair[2:mark].decode()
        except UnicodeDecodeError:
            raise _Reject("an attribute key is not valid UTF-8") from None
        start = mark + 2  # the AnyValue
        width = size - start - 1  # of its varint, if it is an int_value
        if 2 <= width <= 3 and pair[start] == 0x18 and pair[start + 1] >= 0x80 and pair[-1] < 0x80:
            if width == 2 or pair[start + 2] >= 0x80:
                keys = _COUNT_KEYS[width - 2]
                if len(keys) >= _COUNT_KEYS_MAX:
                    keys.clear()
                keys[pair[: start + 1]] = key
                return _read_pair(pair)  # now a known key: read as above
        value = _any_value_bytes(pair[start:])
    else:
        key, raw = _wire_pair(pair)
        value = _any_value_bytes(raw)
    read = (key, value)
    if value.__class__ in _IMMUTABLE_VALUES and size <= _PAIR_READ_BYTES:
        if len(_PAIRS_READ) >= _PAIRS_READ_MAX:
            _PAIRS_READ.clear()
        _PAIRS_READ[pair] = read
    return read


def _wire_pair(pair: bytes) -> tuple[str, bytes]:
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        message = _lean_classes()["KeyValue"].FromString(pair)
    except DecodeError:
        raise _Reject("an attribute is not a valid KeyValue") from None
    try:
        return message.key.decode(), message.value
    except UnicodeDecodeError:
        raise _Reject("an attribute key is not valid UTF-8") from None


def _wire_status(status: bytes) -> tuple[int, str]:
    """A span's Status from its wire bytes: (code, message)."""
    if len(status) == 2 and status[0] == 0x18 and status[1] < 0x80:  # a code alone, the common case
        return status[1], ""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        message = _lean_classes()["Status"].FromString(status)
    except DecodeError:
        raise _Reject("status is not a valid Status") from None
    try:
        return message.code, message.message.decode()
    except UnicodeDecodeError:
        raise _Reject("status message is not valid UTF-8") from None


def _pb_span_event(span: Any, fallback: _Fallback, now: float) -> Event:
    """One span of a request parsed with :func:`_lean_classes` as an event (see :func:`_map_span`)."""
    trace_id = span.trace_id
    if trace_id:
        if len(trace_id) != 16:
            raise _Reject("trace_id must be 16 bytes")
        trace_id = trace_id.hex()
    span_id = span.span_id
    if span_id:
        if len(span_id) != 8:
            raise _Reject("span_id must be 8 bytes")
        span_id = span_id.hex()
    parent_span_id = span.parent_span_id
    if parent_span_id:
        if len(parent_span_id) != 8:
            raise _Reject("parent_span_id must be 8 bytes")
        parent_span_id = parent_span_id.hex()
    attributes = _wire_attributes(span.attributes[:])  # a list of bytes, made in one call
    status = span.status
    code, message = _wire_status(status) if status else (0, "")
    return _map_span(
        trace_id or None,
        span_id or None,
        parent_span_id or None,
        span.name,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        attributes,
        code,
        message,
        fallback,
        now,
    )


def _pb_log_event(record: Any, fallback: _Fallback, now: float) -> Event:
    raw = _RawLog(
        record.time_unix_nano,
        record.observed_time_unix_nano,
        record.severity_number,
        record.severity_text,
        _pb_value(record.body) if record.HasField("body") else None,
        _pb_attributes(record.attributes),
        _pb_id(record.trace_id, 16, "trace_id"),
        _pb_id(record.span_id, 8, "span_id"),
    )
    return _map_log(raw, fallback, now)


def _pb_id(value: bytes, length: int, name: str) -> str | None:
    if not value:
        return None
    if len(value) != length:
        raise _Reject(f"{name} must be {length} bytes")
    return value.hex()


def _pb_spans(request: Any) -> _Batches:
    """Spans of a request parsed with :func:`_lean_classes`."""
    for resource_spans in request.resource_spans:
        fallback: _Fallback | _BadResource
        try:
            fallback = _resource_agent(_wire_attributes(resource_spans.resource.attributes[:]))
        except _Reject as exc:
            fallback = _BadResource(str(exc))  # every span of this resource is rejected
        for scope in resource_spans.scope_spans:
            yield fallback, _pb_span_event, scope.spans


def _pb_logs(request: Any) -> _Batches:
    for resource_logs in request.resource_logs:
        fallback = _resource_agent(_pb_attributes(resource_logs.resource.attributes))
        for scope in resource_logs.scope_logs:
            yield fallback, _pb_log_event, scope.log_records


def _pb_success(result: OtlpResult, logs: bool) -> bytes:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    response: Any
    if logs:
        response = logs_service_pb2.ExportLogsServiceResponse()
        if result.rejected > 0:
            response.partial_success.rejected_log_records = result.rejected
    else:
        response = trace_service_pb2.ExportTraceServiceResponse()
        if result.rejected > 0:
            response.partial_success.rejected_spans = result.rejected
    if result.rejected > 0 and result.error_message:
        response.partial_success.error_message = result.error_message
    return bytes(response.SerializeToString())


# ------------------------------------------------------------------ mapping
def _map_all(batches: _Batches, now: float, signal: str, noun: str) -> OtlpResult:
    """Map every item into an event that already satisfies the native ingest rules (the
    mappers check the same limits as :mod:`agentwatch.collector.ingest`, see :func:`_map_span`),
    so no second decode is needed. Rejections are counted; the first is named in the message."""
    events: list[Event] = []
    first_reason: tuple[int, str] | None = None
    index = 0
    append = events.append
    for fallback, mapper, items in batches:
        if isinstance(fallback, _BadResource):
            if first_reason is None and len(items):
                first_reason = (index, f"resource: {fallback}")
            index += len(items)
            continue
        for item in items:
            try:
                append(mapper(item, fallback, now))
            except _Reject as exc:
                if first_reason is None:
                    first_reason = (index, str(exc))
            index += 1
    rejected = index - len(events)
    message = None
    if first_reason is not None:
        first_index, reason = first_reason
        plural = "s" if rejected != 1 else ""
        message = f"{rejected} {noun}{plural} rejected; first: {noun} {first_index}: {reason}"
    return OtlpResult(events, rejected, message, signal)


def _named_agent(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` naming an agent (a non-blank string, stripped), or None."""
    for key in keys:
        value = attributes.get(key)
        if value.__class__ is str and value:
            if len(value) > MAX_AGENT_ID_LENGTH:
                raise _Reject(f"agent id ({key}) is longer than {MAX_AGENT_ID_LENGTH} characters")
            stripped = value.strip()  # the native rule: stripped, never blank
            if stripped:
                return stripped
    return None


_ITEM_AGENT_KEYS: Final = (ATTR_AGENT_NAME, ATTR_AGENT_ID)
_RESOURCE_AGENT_KEYS: Final = (ATTR_AGENT_NAME, ATTR_AGENT_ID, ATTR_SERVICE_NAME)


def _resource_agent(resource: Mapping[str, Any]) -> _Fallback:
    """The agent of a resource's items that name none, worked out once per resource."""
    try:
        return _named_agent(resource, _RESOURCE_AGENT_KEYS) or UNKNOWN_AGENT
    except _Reject as exc:
        return exc  # only items that name no agent of their own are rejected


def _agent_id(attributes: Mapping[str, Any], fallback: _Fallback) -> str:
    """``gen_ai.agent.name``, else ``gen_ai.agent.id``, else the resource's agent."""
    agent = attributes.get(ATTR_AGENT_NAME)
    if agent.__class__ is str and 0 < len(agent) <= MAX_AGENT_ID_LENGTH:  # the common case
        agent = agent.strip()
        if agent:
            return agent  # type: ignore[no-any-return]
    agent = _named_agent(attributes, _ITEM_AGENT_KEYS)
    if agent is not None:
        return agent
    if fallback.__class__ is str:
        return fallback  # type: ignore[return-value]
    raise _Reject(str(fallback))


def _short(value: Any, name: str) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_SHORT_FIELD_LENGTH:
        raise _Reject(f"{name} is longer than {MAX_SHORT_FIELD_LENGTH} characters")
    return text or None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_LENGTH else text[: MAX_MESSAGE_LENGTH - 1] + "…"


def _tokens(value: Any, key: str) -> int | None:
    """A token count: an integer (12.0 taken as 12) in [0, 2**53), or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Reject(f"{key} must be an integer")
    if isinstance(value, float) and not value.is_integer():
        raise _Reject(f"{key} must be an integer")
    if not 0 <= value < ingest.MAX_TOKENS:
        raise _Reject(f"{key} must be >= 0 and < 2**53")
    return int(value)


def _number(value: Any, key: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Reject(f"{key} must be a finite number")
    if not low <= value <= high:
        raise _Reject(f"{key} must be between {low:g} and {high:g}")
    return float(value)


def _bounded(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """Attributes within :data:`MAX_ATTRIBUTES_BYTES` once encoded: long strings are clipped,
    then keys are kept in order while they fit; ``agentwatch.attributes_truncated`` counts the rest."""
    if not attributes:
        return None
    try:
        size = len(_json_encoder.encode(attributes))
    except (msgspec.EncodeError, OverflowError, TypeError):
        size = MAX_ATTRIBUTES_BYTES + 1
    if size <= MAX_ATTRIBUTES_BYTES:
        return attributes
    kept: dict[str, Any] = {}
    used = 64  # room for the truncation marker
    for key, value in attributes.items():
        if isinstance(value, str) and len(value) > _MAX_ATTRIBUTE_STRING:
            value = value[: _MAX_ATTRIBUTE_STRING - 1] + "…"
        try:
            cost = len(_json_encoder.encode({key: value}))
        except (msgspec.EncodeError, OverflowError, TypeError):
            continue
        if used + cost <= MAX_ATTRIBUTES_BYTES:
            kept[key] = value
            used += cost
    kept[ATTR_TRUNCATED] = len(attributes) - len(kept)
    return kept


def _map_span(
    trace_id: str | None,
    span_id: str | None,
    parent_span_id: str | None,
    name: str,
    start_ns: int,
    end_ns: int,
    attrs: dict[str, Any],
    status_code: int,
    status_message: str,
    fallback: _Fallback,
    now: float,
) -> Event:
    """One span as an event that meets the native ingest rules (or :class:`_Reject` saying why).

    The rules of :mod:`agentwatch.collector.ingest`, applied here so no second decode is
    needed: agent id 1..MAX_AGENT_ID_LENGTH characters once stripped; short fields at most
    MAX_SHORT_FIELD_LENGTH; tokens integers in [0, 2**53); cost finite >= 0; confidence in
    [0, 1]; timestamp in [0, MAX_TIMESTAMP) seconds; attributes bounded by
    :func:`_bounded`; a missing cost estimated from the price table and flagged. Error text
    is clipped to MAX_MESSAGE_LENGTH rather than rejected.

    Ids come as lowercase hex or None. ``attrs`` is the span's own dict, made for this call:
    what is left of it once the mapped keys are taken out becomes ``Event.attributes``.
    """
    agent_id = _agent_id(attrs, fallback)
    if not (0 <= start_ns < _MAX_TIMESTAMP_NS and 0 <= end_ns < _MAX_TIMESTAMP_NS):
        raise _Reject(_TIMESTAMP_RANGE)
    latency_ms = None
    if end_ns and start_ns:
        if end_ns < start_ns:
            raise _Reject("negative duration (endTimeUnixNano before startTimeUnixNano)")
        latency_ms = (end_ns - start_ns) / 1e6
    end_ns = end_ns or start_ns
    timestamp = end_ns / 1e9 if end_ns else now

    # The attributes that become event fields are taken out; the rest, in order, is kept.
    get, pop = attrs.get, attrs.pop
    request_model = pop(ATTR_REQUEST_MODEL, None)
    response_model = pop(ATTR_RESPONSE_MODEL, None)
    tool_name = pop(ATTR_TOOL_NAME, None)
    declared = pop(ATTR_SPAN_TYPE, None)
    tokens_input, tokens_input_old = pop(_INPUT_TOKENS, None), pop(_INPUT_TOKENS_OLD, None)
    tokens_output, tokens_output_old = pop(_OUTPUT_TOKENS, None), pop(_OUTPUT_TOKENS_OLD, None)
    system = pop(ATTR_SYSTEM, None)
    cost_usd = pop(ATTR_COST, None)
    decision = pop(ATTR_DECISION, None)
    confidence = pop(ATTR_CONFIDENCE, None)

    operation = get(ATTR_OPERATION)
    if operation.__class__ is str and operation:
        span_type = _OPERATION_SPAN_TYPES.get(operation, operation)
    elif declared.__class__ is str and declared:
        span_type = declared
    elif tool_name is not None:
        span_type = SPAN_TOOL_CALL
    elif request_model is not None or response_model is not None:
        span_type = SPAN_LLM_CALL
    else:
        span_type = SPAN_GENERIC
    if len(span_type) > MAX_SHORT_FIELD_LENGTH:
        raise _Reject(f"span type is longer than {MAX_SHORT_FIELD_LENGTH} characters")

    model = response_model or request_model
    if model is not None and not (model.__class__ is str and 0 < len(model) <= MAX_SHORT_FIELD_LENGTH):
        model = _short(model, "model")
    error_type = get(ATTR_ERROR_TYPE)
    error: str | None = None
    if status_code == _STATUS_ERROR:
        parts = [str(p) for p in (error_type, status_message) if p]
        error = _clip(": ".join(parts) or "error")
    elif error_type:
        error = _clip(str(error_type))

    # The current name wins over the deprecated one whenever it is present.
    if tokens_input is None:
        tokens_input = _tokens(tokens_input_old, _INPUT_TOKENS_OLD)
    elif not (tokens_input.__class__ is int and 0 <= tokens_input < _MAX_TOKENS):
        tokens_input = _tokens(tokens_input, _INPUT_TOKENS)  # rejects with the reason, or takes 12.0 as 12
    if tokens_output is None:
        tokens_output = _tokens(tokens_output_old, _OUTPUT_TOKENS_OLD)
    elif not (tokens_output.__class__ is int and 0 <= tokens_output < _MAX_TOKENS):
        tokens_output = _tokens(tokens_output, _OUTPUT_TOKENS)

    cost_estimated = None
    if cost_usd is not None:
        cost_usd = _number(cost_usd, ATTR_COST, 0.0, math.inf)
    elif model is not None and (tokens_input is not None or tokens_output is not None):
        cost_usd = estimate_cost(model, tokens_input, tokens_output)  # the native rule: estimate, flag it
        if cost_usd is not None:
            cost_estimated = True
    if decision is not None:
        decision = _short(decision, ATTR_DECISION)
    if confidence is not None:
        confidence = _number(confidence, ATTR_CONFIDENCE, 0.0, 1.0)
    if tool_name is not None:
        tool_name = _short(tool_name, ATTR_TOOL_NAME)

    provider = get(ATTR_PROVIDER) or system
    if provider is not None:
        attrs[ATTR_PROVIDER] = provider  # moved from gen_ai.system, or left where it is
    if name:
        attrs[ATTR_SPAN_NAME] = name
    # Positional: Event's field order (a test pins it); keywords cost ~0.4 µs per event.
    return Event(
        agent_id,
        timestamp,
        span_type,
        trace_id,
        span_id,
        parent_span_id,
        model,
        tokens_input,
        tokens_output,
        latency_ms,
        cost_usd,
        cost_estimated,
        decision,
        confidence,
        error,
        tool_name,
        None,
        None,
        _bounded(attrs),
    )


def _severity_level(number: int, text: str) -> str:
    """OTLP severity (1–24 in six bands of four) to a protocol level; else the text's level."""
    if 1 <= number <= 24:
        return ("debug", "debug", "info", "warning", "error", "critical")[(number - 1) // 4]
    return normalize_level(text)


def _body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    try:
        return _json_encoder.encode(body).decode("utf-8", "replace")
    except (msgspec.EncodeError, OverflowError, TypeError):
        return str(body)


def _map_log(raw: _RawLog, fallback: _Fallback, now: float) -> Event:
    agent_id = _agent_id(raw.attributes, fallback)
    if not (0 <= raw.time_ns < _MAX_TIMESTAMP_NS and 0 <= raw.observed_ns < _MAX_TIMESTAMP_NS):
        raise _Reject(_TIMESTAMP_RANGE)
    time_ns = raw.time_ns or raw.observed_ns
    return Event(
        agent_id,
        timestamp=time_ns / 1e9 if time_ns else now,
        span_type=SPAN_LOG,
        trace_id=raw.trace_id or None,
        span_id=raw.span_id or None,
        level=_severity_level(raw.severity_number, raw.severity_text),
        message=_clip(_body_text(raw.body)),
        attributes=_bounded(raw.attributes),
    )
