"""Ingest's compiled passes give exactly what their Python loops give.

``_ingestscan.normalise`` against :func:`~agentwatch.collector.ingest._normalise_common` (the common
case of the checks): the same body decoded twice, one list for each, must come back split the same
way (index for index, the bags the very objects) and leave every event of both lists field for field
the same (floats bit for bit) and of the same class; decoded without the text limits, both must find
the same texts outside them (False, nothing changed). :func:`~agentwatch.collector.ingest.decode_events`
(and :func:`~agentwatch.collector.ingest.decode_batch`) gives the same events and rejections with the
compiled pass (which decodes without the text limits and checks them itself) and without it. ``_ingestscan.log_rows`` against the
log ring's Python columns (agent ids and :func:`~agentwatch.collector.loglines.log_ranks`). Each
compiled pass refuses (None, nothing changed) input it was not made for.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch import pricing
from agentwatch.collector import ingest, ingest_schema, loglines
from agentwatch.collector.compiled import PURE_PYTHON_ENV, load, wanted
from agentwatch.collector.ingest import IngestError, decode_batch, decode_events, split_starts
from agentwatch.protocol import LEVEL_RANK, MAX_EVENT_COST_USD, MAX_TIMESTAMP, Event
from tests.collector.ingest_scan_cases import (
    TEXT_LIMITS,
    bodies,
    items,
    log_specs,
    long_text_bodies,
    long_text_items,
    nows,
    odd_bodies,
    text_of,
)
from tests.collector.test_window_compiled import canon, first_difference

Normalise = Callable[[list[Any], float], Any]
LogRows = Callable[[Sequence[Event]], Any]


# ------------------------------------------------------------------ the compiled passes
def _built(loader: Callable[[], Any], loaded: Any) -> Any:
    """The compiled pass, set up as its module sets it up (even when this run was started with
    the Python passes asked for); skips the test where it is not built."""
    if loaded is not None:
        return loaded
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(PURE_PYTHON_ENV, raising=False)
        compiled = loader()
    if compiled is None:
        pytest.skip("the compiled ingest passes are not built here")
    return compiled


@pytest.fixture(scope="module")
def compiled_normalise() -> Normalise:
    return _built(ingest._load_normalise, ingest._compiled_normalise)


@pytest.fixture(scope="module")
def compiled_log_rows() -> LogRows:
    return _built(loglines._load_log_rows, loglines._compiled_log_rows)


# ------------------------------------------------------------------ comparing
def state(events: Sequence[Any]) -> list[Any]:
    """Each event's class and fields, floats as their bits."""
    return [(type(event).__name__, canon(event)) for event in events]


def positions(found: list[Any], events: list[Any]) -> list[int]:
    """Where each of ``found`` is in ``events`` (by identity)."""
    index_of = {id(event): index for index, event in enumerate(events)}
    assert all(id(event) in index_of for event in found), "returned an event not of the batch"
    return [index_of[id(event)] for event in found]


def bags_of(holders: list[Any]) -> list[Any]:
    """The attributes and payloads of ``holders``, in order (the objects themselves)."""
    return [bag for event in holders for bag in (event.attributes, event.payload) if bag is not None]


def assert_same_split(compiled: Any, pure: Any, compiled_events: list[Any], pure_events: list[Any]) -> None:
    assert compiled is not None, "the compiled pass refused a decoded batch"
    if compiled is False or pure is False:
        assert compiled is pure, "only one side found a text outside its limits"
        a, b = state(compiled_events), state(pure_events)
        assert a == b, first_difference(a, b)  # nothing changed on either side
        return
    assert type(compiled) is tuple and len(compiled) == 3
    assert all(type(part) is list for part in compiled)
    bags, holders, odd = compiled
    pure_bags, pure_holders, pure_odd = pure
    assert positions(holders, compiled_events) == positions(pure_holders, pure_events), "holders differ"
    assert positions(odd, compiled_events) == positions(pure_odd, pure_events), "odd events differ"
    for found, owners in ((bags, holders), (pure_bags, pure_holders)):
        expected = bags_of(owners)
        assert len(found) == len(expected) and all(a is b for a, b in zip(found, expected, strict=True))
    a, b = state(compiled_events), state(pure_events)
    assert a == b, first_difference(a, b)


