"""Gemini CLI's telemetry (``service.name`` ``gemini-cli``) as agentwatch events.

Gemini CLI sends each model call as log events (``gemini_cli.api_request``, then
``gemini_cli.api_response`` or ``gemini_cli.api_error``, plus two GenAI
``gen_ai.client.inference.operation.details`` records), as an ``llm_call`` span and as metrics
(``gemini_cli.token.usage``, ``gen_ai.client.token.usage``). Which source wins:

    The tokens of a model call come from one place only: ``gemini_cli.api_response`` is the
    inference call (input, output, cached content tokens as
    :data:`~agentwatch.protocol.ATTR_TOKENS_CACHE_READ`, thoughts and tool tokens as
    attributes, ``duration_ms`` as its latency). ``gemini_cli.api_error`` is the error, one per
    failed attempt, with its status and the API's own status and message when its error is
    Google's JSON error. ``gemini_cli.tool_call`` is the tool call (its ``decision`` kept as an
    attribute);
    every other ``gemini_cli.*`` event is a log line named by its event name, the GenAI detail
    records are log lines with no tokens. Spans are kept for the trace waterfall with no tokens,
    cost or error, typed ``span``; Gemini CLI's metrics are counted as metric points and never
    become events.

Gemini CLI reports no cost: it is estimated (and marked so) when the price table knows the
model, else left unknown. Its ``input_token_count`` includes the cached tokens, as
:func:`~agentwatch.pricing.estimate_cost` expects; its ``output_token_count`` leaves out the
thoughts tokens, which Google bills as output, so the estimate adds them. Each session is its own
agent (``gemini-cli·3f2a9c1e``, the first characters of ``session.id``, a random UUID). No text of
the conversation is kept: not the prompt, the request or response text, the tool arguments, nor the
GenAI messages, system instructions and tool definitions that its detail records and spans carry.
Numbers sent as text are read as numbers; a count or duration that is negative, not finite or not
a number rejects the record with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from agentwatch.collector.otlp import sessions
from agentwatch.collector.otlp.errors import Reject
from agentwatch.collector.otlp.mapping import (
    _MAX_TIMESTAMP_NS,
    _TIMESTAMP_RANGE,
    SPAN_GENERIC,
    Fallback,
    RawLog,
    _agent_id,
    _bounded,
    _clip,
    _severity_level,
    _short,
)
from agentwatch.collector.otlp.mapping import map_log as generic_map_log
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    ATTR_TOKENS_CACHE_READ,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
)

#: The ``service.name`` Gemini CLI gives its resource.
SERVICE_NAMES: Final = ("gemini-cli",)
#: Its instrumentation scope, for logs and traces alike.
LOG_SCOPES: Final = ("gemini-cli",)
SPAN_SCOPES: Final = ("gemini-cli",)
#: Program name of the agent ids (``gemini-cli·<session>``).
PROGRAM: Final = "gemini-cli"
#: Thoughts (reasoning) and tool-use tokens of a call, in the event's attributes.
ATTR_TOKENS_THOUGHTS: Final = sessions.ATTR_TOKENS_REASONING
ATTR_TOKENS_TOOL: Final = "gemini_cli.usage.tool_tokens"
_EVENT_NAME: Final = "event.name"
_PREFIX: Final = "gemini_cli."
#: Attributes holding the text of a prompt, a request, a response or a tool call: never kept.
#: The ``gen_ai.*`` ones are on the GenAI detail records and on the spans.
_TEXT_KEYS: Final = (
    "prompt",
    "request_text",
    "response_text",
    "function_args",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
)
#: Longest ``error`` text read as Google's JSON error; a longer one is shown as sent (clipped).
_MAX_ERROR_JSON: Final = 16 * 1024
#: Token attributes of Gemini CLI's spans and GenAI detail records, kept under names that no
#: reader counts: the call's tokens are the ``api_response`` event's.
_SPAN_TOKEN_KEYS: Final = (
    ("gen_ai.usage.input_tokens", "gemini_cli.genai.input_tokens"),
    ("gen_ai.usage.output_tokens", "gemini_cli.genai.output_tokens"),
    (ATTR_TOKENS_CACHE_READ, "gemini_cli.genai.cache_read.input_tokens"),
)


def _program(attributes: dict[str, Any], fallback: Fallback) -> str:
    """This item's session agent: ``gemini-cli`` (or the agent the item names) plus the session."""
    try:
        program = _agent_id(attributes, fallback)
    except Reject:
        program = PROGRAM
    return sessions.session_agent(program, attributes)


def map_log(raw: RawLog, fallback: Fallback, now: float) -> Event:
    """One Gemini CLI log event as an event (see the module docstring); :class:`Reject` says why not."""
    attrs = raw.attributes
    agent_id = _program(attrs, fallback)
    for key in _TEXT_KEYS:
        attrs.pop(key, None)
    name = attrs.get(_EVENT_NAME)
    if name.__class__ is not str or not name.startswith(_PREFIX):
        _rename_tokens(attrs)
        return generic_map_log(raw, agent_id, now)
    if not (0 <= raw.time_ns < _MAX_TIMESTAMP_NS and 0 <= raw.observed_ns < _MAX_TIMESTAMP_NS):
        raise Reject(_TIMESTAMP_RANGE)
    time_ns = raw.time_ns or raw.observed_ns
    event = Event(
        agent_id,
        time_ns / 1e9 if time_ns else now,
        trace_id=raw.trace_id,
        span_id=raw.span_id,
    )
    if raw.severity_number or raw.severity_text:
        event.level = _severity_level(raw.severity_number, raw.severity_text)
    _EVENTS.get(name, _log_line)(event, attrs, name)
    if event.error is not None:  # Gemini CLI sends no severity, its failures included
        event.level = "error"
    event.attributes = _bounded(attrs)
    return event


