"""OTLP spans and log records as agentwatch :class:`~agentwatch.protocol.Event`.

Both front ends (:mod:`.json`, :mod:`.proto`) read an item into plain values and hand
them here. Spans are mapped with the OpenTelemetry GenAI semantic conventions
(``gen_ai.*``, current and deprecated names) plus our own ``agentwatch.cost_usd`` /
``agentwatch.decision`` / ``agentwatch.confidence``. Spans of two other conventions are
first renamed to GenAI names: OpenInference (``openinference.span.kind``, ``llm.*``,
``tool.name``, ``embedding.model_name``) and OpenLLMetry (``llm.request.type``,
``traceloop.*``); a GenAI name already on the span wins. Prompt-cache tokens stay in the
attributes under the GenAI names (:data:`~agentwatch.protocol.ATTR_TOKENS_CACHE_READ`,
:data:`~agentwatch.protocol.ATTR_TOKENS_CACHE_WRITE`) and are priced at cache rates.
A span's ``exception`` event (``exception.type`` / ``exception.message``) makes it an
error with that text (:func:`exception_status`, called by the front ends); a log record with no body shows its
event name. An item that cannot be mapped (an
agent id over :data:`~agentwatch.protocol.MAX_AGENT_ID_LENGTH`, a negative duration,
negative tokens...) raises :class:`~agentwatch.collector.otlp.errors.Reject`.

The mappers apply the native ingest rules themselves (the limits of
:mod:`agentwatch.protocol`, the timestamp range and token bound of
:mod:`agentwatch.collector.ingest`, cost estimates), so events come out as the native path
would leave them, without a second decode; a test checks that the native decoder accepts
every mapped event unchanged. Free text (log bodies, status messages) is clipped to
:data:`~agentwatch.protocol.MAX_MESSAGE_LENGTH` rather than rejected; oversized attribute
sets are trimmed (``agentwatch.attributes_truncated`` counts dropped keys).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from agentwatch.collector.otlp.errors import BadResource, Reject
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    ATTR_TOKENS_CACHE_READ,
    ATTR_TOKENS_CACHE_WRITE,
    MAX_AGENT_ID_LENGTH,
    MAX_ATTRIBUTES_BYTES,
    MAX_EVENT_COST_USD,
    MAX_LATENCY_MS,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_FIELD_LENGTH,
    MAX_TIMESTAMP,
    MAX_TOKENS,
    SPAN_EMBEDDING,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
    normalize_level,
)

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
#: OpenTelemetry's exception attributes (of a span's ``exception`` event, or the span's own).
ATTR_EXCEPTION_TYPE: Final = "exception.type"
ATTR_EXCEPTION_MESSAGE: Final = "exception.message"
#: A log record's event name as an attribute (older SDKs), beside the record's own field.
ATTR_EVENT_NAME: Final = "event.name"
#: What a log record with neither body nor event name shows.
UNNAMED_LOG: Final = "(log record without body)"

# OpenInference semantic conventions (Arize, spec/semantic_conventions.md).
ATTR_OI_SPAN_KIND: Final = "openinference.span.kind"
ATTR_OI_MODEL: Final = "llm.model_name"
ATTR_OI_PROVIDER: Final = "llm.provider"
ATTR_OI_SYSTEM: Final = "llm.system"
ATTR_OI_PROMPT_TOKENS: Final = "llm.token_count.prompt"
ATTR_OI_COMPLETION_TOKENS: Final = "llm.token_count.completion"
ATTR_OI_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
ATTR_OI_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
ATTR_OI_COST_TOTAL: Final = "llm.cost.total"
ATTR_OI_TOOL_NAME: Final = "tool.name"
ATTR_OI_EMBEDDING_MODEL: Final = "embedding.model_name"
# OpenLLMetry (Traceloop): GenAI names for usage, plus these.
ATTR_TL_REQUEST_TYPE: Final = "llm.request.type"
ATTR_TL_SPAN_KIND: Final = "traceloop.span.kind"
ATTR_TL_ENTITY_NAME: Final = "traceloop.entity.name"
ATTR_TL_CACHE_READ: Final = "gen_ai.usage.cache_read_input_tokens"
ATTR_TL_CACHE_WRITE: Final = "gen_ai.usage.cache_creation_input_tokens"

_OPERATION_SPAN_TYPES: Final = {
    "chat": SPAN_LLM_CALL,
    "text_completion": SPAN_LLM_CALL,
    "generate_content": SPAN_LLM_CALL,
    "embeddings": SPAN_EMBEDDING,
    "execute_tool": SPAN_TOOL_CALL,
    "invoke_agent": SPAN_AGENT,
    "create_agent": SPAN_AGENT,
    "invoke_workflow": SPAN_AGENT,
    "plan": SPAN_AGENT,
}
#: OpenInference span kinds (upper case on the wire; matched in any case) → span types.
_OI_SPAN_TYPES: Final = {
    "LLM": SPAN_LLM_CALL,
    "EMBEDDING": SPAN_EMBEDDING,
    "TOOL": SPAN_TOOL_CALL,
    "AGENT": SPAN_AGENT,
    "CHAIN": "chain",
    "RETRIEVER": "retriever",
    "RERANKER": "reranker",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
    "PROMPT": "prompt",
}
#: OpenLLMetry ``llm.request.type`` → span types (others are kept as they are).
_TL_REQUEST_TYPES: Final = {"chat": SPAN_LLM_CALL, "completion": SPAN_LLM_CALL, "embedding": SPAN_EMBEDDING}
#: OpenLLMetry ``traceloop.span.kind`` → span types (``workflow`` and ``task`` are kept).
_TL_SPAN_KINDS: Final = {"tool": SPAN_TOOL_CALL, "agent": SPAN_AGENT}
#: (convention's name, GenAI name) renamed when the GenAI name is absent, in order.
_OI_RENAMES: Final = (
    (ATTR_OI_MODEL, ATTR_REQUEST_MODEL),
    (ATTR_OI_EMBEDDING_MODEL, ATTR_REQUEST_MODEL),
    (ATTR_OI_PROMPT_TOKENS, ATTR_INPUT_TOKENS[0]),
    (ATTR_OI_COMPLETION_TOKENS, ATTR_OUTPUT_TOKENS[0]),
    (ATTR_OI_CACHE_READ, ATTR_TOKENS_CACHE_READ),
    (ATTR_OI_CACHE_WRITE, ATTR_TOKENS_CACHE_WRITE),
    (ATTR_OI_PROVIDER, ATTR_PROVIDER),
    (ATTR_OI_SYSTEM, ATTR_SYSTEM),
    (ATTR_OI_TOOL_NAME, ATTR_TOOL_NAME),
    (ATTR_OI_COST_TOTAL, ATTR_COST),
)
_TL_RENAMES: Final = (
    (ATTR_TL_CACHE_READ, ATTR_TOKENS_CACHE_READ),
    (ATTR_TL_CACHE_WRITE, ATTR_TOKENS_CACHE_WRITE),
)
_STATUS_ERROR: Final = 2
_INPUT_TOKENS, _INPUT_TOKENS_OLD = ATTR_INPUT_TOKENS
_OUTPUT_TOKENS, _OUTPUT_TOKENS_OLD = ATTR_OUTPUT_TOKENS
#: The native rule: a timestamp is unix seconds in [0, MAX_TIMESTAMP); here in nanoseconds.
_MAX_TIMESTAMP_NS: Final = int(MAX_TIMESTAMP) * 1_000_000_000
_TIMESTAMP_RANGE: Final = f"timestamp out of range (0 to {MAX_TIMESTAMP:g} s in nanoseconds)"
#: How deep the front ends read nested attribute values: deeper ones become null. Within
#: protocol.MAX_NESTING_DEPTH, so a mapped event passes the native rule.
MAX_VALUE_DEPTH: Final = 6
_MAX_ATTRIBUTE_STRING: Final = 4096

_json_encoder = msgspec.json.Encoder()

#: The agent of a resource's items when an item names none: the resource's agent id, or a
#: :class:`Reject` to raise for such items (see :func:`resource_agent`).
Fallback = str | Reject
#: Per resource and scope: the resource's fallback agent (or why the resource is unusable),
#: the mapper of one item to its event, and the items.
Batches = Iterator[tuple[Fallback | BadResource, Callable[[Any, Fallback, float], Event], Collection[Any]]]


@dataclass(slots=True)
class RawLog:
    """A log record's fields as a front end read them (ids as lowercase hex, or None)."""

    time_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: Any
    attributes: dict[str, Any]
    trace_id: str | None
    span_id: str | None
    event_name: str = ""


