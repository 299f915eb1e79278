"""Decode and validate ingest bodies: bytes in, normalised :class:`~agentwatch.protocol.Event` out.

Pure functions over bytes, no HTTP: the web layer undoes the body's ``Content-Encoding``
(:mod:`~agentwatch.collector.contentcoding`), calls :func:`decode_events` and turns an
:class:`IngestError` into a response with its ``status`` and ``message`` (precise, and safe to
show to the sender; the errors and the wording of rejections are in
:mod:`~agentwatch.collector.ingest_errors`).

Accepted bodies
    One JSON object, a JSON array of objects, or NDJSON (one object per line: content
    type ``application/x-ndjson`` / ``application/jsonl``, or any body that starts with
    ``{`` and holds several newline-separated objects). A body starting with ``[`` is
    always an array; otherwise only an NDJSON content type forces NDJSON and anything else
    is sniffed, so ``curl -d`` works whatever content type it claims.

Whole-body errors (:class:`BadRequest`)
    Empty body, invalid UTF-8 or JSON (the message names line, column and byte; for NDJSON
    the line number), nesting deeper than the decoder allows, a top level that is neither
    an object nor an array.

Per-item errors (:class:`~agentwatch.protocol.Rejected`)
    An item that is not an object or breaks a rule below is rejected with its index and
    ``"<field>: <reason>"``; the rest of the batch is accepted. For NDJSON the index counts
    non-blank lines from 0.

Rules and normalisation of one event (the ``MAX_*`` limits are in :mod:`agentwatch.protocol`)
    * ``agent_id``: required, stripped, 1..``MAX_AGENT_ID_LENGTH`` characters.
    * ``model``, ``tool_name``, ``decision_made``, ids, ``span_type``, ``level``,
      ``event_type``: at most ``MAX_SHORT_FIELD_LENGTH`` characters; ``message`` and
      ``error`` at most ``MAX_MESSAGE_LENGTH`` (rejected, never truncated).
    * ``attributes`` and ``payload``: JSON objects nested at most ``MAX_NESTING_DEPTH``
      containers deep (the object itself counts as one), at most ``MAX_ATTRIBUTES_BYTES``
      once re-encoded.
    * ``tokens_input`` / ``tokens_output``: integers in [0, 2**53) (booleans are not
      integers); ``latency_ms``: finite, in [0, ``MAX_LATENCY_MS``]; ``cost_usd``: finite, in
      [0, ``MAX_EVENT_COST_USD``] (a larger one would break every total it is added to);
      ``confidence``: finite, in [0, 1].
    * ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, but Python's ``json.dumps`` writes
      them) reject the item that holds them, naming the field; the rest of the batch is taken.
    * ``timestamp``: unix seconds; values above 1e11 / 1e14 / 1e17 are taken as milli-,
      micro- and nanoseconds; the result must be below ``MAX_TIMESTAMP`` (1e11, year 5138).
      An RFC 3339 / ISO 8601 string (``Z`` or offset, fractional seconds; no offset means UTC)
      is converted. Absent → ``now``. Negative, unparseable or out-of-range → rejected.
    * ``level``: normalised with :func:`~agentwatch.protocol.normalize_level` when given,
      otherwise left ``None`` (the log line derives one, see :mod:`~agentwatch.collector.loglines`).
    * ``span_type`` absent or empty: ``"error"`` when ``error`` is set, ``"log"`` when a
      ``message`` is present, otherwise ``"event"``. Unknown span types are kept as sent.
    * ``cost_usd`` absent but the model's price and some tokens known: estimated with
      :func:`agentwatch.pricing.estimate_cost` and ``cost_estimated`` set to True (an estimate
      above ``MAX_EVENT_COST_USD`` is none).

The first article's form ``{"agent_id", "event_type", "timestamp", "payload": {...}}``
    is mapped onto span fields when ``span_type`` is absent
    (:func:`~agentwatch.collector.articleform.map_article_form`). Fields given at the top level
    win over the payload; the payload itself is kept as sent.

    ============  ==============================================================
    event_type    mapping
    ============  ==============================================================
    token         ``span_type="llm_call"``; ``tokens_output`` = payload ``tokens`` /
                  ``count`` / ``token_count`` (default 1), so tokens per second
                  counts real streamed tokens; ``model`` from the payload.
    tool_call     ``span_type="tool_call"``; ``tool_name`` from ``tool_name`` /
                  ``name``; ``latency_ms`` from ``latency_ms`` / ``duration_ms``.
    error         ``span_type="error"``; ``error`` from ``error`` / ``message``.
    completion    ``span_type="completion"``; ``latency_ms``, ``model``, tokens
                  (``tokens`` → output; ``tokens_input`` / ``tokens_output`` too).
    span_start    a span's start (see ``EVENT_SPAN_START``): its type in payload
                  ``span_type`` (a string, default ``event``); kept with
                  ``span_type`` None, which no other accepted event has, and taken
                  out of the batch by :func:`split_starts`: not an event of its own.
    other         ``span_type`` = the event type, kept as sent.
    ============  ==============================================================
    Payload values of the wrong type are rejected like top-level ones (``payload.tokens``).

Speed: the common case is one ``msgspec`` decode into a constrained subclass of ``Event``
(limits checked in C; :mod:`~agentwatch.collector.ingest_schema`) plus a short pass per event,
compiled where built; that pass also checks the length limits of the texts it reads anyway, so the
decode leaves them out (a batch with a text outside them is decoded again with them, and refused as
ever). Only a batch that fails type validation is re-decoded item by item to find the bad ones, and
only a body holding a ``NaN`` / ``Infinity`` literal is read by the standard library's (slower) JSON
reader.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, Literal

import msgspec

from agentwatch.collector.articleform import map_article_form
from agentwatch.collector.compiled import load_wanted
from agentwatch.collector.ingest_errors import (
    BadRequest,
    IngestError,
    PayloadTooLarge,
    UnsupportedMediaType,
    describe,
    json_kind,
    raise_bad_body,
    raise_if_not_json,
    raise_if_not_utf8,
)
from agentwatch.collector.ingest_schema import TEXT_LIMITS, CheckedEvent, UncheckedEvent
from agentwatch.pricing import estimate_cost, exact_prices
from agentwatch.protocol import (
    DEFAULT_SPAN_TYPE,
    LEVEL_RANK,
    MAX_ATTRIBUTES_BYTES,
    MAX_EVENT_COST_USD,
    MAX_NESTING_DEPTH,
    MAX_TIMESTAMP,
    SPAN_ERROR,
    SPAN_LOG,
    Event,
    Rejected,
    normalize_level,
)

__all__ = [
    "BadRequest",
    "IngestError",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "decode_batch",
    "decode_events",
    "split_starts",
]

_NDJSON_TYPES: Final = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
        "application/json-seq",
    }
)
_BOM: Final = b"\xef\xbb\xbf"
_TRAILING: Final = "trailing characters"
_WHITESPACE: Final = b" \t\r\n"

#: Bodies at least this large (bytes, decoded) are decoded in a worker thread by every ingest route
#: (HTTP and gRPC), so a large batch full of bad items (slow to decode) does not stall other clients.
OFFLOAD_DECODE_BYTES: Final = 256 * 1024


# ------------------------------------------------------------------- decoders
_batch_decoder: Final = msgspec.json.Decoder(list[CheckedEvent])
_item_decoder: Final = msgspec.json.Decoder(CheckedEvent)
_unchecked_batch_decoder: Final = msgspec.json.Decoder(list[UncheckedEvent])
_unchecked_item_decoder: Final = msgspec.json.Decoder(UncheckedEvent)
_raw_list_decoder: Final = msgspec.json.Decoder(list[msgspec.Raw])
_raw_decoder: Final = msgspec.json.Decoder(msgspec.Raw)
_any_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


# ------------------------------------------------------------------ decode_events
def decode_events(body: bytes, content_type: str | None, *, now: float) -> tuple[list[Event], list[Rejected]]:
    """Decode an ingest body into normalised events and per-item rejections.

    ``now`` (unix seconds) stamps events that carry no timestamp. Raises :class:`BadRequest`
    for a body that is not usable as a whole (see the module docstring); never raises
    anything else, whatever the bytes.
    """
    events, rejected, _ = _decode(body, content_type, now)
    return events, rejected


def decode_batch(
    body: bytes, content_type: str | None, *, now: float
) -> tuple[list[Event], list[Event], list[Rejected]]:
    """:func:`decode_events` with the span starts taken out: (events, starts, rejections), as
    :func:`split_starts` splits them (without looking when the batch cannot hold a start)."""
    events, rejected, plain = _decode(body, content_type, now)
    if plain:
        return events, [], rejected
    events, starts = split_starts(events)
    return events, starts, rejected


def _decode(body: bytes, content_type: str | None, now: float) -> tuple[list[Event], list[Rejected], bool]:
    """:func:`decode_events`, and whether the events are known to hold no span start."""
    start = len(body) - len(body.lstrip(_WHITESPACE))
    if body.startswith(_BOM, start):
        body = body[start + len(_BOM) :]
        start = len(body) - len(body.lstrip(_WHITESPACE))
    if start == len(body):
        raise BadRequest("empty body: send a JSON object, a JSON array of objects, or NDJSON")
    first = body[start]
    if _compiled_normalise is not None:  # the common case, fast (None: the full path below)
        decoded = None
        if first == 0x5B:  # "["
            decoded = _decode_unchecked(_unchecked_batch_decoder.decode, body, now)
        elif first == 0x7B and not _is_ndjson_type(content_type):  # "{"
            decoded = _decode_unchecked(lambda text: [_unchecked_item_decoder.decode(text)], body, now)
        if decoded is not None:
            return decoded
    if not body.isascii():
        raise_if_not_utf8(body)  # msgspec does not check the strings it skips
    if first == 0x5B:  # "["
        return *_decode_array(body, now), False
    if _is_ndjson_type(content_type):
        return *_decode_ndjson(body, now), False
    if first == 0x7B:  # "{"
        return *_decode_object_or_ndjson(body, now), False
    raise_if_not_json(body)
    try:
        kind = json_kind(type(_any_decoder.decode(body)).__name__)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # pragma: no cover - checked above
        kind = "not JSON"
    raise BadRequest(f"top level is {kind}: send a JSON object, a JSON array of objects, or NDJSON")


def _decode_unchecked(
    decode: Callable[[bytes], list[Any]], body: bytes, now: float
) -> tuple[list[Event], list[Rejected], bool] | None:
    """The common case, fast: ``body`` decoded as :class:`UncheckedEvent` and the text limits
    checked by the compiled pass. None when the body is not that case (not valid, not events, a text
    outside its limits, a field Event has not): it then takes the full path, which names the fault.

    A body decoded here whole is valid UTF-8 without a look at its bytes: :class:`UncheckedEvent`
    has no field to skip, and msgspec checks every string it decodes."""
    assert _compiled_normalise is not None
    try:
        events = decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    split = _compiled_normalise(events, now)
    if not split:  # None or False
        return None
    accepted, rejected = _finish_normalise(events, split, now)
    return accepted, rejected, not split[2]


def _decode_array(body: bytes, now: float) -> tuple[list[Event], list[Rejected]]:
    try:
        events: list[Any] = _batch_decoder.decode(body)
    except msgspec.ValidationError:
        raise_if_not_json(body)
        try:
            items = _raw_list_decoder.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:  # pragma: no cover
            raise BadRequest(f"invalid JSON: {exc}") from None
        return _decode_items(items, now)
    except msgspec.DecodeError as exc:
        if _at_non_finite(body, exc):
            values = _lenient_values(body)
            if isinstance(values, list):
                return _decode_values(values, now)
        raise_bad_body(body, exc)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise_bad_body(body, exc)
    return _normalise_all(events, now)


def _decode_object_or_ndjson(body: bytes, now: float) -> tuple[list[Event], list[Rejected]]:
    """A body starting with "{": one object, or NDJSON when more follows the first object."""
    try:
        event = _item_decoder.decode(body)
    except msgspec.ValidationError as exc:
        try:
            _raw_decoder.decode(body)
        except msgspec.DecodeError as inner:
            if _TRAILING in str(inner):
                return _decode_ndjson(body, now)
            raise_bad_body(body, inner)
        except (UnicodeDecodeError, RecursionError) as inner:
            raise_bad_body(body, inner)
        return [], [Rejected(0, describe(exc))]
    except msgspec.DecodeError as exc:
        if _TRAILING in str(exc):
            return _decode_ndjson(body, now)
        if _at_non_finite(body, exc):
            value = _lenient_values(body, more_follows=True)
            if value is _MORE_FOLLOWS:
                return _decode_ndjson(body, now)  # NDJSON whose first line holds the literal
            return _decode_values([value], now)
        raise_bad_body(body, exc)
    except (UnicodeDecodeError, RecursionError) as exc:
        raise_bad_body(body, exc)
    return _normalise_all([event], now)


def _decode_ndjson(body: bytes, now: float) -> tuple[list[Event], list[Rejected]]:
    """One object per non-blank line; a line that is not JSON fails the body, naming the line."""
    accepted: list[Event] = []
    rejected: list[Rejected] = []
    index = 0
    decode = _item_decoder.decode
    for number, line in enumerate(body.split(b"\n"), 1):
        line = line.strip(_WHITESPACE)
        if not line:
            continue
        try:
            event = decode(line)
        except msgspec.ValidationError as exc:
            raise_if_not_json(line, line_number=number)
            rejected.append(Rejected(index, describe(exc)))
            index += 1
            continue
        except msgspec.DecodeError as exc:
            if not _at_non_finite(line, exc):
                raise_bad_body(line, exc, line_number=number)
            events, problems = _decode_values([_lenient_values(line, line_number=number)], now)
            accepted.extend(events)
            rejected.extend(Rejected(index, problem.error) for problem in problems)
            index += 1
            continue
        except (UnicodeDecodeError, RecursionError) as exc:
            raise_bad_body(line, exc, line_number=number)
        problem = _normalise(event, now)
        if problem is None:
            accepted.append(event)
        else:
            rejected.append(Rejected(index, problem))
        index += 1
    if index == 0:
        raise BadRequest("empty body: send a JSON object, a JSON array of objects, or NDJSON")
    return accepted, rejected


def _decode_items(items: list[Any], now: float) -> tuple[list[Event], list[Rejected]]:
    """Slow path: decode each item on its own so that a bad one names itself."""
    accepted: list[Event] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        try:
            event = _item_decoder.decode(item)
        except msgspec.ValidationError as exc:
            rejected.append(Rejected(index, describe(exc)))
            continue
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # pragma: no cover - checked
            rejected.append(Rejected(index, "item: not valid JSON"))
            continue
        problem = _normalise(event, now)
        if problem is None:
            accepted.append(event)
        else:
            rejected.append(Rejected(index, problem))
    return accepted, rejected


# -------------------------------------------------------- NaN and Infinity literals
_BYTE_AT: Final = re.compile(r"\(byte (\d+)\)")
_NON_FINITE_WORDS: Final = (b"NaN", b"Infinity", b"-Infinity")
#: Containers looked into for a non-finite number (deeper ones are refused for their depth anyway).
_MAX_WALK: Final = 4 * MAX_NESTING_DEPTH
_MORE_FOLLOWS: Final = object()


class _NonFinite:
    """Stands for a ``NaN`` / ``Infinity`` / ``-Infinity`` literal read by the lenient reader."""

    __slots__ = ("word",)

    def __init__(self, word: str) -> None:
        self.word = word


def _at_non_finite(body: bytes, exc: msgspec.DecodeError) -> bool:
    """True when msgspec stopped at a ``NaN`` / ``Infinity`` literal (which JSON does not have)."""
    found = _BYTE_AT.search(str(exc))
    if found is None:
        return False
    at = int(found.group(1))
    return any(
        body.startswith(word, at) or (at and body.startswith(word, at - 1)) for word in _NON_FINITE_WORDS
    )


def _lenient_values(body: bytes, *, line_number: int | None = None, more_follows: bool = False) -> Any:
    """``body`` read by the standard library's JSON reader, its non-finite literals kept as
    :class:`_NonFinite` markers. Raises :class:`BadRequest` naming the position of any other
    fault; with ``more_follows``, returns :data:`_MORE_FOLLOWS` for a first value followed by more."""
    try:
        return json.loads(body, parse_constant=_NonFinite)
    except RecursionError:
        where = f"line {line_number}: " if line_number is not None else ""
        raise BadRequest(f"{where}JSON is nested too deeply") from None
    except json.JSONDecodeError as exc:
        if more_follows and exc.msg == "Extra data":
            return _MORE_FOLLOWS
        where = f"line {line_number}: " if line_number is not None else ""
        position = (
            f"column {exc.colno}" if line_number is not None else f"line {exc.lineno}, column {exc.colno}"
        )
        raise BadRequest(f"{where}invalid JSON at {position} (byte {exc.pos}): {exc.msg}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise BadRequest(f"invalid JSON: {exc}") from None


def _non_finite_field(value: Any) -> str | None:
    """``"<field>: <reason>"`` for the first non-finite number in an item, or None."""
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        current, path, depth = pending.pop()
        if isinstance(current, _NonFinite):
            return f"{path or 'item'}: {current.word} is not a number (JSON has no NaN or Infinity)"
        if current.__class__ is float and not math.isfinite(current):
            return f"{path or 'item'}: number out of range"
        if depth >= _MAX_WALK:
            continue
        if isinstance(current, dict):
            pending.extend(
                (item, f"{path}.{key}" if path else str(key), depth + 1) for key, item in current.items()
            )
        elif isinstance(current, list):
            pending.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(current))
    return None


def _decode_values(values: list[Any], now: float) -> tuple[list[Event], list[Rejected]]:
    """Items read by :func:`_lenient_values`: one holding a non-finite number is rejected naming
    it; the others are decoded by the same rules as any item."""
    accepted: list[Event] = []
    rejected: list[Rejected] = []
    for index, value in enumerate(values):
        problem = _non_finite_field(value)
        if problem is not None:
            rejected.append(Rejected(index, problem))
            continue
        events, problems = _decode_items([json.dumps(value).encode()], now)
        accepted.extend(events)
        rejected.extend(Rejected(index, item.error) for item in problems)
    return accepted, rejected


#: What :func:`_normalise_common` gives: (the attributes and payloads of the inline events that have
#: any, those events, the events left for :func:`_normalise`).
_Split = tuple[list[dict[str, Any]], list[Event], list[Any]]


def _normalise_all(events: list[Any], now: float) -> tuple[list[Event], list[Rejected]]:
    """:func:`_normalise` each event; the common case (nothing to fix but a missing timestamp
    or cost) is handled inline (:func:`_normalise_common`, compiled where built), without the call
    or the event's index, and anything else goes through it afterwards (in batch order: one event's
    fixes never depend on another's)."""
    split = _compiled_normalise(events, now) if _compiled_normalise is not None else None
    if not split:  # not built, or a batch the compiled pass leaves to Python
        split = _normalise_common(events, now)
    assert split, "only events decoded without the text limits can break them"
    return _finish_normalise(events, split, now)


