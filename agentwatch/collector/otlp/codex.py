"""Codex's telemetry (``service.name`` ``codex_exec`` or ``codex_cli_rs``) as agentwatch events.

Codex names every log event by its ``event.name`` attribute (``codex.api_request``, …) and sends
no body. Which source wins:

    The tokens of a model call come from one place only: the ``codex.sse_event`` record of kind
    ``response.completed`` that carries ``input_token_count`` (the inference call: input, output,
    cached tokens as :data:`~agentwatch.protocol.ATTR_TOKENS_CACHE_READ`, reasoning tokens as an
    attribute). ``codex.api_request`` is the HTTP request: its latency, and an error when its
    ``http.response.status_code`` is 400 or more or it sets ``error.message``; it carries no
    tokens. ``codex.tool_result`` is the tool call, ``codex.tool_decision`` the decision; every
    other ``codex.*`` event is a log line named by its event name. Spans are kept for the trace
    waterfall with no tokens, cost or error, typed ``span``; Codex's metrics are counted as
    metric points and never become events.

Only a few of Codex's spans name their conversation; the rest are kept under the conversation
of their trace or their turn (``turn.id``), learnt from the items that name it. A span of no
known conversation (Codex's start-up work before a session exists), like a log line of none
below warning (``flushing OTEL metrics``), is ignored and counted (``otlp_items_ignored`` in
``/healthz``), never an agent row of its own; a warning or error of none shows under ``codex``. A call's latency runs
from its ``codex.api_request`` (whose ``duration_ms`` is the wait for the response headers) to
its ``response.completed`` record.

Codex reports no cost: it is estimated (and marked so) when the price table knows the model,
else left unknown. Its ``input_token_count`` includes the cached tokens, as
:func:`~agentwatch.pricing.estimate_cost` expects. Each conversation is its own agent
(``codex·9c18f95d``, the end of ``conversation.id``); model, slug, terminal and the rest stay in the
attributes, a prompt's text does not. Numbers sent as text are read as numbers; a count or
duration that is negative, not finite or not a number rejects the record with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from agentwatch.collector.otlp import sessions
from agentwatch.collector.otlp.errors import Reject, Skip
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
    ATTR_TOKENS_CACHE_WRITE,
    SPAN_DECISION,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
)

#: The ``service.name`` Codex gives its resource (its originator: ``codex exec``, the TUI).
SERVICE_NAMES: Final = ("codex_exec", "codex_cli_rs")
#: Its log events' instrumentation scope (its spans' scope is the originator, as ``service.name``).
LOG_SCOPES: Final = ("codex_otel.log_only",)
SPAN_SCOPES: Final = ()
#: Program name of the agent ids (``codex·<conversation>``).
PROGRAM: Final = "codex"
#: Reasoning tokens of a call, in the event's attributes.
ATTR_TOKENS_REASONING: Final = sessions.ATTR_TOKENS_REASONING
_EVENT_NAME: Final = "event.name"
_CONVERSATION: Final = "conversation.id"
_PREFIX: Final = "codex."
_COMPLETED: Final = "response.completed"
_STATUS: Final = "http.response.status_code"
_TURN: Final = "turn.id"
#: Levels of a log line of no known conversation that are still shown (under ``codex``).
_KEPT_LEVELS: Final = frozenset({"warning", "error", "critical"})
#: Conversation agents by trace id and by ``turn:<turn.id>``, learnt from the items that name them.
_SESSIONS: Final = sessions.Recent()
#: Start (ns) of each conversation's model request in flight, by agent id.
_REQUESTS: Final = sessions.Recent()
#: Cache-token attributes of Codex's spans, kept under Codex's own names beside its other usage keys.
_SPAN_CACHE_KEYS: Final = (
    (ATTR_TOKENS_CACHE_READ, "codex.usage.cache_read.input_tokens"),
    (ATTR_TOKENS_CACHE_WRITE, "codex.usage.cache_write.input_tokens"),
)


def _program(attributes: dict[str, Any], fallback: Fallback) -> str:
    """This item's conversation agent: ``codex`` (or the agent the resource names) plus the session."""
    try:
        program = _agent_id(attributes, fallback)
    except Reject:
        program = PROGRAM
    if program in SERVICE_NAMES:
        program = PROGRAM
    return session_agent(program, attributes)


