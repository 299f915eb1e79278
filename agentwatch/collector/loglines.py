"""Log lines: what the log stream and the store show for an event.

:func:`event_to_log_entry` turns an ingested :class:`~agentwatch.protocol.Event` into the
:class:`~agentwatch.protocol.LogEntry` a viewer reads; :func:`log_level` and :func:`log_rank` are
the one rule for a line's level, shared by the line itself, the log hub's filters and the store's
``level`` column. The line is a deterministic function of the event, so the hub and the store can
hold events and build their lines when first read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, Final

from agentwatch.collector.compiled import load_wanted
from agentwatch.protocol import (
    ATTR_TOKENS_CACHE_READ,
    ATTR_TOKENS_CACHE_WRITE,
    DEFAULT_SPAN_TYPE,
    LEVEL_RANK,
    LEVELS,
    SPAN_ERROR,
    SPAN_HEARTBEAT,
    SPAN_LOG,
    Event,
    LogEntry,
    normalize_level,
)

__all__ = ["METADATA_FIELDS", "event_to_log_entry", "log_level", "log_rank", "log_ranks", "log_rows"]

_DEBUG, _INFO, _WARNING, _ERROR, _CRITICAL = LEVELS
_RANK_DEBUG, _RANK_INFO, _RANK_ERROR = LEVEL_RANK[_DEBUG], LEVEL_RANK[_INFO], LEVEL_RANK[_ERROR]
_agent_of: Final = attrgetter("agent_id")


def log_level(event: Event) -> str:
    """The level of an event's log line (one of :data:`~agentwatch.protocol.LEVELS`).

    The event's own level when given (normalised; unknown → info), else ``error`` for an
    error, ``debug`` for a heartbeat, ``info`` otherwise. The one rule for both the log
    line's ``level`` and the rank the log hub and store filter on.
    """
    level = event.level
    if level is None:
        span_type = event.span_type
        if event.error is not None or span_type == SPAN_ERROR:
            return _ERROR
        if span_type == SPAN_HEARTBEAT:
            return _DEBUG
        return _INFO
    if level in LEVEL_RANK:
        return level
    return normalize_level(level)


def log_rank(event: Event) -> int:
    """``LEVEL_RANK[log_level(event)]``: the rank "at least this level" filters compare."""
    return LEVEL_RANK[log_level(event)]


def log_ranks(events: Sequence[Event]) -> list[int]:
    """:func:`log_rank` of each event of a batch: the same rule, inline (it runs for every event
    ingested)."""
    ranks: list[int] = []
    append = ranks.append
    known = LEVEL_RANK.get
    span_error, span_heartbeat = SPAN_ERROR, SPAN_HEARTBEAT
    for event in events:
        level = event.level
        if level is None:
            span_type = event.span_type
            if event.error is not None or span_type == span_error:
                append(_RANK_ERROR)
            elif span_type == span_heartbeat:
                append(_RANK_DEBUG)
            else:
                append(_RANK_INFO)
        else:
            rank = known(level)
            append(rank if rank is not None else LEVEL_RANK[normalize_level(level)])
    return ranks


def log_rows(events: Sequence[Event]) -> tuple[list[str], list[int]]:
    """(agent ids, :func:`log_ranks`) of a batch: the log ring's columns, compiled where built."""
    rows = _compiled_log_rows(events) if _compiled_log_rows is not None else None
    if rows is not None:
        return rows
    return list(map(_agent_of, events)), log_ranks(events)


def _load_log_rows() -> Callable[[Sequence[Event]], tuple[list[str], list[int]] | None] | None:
    """``_ingestscan.log_rows`` set up for :func:`log_ranks`' rule; None where not built or not wanted."""
    scan = load_wanted("_ingestscan")
    if scan is None:
        return None
    scan.setup_log(
        Event, LEVEL_RANK, normalize_level, SPAN_ERROR, SPAN_HEARTBEAT, _RANK_ERROR, _RANK_DEBUG, _RANK_INFO
    )
    rows: Callable[[Sequence[Event]], tuple[list[str], list[int]] | None] = scan.log_rows
    return rows


_compiled_log_rows = _load_log_rows()


def event_to_log_entry(event: Event) -> LogEntry:
    """One log line summarising what the agent did (``id`` left 0: the log hub assigns it).

    ``log`` events become their own message; others read like
    ``llm_call gpt-4o 2840→156 tok 1245 ms $0.047`` (``~$`` when the cost is estimated),
    ``tool_call search 85 ms``, ``decision escalate_to_human (conf 0.72)``,
    ``error Timeout: upstream timed out``, ``heartbeat``. Level: the event's own when given,
    else ``error`` for an error, ``debug`` for a heartbeat, ``info`` otherwise. Agent text
    is carried as data, never escaped or interpreted. ``metadata`` holds the event's other
    set fields (not the payload). Runs for every line served, so it stays cheap.
    """
    span_type = event.span_type or DEFAULT_SPAN_TYPE
    level = log_level(event)
    message = event.message
    if message is None or span_type != SPAN_LOG:
        message = _summary(event, span_type)
    timestamp = event.timestamp
    return LogEntry(
        timestamp=timestamp if timestamp.__class__ is float else 0.0,
        agent_id=event.agent_id,
        level=level,
        message=message,
        metadata=_metadata(event),
        span_type=span_type,
        trace_id=event.trace_id,
    )


