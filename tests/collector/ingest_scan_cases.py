"""Hypothesis strategies for feeding ingest's compiled passes and their Python loops the same input.

:func:`bodies` draws JSON ingest bodies (arrays of objects) with hostile and odd values: agent ids
padded with every kind of Unicode whitespace (and with characters that only look blank), levels
known, unknown and in odd case, every form of timestamp, tokens and models in and out of the price
table (so the cost estimate runs), attributes and payloads, the first article's ``event_type`` form.
A body is bytes, so each side decodes its own copy. :func:`long_text_bodies` draws bodies whose texts
are at, just within and just beyond their length limits (counted in code points: ASCII, 2-, 3- and
4-byte UTF-8, written raw or as JSON escapes, surrogate pairs included). :func:`log_specs` draws the
keyword arguments of an :class:`~agentwatch.protocol.Event` for the log ring's columns.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

from agentwatch.pricing import DEFAULT_PRICES
from agentwatch.protocol import (
    ATTR_TOKENS_CACHE_READ,
    EVENT_SPAN_START,
    KNOWN_SPAN_TYPES,
    LEVELS,
    MAX_AGENT_ID_LENGTH,
    MAX_ATTRIBUTES_BYTES,
    MAX_MESSAGE_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_SHORT_FIELD_LENGTH,
    MAX_TIMESTAMP,
    MAX_TOKENS,
    SPAN_ERROR,
    SPAN_HEARTBEAT,
)

#: Every character ``str.strip()`` removes.
WHITESPACE = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())
assert {" ", "\t", "\u2003", "\u3000", "\x85", "\x1c", "\xa0", "\u2028"} <= set(WHITESPACE)
#: Characters that look blank (or are controls) but that ``str.strip()`` keeps.
LOOKALIKES = "\u200b\ufeff\u180e\u2060\x00\x7f"
assert not any(char.isspace() for char in LOOKALIKES)

#: A field left out of the object.
ABSENT = object()

AGENT_CORES = ["a", "agent-1", "a b", "агент-é🙂", "模型", "🙂", "x" * 120, "ü" * MAX_AGENT_ID_LENGTH]
LEVEL_NAMES = [*LEVELS, "WARN", "Warning", "ERROR", "Info", "fatal", "TRACE", "", "bogus", "警告", " info"]
SPAN_TYPES = [*sorted(KNOWN_SPAN_TYPES), "custom-ü", EVENT_SPAN_START, "ERROR", " "]
EVENT_TYPES = ["token", "tool_call", "error", "completion", EVENT_SPAN_START, "custom", ""]
PRICED = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "text-embedding-3-small", "gemini-2.5-pro"]
assert all(model in DEFAULT_PRICES for model in PRICED)
MODELS = [*PRICED, "gpt-4o-2024-08-06", "claude-opus-4-5-x", "no-such-model", "模型-ü", "", "m" * 200]
TOKENS = [0, 1, 7, 1000, 123_456, 10**12, MAX_TOKENS - 1]
TIMESTAMPS = [
    0.0, -0.0, 1.5, 1_700_000_000.25, 1e11, 1e11 - 1e-4, math.nextafter(1e11, 0.0), 1.7e12, 1e14, 1.7e15,
    1e17, 1.7e18, 1e300, -1.0, -5e-324, 5e-324, 1e-300,
    0, 1_700_000_000, -5, 10**11, 1_700_000_000_000, 10**20, 2**63, 10**30,
    "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123456+02:00", "2024-01-01T00:00:00", "2024-01-01",
    " 2024-01-01T00:00:00Z ", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z",
    "not a time", "", "1700000000", "NaN",
]  # fmt: skip
PAYLOAD_KEYS = [
    "tokens", "count", "token_count", "model", "tool_name", "name", "latency_ms", "duration_ms", "error",
    "message", "span_type", "tokens_input", "tokens_output", "input_tokens", "x",
]  # fmt: skip
PAYLOAD_VALUES = [1, 0, 5.5, -1, 2**60, "gpt-4o", "search", "", None, True, [1], {"a": 1}, "llm_call"]
TEXTS = ["", "boom", "ошибка: 超时", "x" * 300]


def _deep(depth: int) -> dict[str, Any]:
    """An object whose containers nest ``depth`` deep (itself counted)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"d": value}
    return value