def normalise_both(
    compiled_normalise: Normalise, body: bytes, now: float, decoder: Any = ingest._batch_decoder
) -> tuple[list[Any], list[Any]]:
    """Decode ``body`` twice, normalise one list compiled and the other in Python; compare them."""
    compiled_events = decoder.decode(body)
    pure_events = decoder.decode(body)
    assert state(compiled_events) == state(pure_events)
    compiled = compiled_normalise(compiled_events, now)
    pure = ingest._normalise_common(pure_events, now)
    assert_same_split(compiled, pure, compiled_events, pure_events)
    return compiled_events, pure_events


# ------------------------------------------------------------------ normalise
@settings(max_examples=250, deadline=None)
@given(
    body=st.one_of(bodies(), long_text_bodies()),
    now=nows,
    later=nows,
    decoder=st.sampled_from([ingest._batch_decoder, ingest._unchecked_batch_decoder]),
)
def test_compiled_normalise_splits_and_changes_events_as_the_python_loop_does(
    compiled_normalise: Normalise, body: bytes, now: float, later: float, decoder: Any
) -> None:
    try:
        decoder.decode(body)
    except msgspec.ValidationError:
        return  # a text outside its limits, refused by the checked decoder
    compiled_events, pure_events = normalise_both(compiled_normalise, body, now, decoder)
    # Again over what the first pass left: Events and the untouched odd _CheckedEvents, mixed.
    compiled = compiled_normalise(compiled_events, later)
    pure = ingest._normalise_common(pure_events, later)
    assert_same_split(compiled, pure, compiled_events, pure_events)


def _outcome(body: bytes, content_type: str | None, now: float) -> Any:
    try:
        accepted, rejected = decode_events(body, content_type, now=now)
    except IngestError as exc:
        return ("error", type(exc).__name__, exc.status, str(exc))
    assert all(type(event) is Event for event in accepted)
    return state(accepted), canon(rejected)


def _split_outcome(body: bytes, content_type: str | None, now: float) -> Any:
    """decode_batch's (events, starts, rejections), checked against split_starts of decode_events'."""
    try:
        events, starts, rejected = decode_batch(body, content_type, now=now)
    except IngestError as exc:
        return ("error", type(exc).__name__, exc.status, str(exc))
    accepted, _ = decode_events(body, content_type, now=now)
    expected_events, expected_starts = split_starts(accepted)
    assert state(events) == state(expected_events) and state(starts) == state(expected_starts)
    return state(events), state(starts), canon(rejected)


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(
        bodies(invalid=True),
        items(invalid=True).map(lambda item: ingest._encoder.encode(item)),
        long_text_bodies(),
        long_text_items().map(lambda item: ingest._encoder.encode(item)),
        odd_bodies(),
    ),
    content_type=st.sampled_from([None, "application/json", "text/plain", "application/x-ndjson"]),
    now=nows,
)
def test_decode_events_gives_the_same_events_and_rejections_with_and_without_the_compiled_pass(
    compiled_normalise: Normalise,
    compiled_log_rows: LogRows,
    body: bytes,
    content_type: str | None,
    now: float,
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest, "_compiled_normalise", compiled_normalise)
        compiled = _outcome(body, content_type, now)
        compiled_split = _split_outcome(body, content_type, now)
        patch.setattr(ingest, "_compiled_normalise", None)
        pure = _outcome(body, content_type, now)
        pure_split = _split_outcome(body, content_type, now)
    assert compiled == pure, first_difference(compiled, pure)
    assert compiled_split == pure_split, first_difference(compiled_split, pure_split)
    # The accepted events are what the log ring's columns are taken from.
    accepted, _ = decode_events(body, content_type, now=now) if compiled[0] != "error" else ([], [])
    assert_same_rows(compiled_log_rows, accepted)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'[{"agent_id": "a", "span_type": "llm_call", "model": "gpt-4o", "tokens_input": 1000}]',
        b'[{"agent_id": "\\u3000a", "span_type": "llm_call"}, {"agent_id": "a\\u0085"}, {"agent_id": "a\\u001c"}]',
        b'[{"agent_id": "\\u200ba\\ufeff", "span_type": "log", "level": "WARN", "timestamp": "2024-01-01"}]',
        b'[{"agent_id": "a", "span_type": "x", "timestamp": 1e11}, {"agent_id": "a", "span_type": "x", "timestamp": -0.0}]',
        b'[{"agent_id": "a", "event_type": "token", "payload": {"tokens": 3, "model": "gpt-4o"}}]',
        b'[{"agent_id": "a", "span_type": "log", "level": "info", "attributes": {}, "payload": null}]',
    ],
    ids=["empty", "estimate", "unicode spaces", "look-alikes", "timestamp bounds", "article form", "bags"],
)
def test_compiled_normalise_matches_the_python_loop_on(compiled_normalise: Normalise, body: bytes) -> None:
    normalise_both(compiled_normalise, body, 1_700_000_000.5)