def _finish_normalise(events: list[Any], split: _Split, now: float) -> tuple[list[Event], list[Rejected]]:
    """The rest of :func:`_normalise_all` once ``events`` are split: the odd events through
    :func:`_normalise`, and the sizes of the inline events' ``attributes`` and ``payload`` checked
    for the whole batch at once: when all of them together encode within ``MAX_ATTRIBUTES_BYTES``
    none is over it, and only otherwise is each encoded on its own (:func:`_refuse_large_bags`)."""
    bags, holders, odd = split
    if not odd and not holders:
        return events, []
    rejected: list[Rejected] = []
    index_of: dict[int, int] | None = None
    if odd:
        index_of = {id(event): index for index, event in enumerate(events)}
        for event in odd:
            problem = _normalise(event, now)
            if problem is not None:
                rejected.append(Rejected(index_of[id(event)], problem))
    if holders:
        _refuse_large_bags(bags, holders, rejected, events, index_of)
    if rejected:
        bad = {r.index for r in rejected}
        events = [event for index, event in enumerate(events) if index not in bad]
    return events, rejected


def _normalise_common(events: list[Any], now: float) -> _Split | Literal[False]:
    """The inline case of :func:`_normalise_all`: each event with nothing to fix but a missing
    timestamp or cost becomes an :class:`Event` (stamped ``now``, its cost estimated); returns
    (the attributes and payloads of those of them that have any, those events, the events left for
    :func:`_normalise`). False, with nothing changed, when an :class:`UncheckedEvent` has a text
    outside :data:`TEXT_LIMITS` (its batch is to be decoded again, checked).
    ``_ingestscan.normalise`` does exactly this, compiled; change both together."""
    unchecked = UncheckedEvent
    for event in events:
        if event.__class__ is unchecked and _outside_text_limits(event):
            return False
    event_class = Event
    levels = LEVEL_RANK
    max_timestamp = MAX_TIMESTAMP
    bags: list[dict[str, Any]] = []  # their attributes and payloads
    holders: list[Any] = []  # inline events with an attributes or payload object
    odd: list[Any] = []  # events for _normalise
    for event in events:
        level = event.level
        timestamp = event.timestamp
        agent_id = event.agent_id
        if (
            event.span_type
            and (level is None or level in levels)
            and (timestamp is None or (timestamp.__class__ is float and 0.0 <= timestamp < max_timestamp))
            and agent_id.strip() is agent_id
        ):
            event.__class__ = event_class
            attributes = event.attributes
            payload = event.payload
            if attributes is not None or payload is not None:
                holders.append(event)
                if attributes is not None:
                    bags.append(attributes)
                if payload is not None:
                    bags.append(payload)
            if timestamp is None:
                event.timestamp = now
            if event.cost_usd is None and event.model is not None:
                if event.tokens_input is not None or event.tokens_output is not None:
                    _estimate_cost(event)
        else:
            odd.append(event)
    return bags, holders, odd