def _named_agent(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` naming an agent (a non-blank string, stripped), or None."""
    for key in keys:
        value = attributes.get(key)
        if value.__class__ is str and value:
            if len(value) > MAX_AGENT_ID_LENGTH:
                raise Reject(f"agent id ({key}) is longer than {MAX_AGENT_ID_LENGTH} characters")
            stripped = value.strip()  # the native rule: stripped, never blank
            if stripped:
                return stripped
    return None


_ITEM_AGENT_KEYS: Final = (ATTR_AGENT_NAME, ATTR_AGENT_ID)
_RESOURCE_AGENT_KEYS: Final = (ATTR_AGENT_NAME, ATTR_AGENT_ID, ATTR_SERVICE_NAME)


def resource_agent(resource: Mapping[str, Any]) -> Fallback:
    """The agent of a resource's items that name none, worked out once per resource."""
    try:
        return _named_agent(resource, _RESOURCE_AGENT_KEYS) or UNKNOWN_AGENT
    except Reject as exc:
        return exc  # only items that name no agent of their own are rejected


def _agent_id(attributes: Mapping[str, Any], fallback: Fallback) -> str:
    """``gen_ai.agent.name``, else ``gen_ai.agent.id``, else the resource's agent."""
    agent = attributes.get(ATTR_AGENT_NAME)
    if agent.__class__ is str and 0 < len(agent) <= MAX_AGENT_ID_LENGTH:  # the common case
        agent = agent.strip()
        if agent:
            return agent
    agent = _named_agent(attributes, _ITEM_AGENT_KEYS)
    if agent is not None:
        return agent
    if fallback.__class__ is str:
        return fallback
    raise Reject(str(fallback))


def _short(value: Any, name: str) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_SHORT_FIELD_LENGTH:
        raise Reject(f"{name} is longer than {MAX_SHORT_FIELD_LENGTH} characters")
    return text or None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_LENGTH else text[: MAX_MESSAGE_LENGTH - 1] + "…"


def _tokens(value: Any, key: str) -> int | None:
    """A token count: an integer (12.0 taken as 12) in [0, 2**53), or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Reject(f"{key} must be an integer")
    if isinstance(value, float) and not value.is_integer():
        raise Reject(f"{key} must be an integer")
    if not 0 <= value < MAX_TOKENS:
        raise Reject(f"{key} must be >= 0 and < 2**53")
    return int(value)


def _number(value: Any, key: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Reject(f"{key} must be a finite number")
    if not low <= value <= high:
        raise Reject(f"{key} must be between {low:g} and {high:g}")
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


def _renamed(attrs: dict[str, Any], renames: tuple[tuple[str, str], ...]) -> None:
    """Move each convention's key to its GenAI name, unless the span already has that name
    (then both stay). Token counts are checked under the convention's own name."""
    for source, target in renames:
        if source in attrs and target not in attrs:
            value = attrs.pop(source)
            if target in _COUNT_NAMES and value is not None:
                value = _tokens(value, source)
            attrs[target] = value


_COUNT_NAMES: Final = frozenset(
    {ATTR_INPUT_TOKENS[0], ATTR_OUTPUT_TOKENS[0], ATTR_TOKENS_CACHE_READ, ATTR_TOKENS_CACHE_WRITE}
)


def exception_status(code: int, message: str, event_attributes: Mapping[str, Any]) -> tuple[int, str]:
    """A span's status (code, message) once its ``exception`` event is read: an error whose
    message is the exception's ``type: message``, so :func:`map_span` makes it the error
    text. An event that names neither leaves the status as it was."""
    parts = [
        str(v)
        for v in (event_attributes.get(ATTR_EXCEPTION_TYPE), event_attributes.get(ATTR_EXCEPTION_MESSAGE))
        if v
    ]
    if not parts:
        return code, message
    return _STATUS_ERROR, _clip(": ".join(parts))


#: The name OpenTelemetry gives the span event that records an exception.
EXCEPTION_EVENT: Final = "exception"


def _from_openinference(attrs: dict[str, Any]) -> None:
    """An OpenInference span's keys as GenAI names; its span kind as the declared span type."""
    kind = attrs.get(ATTR_OI_SPAN_KIND)
    if kind.__class__ is str and kind:
        attrs.setdefault(ATTR_SPAN_TYPE, _OI_SPAN_TYPES.get(kind.upper(), kind.lower()))
    _renamed(attrs, _OI_RENAMES)


def _from_openllmetry(attrs: dict[str, Any]) -> None:
    """An OpenLLMetry span's request type or span kind as the declared span type; a tool's
    entity name as the tool name; its cache-token names as GenAI names."""
    request_type = attrs.get(ATTR_TL_REQUEST_TYPE)
    if request_type.__class__ is str and request_type:
        attrs.setdefault(ATTR_SPAN_TYPE, _TL_REQUEST_TYPES.get(request_type, request_type))
    kind = attrs.get(ATTR_TL_SPAN_KIND)
    if kind.__class__ is str and kind:
        span_type = _TL_SPAN_KINDS.get(kind, kind)
        attrs.setdefault(ATTR_SPAN_TYPE, span_type)
        entity = attrs.get(ATTR_TL_ENTITY_NAME)
        if span_type == SPAN_TOOL_CALL and entity is not None:
            attrs.setdefault(ATTR_TOOL_NAME, entity)
    _renamed(attrs, _TL_RENAMES)


def map_span(
    trace_id: str | None,
    span_id: str | None,
    parent_span_id: str | None,
    name: str,
    start_ns: int,
    end_ns: int,
    attrs: dict[str, Any],
    status_code: int,
    status_message: str,
    fallback: Fallback,
    now: float,
) -> Event:
    """One span as an event that meets the native ingest rules (or :class:`Reject` saying why).

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
        raise Reject(_TIMESTAMP_RANGE)
    operation = attrs.get(ATTR_OPERATION)
    # Other conventions' spans name no GenAI operation (OpenLLMetry's name gen_ai.system), so
    # a GenAI span that names its operation and provider skips these look-ups.
    if operation is None or ATTR_SYSTEM in attrs:
        if ATTR_OI_SPAN_KIND in attrs or ATTR_OI_MODEL in attrs:
            _from_openinference(attrs)
        if ATTR_TL_REQUEST_TYPE in attrs or ATTR_TL_SPAN_KIND in attrs or ATTR_TL_CACHE_READ in attrs:
            _from_openllmetry(attrs)
    latency_ms = None
    if end_ns and start_ns:
        if end_ns < start_ns:
            raise Reject("negative duration (endTimeUnixNano before startTimeUnixNano)")
        latency_ms = (end_ns - start_ns) / 1e6
        if latency_ms > MAX_LATENCY_MS:
            raise Reject(f"duration longer than {MAX_LATENCY_MS:g} ms")
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
        raise Reject(f"span type is longer than {MAX_SHORT_FIELD_LENGTH} characters")

    model = response_model or request_model
    if model is not None and not (model.__class__ is str and 0 < len(model) <= MAX_SHORT_FIELD_LENGTH):
        model = _short(model, "model")
    error_type = get(ATTR_ERROR_TYPE)
    error: str | None = None
    if status_code == _STATUS_ERROR:
        if error_type and status_message.startswith(str(error_type)):
            error_type = None  # the message names it already (an exception's "type: message")
        parts = [str(p) for p in (error_type, status_message) if p]
        error = _clip(": ".join(parts) or "error")
    elif error_type:
        error = _clip(str(error_type))

    # The current name wins over the deprecated one whenever it is present.
    if tokens_input is None:
        tokens_input = _tokens(tokens_input_old, _INPUT_TOKENS_OLD)
    elif not (tokens_input.__class__ is int and 0 <= tokens_input < MAX_TOKENS):
        tokens_input = _tokens(tokens_input, _INPUT_TOKENS)  # rejects with the reason, or takes 12.0 as 12
    if tokens_output is None:
        tokens_output = _tokens(tokens_output_old, _OUTPUT_TOKENS_OLD)
    elif not (tokens_output.__class__ is int and 0 <= tokens_output < MAX_TOKENS):
        tokens_output = _tokens(tokens_output, _OUTPUT_TOKENS)

    cost_estimated = None
    if cost_usd is not None:
        # the program's own cost, never re-estimated
        cost_usd = _number(cost_usd, ATTR_COST, 0.0, MAX_EVENT_COST_USD)
    elif model is not None and (tokens_input is not None or tokens_output is not None):
        cache_read, cache_write = get(ATTR_TOKENS_CACHE_READ), get(ATTR_TOKENS_CACHE_WRITE)
        if cache_read is not None:
            cache_read = attrs[ATTR_TOKENS_CACHE_READ] = _tokens(cache_read, ATTR_TOKENS_CACHE_READ)
        if cache_write is not None:
            cache_write = attrs[ATTR_TOKENS_CACHE_WRITE] = _tokens(cache_write, ATTR_TOKENS_CACHE_WRITE)
        # the native rule: estimate, flag it
        cost_usd = estimate_cost(model, tokens_input, tokens_output, cache_read, cache_write)
        if cost_usd is not None:
            cost_estimated = True
    if decision is not None:
        decision = _short(decision, ATTR_DECISION)
    if confidence is not None:
        confidence = _number(confidence, ATTR_CONFIDENCE, 0.0, 1.0)
    if tool_name is not None:
        tool_name = _short(tool_name, ATTR_TOOL_NAME)

    if system is not None and not get(ATTR_PROVIDER):
        attrs[ATTR_PROVIDER] = system  # moved from gen_ai.system
    if name:
        attrs[ATTR_SPAN_NAME] = name
    # Positional: Event's field order (a test pins it); keywords are slower on this hot path.
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


def map_log(raw: RawLog, fallback: Fallback, now: float) -> Event:
    """One log record as a ``log`` event; with no body, its event name is the message."""
    agent_id = _agent_id(raw.attributes, fallback)
    if not (0 <= raw.time_ns < _MAX_TIMESTAMP_NS and 0 <= raw.observed_ns < _MAX_TIMESTAMP_NS):
        raise Reject(_TIMESTAMP_RANGE)
    time_ns = raw.time_ns or raw.observed_ns
    message = _body_text(raw.body)
    if not message:  # never an empty line: the event's name, else say there was nothing
        name = raw.attributes.get(ATTR_EVENT_NAME)
        message = name if name.__class__ is str and name else raw.event_name or UNNAMED_LOG
    return Event(
        agent_id,
        timestamp=time_ns / 1e9 if time_ns else now,
        span_type=SPAN_LOG,
        trace_id=raw.trace_id or None,
        span_id=raw.span_id or None,
        level=_severity_level(raw.severity_number, raw.severity_text),
        message=_clip(message),
        attributes=_bounded(raw.attributes),
    )