ATTRIBUTES = [
    None, {}, {"k": "v"}, {ATTR_TOKENS_CACHE_READ: 10}, {"nested": {"a": [1, 2, {"b": None}]}, "é": 1.5},
    _deep(MAX_NESTING_DEPTH), {"blob": "x" * (MAX_ATTRIBUTES_BYTES // 2)}, {"blob": "x" * MAX_ATTRIBUTES_BYTES},
]  # fmt: skip
#: Values that fail the batch's validation (so the body goes item by item).
INVALID: dict[str, list[Any]] = {
    "agent_id": ["", "a" * (MAX_AGENT_ID_LENGTH + 1), 5, None],
    "tokens_input": [-1, True, MAX_TOKENS, 1.5],
    "cost_usd": [-0.5, 2e6, "1"],
    "confidence": [1.5],
    "level": ["x" * (MAX_SHORT_FIELD_LENGTH + 1), 3],
    "timestamp": ["2024" * 20, True, [1]],
    "attributes": [_deep(MAX_NESTING_DEPTH + 1), [1], "a"],
}


def _field(draw: Any, item: dict[str, Any], name: str, options: list[Any], absent: int = 1) -> None:
    """Set ``item[name]`` to one of ``options`` or leave it out (``absent`` in ``absent + 2`` draws)."""
    if draw(st.sampled_from([False, False] + [True] * absent)):
        return
    value = draw(st.sampled_from(options))
    if value is not ABSENT:
        item[name] = value


@st.composite
def agent_ids(draw: Any) -> str:
    """An agent id, sometimes padded with whitespace of any kind or look-alikes, sometimes all
    blank; never over the limit."""
    kind = draw(st.sampled_from(["plain"] * 6 + ["padded"] * 2 + ["blank"]))
    if kind == "blank":
        return draw(st.text(alphabet=WHITESPACE, min_size=1, max_size=4))
    agent_id = draw(st.one_of(st.sampled_from(AGENT_CORES), st.text(min_size=1, max_size=12)))
    if kind == "padded":
        pad = st.text(alphabet=WHITESPACE + LOOKALIKES, max_size=3)
        agent_id = draw(pad) + agent_id + draw(pad)
    return agent_id[:MAX_AGENT_ID_LENGTH]


@st.composite
def items(draw: Any, invalid: bool = False) -> dict[str, Any]:
    """One JSON object of an ingest body; ``invalid``: sometimes a value the batch decoder refuses."""
    item: dict[str, Any] = {"agent_id": draw(agent_ids())}
    _field(draw, item, "span_type", [None, "", *SPAN_TYPES, *sorted(KNOWN_SPAN_TYPES)], absent=1)
    _field(draw, item, "level", [None, *LEVELS, *LEVELS, *LEVEL_NAMES], absent=2)
    timestamp = draw(
        st.one_of(
            st.floats(0.0, MAX_TIMESTAMP, exclude_max=True),
            st.sampled_from(TIMESTAMPS),
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(10**12), 10**22),
            st.text(max_size=20),
        )
    )
    _field(draw, item, "timestamp", [None, timestamp], absent=2)
    _field(draw, item, "model", [None, *MODELS])
    _field(draw, item, "tokens_input", [None, *TOKENS])
    _field(draw, item, "tokens_output", [None, *TOKENS])
    _field(draw, item, "cost_usd", [None, 0, 0.0, 0.5, 3, 1e6, 5e-324], absent=4)
    _field(draw, item, "cost_estimated", [None, True, False], absent=4)
    _field(draw, item, "error", [None, *TEXTS], absent=3)
    _field(draw, item, "message", [None, *TEXTS], absent=3)
    _field(draw, item, "latency_ms", [None, 0, 12.5, 1e12], absent=3)
    _field(draw, item, "trace_id", [None, "t1", ""], absent=3)
    _field(draw, item, "attributes", ATTRIBUTES, absent=3)
    if draw(st.integers(0, 3)) == 0:  # the first article's form
        _field(draw, item, "event_type", [None, *EVENT_TYPES], absent=0)
        payload = draw(
            st.one_of(
                st.none(),
                st.dictionaries(st.sampled_from(PAYLOAD_KEYS), st.sampled_from(PAYLOAD_VALUES), max_size=4),
                st.sampled_from(ATTRIBUTES),
            )
        )
        _field(draw, item, "payload", [payload], absent=1)
    if invalid and draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(sorted(INVALID)))
        item[name] = draw(st.sampled_from(INVALID[name]))
        if draw(st.booleans()) and name == "agent_id":
            del item["agent_id"]
    return item


@st.composite
def bodies(draw: Any, invalid: bool = False, max_size: int = 12) -> bytes:
    """A JSON array of objects (escaped to ASCII or not)."""
    objects = draw(st.lists(items(invalid), max_size=max_size))
    return json.dumps(objects, ensure_ascii=draw(st.booleans())).encode()