def _outside_text_limits(event: Any) -> bool:
    """Whether a text field of ``event`` is outside its :data:`TEXT_LIMITS` (code points)."""
    for name, least, most in TEXT_LIMITS:
        value = getattr(event, name)
        if value.__class__ is str and not least <= len(value) <= most:
            return True
    return False


def _refuse_large_bags(
    bags: list[dict[str, Any]],
    holders: list[Event],
    rejected: list[Rejected],
    events: list[Any],
    index_of: dict[int, int] | None,
) -> None:
    """Reject (in index order among ``rejected``) each of ``holders`` whose attributes or payload
    encode to more than ``MAX_ATTRIBUTES_BYTES``; one encoding of them all (``bags``) when together
    they fit. ``index_of`` maps ``id(event)`` to its index in ``events`` (made here when None)."""
    if len(_encoder.encode(bags)) <= MAX_ATTRIBUTES_BYTES:
        return
    if index_of is None:
        index_of = {id(event): index for index, event in enumerate(events)}
    found = [
        Rejected(index_of[id(event)], problem) for event in holders if (problem := _check_bag_sizes(event))
    ]
    if found:
        rejected.extend(found)
        rejected.sort(key=lambda item: item.index)


def _normalise(event: Any, now: float) -> str | None:
    """Check what msgspec cannot, fill defaults, re-class to ``Event``. Returns a problem or None."""
    event.__class__ = Event
    agent_id = event.agent_id
    stripped = agent_id.strip()
    if stripped is not agent_id:
        if not stripped:
            return "agent_id: must not be blank"
        event.agent_id = stripped

    timestamp = event.timestamp
    if timestamp is None:
        event.timestamp = now
    elif timestamp.__class__ is float:
        if not 0.0 <= timestamp < MAX_TIMESTAMP:
            scaled = _scale_timestamp(timestamp)
            if scaled is None:
                return f"timestamp: {timestamp!r} is not a time (expected unix seconds >= 0)"
            event.timestamp = scaled
    else:
        parsed = _parse_rfc3339(timestamp)
        if parsed is None:
            return f"timestamp: {timestamp!r} is not unix seconds or an RFC 3339 time"
        event.timestamp = parsed

    level = event.level
    if level is not None and level not in LEVEL_RANK:
        event.level = normalize_level(level)
    if event.attributes is not None or event.payload is not None:
        problem = _check_bag_sizes(event)
        if problem is not None:
            return problem

    if not event.span_type:
        if event.event_type:
            problem = map_article_form(event)
            if problem is not None:
                return problem
        elif event.error is not None:
            event.span_type = SPAN_ERROR
        elif event.message is not None:
            event.span_type = SPAN_LOG
        else:
            event.span_type = DEFAULT_SPAN_TYPE

    if event.cost_usd is None and event.model is not None:
        _estimate_cost(event)
    return None


