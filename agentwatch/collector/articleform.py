"""The first article's event form, ``{"agent_id", "event_type", "timestamp", "payload": {...}}``,
mapped onto span fields (the table is in :mod:`agentwatch.collector.ingest`'s docstring).

Used by the ingest layer for an event sent without a ``span_type`` but with an ``event_type``;
payload values of the wrong type are refused naming them (``payload.tokens: expected int ...``).
"""

from __future__ import annotations

from typing import Any, Final

from agentwatch.collector.ingest_errors import type_name
from agentwatch.protocol import (
    DEFAULT_SPAN_TYPE,
    EVENT_SPAN_START,
    MAX_LATENCY_MS,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_FIELD_LENGTH,
    MAX_TOKENS,
    SPAN_COMPLETION,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    SPAN_TOOL_CALL,
    START_SPAN_TYPE_KEY,
    Event,
)

__all__ = ["ARTICLE_TOKEN", "map_article_form"]

# The first article's event types and payload keys.
ARTICLE_TOKEN: Final = "token"
_PAYLOAD_TOKEN_COUNT: Final = ("tokens", "count", "token_count")
_PAYLOAD_TOOL_NAME: Final = ("tool_name", "name")
_PAYLOAD_LATENCY: Final = ("latency_ms", "duration_ms")
_PAYLOAD_ERROR: Final = ("error", "message")
_PAYLOAD_MODEL: Final = "model"
_PAYLOAD_TOKENS_INPUT: Final = ("tokens_input", "input_tokens")
_PAYLOAD_TOKENS_OUTPUT: Final = ("tokens_output", "output_tokens")


def map_article_form(event: Event) -> str | None:
    """Map ``event_type`` + ``payload`` onto span fields (the table in :mod:`agentwatch.collector.ingest`)."""
    kind = event.event_type or ""
    payload = event.payload or {}
    if kind == ARTICLE_TOKEN:
        event.span_type = SPAN_LLM_CALL
        count, problem = _payload_count(payload, _PAYLOAD_TOKEN_COUNT, default=1)
        if problem:
            return problem
        if event.tokens_output is None:
            event.tokens_output = count
        return _payload_model(event, payload)
    if kind == SPAN_TOOL_CALL:
        event.span_type = SPAN_TOOL_CALL
        if event.tool_name is None:
            name, problem = _payload_text(payload, _PAYLOAD_TOOL_NAME, MAX_SHORT_FIELD_LENGTH)
            if problem:
                return problem
            event.tool_name = name
        return _payload_latency(event, payload)
    if kind == SPAN_ERROR:
        event.span_type = SPAN_ERROR
        if event.error is None:
            text, problem = _payload_text(payload, _PAYLOAD_ERROR, MAX_MESSAGE_LENGTH)
            if problem:
                return problem
            event.error = text
        return None
    if kind == EVENT_SPAN_START:
        started, problem = _payload_text(payload, (START_SPAN_TYPE_KEY,), MAX_SHORT_FIELD_LENGTH)
        if problem:
            return problem
        if not started:
            payload[START_SPAN_TYPE_KEY] = DEFAULT_SPAN_TYPE
            event.payload = payload
        event.span_type = None  # the mark of a start (see split_starts)
        return None
    if kind == SPAN_COMPLETION:
        event.span_type = SPAN_COMPLETION
        problem = _payload_latency(event, payload) or _payload_model(event, payload)
        if problem:
            return problem
        if event.tokens_input is None:
            event.tokens_input, problem = _payload_count(payload, _PAYLOAD_TOKENS_INPUT, default=None)
            if problem:
                return problem
        if event.tokens_output is None:
            keys = (*_PAYLOAD_TOKENS_OUTPUT, _PAYLOAD_TOKEN_COUNT[0])
            event.tokens_output, problem = _payload_count(payload, keys, default=None)
            if problem:
                return problem
        return None
    event.span_type = kind
    return None


def _first_present(payload: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    for key in keys:
        value = payload.get(key)
        if value is not None:
            return key, value
    return "", None


def _payload_count(
    payload: dict[str, Any], keys: tuple[str, ...], *, default: int | None
) -> tuple[int | None, str | None]:
    key, value = _first_present(payload, keys)
    if value is None:
        return default, None
    if value.__class__ is not int or not 0 <= value < MAX_TOKENS:
        return None, f"payload.{key}: expected int >= 0 and < 2**53, got {type_name(value)}"
    return value, None


def _payload_text(
    payload: dict[str, Any], keys: tuple[str, ...], limit: int
) -> tuple[str | None, str | None]:
    key, value = _first_present(payload, keys)
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, f"payload.{key}: expected str, got {type_name(value)}"
    if len(value) > limit:
        return None, f"payload.{key}: longer than {limit} characters"
    return value, None


def _payload_latency(event: Event, payload: dict[str, Any]) -> str | None:
    if event.latency_ms is not None:
        return None
    key, value = _first_present(payload, _PAYLOAD_LATENCY)
    if value is None:
        return None
    # Compared as numbers first: float() of a huge JSON integer would raise OverflowError.
    if value.__class__ not in (int, float) or not 0 <= value <= MAX_LATENCY_MS:
        return f"payload.{key}: expected a number in [0, {MAX_LATENCY_MS:g}], got {type_name(value)}"
    event.latency_ms = float(value)
    return None


def _payload_model(event: Event, payload: dict[str, Any]) -> str | None:
    if event.model is not None:
        return None
    model, problem = _payload_text(payload, (_PAYLOAD_MODEL,), MAX_SHORT_FIELD_LENGTH)
    event.model = model
    return problem