def session_agent(program: str, attributes: dict[str, Any]) -> str:
    """``codex·9c18f95d`` from the conversation id's last characters: Codex's ids are UUIDv7,
    whose first characters are a timestamp that sessions started together share."""
    conversation = attributes.get(_CONVERSATION)
    if conversation.__class__ is str:
        short = conversation.strip()[-sessions.SHORT_SESSION :].strip()
        if short:
            return sessions.session_agent(program, {_CONVERSATION: short})
    return sessions.session_agent(program, attributes)


def map_log(raw: RawLog, fallback: Fallback, now: float) -> Event:
    """One Codex log event as an event (see the module docstring); :class:`Reject` says why not."""
    attrs = raw.attributes
    if _CONVERSATION in attrs:
        agent_id = _program(attrs, fallback)
        if raw.trace_id is not None:
            _SESSIONS.put(raw.trace_id, agent_id)
    else:
        agent_id = _SESSIONS.get(raw.trace_id) or _program(attrs, fallback)
        if agent_id in SERVICE_NAMES or agent_id == PROGRAM:
            if _severity_level(raw.severity_number, raw.severity_text) not in _KEPT_LEVELS:
                raise Skip("a Codex log line of no known conversation")
    name = attrs.get(_EVENT_NAME)
    if name.__class__ is not str or not name.startswith(_PREFIX):
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
    if name in _TIMED:
        _time_call(event, name, time_ns)
    if event.error is not None:  # Codex sends every event at INFO, its failures too
        event.level = "error"
    event.attributes = _bounded(attrs)
    return event


def _time_call(event: Event, name: str, time_ns: int) -> None:
    """Remember when a conversation's model request began; give its completed call the time since."""
    if name == "codex.api_request":
        if event.span_type != SPAN_ERROR and event.latency_ms is not None and time_ns:
            _REQUESTS.put(event.agent_id, time_ns - int(event.latency_ms * 1e6))
        else:
            _REQUESTS.pop(event.agent_id)
    elif event.span_type == SPAN_LLM_CALL:
        started = _REQUESTS.pop(event.agent_id)
        if started is not None and time_ns >= started:
            event.latency_ms = (time_ns - started) / 1e6


def _log_line(event: Event, attrs: dict[str, Any], name: str) -> None:
    """Any other event: a line with its name, what it is about where it says, and its duration."""
    event.span_type = SPAN_LOG
    parts = [name]
    for key in ("event.kind", "startup.phase"):
        detail = attrs.get(key)
        if detail.__class__ is str and detail:
            parts.append(detail)
    event.latency_ms = sessions.number(attrs.get("duration_ms"), "duration_ms")
    event.message = _clip(" ".join(parts))


def _sse_event(event: Event, attrs: dict[str, Any], name: str) -> None:
    if attrs.get("event.kind") != _COMPLETED or "input_token_count" not in attrs:
        _log_line(event, attrs, name)
        return
    event.span_type = SPAN_LLM_CALL
    event.model = model = _short(attrs.get("model"), "model")
    event.tokens_input = tokens_in = sessions.count(attrs.pop("input_token_count", None), "input_token_count")
    event.tokens_output = tokens_out = sessions.count(
        attrs.pop("output_token_count", None), "output_token_count"
    )
    cache_read = sessions.count(attrs.pop("cached_token_count", None), "cached_token_count")
    cache_write = sessions.count(attrs.pop("cache_write_token_count", None), "cache_write_token_count")
    reasoning = sessions.count(attrs.pop("reasoning_token_count", None), "reasoning_token_count")
    sessions.count(attrs.get("tool_token_count"), "tool_token_count")
    sessions.number(attrs.get("ttft_ms"), "ttft_ms")
    if cache_read is not None:
        attrs[ATTR_TOKENS_CACHE_READ] = cache_read
    if cache_write is not None:
        attrs[ATTR_TOKENS_CACHE_WRITE] = cache_write
    if reasoning is not None:
        attrs[ATTR_TOKENS_REASONING] = reasoning
    if model is not None:  # Codex sends no cost: estimate it (cached tokens at cache rates), flag it
        event.cost_usd = estimate_cost(model, tokens_in, tokens_out, cache_read, cache_write)
        event.cost_estimated = True if event.cost_usd is not None else None
    event.message = name


