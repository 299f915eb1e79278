"""A log line's values by name, for "show only lines where name = value" and for finding its trace.

Plain functions over :class:`~agentwatch.protocol.LogEntry`, no Textual: the state filters with them
and the line detail view offers them. A name is one of the line's own fields (``agent``, ``level``,
``type``, ``trace_id``), a key of its metadata (``model``, ``tool_name``, ``span_id``…), or an attribute
the program sent (``metadata["attributes"]``). A value is compared as text, exactly: a string as it
is, anything else as JSON (what the detail view shows).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from agentwatch.protocol import PROMPT_ID_ATTRIBUTES, LogEntry

__all__ = ["FIELD_ATTRIBUTES", "field_value", "line_trace_key", "value_text"]

#: The metadata key under which a line keeps the attributes its program sent.
FIELD_ATTRIBUTES: Final = "attributes"


def value_text(value: Any) -> str:
    """A value as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


def field_value(line: LogEntry, name: str) -> str | None:
    """The value ``name`` has on ``line`` as text; None when the line has none."""
    if name == "type":
        return line.span_type
    if name == "trace_id":
        return line.trace_id
    if name == "agent":
        return line.agent_id
    metadata = line.metadata
    if not isinstance(metadata, dict):
        return None
    if name in metadata and name != FIELD_ATTRIBUTES:
        return value_text(metadata[name])
    attributes = metadata.get(FIELD_ATTRIBUTES)
    if isinstance(attributes, dict) and name in attributes:
        return value_text(attributes[name])
    return None


def line_trace_key(line: LogEntry) -> str | None:
    """The id ``/api/traces`` finds the line's trace under: its ``trace_id``, else its prompt/turn id."""
    if line.trace_id:
        return line.trace_id
    attributes = line.metadata.get(FIELD_ATTRIBUTES) if isinstance(line.metadata, dict) else None
    if isinstance(attributes, dict):
        for name in PROMPT_ID_ATTRIBUTES:
            value = attributes.get(name)
            if isinstance(value, str) and value:
                return value
    return None
