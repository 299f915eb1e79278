"""The compiled grouping of a batch (``_windowscan.group``) is the grouping of ``Window.add_many``'s loop.

That loop builds ``{second: {agent id: [events]}}`` with dicts, seconds and agents in the order first
seen and each agent's events in arrival order; the compiled pass keeps each group's events together
in one array instead (a ``Grouping``), and hands a second's groups to the compiled ``add_second`` or,
for the Python loop, as that same dict. Agent ids that hash alike in its table (shared prefixes,
lengths that are multiples of 8, every str kind) must still group only with equal ids.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.collector import window
from agentwatch.collector.totals import Totals
from agentwatch.collector.window import COMPILED_AVAILABLE, Window
from agentwatch.protocol import Event
from tests.helpers import NOW, Clock

pytestmark = [
    pytest.mark.skipif(
        not COMPILED_AVAILABLE and not os.environ.get("CI"),
        reason="the compiled window scan is not built here",
    ),
    pytest.mark.skipif(
        bool(os.environ.get("AGENTWATCH_PURE_PYTHON")), reason="the compiled passes are turned off"
    ),
]

#: Agent ids whose hashes the table must tell apart: equal 8-byte prefixes, lengths around 8 and 16,
#: latin-1, two-byte and four-byte kinds, and the empty id.
AGENTS = [
    "a",
    "agent-01",
    "agent-012",
    "agent-01\x00",
    "agent-0123456789",
    "agent-0123456789a",
    "agent-01234567890",
    "é",
    "agént-01",
    "agent-λ",
    "agent-😀",
    "😀",
    "",
]


def python_grouping(events: list[Event]) -> dict[int, dict[str, list[Event]]]:
    """Window.add_many's loop, for events whose timestamps all lie within the ring."""
    by_second: dict[int, dict[str, list[Event]]] = {}
    for event in events:
        assert isinstance(event.timestamp, float)
        by_second.setdefault(int(event.timestamp), {}).setdefault(event.agent_id, []).append(event)
    return by_second


def compiled_grouping(events: list[Event], oldest: float, now: float) -> Any:
    assert window._compiled_group is not None
    return window._compiled_group(events, oldest, now)


def assert_same(events: list[Event], grouping: Any) -> None:
    expected = python_grouping(events)
    assert grouping.seconds() == list(expected)
    for index, (_, groups) in enumerate(expected.items()):
        got = grouping.groups(index)
        assert list(got) == list(groups)  # agents in the order first seen
        for agent, group in groups.items():
            assert [id(e) for e in got[agent]] == [id(e) for e in group]  # the same events, in order


def fresh(agent: str) -> str:
    """An equal id that is another object (as each decoded event's is)."""
    return "".join([agent[:1], agent[1:]])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(AGENTS), st.integers(min_value=0, max_value=5), st.floats(0.0, 0.999)),
        max_size=300,
    )
)
def test_the_compiled_grouping_is_the_loops(items: list[tuple[str, int, float]]) -> None:
    events = [
        Event(agent_id=fresh(agent), timestamp=NOW - 10 + second + part) for agent, second, part in items
    ]
    assert_same(events, compiled_grouping(events, NOW - 100, NOW))


def test_a_batch_of_one_second_each_and_of_one_agent_each() -> None:
    spread = [Event(agent_id="a", timestamp=NOW - 3000 + i + 0.5) for i in range(2000)]
    assert_same(spread, compiled_grouping(spread, NOW - 3600, NOW))
    crowd = [Event(agent_id=f"agent-{i:05d}", timestamp=NOW - 0.5) for i in range(3000)]
    grouping = compiled_grouping(crowd, NOW - 3600, NOW)
    assert_same(crowd, grouping)
    assert len(grouping.groups(0)) == 3000


def test_an_empty_batch_has_no_seconds() -> None:
    assert compiled_grouping([], NOW - 60, NOW).seconds() == []


def test_a_batch_it_does_not_take_is_left_to_the_loop() -> None:
    late = [Event(agent_id="a", timestamp=NOW - 1), Event(agent_id="a", timestamp=NOW - 500)]
    assert compiled_grouping(late, NOW - 100, NOW) is None
    unstamped = [Event(agent_id="a", timestamp=None)]
    assert compiled_grouping(unstamped, NOW - 100, NOW) is None


def test_a_grouping_is_made_only_by_the_pass_and_read_only_for_its_seconds() -> None:
    grouping = compiled_grouping([Event(agent_id="a", timestamp=NOW - 0.5)], NOW - 60, NOW)
    with pytest.raises(TypeError):
        type(grouping)()
    for index in (-1, 1, 10**30):
        with pytest.raises((IndexError, OverflowError)):
            grouping.groups(index)


def test_add_second_refuses_a_second_that_is_not_the_groupings() -> None:
    clock = Clock()
    win = Window(clock=clock, totals=Totals())
    assert win.compiled
    events = [Event(agent_id="a", timestamp=NOW - 0.5, span_type="llm_call", tokens_input=3)]
    grouping = compiled_grouping(events, NOW - 60, NOW)
    second = grouping.seconds()[0]
    with pytest.raises(IndexError):
        win._add_second(second + 1, grouping, win.totals, 0)
    with pytest.raises(IndexError):
        win._add_second(second, grouping, win.totals, 1)
    assert win.events_total == 0 and win._fleet.events == 0  # nothing counted


def test_the_grouping_keeps_its_events_alive() -> None:
    events = [Event(agent_id=fresh("agent-😀"), timestamp=NOW - 0.25) for _ in range(3)]
    grouping = compiled_grouping(events, NOW - 60, NOW)
    del events
    (group,) = grouping.groups(0).values()
    assert [e.agent_id for e in group] == ["agent-😀"] * 3


# ------------------------------------------------------------------ counters changed in place
def test_a_counter_python_holds_keeps_its_value_while_the_window_counts_on() -> None:
    """The compiled pass changes an int or float counter in place only when nothing but its slot
    refers to it: a value read from Python before a batch is the same after it."""
    clock = Clock()
    win = Window(clock=clock, totals=Totals())
    assert win.compiled

    def batch(count: int) -> list[Event]:
        return [
            Event(
                agent_id="a",
                timestamp=clock() - 0.5,
                span_type="llm_call",
                model="gpt-4o",
                tokens_input=1000,
                latency_ms=12.5,
                cost_usd=0.25,
            )
            for _ in range(count)
        ]

    win.add_many(batch(300))
    agent = win._agents["a"]
    series = win.totals.series_for("a", "gpt-4o")
    held = (agent.events, agent.total_cost, agent.last_seen, series.events, series.tokens_in, series.cost)
    assert held == (300, 75.0, clock() - 0.5, 300, 300_000, 75.0)
    win.add_many(batch(300))
    assert (agent.events, agent.total_cost, series.events, series.tokens_in, series.cost) == (
        600,
        150.0,
        600,
        600_000,
        150.0,
    )
    assert held == (300, 75.0, clock() - 0.5, 300, 300_000, 75.0)  # what Python held did not move
    for _ in range(3):  # counted on in place (nothing holds them now), past one int digit too
        win.add_many(batch(300))
    clock.advance(1.0)
    win.add_many([Event(agent_id="a", timestamp=clock() - 0.5, model="gpt-4o", tokens_input=2**31)])
    assert (agent.events, series.tokens_in) == (1501, 1_500_000 + 2**31)