def _item_with(name: str, value: str) -> dict[str, Any]:
    return {"agent_id": "a", "span_type": "llm_call", name: value}


_LIMIT_CASES = [
    pytest.param(name, text_of(length, unit), id=f"{name} {label} {kind}")
    for name, limit in TEXT_LIMITS.items()
    for label, length in (("at the limit", limit), ("one over", limit + 1))
    for kind, unit in (("ascii", "x"), ("é", "é"), ("emoji", "🙂"))
] + [
    pytest.param("agent_id", "", id="agent_id empty"),
    pytest.param("agent_id", " " * TEXT_LIMITS["agent_id"], id="agent_id blank at the limit"),
    pytest.param("message", "🙂" * (TEXT_LIMITS["message"] - 1) + "éx", id="message one over, mixed"),
    pytest.param("timestamp", " " * 44 + "2024-01-01T00:00:00Z", id="timestamp padded to the limit"),
    pytest.param("timestamp", " " * 45 + "2024-01-01T00:00:00Z", id="timestamp padded one over"),
]


@pytest.mark.parametrize("ensure_ascii", [True, False], ids=["escaped", "utf-8"])
@pytest.mark.parametrize(("name", "value"), _LIMIT_CASES)
def test_text_limits_are_checked_as_the_checked_decoder_checks_them(
    compiled_normalise: Normalise, name: str, value: str, ensure_ascii: bool
) -> None:
    """A text at its limit is taken, one code point over it refused with msgspec's message, whether
    written as UTF-8 or as JSON escapes (surrogate pairs), the compiled pass or not."""
    objects = [{"agent_id": "b", "span_type": "log"}, _item_with(name, value)]
    body = json.dumps(objects, ensure_ascii=ensure_ascii).encode()
    over = not (name == "agent_id") <= len(value) <= TEXT_LIMITS[name]
    if name in {limited for limited, _, _ in ingest_schema.TEXT_LIMITS}:  # else msgspec checks it in both
        found = compiled_normalise(ingest._unchecked_batch_decoder.decode(body), 1.0)
        assert (found is False) == over
        assert (ingest._normalise_common(ingest._unchecked_batch_decoder.decode(body), 1.0) is False) == over
    if not over:
        normalise_both(compiled_normalise, body, 1.0, ingest._unchecked_batch_decoder)
    with pytest.MonkeyPatch.context() as patch:
        outcomes = []
        for normalise in (compiled_normalise, None):
            patch.setattr(ingest, "_compiled_normalise", normalise)
            outcomes.append((_outcome(body, None, 1.0), _split_outcome(body, None, 1.0)))
            one = json.dumps(objects[1], ensure_ascii=ensure_ascii).encode()
            outcomes.append((_outcome(one, None, 1.0), _split_outcome(one, None, 1.0)))
    assert outcomes[:2] == outcomes[2:]
    _, rejected = decode_events(body, None, now=1.0)
    refusals = [problem.error for problem in rejected if problem.error.startswith(f"{name}: expected str")]
    refused_anyway = not value.strip() or (name == "timestamp" and ingest._parse_rfc3339(value) is None)
    assert [problem.index for problem in rejected] == ([1] if over or refused_anyway else [])
    assert len(refusals) == over