def _estimate_cost(event: Event) -> None:
    """Fill ``cost_usd`` from the price table (``cost_estimated``) when the tokens allow it."""
    if event.tokens_input is not None or event.tokens_output is not None:
        cost = estimate_cost(event.model, event.tokens_input, event.tokens_output)
        if cost is not None:
            event.cost_usd = cost
            event.cost_estimated = True


def _check_bag_sizes(event: Event) -> str | None:
    if event.attributes is not None and len(_encoder.encode(event.attributes)) > MAX_ATTRIBUTES_BYTES:
        return f"attributes: larger than {MAX_ATTRIBUTES_BYTES} bytes once encoded"
    if event.payload is not None and len(_encoder.encode(event.payload)) > MAX_ATTRIBUTES_BYTES:
        return f"payload: larger than {MAX_ATTRIBUTES_BYTES} bytes once encoded"
    return None


def _scale_timestamp(value: float) -> float | None:
    """Milli-, micro- and nanosecond timestamps to seconds; None when no unit gives a usable time."""
    if not math.isfinite(value) or value < 0:
        return None
    if value >= 1e17:
        seconds = value / 1e9
    elif value >= 1e14:
        seconds = value / 1e6
    else:
        seconds = value / 1e3
    return seconds if seconds < MAX_TIMESTAMP else None


