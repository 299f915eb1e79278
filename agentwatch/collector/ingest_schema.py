"""Ingest's limits as msgspec types, so that the decoders check them in C.

:class:`CheckedEvent` is :class:`~agentwatch.protocol.Event` with every limit of
:mod:`~agentwatch.collector.ingest` as a constraint; msgspec refuses an item that breaks one, naming
the field. :class:`UncheckedEvent` leaves out the length limits of the texts the compiled ingest pass
reads anyway (:data:`TEXT_LIMITS`): msgspec pays for each constrained string it decodes, while the pass
finds a decoded str's length in O(1), counted in code points as msgspec counts it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Final, Union

import msgspec
import msgspec.inspect
from msgspec import Meta

from agentwatch.protocol import (
    MAX_AGENT_ID_LENGTH,
    MAX_EVENT_COST_USD,
    MAX_LATENCY_MS,
    MAX_MESSAGE_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_SHORT_FIELD_LENGTH,
    MAX_TOKENS,
    Event,
)

__all__ = ["TEXT_LIMITS", "CheckedEvent", "UncheckedEvent"]

#: Characters of a timestamp given as text.
MAX_TIMESTAMP_TEXT: Final = 64


def _bounded_json(depth: int) -> Any:
    """A JSON value type with containers nested at most ``depth`` deep (checked in C)."""
    value: Any = Union[str, int, float, bool, None]  # noqa: UP007 - built at runtime
    for _ in range(depth):
        value = Union[str, int, float, bool, None, list[value], dict[str, value]]  # noqa: UP007
    return value


_Short = Annotated[str, Meta(max_length=MAX_SHORT_FIELD_LENGTH)]
_Text = Annotated[str, Meta(max_length=MAX_MESSAGE_LENGTH)]
_Count = Annotated[int, Meta(ge=0, lt=MAX_TOKENS)]
_Latency = Annotated[float, Meta(ge=0, le=MAX_LATENCY_MS)]
_Cost = Annotated[float, Meta(ge=0, le=MAX_EVENT_COST_USD)]
_Fraction = Annotated[float, Meta(ge=0, le=1)]
if TYPE_CHECKING:
    _Bag = dict[str, Any]
else:  # JSON objects whose values nest at most MAX_NESTING_DEPTH containers deep
    _Bag = dict[str, _bounded_json(MAX_NESTING_DEPTH - 1)]


class CheckedEvent(Event):
    """``Event`` with the ingest limits as msgspec constraints (same fields, same layout).

    Decoded instances are re-classed to plain :class:`Event` after checking, so nothing
    outside :mod:`~agentwatch.collector.ingest` ever sees this type.
    """

    agent_id: Annotated[str, Meta(min_length=1, max_length=MAX_AGENT_ID_LENGTH)]
    timestamp: float | Annotated[str, Meta(max_length=MAX_TIMESTAMP_TEXT)] | None = None
    span_type: _Short | None = None
    trace_id: _Short | None = None
    span_id: _Short | None = None
    parent_span_id: _Short | None = None
    model: _Short | None = None
    tokens_input: _Count | None = None
    tokens_output: _Count | None = None
    latency_ms: _Latency | None = None
    cost_usd: _Cost | None = None
    cost_estimated: bool | None = None
    decision_made: _Short | None = None
    confidence: _Fraction | None = None
    error: _Text | None = None
    tool_name: _Short | None = None
    level: _Short | None = None
    message: _Text | None = None
    attributes: _Bag | None = None
    event_type: _Short | None = None
    payload: _Bag | None = None


assert CheckedEvent.__struct_fields__ == Event.__struct_fields__


def text_limits(checked: type[msgspec.Struct]) -> tuple[tuple[str, int, int], ...]:
    """(field, least, most) code points of each text field of ``checked`` that has length limits."""
    limits: list[tuple[str, int, int]] = []
    for field in msgspec.inspect.type_info(checked).fields:  # type: ignore[attr-defined]
        kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        for kind in kinds:
            if isinstance(kind, msgspec.inspect.StrType) and (kind.min_length or kind.max_length is not None):
                most = sys.maxsize if kind.max_length is None else kind.max_length
                limits.append((field.name, kind.min_length or 0, most))
    return tuple(limits)


class UncheckedEvent(Event, forbid_unknown_fields=True):
    """:class:`CheckedEvent` without the length limits of :data:`TEXT_LIMITS`, and refusing fields
    Event has not (so that msgspec skips no string of a body it decodes, and checks each is UTF-8).

    Decoded only where the compiled ingest pass is built, which checks those limits (re-classed
    like :class:`CheckedEvent`); a batch with a text outside them or an unknown field is decoded
    again as :class:`CheckedEvent`, so its rejections stay msgspec's.
    """

    timestamp: float | Annotated[str, Meta(max_length=MAX_TIMESTAMP_TEXT)] | None = None
    trace_id: _Short | None = None
    span_id: _Short | None = None
    parent_span_id: _Short | None = None
    model: _Short | None = None
    tokens_input: _Count | None = None
    tokens_output: _Count | None = None
    latency_ms: _Latency | None = None
    cost_usd: _Cost | None = None
    decision_made: _Short | None = None
    confidence: _Fraction | None = None
    error: _Text | None = None
    tool_name: _Short | None = None
    message: _Text | None = None
    attributes: _Bag | None = None
    event_type: _Short | None = None
    payload: _Bag | None = None


assert UncheckedEvent.__struct_fields__ == Event.__struct_fields__
#: The limits on text that :class:`CheckedEvent` has and :class:`UncheckedEvent` has not.
TEXT_LIMITS: Final = tuple(sorted(set(text_limits(CheckedEvent)) - set(text_limits(UncheckedEvent))))