@pytest.mark.parametrize(
    "body",
    [
        b'[{"agent_id": "a", "span_type": "x", "extra": "ab\xffc"}]',
        b'{"agent_id": "a", "span_type": "x", "extra": {"k": ["\xed\xa0\x80"]}}',
        b'[{"agent_id": "a", "span_type": "x", "message": "\xc3"}]',
        b'[{"agent_id": "a", "span_type": "x", "attributes": {"\xc0\x80": 1}}]',
        b'[{"agent_id": "a", "span_type": "x"}] \xff',
    ],
    ids=["unknown field", "unknown field, nested", "known field", "attribute key", "after the array"],
)
def test_a_body_that_is_not_utf8_is_refused_as_without_the_compiled_pass(
    compiled_normalise: Normalise, body: bytes
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ingest, "_compiled_normalise", compiled_normalise)
        compiled = _outcome(body, None, 1.0)
        patch.setattr(ingest, "_compiled_normalise", None)
        pure = _outcome(body, None, 1.0)
    assert compiled == pure
    assert compiled[:3] == ("error", "BadRequest", 400)


def test_the_unchecked_event_is_the_checked_one_without_the_text_limits() -> None:
    """Decoding without the limits and checking ``_TEXT_LIMITS`` accepts what the checked decoder does."""
    limited = {name: (least, most) for name, least, most in ingest_schema.TEXT_LIMITS}
    checked = msgspec.inspect.type_info(ingest_schema.CheckedEvent).fields
    unchecked = msgspec.inspect.type_info(ingest_schema.UncheckedEvent).fields
    assert [field.name for field in checked] == [field.name for field in unchecked]
    for a, b in zip(checked, unchecked, strict=True):
        if a.name not in limited:
            assert a == b, a.name
            continue
        kinds = a.type.types if isinstance(a.type, msgspec.inspect.UnionType) else (a.type,)
        plain = tuple(
            msgspec.inspect.StrType() if isinstance(kind, msgspec.inspect.StrType) else kind for kind in kinds
        )
        assert b.type == (plain[0] if len(plain) == 1 else msgspec.inspect.UnionType(plain)), a.name
        (text,) = [kind for kind in kinds if isinstance(kind, msgspec.inspect.StrType)]
        assert limited[a.name] == (text.min_length or 0, text.max_length)


def test_compiled_normalise_estimates_from_prices_set_at_run_time(compiled_normalise: Normalise) -> None:
    body = (
        b'[{"agent_id": "a", "span_type": "llm_call", "model": "house-model", "tokens_input": 1000},'
        b' {"agent_id": "a", "span_type": "llm_call", "model": "gpt-4o", "tokens_output": 10},'
        b' {"agent_id": "a", "span_type": "llm_call", "model": "house-model-2", "tokens_output": 1000000000000000}]'
    )
    try:
        pricing.set_prices({"house-model": (1.0, 2.0)})
        compiled_events, _ = normalise_both(compiled_normalise, body, 1.0)
        pricing.set_prices({"house-model": (3.0, 4.0)}, replace=True)
        normalise_both(compiled_normalise, body, 1.0)
    finally:
        pricing.set_prices(pricing.DEFAULT_PRICES, replace=True, cache_prices=pricing.DEFAULT_CACHE_PRICES)
    assert [event.cost_usd for event in compiled_events] == [0.001, 0.0001, None]