def _summary(event: Event, span_type: str) -> str:
    parts = [span_type]
    if event.model is not None:
        parts.append(event.model)
    if event.tool_name is not None:
        parts.append(event.tool_name)
    if event.decision_made is not None:
        parts.append(event.decision_made)
        if event.confidence is not None:
            parts.append(f"(conf {event.confidence:.2f})")
    tokens_in, tokens_out = event.tokens_input, event.tokens_output
    if tokens_in is not None:
        parts.append(f"{tokens_in}→{tokens_out} tok" if tokens_out is not None else f"{tokens_in} tok in")
    elif tokens_out is not None:
        parts.append(f"{tokens_out} tok out")
    if event.attributes is not None:
        cache_read = event.attributes.get(ATTR_TOKENS_CACHE_READ)
        cache_write = event.attributes.get(ATTR_TOKENS_CACHE_WRITE)
        if cache_read is not None or cache_write is not None:
            parts.append(_cache_text(cache_read, cache_write))
    if event.latency_ms is not None:
        parts.append(_format_ms(event.latency_ms))
    if event.cost_usd is not None:
        cost = _format_usd(event.cost_usd)
        parts.append("~" + cost if event.cost_estimated else cost)
    if event.error is not None:
        parts.append(event.error if span_type == SPAN_ERROR else "error: " + event.error)
    if event.message is not None and event.message != event.error:
        parts.append("— " + event.message)
    return " ".join(parts)


def _cache_text(read: Any, written: Any) -> str:
    """Prompt-cache tokens: ``cache 2000 read / 300 written`` (either part alone when only one is sent)."""
    shown = [f"{read} read" if read is not None else "", f"{written} written" if written is not None else ""]
    return "cache " + " / ".join(part for part in shown if part)


def _format_ms(value: float) -> str:
    if value >= 10:
        return f"{round(value)} ms"
    return f"{value:.1f} ms"


def _format_usd(value: float) -> str:
    if value >= 1:
        return f"${value:.2f}"
    if value >= 0.001 or value == 0:
        return f"${value:.3f}"
    if value < 1e-9:
        return "<$0.000000001"
    digits = 2 - math.floor(math.log10(value))  # two significant digits, never an exponent
    return f"${value:.{digits}f}".rstrip("0")


def _metadata(event: Event) -> dict[str, Any]:
    """The event's set fields that a log line has no own place for (keys are Event field names)."""
    metadata: dict[str, Any] = {}
    if event.span_id is not None:
        metadata["span_id"] = event.span_id
    if event.parent_span_id is not None:
        metadata["parent_span_id"] = event.parent_span_id
    if event.model is not None:
        metadata["model"] = event.model
    if event.tool_name is not None:
        metadata["tool_name"] = event.tool_name
    if event.tokens_input is not None:
        metadata["tokens_input"] = event.tokens_input
    if event.tokens_output is not None:
        metadata["tokens_output"] = event.tokens_output
    if event.latency_ms is not None:
        metadata["latency_ms"] = event.latency_ms
    if event.cost_usd is not None:
        metadata["cost_usd"] = event.cost_usd
        if event.cost_estimated:
            metadata["cost_estimated"] = True
    if event.decision_made is not None:
        metadata["decision_made"] = event.decision_made
    if event.confidence is not None:
        metadata["confidence"] = event.confidence
    if event.error is not None:
        metadata["error"] = event.error
    if event.event_type is not None:
        metadata["event_type"] = event.event_type
    if event.attributes is not None:
        metadata["attributes"] = event.attributes
    return metadata


#: Every metadata key is an Event field name: checked here so a rename in protocol fails loudly.
METADATA_FIELDS: Final = (
    "span_id", "parent_span_id", "model", "tool_name", "tokens_input", "tokens_output", "latency_ms",
    "cost_usd", "cost_estimated", "decision_made", "confidence", "error", "event_type", "attributes",
)  # fmt: skip
if not set(METADATA_FIELDS) <= set(Event.__struct_fields__):  # pragma: no cover - protocol drift
    raise ImportError(
        f"log metadata names fields Event lacks: {set(METADATA_FIELDS) - set(Event.__struct_fields__)}"
    )