SHORT_TEXTS = (
    "span_type trace_id span_id parent_span_id model decision_made tool_name level event_type".split()
)
#: Each text field with a length limit, and the limit (code points; the least is 0 but for agent_id).
TEXT_LIMITS: dict[str, int] = {
    "agent_id": MAX_AGENT_ID_LENGTH,
    "timestamp": 64,
    **dict.fromkeys(SHORT_TEXTS, MAX_SHORT_FIELD_LENGTH),
    "error": MAX_MESSAGE_LENGTH,
    "message": MAX_MESSAGE_LENGTH,
}
#: Characters of 1 to 4 UTF-8 bytes (one code point each; the last two are a surrogate pair once
#: escaped as JSON), and whitespace (agent ids are stripped after the limit is checked).
TEXT_UNITS = ["x", "é", "界", "🙂", "\U0001f600", " ", "\u3000"]


def text_of(length: int, unit: str, tail: str = "") -> str:
    """``length`` code points: ``unit`` repeated, ending with ``tail`` (itself counted)."""
    return unit * max(length - len(tail), 0) + tail[: max(length, 0)]


@st.composite
def long_texts(draw: Any, name: str) -> str:
    """A value for text field ``name`` at, just within or just beyond its limit (or empty)."""
    limit = TEXT_LIMITS[name]
    length = draw(st.sampled_from([0, 1, limit - 1, limit, limit, limit + 1, limit + 1, limit + 2]))
    unit = draw(st.sampled_from(TEXT_UNITS))
    tail = draw(st.sampled_from(["", "a", "🙂", "é", " 2024-01-01T00:00:00Z"]))
    return text_of(length, unit, tail)


@st.composite
def long_text_items(draw: Any) -> dict[str, Any]:
    """An item of :func:`items` with one to three text fields drawn by :func:`long_texts`."""
    item = draw(items())
    for name in draw(st.lists(st.sampled_from(sorted(TEXT_LIMITS)), min_size=1, max_size=3, unique=True)):
        item[name] = draw(long_texts(name))
    return item


@st.composite
def long_text_bodies(draw: Any) -> bytes:
    """A JSON array of a few objects, some with texts about their limits (raw UTF-8 or escaped)."""
    objects = draw(st.lists(st.one_of(items(), long_text_items()), min_size=1, max_size=4))
    return json.dumps(objects, ensure_ascii=draw(st.booleans())).encode()


#: Byte sequences that are not UTF-8: a stray byte, a lead without its continuation, an encoded
#: surrogate, an overlong form, a code point beyond U+10FFFF.
NOT_UTF8 = [b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\x80", b"\xf4\x90\x80\x80"]


@st.composite
def odd_bodies(draw: Any) -> bytes:
    """Bodies of a few objects, some holding a field Event has not (its value any JSON, long and
    non-ASCII text too), one object alone or an array, with or without bytes that are not UTF-8
    put anywhere (in a known field, in an unknown one, between tokens)."""
    objects = draw(st.lists(items(), min_size=1, max_size=4))
    for item in objects:
        if draw(st.booleans()):
            item[draw(st.sampled_from(["extra", "sessión", "Agent_id", "agent_id "]))] = draw(
                st.sampled_from(["ü", "🙂", 1, None, {"a": [1]}, "x" * 300, _UNKNOWN])
            )
    whole = objects[0] if draw(st.booleans()) else objects
    body = json.dumps(whole, ensure_ascii=draw(st.booleans())).encode()
    if draw(st.booleans()):
        aimed = body.find(_UNKNOWN.encode())  # in an unknown field's text, when there is one
        at = aimed + 3 if aimed >= 0 and draw(st.booleans()) else draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from(NOT_UTF8)) + body[at:]
    return body


_UNKNOWN = "unknown field's text"


#: ``now`` as ingest is given it, odd values too (the passes store it as it is).
nows = st.one_of(
    st.sampled_from([1_700_000_000.0, 0.0, -0.0, 1e11, math.nan, math.inf, -1.5]),
    st.floats(0.0, 4e9),
)


@st.composite
def log_specs(draw: Any) -> dict[str, Any]:
    """Keyword arguments of an Event as the log ring sees it."""
    return {
        "agent_id": draw(st.one_of(st.sampled_from(["a", "b", "", " a ", "агент-é🙂"]), agent_ids())),
        "level": draw(st.sampled_from([None, None, *LEVEL_NAMES])),
        "error": draw(st.sampled_from([None, None, "", "boom"])),
        "span_type": draw(
            st.sampled_from([None, "", SPAN_ERROR, SPAN_HEARTBEAT, "log", "llm_call", "Error", "heartbeat "])
        ),
        "message": draw(st.sampled_from([None, "m"])),
    }
