"""OTLP/protobuf (``application/x-protobuf``) requests and responses.

Decoded with ``opentelemetry-proto`` (the ``agentwatch[otlp]`` extra); without it a request
gets 415 and a message naming the extra. Traces are read through a lean schema
(:func:`_lean_classes`) whose span attributes and status stay raw bytes until mapped, so a
malformed attribute or status, or one that is not UTF-8, rejects its span rather than the
request; the common attribute shapes are read straight from those bytes.
"""

from __future__ import annotations

import base64
import functools
import struct
from typing import Any, Final

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

PROTOBUF_MISSING: Final = "install agentwatch[otlp] for protobuf (opentelemetry-proto is not installed)"


def spans_from_protobuf(body: bytes) -> Batches:
    """The spans of an ExportTraceServiceRequest, per resource and scope."""
    return _pb_spans(_decode_pb(body, traces=True))


def log_records_from_protobuf(body: bytes) -> Batches:
    """The log records of an ExportLogsServiceRequest, per resource and scope."""
    return _pb_logs(_decode_pb(body, traces=False))


def _decode_pb(body: bytes, *, traces: bool) -> Any:
    try:
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: F401 - the extra
    except ImportError:
        raise OtlpError(415, PROTOBUF_MISSING) from None
    request: Any
    if traces:
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
    if depth >= MAX_VALUE_DEPTH:
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
    ``Status`` here. A span's events come as their bytes (an ``exception`` one is read
    as the lean ``Event``). Fields agentwatch does not map (kind,
    links...) are skipped by the parser. Built once, in a private descriptor pool.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

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
            ("events", 11, field_type.TYPE_BYTES, "[]"),
            ("status", 15, field_type.TYPE_BYTES, ""),
        ),
        "Event": (("name", 2, field_type.TYPE_BYTES, ""), ("attributes", 3, field_type.TYPE_BYTES, "[]")),
        "Resource": (("attributes", 1, field_type.TYPE_BYTES, "[]"),),
        "ScopeSpans": (
            ("scope", 1, field_type.TYPE_BYTES, ""),
            ("spans", 2, field_type.TYPE_MESSAGE, "[]Span"),
        ),
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
        for name in ("ExportTraceServiceRequest", "KeyValue", "Status", "Event")
    }


_unpack_double = struct.Struct("<d").unpack_from


def _any_value_bytes(data: bytes) -> Any:
    """An AnyValue's wire bytes as a plain value (see :func:`_pb_value`).

    Bytes that hold exactly one short string (< 128 bytes), one small int (< 16 384), one
    bool or one double are read inline; anything else is parsed as a real AnyValue. Raises
    :class:`Reject` for bytes that are not an AnyValue or a string that is not UTF-8.
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
            raise Reject("an attribute string is not valid UTF-8") from None
    elif not data:
        return None
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    try:
        return _pb_value(AnyValue.FromString(data))
    except DecodeError:
        raise Reject("an attribute value is not a valid AnyValue") from None


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

    Later keys win, as in the full schema. Raises :class:`Reject` for a pair that is not a
    KeyValue, a key or string that is not UTF-8, or a value that is not an AnyValue.
    """
    known = list(map(_PAIRS_READ.get, pairs))
    if None in known:
        for index, read in enumerate(known):
            if read is None:
                known[index] = _read_pair(pairs[index])
    return dict(known)  # type: ignore[arg-type]  # every None was replaced by a pair above


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
            raise Reject("an attribute key is not valid UTF-8") from None
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
    from google.protobuf.message import DecodeError

    try:
        message = _lean_classes()["KeyValue"].FromString(pair)
    except DecodeError:
        raise Reject("an attribute is not a valid KeyValue") from None
    try:
        return message.key.decode(), message.value
    except UnicodeDecodeError:
        raise Reject("an attribute key is not valid UTF-8") from None


def _wire_status(status: bytes) -> tuple[int, str]:
    """A span's Status from its wire bytes: (code, message)."""
    if len(status) == 2 and status[0] == 0x18 and status[1] < 0x80:  # a code alone, the common case
        return status[1], ""
    from google.protobuf.message import DecodeError

    try:
        message = _lean_classes()["Status"].FromString(status)
    except DecodeError:
        raise Reject("status is not a valid Status") from None
    try:
        return message.code, message.message.decode()
    except UnicodeDecodeError:
        raise Reject("status message is not valid UTF-8") from None


def _exception_from_events(events: list[bytes], code: int, message: str) -> tuple[int, str]:
    """A span's status once its first ``exception`` event, if any, is taken into account
    (see :func:`~agentwatch.collector.otlp.mapping.exception_status`), as the JSON reader does."""
    from google.protobuf.message import DecodeError

    parse = _lean_classes()["Event"].FromString
    for raw in events:
        if _EXCEPTION_EVENT not in raw:  # cheap test: the name is in the bytes
            continue
        try:
            event = parse(raw)
        except DecodeError:
            raise Reject("a span event is not a valid Event") from None
        if event.name == _EXCEPTION_EVENT:
            return exception_status(code, message, _wire_attributes(event.attributes[:]))
    return code, message


