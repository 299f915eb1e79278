"""Claude Code's telemetry (``service.name`` ``claude-code``) as agentwatch events.

Claude Code sends each model call up to three ways: an ``api_request`` log event, a
``claude_code.llm_request`` span (beta traces) and its metrics (``claude_code.token.usage``,
``claude_code.cost.usage``). Which source wins:

    Claude Code's log events carry the tokens, the cost and the errors: ``api_request`` is
    the inference call (input, output and cache tokens, ``cost_usd`` as the CLI computed it,
    never re-estimated), ``api_error`` and ``api_retries_exhausted`` the errors, ``tool_result``
    the tool calls, ``tool_decision`` the decisions. Its spans are kept for the trace waterfall
    with no tokens, no cost and no error, typed ``agent`` (``claude_code.interaction``) or
    ``span`` (everything else), so they add no inference or tool call either; a
    ``claude_code.tool.blocked_on_user`` span naming a decision (``claude -p`` denies a tool with
    that span alone) is the decision unless its ``tool_decision`` event, which names the span,
    counted it: whichever arrives first counts. Its ``claude_code.*`` metrics are counted as metric
    points and never become events.

Each session is its own agent (:func:`~agentwatch.collector.otlp.sessions.session_agent`:
``claude-code·d0615065``); ``session.id``, ``user.id``, ``terminal.type`` and the rest stay in
the attributes. Cache tokens have no Event field: they are kept as the attributes
:data:`~agentwatch.protocol.ATTR_TOKENS_CACHE_READ` and :data:`~agentwatch.protocol.ATTR_TOKENS_CACHE_WRITE` (Anthropic's ``input_tokens`` does not
include them). Numbers sent as text (``"52"``) are read as numbers; a count or duration that
is negative, not finite or not a number rejects the record with the reason, as the native
ingest rules do. Event names the table does not know become log lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from agentwatch.collector.otlp import sessions
from agentwatch.collector.otlp.errors import Reject
from agentwatch.collector.otlp.mapping import (
    _MAX_TIMESTAMP_NS,
    _TIMESTAMP_RANGE,
    SPAN_AGENT,
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
    MAX_EVENT_COST_USD,
    SPAN_DECISION,
    SPAN_ERROR,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
)

#: The ``service.name`` Claude Code gives its resource.
SERVICE_NAMES: Final = ("claude-code",)
#: Its instrumentation scopes: log events, and beta traces.
LOG_SCOPES: Final = ("com.anthropic.claude_code.events",)
SPAN_SCOPES: Final = ("com.anthropic.claude_code.tracing",)
#: Program name of the agent ids when the resource names none.
PROGRAM: Final = "claude-code"
_EVENT_NAME: Final = "event.name"
_BODY_PREFIX: Final = "claude_code."
_INTERACTION: Final = "claude_code.interaction"
_BLOCKED: Final = "claude_code.tool.blocked_on_user"
_FROM_LOG: Final = "log"
_FROM_SPAN: Final = "span"
#: Which source counted each tool decision first, by the ``tool.blocked_on_user`` span's id.
_DECISIONS: Final = sessions.Recent()


def _program(attributes: dict[str, Any], fallback: Fallback) -> str:
    """This item's session agent: ``gen_ai.agent.name`` or the resource's, plus the session."""
    try:
        program = _agent_id(attributes, fallback)
    except Reject:
        program = PROGRAM
    return sessions.session_agent(program, attributes)


def map_log(raw: RawLog, fallback: Fallback, now: float) -> Event:
    """One Claude Code log event as an event (see the module docstring); :class:`Reject` says why not."""
    attrs = raw.attributes
    agent_id = _program(attrs, fallback)
    name = attrs.get(_EVENT_NAME)
    if name.__class__ is not str or not name:
        body = raw.body
        name = body[len(_BODY_PREFIX) :] if body.__class__ is str and body.startswith(_BODY_PREFIX) else None
    event_of = _EVENTS.get(name) if name else None
    if event_of is None or name is None:
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
    event_of(event, attrs, name)
    event.attributes = _bounded(attrs)
    return event


def _model(attrs: dict[str, Any]) -> str | None:
    return _short(attrs.pop("model", None), "model")


def _api_request(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_LLM_CALL
    event.model = model = _model(attrs)
    event.tokens_input = tokens_in = sessions.count(attrs.pop("input_tokens", None), "input_tokens")
    event.tokens_output = tokens_out = sessions.count(attrs.pop("output_tokens", None), "output_tokens")
    cache_read = sessions.count(attrs.pop("cache_read_tokens", None), "cache_read_tokens")
    cache_write = sessions.count(attrs.pop("cache_creation_tokens", None), "cache_creation_tokens")
    if cache_read is not None:
        attrs[ATTR_TOKENS_CACHE_READ] = cache_read
    if cache_write is not None:
        attrs[ATTR_TOKENS_CACHE_WRITE] = cache_write
    event.latency_ms = sessions.number(attrs.pop("duration_ms", None), "duration_ms")
    cost = sessions.number(attrs.pop("cost_usd", None), "cost_usd", MAX_EVENT_COST_USD)
    micros = attrs.pop("cost_usd_micros", None)
    if cost is None and micros is not None:
        cost = sessions.number(micros, "cost_usd_micros", MAX_EVENT_COST_USD * 1e6)
        cost = cost / 1e6 if cost is not None else None
    if cost is not None:
        event.cost_usd, event.cost_estimated = cost, False
    elif model is not None:
        # The native rule: estimate (cache tokens at cache rates), flag it.
        event.cost_usd = estimate_cost(model, tokens_in, tokens_out, cache_read, cache_write)
        event.cost_estimated = True if event.cost_usd is not None else None
    event.message = name


def _api_error(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_ERROR
    event.model = _model(attrs)
    event.latency_ms = sessions.number(attrs.get("duration_ms"), "duration_ms")
    status = attrs.get("status_code")
    text = str(attrs.get("error") or "API error")
    if status is not None and status != "":
        text = f"HTTP {status}: {text}"
    if name == "api_retries_exhausted":
        attempts = attrs.get("total_attempts")
        text = (
            f"retries exhausted after {attempts} attempts: {text}"
            if attempts
            else f"retries exhausted: {text}"
        )
    event.error = _clip(text)
    event.message = name


def _tool_result(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_TOOL_CALL
    event.tool_name = _short(attrs.pop("tool_name", None), "tool_name")
    event.latency_ms = sessions.number(attrs.pop("duration_ms", None), "duration_ms")
    if sessions.flag(attrs.get("success")) is False:
        reason = attrs.get("error") or attrs.get("error_message") or "failed"
        event.error = _clip(str(reason))


def _tool_decision(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.tool_name = _short(attrs.pop("tool_name", None), "tool_name")
    decision = _short(attrs.get("decision"), "decision") or "unknown"
    source = attrs.get("source")
    if _counted_once(event.span_id, _FROM_LOG) == _FROM_SPAN:  # its span counted it already
        event.span_type = SPAN_LOG
        event.message = _clip(f"tool_decision {decision}" + (f" by {source}" if source else ""))
        return
    event.span_type = SPAN_DECISION
    event.decision_made = decision
    if source:
        event.message = _clip(f"by {source}")


def _counted_once(span_id: str | None, source: str) -> str | None:
    """Which source counted the decision of this ``tool.blocked_on_user`` span first (None:
    none did, and ``source`` now has): the log event and the span name it by the same span id,
    and arrive in either order."""
    if span_id is None:
        return None
    first: str | None = _DECISIONS.get(span_id)
    if first is None:
        _DECISIONS.put(span_id, source)
    return first


def _user_prompt(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_LOG
    length = sessions.count(attrs.get("prompt_length"), "prompt_length")
    event.message = f"user_prompt {length} chars" if length is not None else "user_prompt"


def _assistant_response(event: Event, attrs: dict[str, Any], name: str) -> None:
    event.span_type = SPAN_LOG
    event.model = _short(attrs.get("model"), "model")
    length = sessions.count(attrs.get("response_length"), "response_length")
    parts = ["assistant_response"]
    if event.model is not None:
        parts.append(event.model)
    if length is not None:
        parts.append(f"{length} chars")
    event.message = " ".join(parts)


_EVENTS: Final[dict[str, Callable[[Event, dict[str, Any], str], None]]] = {
    "api_request": _api_request,
    "api_error": _api_error,
    "api_retries_exhausted": _api_error,
    "tool_result": _tool_result,
    "tool_decision": _tool_decision,
    "user_prompt": _user_prompt,
    "assistant_response": _assistant_response,
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
    """One Claude Code span for the trace waterfall: no tokens, cost or error (the log events
    carry those), typed ``agent`` or ``span`` so it adds no inference or tool call."""
    agent_id = _program(attrs, fallback)
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
        span_type=SPAN_AGENT if name == _INTERACTION else SPAN_GENERIC,
        message=name.removeprefix(_BODY_PREFIX) or None,
        tool_key="tool_name",
    )
    if name == _BLOCKED:
        _blocked_on_user(event, attrs)
    return event


def _blocked_on_user(event: Event, attrs: dict[str, Any]) -> None:
    """A tool that waited for permission: a decision when it names one (``reject`` by ``claude -p``
    has no ``tool_decision`` event) and its ``tool_decision`` event has not counted it."""
    decision = _short(attrs.get("decision"), "decision")
    if decision is None or decision == "unknown" or _counted_once(event.span_id, _FROM_SPAN) is not None:
        return
    event.span_type = SPAN_DECISION
    event.decision_made = decision
    source = attrs.get("source")
    event.message = _clip(f"waited for permission, {decision}" + (f" by {source}" if source else ""))
