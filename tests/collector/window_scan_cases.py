"""Hypothesis strategies for feeding two windows the same hostile batches.

An event is drawn as a *spec* (the keyword arguments of :class:`~agentwatch.protocol.Event`, its
timestamp relative to the clock), so the same batch can be built twice, one copy per window
(``add_many`` may replace events, and the two windows must never share one). Values cover what a
decoded event can hold and what only Python code can build: ints beyond int64, bools, NaN and
infinities, exact bounds, strings where a timestamp goes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from agentwatch.collector.window import ATTR_SDK_DROPPED
from agentwatch.pricing import DEFAULT_PRICES
from agentwatch.protocol import (
    EVENT_SPAN_START,
    MAX_EVENT_COST_USD,
    MAX_LATENCY_MS,
    SPAN_COMPLETION,
    SPAN_DECISION,
    SPAN_EMBEDDING,
    SPAN_ERROR,
    SPAN_HEARTBEAT,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_METRIC,
    SPAN_TOOL_CALL,
    START_SPAN_TYPE_KEY,
    Event,
)

NAN, INF = math.nan, math.inf

AGENTS = ["a", "b", "c", "d", "e", "f", "агент-é🙂", "x" * 3000, ""]
PRICED = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "text-embedding-3-small"]
assert all(model in DEFAULT_PRICES for model in PRICED)
MODELS = [None, "", *PRICED, "gpt-4o-2024-08-06", "no-such-model", "模型-ü", "m" * 2000]
#: More distinct models than one agent's group is likely to cache.
MANY_MODELS = [f"model-{i}" for i in range(12)] + PRICED
SPAN_TYPES = [
    SPAN_LLM_CALL,
    SPAN_COMPLETION,
    SPAN_TOOL_CALL,
    SPAN_ERROR,
    SPAN_HEARTBEAT,
    SPAN_DECISION,
    SPAN_LOG,
    SPAN_EMBEDDING,
    SPAN_METRIC,
    EVENT_SPAN_START,
    "custom-ü",
    "",
    None,
]
#: Odd values of the types a decoded event holds (a float, or None).
ODD_LATENCIES: list[Any] = [
    None,
    0.0,
    -0.0,
    -5.0,
    1e-3,
    math.nextafter(1e-3, 1.0),
    5e-4,
    1e-300,
    MAX_LATENCY_MS,
    math.nextafter(MAX_LATENCY_MS, INF),
    2e12,
    1e300,
    INF,
    -INF,
    NAN,
]
ODD_COSTS: list[Any] = [
    None,
    0.0,
    -0.0,
    -1.0,
    NAN,
    INF,
    -INF,
    MAX_EVENT_COST_USD,
    math.nextafter(MAX_EVENT_COST_USD, INF),
    2e6,
    5e-324,
]
ODD_TOKENS: list[Any] = [None, 0, 1, 12, 3000, 10**12, 2**50, -(2**50), -7, 2**53]
#: Values only Python code can put there (ints where floats go, bools, ints beyond int64).
PYTHON_LATENCIES: list[Any] = [0, 7, True, False, 10**20, 2**64 + 3]
PYTHON_COSTS: list[Any] = [0, 3, True, False, 10**30]
PYTHON_TOKENS: list[Any] = [2**50 + 1, 2**63 - 1, 2**63, 2**64 + 5, 10**30, True, False]
DROPPED: list[Any] = [0, 5, -1, 2.5, "3", True, None, NAN, INF, -INF, 2**62, 2**70, 10**30]
ERRORS = [None, None, "", "Timeout", "ошибка: 超时"]

#: A timestamp relative to the clock's now when the batch is fed: ("rel", d) is ``now + d``,
#: ("sec", d) the float start of second ``int(now) + d``, ("int", d) the int ``int(now) + d``,
#: ("lit", v) the value ``v`` itself.
Stamp = tuple[str, Any]


def resolve(stamp: Stamp, now: float) -> Any:
    kind, value = stamp
    if kind == "rel":
        return now + value
    if kind == "sec":
        return float(int(now) + value)
    if kind == "int":
        return int(now) + value
    return value


@st.composite
def stamps(draw: Any) -> Stamp:
    kind = draw(st.sampled_from(["current"] * 4 + ["ring"] * 3 + ["bound", "late", "future", "int", "odd"]))
    if kind == "current":
        return ("rel", -draw(st.sampled_from([0.0, 0.0, 0.25, 0.5, 0.9])))
    if kind == "ring":
        return ("rel", -draw(st.floats(1.0, 118.0)))
    if kind == "bound":  # the oldest second of a 120 s ring, and the one before it (late)
        return ("sec", draw(st.sampled_from([-119, -120, -59, -60, 0, 1])))
    if kind == "late":
        return ("rel", -draw(st.floats(121.0, 1e6)))
    if kind == "future":
        return ("rel", draw(st.floats(1e-3, 1e5)))
    if kind == "int":
        return ("int", draw(st.sampled_from([0, -1, -3, -119, -200, 5])))
    return ("lit", draw(st.sampled_from([None, NAN, INF, -INF, "2024-01-01T00:00:00Z", "x", True, 0.0])))


def _odd_or(draw: Any, odd: list[Any], python: list[Any], plain: st.SearchStrategy[Any]) -> Any:
    kind = draw(st.integers(0, 9))
    if kind < 4:
        return draw(plain)
    if kind < 8 or not python:
        return draw(st.sampled_from(odd))
    return draw(st.sampled_from(python))


@st.composite
def event_specs(draw: Any, agents: list[str], models: list[str | None], python: bool) -> dict[str, Any]:
    """Keyword arguments of one event (``timestamp`` a :data:`Stamp`); ``python``: values of
    types only Python code can give too (else what a decoded event can hold)."""
    span_type = draw(st.sampled_from(SPAN_TYPES))
    spec: dict[str, Any] = {
        "agent_id": draw(st.sampled_from(agents)),
        "timestamp": draw(stamps()),
        "span_type": span_type,
        "model": draw(st.sampled_from(models)),
        "span_id": draw(st.sampled_from([None, None, "s1", "s2", "s3"])),
        "tokens_input": _odd_or(
            draw, ODD_TOKENS, PYTHON_TOKENS if python else [], st.one_of(st.none(), st.integers(0, 10**6))
        ),
        "tokens_output": _odd_or(
            draw, ODD_TOKENS, PYTHON_TOKENS if python else [], st.one_of(st.none(), st.integers(0, 10**5))
        ),
        "latency_ms": _odd_or(draw, ODD_LATENCIES, PYTHON_LATENCIES if python else [], st.floats(1e-3, 1e6)),
        "cost_usd": _odd_or(
            draw, ODD_COSTS, PYTHON_COSTS if python else [], st.one_of(st.none(), st.floats(0.0, 5.0))
        ),
        "cost_estimated": draw(st.sampled_from([None, True, False])),
        "error": draw(st.sampled_from(ERRORS)),
    }
    if draw(st.integers(0, 3)) == 0 or span_type == SPAN_HEARTBEAT:
        spec["attributes"] = draw(
            st.sampled_from(
                [None, {}, {"k": 1}, {ATTR_SDK_DROPPED: draw(st.sampled_from(DROPPED)), "k": "v"}]
            )
        )
    if span_type == SPAN_HEARTBEAT and draw(st.booleans()):
        spec["attributes"] = {ATTR_SDK_DROPPED: draw(st.sampled_from(DROPPED))}
    return spec


@dataclass
class Step:
    """Advance the clock, then feed a batch (or span starts) to each window."""

    advance: float
    how: str  # "add_many" (a list), "iter" (an iterator), "add" (one by one), "starts"
    specs: list[dict[str, Any]] = field(default_factory=list)


def build(specs: list[dict[str, Any]], now: float) -> list[Event]:
    """A fresh batch: new Event objects, attribute dicts copied, timestamps resolved at ``now``."""
    events = []
    for spec in specs:
        kwargs = copy.deepcopy(spec)
        kwargs["timestamp"] = resolve(kwargs["timestamp"], now)
        events.append(Event(**kwargs))
    return events


@st.composite
def steps(draw: Any) -> Step:
    advance = draw(st.sampled_from([0.0, 0.0, 0.3, 0.75, 1.0, 2.5, 59.0, 61.0, 119.0, 130.0, 4000.0]))
    how = draw(st.sampled_from(["add_many"] * 5 + ["iter", "add", "starts"]))
    agents = draw(st.sampled_from([AGENTS[:2], AGENTS[:6], AGENTS]))
    models = draw(st.sampled_from([MODELS, MANY_MODELS, [None, "gpt-4o"]]))
    if how == "starts":
        starts = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "agent_id": st.sampled_from(agents),
                        "timestamp": stamps(),
                        "span_id": st.sampled_from([None, "s1", "s2", "s3"]),
                        "model": st.sampled_from(models),
                        "payload": st.sampled_from([None, {START_SPAN_TYPE_KEY: SPAN_LLM_CALL}]),
                    }
                ),
                max_size=4,
            )
        )
        return Step(advance, how, starts)
    python = draw(st.integers(0, 3)) == 0
    return Step(advance, how, draw(st.lists(event_specs(agents, models, python), max_size=40)))


@dataclass
class Config:
    window_seconds: int = 60
    history_seconds: int = 120
    max_agents: int = 10_000
    max_series: int = 10_000
    #: Seconds before the clock's start since when events have been watched (None: always full).
    watched: float | None = None


CONFIGS = [
    Config(),
    Config(max_agents=3, max_series=4),
    Config(max_agents=0, max_series=4),
    Config(window_seconds=5, history_seconds=8, max_agents=4, watched=2.5),
    Config(window_seconds=1, history_seconds=1, max_series=0),
]
configs = st.sampled_from(CONFIGS)
