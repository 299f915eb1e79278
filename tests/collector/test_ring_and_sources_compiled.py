"""The compiled token-source pass and the log ring's compiled replace do exactly what their Python twins do."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.collector import loghub, precedence
from agentwatch.collector.compiled import load, wanted
from agentwatch.protocol import SPAN_METRIC, Event

SCAN = load("_ingestscan") if wanted() else None
needs_scan = pytest.mark.skipif(
    SCAN is None, reason="the compiled ingest passes are not built here, or turned off"
)

session_values = st.sampled_from([None, "", "s1", "s2", "ü-session", 0, 7, 1.5, True, False])
attributes = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from([*precedence.SESSION_KEYS, "other", "gen_ai.request.model"]),
        session_values,
        max_size=5,
    ),
)
events = st.lists(
    st.builds(
        Event,
        agent_id=st.sampled_from(["a", "b", "agent-ü", "c" * 200]),
        span_type=st.sampled_from(["llm_call", SPAN_METRIC, None, "log", "metrics"]),
        tokens_input=st.sampled_from([None, 0, 5]),
        tokens_output=st.sampled_from([None, 0, 3]),
        attributes=attributes,
    ),
    max_size=30,
)


def noted(events: list[Event], max_sources: int, *, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    sources = precedence.TokenSources(max_sources=max_sources)
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(precedence, "_compiled_sources", None)
        for start in range(0, len(events) + 1, 10):  # several batches: the LRU order carries over
            sources.note(events[start : start + 10])
    return list(sources._sources), dict(sources._sessions_per_agent), sources.evicted


@needs_scan
@settings(max_examples=300, deadline=None)
@given(batch=events, max_sources=st.sampled_from([1, 3, 100]))
def test_token_sources_match_the_python_loop(batch: list[Event], max_sources: int) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert precedence._compiled_sources is not None
        compiled = noted(batch, max_sources, compiled=True, monkeypatch=monkeypatch)
        python = noted(batch, max_sources, compiled=False, monkeypatch=monkeypatch)
    assert compiled == python


@needs_scan
def test_token_sources_leave_anything_but_a_list_of_events_to_python() -> None:
    assert SCAN is not None
    found = SCAN.token_sources(
        [Event("a", tokens_input=1), "not an event"], SPAN_METRIC, precedence.SESSION_KEYS
    )
    assert found is None
    sources = precedence.TokenSources(max_sources=10)
    sources.note(iter([Event("a", tokens_input=1, attributes={"session.id": 42})]))  # not a list: Python
    assert list(sources._sources) == [("a", "42")]


@needs_scan
@settings(max_examples=200, deadline=None)
@given(
    ring=st.lists(
        st.one_of(st.none(), st.binary(max_size=4), st.builds(Event, agent_id=st.text(max_size=3))),
        min_size=1,
    ),
    data=st.data(),
)
def test_replace_is_slice_assignment(ring: list[Any], data: st.DataObject) -> None:
    assert SCAN is not None
    start = data.draw(st.integers(0, len(ring)))
    items = data.draw(
        st.lists(
            st.one_of(st.binary(max_size=4), st.builds(Event, agent_id=st.just("x"))),
            max_size=len(ring) - start,
        )
    )
    expected = list(ring)
    expected[start : start + len(items)] = items
    SCAN.replace(ring, start, items)
    assert ring == expected


@needs_scan
def test_replace_refuses_what_does_not_fit() -> None:
    assert SCAN is not None
    ring: list[Any] = [None] * 4
    for start, items in ((3, [b"a", b"b"]), (-1, [b"a"]), (5, [])):
        with pytest.raises(IndexError):
            SCAN.replace(ring, start, items)
    with pytest.raises(ValueError):
        SCAN.replace(ring, 0, ring)
    assert ring == [None] * 4


def test_the_log_ring_uses_the_compiled_replace_where_built() -> None:
    if not wanted() or (SCAN is None and not os.environ.get("CI")):
        pytest.skip("the compiled ingest passes are not built here, or turned off")
    assert loghub._replace is not loghub._replace_slice
    assert precedence._compiled_sources is not None