@pytest.mark.parametrize("decoder", [ingest._batch_decoder, ingest._unchecked_batch_decoder])
def test_compiled_normalise_estimates_as_pricing_does_bit_for_bit(
    compiled_normalise: Normalise, decoder: Any
) -> None:
    """The compiled pass prices a model of the price table itself (and leaves the others, prefixes
    included, to pricing): odd prices and the largest counts give the very floats Python gives."""
    prices = {
        "house": (3.0, 7.0),
        "tenth": (0.1, 0.3),
        "negative": (-1.5, 2.0),
        "nan-in": (math.nan, 1.0),
        "inf-out": (1.0, math.inf),
        "zero": (0.0, -0.0),
        "dear": (1e6, 1e6),
    }
    counts = [None, 0, 1, 3, 999_999, 2**53 - 1]
    items = [
        {"agent_id": "a", "span_type": "llm_call", "model": model, "tokens_input": ti, "tokens_output": to}
        for model in [*prices, "house-2024", "gpt-4o", "unknown"]
        for ti in counts
        for to in counts
        if ti is not None or to is not None
    ]
    body = json.dumps(items).encode()
    try:
        pricing.set_prices(prices)
        compiled_events, _ = normalise_both(compiled_normalise, body, 1.0, decoder)
    finally:
        pricing.set_prices(pricing.DEFAULT_PRICES, replace=True, cache_prices=pricing.DEFAULT_CACHE_PRICES)
    assert any(event.cost_estimated for event in compiled_events)
    assert any(event.model == "dear" and event.cost_usd is None for event in compiled_events)  # over the cap


