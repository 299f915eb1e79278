"""Building events from free-form fields, shared by spans and the one-shot records."""

from __future__ import annotations

from typing import Any, Final

from agentwatch import pricing
from agentwatch.protocol import MAX_MESSAGE_LENGTH, Event

#: Event fields a caller may set by name (the rest of the names become attributes).
EVENT_FIELDS: Final = frozenset(Event.__struct_fields__) - {"agent_id", "attributes", "payload"}


def clip(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_MESSAGE_LENGTH:
        return text[: MAX_MESSAGE_LENGTH - 1] + "…"
    return text


def fill(event: Event, fields: dict[str, Any]) -> None:
    """Set event fields from free-form ``fields``: event field names are set (``None`` values
    skipped), other names (and an ``attributes`` dict) become attributes."""
    attributes: dict[str, Any] | None = None
    for name, value in fields.items():
        if name in EVENT_FIELDS:
            if value is not None:
                setattr(event, name, value)
        elif name == "attributes" and isinstance(value, dict):
            attributes = {**value, **attributes} if attributes else dict(value)
        else:
            if attributes is None:
                attributes = {}
            attributes[name] = value
    event.attributes = attributes


def finish(event: Event) -> None:
    """Clip free text and estimate a missing cost from the price table."""
    if event.error is not None:
        event.error = clip(str(event.error))
    if event.message is not None:
        event.message = clip(str(event.message))
    if event.cost_usd is None and (event.tokens_input is not None or event.tokens_output is not None):
        cost = pricing.estimate_cost(event.model, event.tokens_input, event.tokens_output)
        if cost is not None:
            event.cost_usd, event.cost_estimated = cost, True
