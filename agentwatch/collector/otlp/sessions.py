"""What every coding-agent mapping needs: one agent per session, and numbers sent as text.

Coding agents (Claude Code, Codex, Gemini CLI) run one session per terminal under one
``service.name``; :func:`session_agent` names a row per session so a person can tell them apart.
They also send many numbers as strings (``"52"``, ``"true"``): :func:`count`, :func:`number` and
:func:`flag` read both forms and apply the native ingest rules (:class:`Reject` with the reason).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from agentwatch.collector.otlp.errors import Reject
from agentwatch.collector.otlp.mapping import _short
from agentwatch.collector.otlp.mapping import map_span as generic_map_span
from agentwatch.protocol import MAX_AGENT_ID_LENGTH, MAX_LATENCY_MS, MAX_TOKENS, Event

#: Attributes naming a coding agent's session, most specific first.
SESSION_KEYS: Final = ("session.id", "conversation.id", "gen_ai.conversation.id")
#: Characters of the session id shown in the agent id (a UUID's first group).
SHORT_SESSION: Final = 8
#: Between the program and its short session id in an agent id.
SEPARATOR: Final = "·"
#: Reasoning (thinking) tokens of a call, in the event's attributes (an OpenTelemetry GenAI name).
ATTR_TOKENS_REASONING: Final = "gen_ai.usage.reasoning.output_tokens"


def session_agent(program: str, attributes: Mapping[str, Any]) -> str:
    """``program·abcd1234`` (the session id's first characters), or ``program`` without a session.

    Always within :data:`~agentwatch.protocol.MAX_AGENT_ID_LENGTH`: a long program name is cut.
    """
    for key in SESSION_KEYS:
        session = attributes.get(key)
        if session.__class__ is str:
            short = session.strip()[:SHORT_SESSION].strip()
            if short:
                room = MAX_AGENT_ID_LENGTH - len(short) - len(SEPARATOR)
                return f"{program[:room]}{SEPARATOR}{short}"
    return program


class Recent:
    """A bounded map of what a program said earlier (a trace's session, a request's start),
    for records that need it later; the oldest entry goes first when full.

    Kept per process (a collector is one process); :func:`forget_all` empties every one, for a
    process that runs collectors one after another (the tests)."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int = 4096) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._limit = limit
        _ALL.append(self)

    def clear(self) -> None:
        self._items.clear()

    def put(self, key: str, value: Any) -> None:
        items = self._items
        items[key] = value
        items.move_to_end(key)
        if len(items) > self._limit:
            items.popitem(last=False)

    def get(self, key: str | None) -> Any:
        return None if key is None else self._items.get(key)

    def pop(self, key: str) -> Any:
        return self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


_ALL: list[Recent] = []


def forget_all() -> None:
    """Empty every :class:`Recent`: what programs said before is forgotten."""
    for recent in _ALL:
        recent.clear()


def _as_number(value: Any, key: str) -> int | float:
    if value.__class__ is str:
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise Reject(f"{key} {value[:32]!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Reject(f"{key} must be a number")
    return value


def count(value: Any, key: str) -> int | None:
    """A token count, from an int, an integral float or their text: in [0, 2**53); None when absent."""
    if value is None or value == "":
        return None
    number = _as_number(value, key)
    if isinstance(number, float):
        if not number.is_integer():
            raise Reject(f"{key} must be an integer")
        number = int(number)
    if not 0 <= number < MAX_TOKENS:
        raise Reject(f"{key} must be >= 0 and < 2**53")
    return number


def number(value: Any, key: str, high: float = MAX_LATENCY_MS) -> float | None:
    """A finite number in [0, high] (by default a duration in ms), from a number or its text;
    None when absent."""
    if value is None or value == "":
        return None
    result = float(_as_number(value, key))
    if not math.isfinite(result):
        raise Reject(f"{key} must be a finite number")
    if not 0 <= result <= high:
        raise Reject(f"{key} must be between 0 and {high:g}")
    return result


def flag(value: Any) -> bool | None:
    """``true``/``false`` as a bool or as text (any case); None when absent or anything else."""
    if value.__class__ is bool:
        return bool(value)
    if value.__class__ is str:
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    return None


def trace_span(
    trace_id: str | None,
    span_id: str | None,
    parent_span_id: str | None,
    name: str,
    start_ns: int,
    end_ns: int,
    attrs: dict[str, Any],
    status_code: int,
    status_message: str,
    agent_id: str,
    now: float,
    *,
    span_type: str,
    message: str | None,
    tool_key: str,
) -> Event:
    """A coding agent's span kept for its trace only: ids, name, model, tool and duration, but no
    tokens, cost or error of its own, since the program's log events carry those and counting both
    would count them twice. A status message is kept as the ``error`` attribute."""
    if status_message and "error" not in attrs:
        attrs["error"] = status_message
    event = generic_map_span(
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
    )
    event.span_type = span_type
    if event.tool_name is None:
        event.tool_name = _short(attrs.get(tool_key), tool_key)
    event.message = message
    event.tokens_input = event.tokens_output = None
    event.cost_usd = event.cost_estimated = None
    event.error = None
    return event