def test_compiled_normalise_keeps_reference_counts(compiled_normalise: Normalise) -> None:
    """Each stamped event holds ``now`` once, and nothing is held or freed for good once the batch
    goes (the compiled pass sets slots and switches classes itself). Counts of shared objects may
    move a little if another thread runs; a leak would move them by a reference per run."""
    body = b'[{"agent_id": "a", "span_type": "log", "attributes": {}}, {"agent_id": " b"}, {"agent_id": "c", "span_type": "x"}]'
    now = 1_700_000_000.5
    runs = 200
    shared = (Event, ingest_schema.CheckedEvent, None)

    def run(normalise: Normalise) -> None:
        stamped = sys.getrefcount(now) + 2  # the two common events are stamped
        events = ingest._batch_decoder.decode(body)
        result = normalise(events, now)
        assert result is not None and sys.getrefcount(now) == stamped
        del events, result

    for normalise in (compiled_normalise, ingest._normalise_common):
        run(normalise)
        held = sys.getrefcount(now)
        before = [sys.getrefcount(item) for item in shared]
        for _ in range(runs):
            run(normalise)
        assert sys.getrefcount(now) == held
        moved = [sys.getrefcount(item) - count for item, count in zip(shared, before, strict=True)]
        assert all(abs(delta) < runs // 2 for delta in moved), moved


def _result_or_error(call: Callable[[], Any], errors: type[Exception] = AttributeError) -> Any:
    try:
        return call()
    except errors as exc:
        return ("raised", type(exc).__name__, str(exc))


@pytest.mark.parametrize("decoder", [ingest._batch_decoder, ingest._unchecked_batch_decoder])
@pytest.mark.parametrize("name", ["agent_id", "timestamp", "model", "attributes", "span_type"])
def test_compiled_normalise_treats_a_deleted_field_as_python_does(
    compiled_normalise: Normalise, name: str, decoder: Any
) -> None:
    body = b'[{"agent_id": "a", "span_type": "llm_call", "model": "gpt-4o", "tokens_input": 10}]'
    compiled_events, pure_events = decoder.decode(body), decoder.decode(body)
    delattr(compiled_events[0], name)
    delattr(pure_events[0], name)
    # None: the compiled pass leaves the batch to the Python loop (which then raises as it does)
    assert compiled_normalise(compiled_events, 1.0) is None
    assert _result_or_error(lambda: ingest._normalise_common(pure_events, 1.0))[0] == "raised"


_BODY = b'[{"agent_id": "a", "model": "gpt-4o", "tokens_input": 10}, {"agent_id": " b", "level": "WARN"}]'


class _NotAFloat(float):
    pass


class _Text(str):
    """A str subclass (as a ``StrEnum`` member is)."""


_FIVE: Any = 5


class _SubEvent(Event):
    pass


@pytest.mark.parametrize(
    ("extra", "now"),
    [
        ({"x": 1}, 1.0),
        (None, 1.0),
        (_SubEvent(agent_id="a", span_type="log"), 1.0),
        (ingest._batch_decoder.decode(_BODY)[0], 1),
        (ingest._batch_decoder.decode(_BODY)[0], _NotAFloat(1.0)),
        (ingest._batch_decoder.decode(_BODY)[0], None),
        (ingest_schema.UncheckedEvent(agent_id="a", span_type="log", level=_FIVE), 1.0),
        (ingest_schema.UncheckedEvent(agent_id="a", span_type="log", level=_Text("info")), 1.0),
    ],
    ids=[
        "a dict",
        "None",
        "an Event subclass",
        "now an int",
        "now a float subclass",
        "now None",
        "an unchecked event with a number for a text",
        "an unchecked event with a str subclass",
    ],
)
def test_compiled_normalise_refuses_other_input_and_changes_nothing(
    compiled_normalise: Normalise, extra: Any, now: Any
) -> None:
    events = [*ingest._batch_decoder.decode(_BODY), extra]
    before = [(type(event), repr(event)) for event in events]
    assert compiled_normalise(events, now) is None
    assert [(type(event), repr(event)) for event in events] == before


def test_setup_checks_refusing_a_limit_keeps_the_limits_it_had(compiled_normalise: Normalise) -> None:
    scan = load("_ingestscan")
    assert scan is not None
    limits = (("agent_id", 1, 2), ("no_such_field", 0, 1))
    with pytest.raises(AttributeError):
        scan.setup_checks(
            Event, ingest_schema.CheckedEvent, ingest_schema.UncheckedEvent, limits, LEVEL_RANK,
            MAX_TIMESTAMP, ingest._estimate_cost, pricing.exact_prices(), MAX_EVENT_COST_USD,
        )  # fmt: skip
    body = b'[{"agent_id": "abc", "span_type": "x"}]'  # over the refused limit, within the real one
    assert compiled_normalise(ingest._unchecked_batch_decoder.decode(body), 1.0) is not False


def _make(kind: type, **fields: Any) -> Any:
    return kind(agent_id="a", span_type="llm_call", **fields)


@pytest.mark.parametrize("kind", [Event, ingest_schema.CheckedEvent, ingest_schema.UncheckedEvent])
@pytest.mark.parametrize(
    "fields",
    [
        {"model": _Text("gpt-4o"), "tokens_input": 10},
        {"model": _Text("gpt-4o-2024-08-06"), "tokens_output": 10},
        {"model": _FIVE, "tokens_input": 10},
        {"model": _FIVE},
        {"error": _FIVE, "model": "gpt-4o", "tokens_input": 1},
        {"error": _Text("boom")},
        {"model": "gpt-4o", "tokens_input": True},
        {"model": "gpt-4o", "tokens_input": 10**400},
    ],
    ids=[
        "model a str subclass",
        "model a str subclass, priced by prefix",
        "model a number, with tokens",
        "model a number",
        "error a number",
        "error a str subclass",
        "tokens a bool",
        "tokens beyond a double",
    ],
)
def test_compiled_normalise_reads_model_and_error_as_python_does(
    compiled_normalise: Normalise, kind: type, fields: dict[str, Any]
) -> None:
    """The pass does not look at ``model`` but against None (it prices an exact str itself, else asks
    pricing) nor at ``error``: whatever they hold, it gives what Python gives, errors too."""
    compiled_events, pure_events = [_make(kind, **fields)], [_make(kind, **fields)]
    compiled = _result_or_error(lambda: compiled_normalise(compiled_events, 1.0), Exception)
    pure = _result_or_error(lambda: ingest._normalise_common(pure_events, 1.0), Exception)
    if isinstance(pure, tuple) and pure[0] == "raised":
        assert compiled == pure
        return
    assert_same_split(compiled, pure, compiled_events, pure_events)


# ------------------------------------------------------------------ log rows
def assert_same_rows(
    compiled_log_rows: LogRows, events: Sequence[Event], *, may_refuse: bool = False
) -> None:
    """The compiled columns equal the Python ones; with ``may_refuse``, None (the Python loop runs) is
    also right, and then what :func:`loglines.log_rows` gives is checked instead."""
    expected = (list(map(attrgetter("agent_id"), events)), loglines.log_ranks(events))
    got = compiled_log_rows(events)
    if got is None and may_refuse:
        got = loglines.log_rows(events)
    assert got is not None, "the compiled log rows refused a batch of decoded Events"
    assert type(got) is tuple and len(got) == 2 and all(type(part) is list for part in got)
    assert canon(got) == canon(expected)
    assert all(a is b for a, b in zip(got[0], expected[0], strict=True))


@settings(max_examples=250, deadline=None)
@given(specs=st.lists(log_specs(), max_size=30), container=st.sampled_from([list, tuple]))
def test_compiled_log_rows_give_the_python_columns(
    compiled_log_rows: LogRows, specs: list[dict[str, Any]], container: type
) -> None:
    events = container(Event(**spec) for spec in specs)
    assert_same_rows(compiled_log_rows, events)
    assert canon(loglines.log_rows(events)) == canon(compiled_log_rows(events))


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(Event(agent_id="a", span_type=_Text("error")), id="span type error as a str subclass"),
        pytest.param(
            Event(agent_id="a", span_type=_Text("heartbeat")), id="span type heartbeat as a str subclass"
        ),
        pytest.param(Event(agent_id="a", level=_Text("WARN")), id="level WARN as a str subclass"),
        pytest.param(Event(agent_id="a", level=_Text("error")), id="level error as a str subclass"),
        pytest.param(Event(agent_id=_Text("a"), span_type=_FIVE), id="odd types"),
    ],
)
def test_compiled_log_rows_match_on_values_of_other_types(compiled_log_rows: LogRows, event: Event) -> None:
    assert compiled_log_rows([event]) is None  # not a decoded event's types: the Python loop's
    assert_same_rows(compiled_log_rows, [event], may_refuse=True)