_EXCEPTION_EVENT: Final = EXCEPTION_EVENT.encode()


def _pb_span_event(span: Any, fallback: Fallback, now: float, map_item: SpanMapper = map_span) -> Event:
    """One span of a request parsed with :func:`_lean_classes` as an event (see :func:`map_span`;
    ``map_item`` is the program's span mapper, :mod:`.conventions`)."""
    trace_id = span.trace_id
    if trace_id:
        if len(trace_id) != 16:
            raise Reject("trace_id must be 16 bytes")
        trace_id = trace_id.hex()
    span_id = span.span_id
    if span_id:
        if len(span_id) != 8:
            raise Reject("span_id must be 8 bytes")
        span_id = span_id.hex()
    parent_span_id = span.parent_span_id
    if parent_span_id:
        if len(parent_span_id) != 8:
            raise Reject("parent_span_id must be 8 bytes")
        parent_span_id = parent_span_id.hex()
    attributes = _wire_attributes(span.attributes[:])  # a list of bytes, made in one call
    status = span.status
    code, message = _wire_status(status) if status else (0, "")
    events = span.events
    if events:
        code, message = _exception_from_events(events[:], code, message)
    return map_item(
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


def _pb_log_event(record: Any, fallback: Fallback, now: float, map_item: LogMapper = map_log) -> Event:
    raw = RawLog(
        record.time_unix_nano,
        record.observed_time_unix_nano,
        record.severity_number,
        record.severity_text,
        _pb_value(record.body) if record.HasField("body") else None,
        _pb_attributes(record.attributes),
        _pb_id(record.trace_id, 16, "trace_id"),
        _pb_id(record.span_id, 8, "span_id"),
        record.event_name,
    )
    return map_item(raw, fallback, now)


def _pb_id(value: bytes, length: int, name: str) -> str | None:
    if not value:
        return None
    if len(value) != length:
        raise Reject(f"{name} must be {length} bytes")
    return value.hex()


def _pb_spans(request: Any) -> Batches:
    """Spans of a request parsed with :func:`_lean_classes`."""
    for resource_spans in request.resource_spans:
        fallback: Fallback | BadResource
        try:
            resource = _wire_attributes(resource_spans.resource.attributes[:])
            fallback = resource_agent(resource)
        except Reject as exc:
            resource, fallback = {}, BadResource(str(exc))  # every span of this resource is rejected
        for scope in resource_spans.scope_spans:
            mapper = span_mapper(resource, _scope_name(scope.scope))
            reader = (
                _pb_span_event if mapper is map_span else functools.partial(_pb_span_event, map_item=mapper)
            )
            yield fallback, reader, scope.spans


def _scope_name(scope: bytes) -> str:
    """An InstrumentationScope's name from its wire bytes ("" when absent or unreadable)."""
    if len(scope) >= 2 and scope[0] == 0x0A and scope[1] < 0x80:  # name first, under 128 bytes
        return scope[2 : 2 + scope[1]].decode("utf-8", "replace")
    if not scope:
        return ""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope

    try:
        return str(InstrumentationScope.FromString(scope).name)
    except DecodeError:
        return ""


def _pb_logs(request: Any) -> Batches:
    for resource_logs in request.resource_logs:
        resource = _pb_attributes(resource_logs.resource.attributes)
        fallback = resource_agent(resource)
        for scope in resource_logs.scope_logs:
            mapper = log_mapper(resource, scope.scope.name)
            reader = _pb_log_event if mapper is map_log else functools.partial(_pb_log_event, map_item=mapper)
            yield fallback, reader, scope.log_records


def success_body(rejected: int, error_message: str | None, logs: bool) -> bytes:
    """An Export*ServiceResponse, with ``partialSuccess`` when items were rejected.

    Raises ImportError without ``opentelemetry-proto``.
    """
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    response: Any
    if logs:
        response = logs_service_pb2.ExportLogsServiceResponse()
        if rejected > 0:
            response.partial_success.rejected_log_records = rejected
    else:
        response = trace_service_pb2.ExportTraceServiceResponse()
        if rejected > 0:
            response.partial_success.rejected_spans = rejected
    if rejected > 0 and error_message:
        response.partial_success.error_message = error_message
    return bytes(response.SerializeToString())


def status_body(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` (gRPC ``code`` and ``message``), encoded by hand: it needs no extra."""
    encoded = message.encode("utf-8", "replace")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(encoded)) + encoded


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