def _rename_tokens(attrs: dict[str, Any]) -> None:
    for key, renamed in _SPAN_TOKEN_KEYS:
        if key in attrs:
            attrs[renamed] = attrs.pop(key)


def _log_line(event: Event, attrs: dict[str, Any], name: str) -> None:
    """Any other event: a line with its name, its model where it says, and its duration."""
    event.span_type = SPAN_LOG
    parts = [name]
    for key in ("model", "decision_model", "operation", "mode"):
        detail = attrs.get(key)
        if detail.__class__ is str and detail:
            parts.append(detail)
            break
    event.latency_ms = sessions.number(attrs.get("duration_ms"), "duration_ms")
    event.message = _clip(" ".join(parts))


def _api_response(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_LLM_CALL
    event.model = model = _short(attrs.get("model"), "model")
    event.tokens_input = tokens_in = sessions.count(attrs.pop("input_token_count", None), "input_token_count")
    event.tokens_output = tokens_out = sessions.count(
        attrs.pop("output_token_count", None), "output_token_count"
    )
    cache_read = sessions.count(attrs.pop("cached_content_token_count", None), "cached_content_token_count")
    thoughts = sessions.count(attrs.pop("thoughts_token_count", None), "thoughts_token_count")
    tool = sessions.count(attrs.pop("tool_token_count", None), "tool_token_count")
    sessions.count(attrs.get("total_token_count"), "total_token_count")
    event.latency_ms = sessions.number(attrs.get("duration_ms"), "duration_ms")
    if cache_read is not None:
        attrs[ATTR_TOKENS_CACHE_READ] = cache_read
    if thoughts is not None:
        attrs[ATTR_TOKENS_THOUGHTS] = thoughts
    if tool is not None:
        attrs[ATTR_TOKENS_TOOL] = tool
    if model is not None:  # Gemini CLI sends no cost: estimate it (cached tokens at cache rates), flag it
        billed_out = tokens_out if thoughts is None else (tokens_out or 0) + thoughts
        event.cost_usd = estimate_cost(model, tokens_in, billed_out, cache_read, None)
        event.cost_estimated = True if event.cost_usd is not None else None
    event.message = name


def _status(attrs: dict[str, Any]) -> int | None:
    for key in ("status_code", "http.status_code"):
        value = attrs.get(key)
        if value is not None and value != "":
            return sessions.count(value, key)
    return None


def _api_error(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_ERROR
    event.model = _short(attrs.get("model") or attrs.get("model_name"), "model")
    event.latency_ms = sessions.number(attrs.get("duration_ms"), "duration_ms")
    code = _status(attrs)
    kind = attrs.get("error.type")
    message = attrs.get("error.message") or attrs.get("error") or "API error"
    text = str(message)
    google = _google_error(text)
    if google is not None:  # {"error": {"code", "message", "status"}}: say its status and message
        text = google
    elif kind.__class__ is str and kind:
        text = f"{kind}: {text}"
    event.error = _clip(f"HTTP {code}: {text}" if code is not None else text)
    event.message = name


def _google_error(text: str) -> str | None:
    """``STATUS: message`` of Google's JSON error body, as Gemini CLI forwards it; else None."""
    if not text.startswith("{") or len(text) > _MAX_ERROR_JSON:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    error = body.get("error") if body.__class__ is dict else None
    if error.__class__ is not dict:
        return None
    message, status = error.get("message"), error.get("status")
    if message.__class__ is not str or not message:
        return None
    return f"{status}: {message}" if status.__class__ is str and status else message


def _tool_call(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_TOOL_CALL
    event.tool_name = _short(attrs.get("function_name"), "function_name")
    event.latency_ms = sessions.number(attrs.get("duration_ms"), "duration_ms")
    decision = _short(attrs.get("decision"), "decision")
    if decision is not None:
        event.message = _clip(f"decision {decision}")
    if sessions.flag(attrs.get("success")) is False:
        reason = attrs.get("error") or attrs.get("error.message") or "failed"
        event.error = _clip(str(reason))


def _user_prompt(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_LOG
    length = sessions.count(attrs.get("prompt_length"), "prompt_length")
    event.message = f"{name} {length} chars" if length is not None else name


_EVENTS: Final[dict[str, Callable[[Event, dict[str, Any], str], None]]] = {
    "gemini_cli.api_response": _api_response,
    "gemini_cli.api_error": _api_error,
    "gemini_cli.tool_call": _tool_call,
    "gemini_cli.user_prompt": _user_prompt,
}


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
    """One Gemini CLI span for the trace waterfall: no tokens, cost or error (the log events
    carry those), typed ``span`` so it adds no inference or tool call."""
    agent_id = _program(attrs, fallback)
    for key in _TEXT_KEYS:
        attrs.pop(key, None)
    event = sessions.trace_span(
        trace_id,
        span_id,
        parent_span_id,
        name,
        start_ns,
        end_ns,
        attrs,
        status_code,
        status_message,
        agent_id,
        now,
        span_type=SPAN_GENERIC,
        message=name or None,
        tool_key="gen_ai.tool.name",
    )
    event.agent_id = agent_id  # its gen_ai.agent.name names the program, not the session
    if event.attributes is not None:
        _rename_tokens(event.attributes)
    return event