@pytest.mark.parametrize("name", ["error", "span_type"])
def test_compiled_log_rows_treat_a_deleted_field_as_python_does(
    compiled_log_rows: LogRows, name: str
) -> None:
    event = Event(agent_id="a")
    delattr(event, name)
    assert compiled_log_rows([event]) is None  # the Python loop's, which raises as it does
    assert _result_or_error(lambda: loglines.log_ranks([event]))[0] == "raised"


@pytest.mark.parametrize("events", [[], ()], ids=["empty list", "empty tuple"])
def test_compiled_log_rows_of_an_empty_batch_are_empty(compiled_log_rows: LogRows, events: Any) -> None:
    assert compiled_log_rows(events) == ([], [])


class _Events(list[Event]):
    pass


@pytest.mark.parametrize(
    "events",
    [
        [Event(agent_id="a"), "not an event"],
        [Event(agent_id="a"), None],
        [_SubEvent(agent_id="a")],
        [Event(agent_id="a"), ingest_schema.CheckedEvent(agent_id="a")],
        _Events([Event(agent_id="a")]),
        iter([Event(agent_id="a")]),
        {"a": Event(agent_id="a")},
    ],
    ids=["a str", "None", "an Event subclass", "a checked event", "a list subclass", "an iterator", "a dict"],
)
def test_compiled_log_rows_refuse_anything_but_exact_events(compiled_log_rows: LogRows, events: Any) -> None:
    assert compiled_log_rows(events) is None


# ------------------------------------------------------------------ in use
def test_the_compiled_ingest_passes_are_used_where_they_are_built() -> None:
    if not os.environ.get("CI"):
        if load("_ingestscan") is None:
            pytest.skip("the compiled ingest passes are not built here")
        if not wanted():
            pytest.skip(f"{PURE_PYTHON_ENV} is set")
    assert ingest._compiled_normalise is not None
    assert loglines._compiled_log_rows is not None


def test_the_python_loops_are_used_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    assert ingest._load_normalise() is None
    assert loglines._load_log_rows() is None