def _parse_rfc3339(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        seconds = parsed.timestamp()
    except (OverflowError, ValueError, OSError):
        return None
    return seconds if 0 <= seconds < MAX_TIMESTAMP else None


def events_again(body: bytes, content_type: str | None, now: float) -> list[Event]:
    """The events :func:`decode_batch` gave for a body at ``now``, made again: equal, in the same
    order (decoding is a function of the body, its type and ``now``). The log ring's way back to a
    batch it keeps as its body."""
    return decode_batch(body, content_type, now=now)[0]


def split_starts(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """(events, span starts) of a decoded batch: the starts are the events left without a
    ``span_type`` (:data:`~agentwatch.protocol.EVENT_SPAN_START`); the events keep their order."""
    starts = [event for event in events if event.span_type is None]
    if not starts:
        return events, starts
    return [event for event in events if event.span_type is not None], starts


def _is_ndjson_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() in _NDJSON_TYPES


def _load_normalise() -> Callable[[list[Any], float], _Split | Literal[False] | None] | None:
    """``_ingestscan.normalise`` set up for this module's checks; None where not built or not wanted."""
    scan = load_wanted("_ingestscan")
    if scan is None:
        return None
    scan.setup_checks(
        Event,
        CheckedEvent,
        UncheckedEvent,
        TEXT_LIMITS,
        LEVEL_RANK,
        MAX_TIMESTAMP,
        _estimate_cost,
        exact_prices(),
        MAX_EVENT_COST_USD,
    )
    normalise: Callable[[list[Any], float], _Split | Literal[False] | None] = scan.normalise
    return normalise


_compiled_normalise = _load_normalise()