def _api_request(event: Event, attrs: dict[str, Any], name: str) -> None:
    latency = sessions.number(attrs.get("duration_ms"), "duration_ms")
    status = attrs.get(_STATUS)
    code = sessions.count(status, _STATUS) if status is not None else None
    message = attrs.get("error.message")
    if (code is not None and code >= 400) or (message.__class__ is str and message):
        event.span_type = SPAN_ERROR
        event.model = _short(attrs.get("model"), "model")
        event.latency_ms = latency
        text = message if message.__class__ is str and message else "API error"
        event.error = _clip(f"HTTP {code}: {text}" if code is not None else text)
        event.message = name
        return
    _log_line(event, attrs, name)


def _tool_result(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_TOOL_CALL
    event.tool_name = _short(attrs.get("tool_name"), "tool_name")
    event.latency_ms = sessions.number(attrs.get("duration_ms"), "duration_ms")
    if sessions.flag(attrs.get("success")) is False:
        reason = attrs.get("error") or attrs.get("error.message") or "failed"
        event.error = _clip(str(reason))


def _tool_decision(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_DECISION
    event.tool_name = _short(attrs.get("tool_name"), "tool_name")
    event.decision_made = _short(attrs.get("decision"), "decision") or "unknown"
    source = attrs.get("source")
    if source:
        event.message = _clip(f"by {source}")


def _user_prompt(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_LOG
    attrs.pop("prompt", None)
    length = sessions.count(attrs.get("prompt_length"), "prompt_length")
    event.message = f"{name} {length} chars" if length is not None else name


_TIMED: Final = frozenset({"codex.api_request", "codex.sse_event"})

_EVENTS: Final[dict[str, Callable[[Event, dict[str, Any], str], None]]] = {
    "codex.sse_event": _sse_event,
    "codex.api_request": _api_request,
    "codex.tool_result": _tool_result,
    "codex.tool_decision": _tool_decision,
    "codex.user_prompt": _user_prompt,
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
    """One Codex span for the trace waterfall: no tokens, cost or error (the log events carry
    those), typed ``span`` so it adds no inference or tool call. A span of no known
    conversation raises :class:`Skip`."""
    turn = attrs.get(_TURN)
    turn_key = f"turn:{turn}" if turn.__class__ is str and turn else None
    if _CONVERSATION in attrs:
        agent_id = _program(attrs, fallback)
        if trace_id is not None:
            _SESSIONS.put(trace_id, agent_id)
        if turn_key is not None:
            _SESSIONS.put(turn_key, agent_id)
    else:
        agent_id = _SESSIONS.get(trace_id) or _SESSIONS.get(turn_key)
        if agent_id is None:
            raise Skip("a Codex span of no known conversation")
        if trace_id is not None:
            _SESSIONS.put(trace_id, agent_id)
        if turn_key is not None:
            _SESSIONS.put(turn_key, agent_id)
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
        tool_key="tool_name",
    )
    kept = event.attributes
    if kept is not None:  # the call's cache tokens are the log event's, not shown twice
        for key, renamed in _SPAN_CACHE_KEYS:
            if key in kept:
                kept[renamed] = kept.pop(key)
    return event
