"""Spans: timed blocks that nest through :mod:`contextvars`.

A span is a context manager (``with`` / ``async with``) and a decorator (sync and async
functions). The current ``(trace_id, span_id)`` lives in a :class:`~contextvars.ContextVar`,
so nesting follows the code's own structure: asyncio tasks and ``asyncio.to_thread`` inherit
it, a plain ``threading.Thread`` starts a fresh trace unless run in a copied context.

Ids are lowercase hex like OTLP's: 32 characters for a trace, 16 for a span, never all zeros.
They are unique, not unpredictable: each process draws a random starting point (again in a
forked child) and counts up from it, which is cheaper than drawing random bits per id.
Telemetry ids are correlation keys, not secrets. An id is the counter's big-endian bytes in
hex (``int.to_bytes(...).hex()``, faster than ``"%016x" %``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
import logging
import os
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from agentwatch.protocol import EVENT_SPAN_START, START_SPAN_TYPE_KEY, Event
from agentwatch.sdk.events import fill, finish

if TYPE_CHECKING:
    from agentwatch.sdk import AgentTelemetry

F = TypeVar("F", bound=Callable[..., Any])

#: (trace_id, span_id) of the innermost open span in this context, or None at the root.
current_span: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "agentwatch_current_span", default=None
)
_get_current = current_span.get
_set_current = current_span.set
_reset_current = current_span.reset
_perf_ns = time.perf_counter_ns

#: Exceptions that end a span without being the span's fault (cancellation, shutdown).
_INTERRUPTIONS = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)
#: Attribute naming the interruption (``CancelledError``...) that ended a span.
ATTR_INTERRUPTED = "agentwatch.span.interrupted"

_log = logging.getLogger("agentwatch.sdk")

#: The payload of a start, one per span type (read-only, shared by every start of that type).
_start_payloads: dict[str, dict[str, str]] = {}
_MAX_START_PAYLOADS = 256


def start_payload(span_type: str) -> dict[str, str]:
    """``{"span_type": span_type}``, the same dict for every start of that type (bounded)."""
    payload = _start_payloads.get(span_type)
    if payload is None:
        payload = {START_SPAN_TYPE_KEY: span_type}
        if len(_start_payloads) < _MAX_START_PAYLOADS:
            _start_payloads[span_type] = payload
    return payload


def _counters() -> tuple[itertools.count[int], itertools.count[int]]:
    """Id counters starting at random points far below their bit width: 2**62 (span) and
    2**126 (trace) ids fit before an id would outgrow its bytes, and none is zero."""
    return itertools.count(random.getrandbits(62) + 1), itertools.count(random.getrandbits(126) + 1)


_span_ids, _trace_ids = _counters()


def _reseed_after_fork() -> None:
    """A forked child must not repeat its parent's ids (:mod:`random` reseeds itself in a
    forked child before this runs: it registered its own hook first, at import)."""
    global _span_ids, _trace_ids
    _span_ids, _trace_ids = _counters()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


def new_trace_id() -> str:
    """A 128-bit trace id as 32 hex characters (unique in this process, never all zeros)."""
    return next(_trace_ids).to_bytes(16, "big").hex()


def new_span_id() -> str:
    """A 64-bit span id as 16 hex characters (unique in this process, never all zeros)."""
    return next(_span_ids).to_bytes(8, "big").hex()


def error_text(exc: BaseException) -> str:
    """``"Type: message"`` (or just ``"Type"`` when the message is empty)."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the span
        message = "<unprintable>"
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


class Span:
    """One timed block. Use via :meth:`AgentTelemetry.span`.

    ``set(**fields)`` adds or overrides event fields (``model``, ``tokens_output``...);
    unknown names become attributes. The event is recorded when the block ends, with
    ``latency_ms`` measured by the monotonic clock and, if the block raised, ``error`` =
    ``"Type: message"`` — the exception is always re-raised. ``trace_id``, ``span_id`` and
    ``parent_span_id`` are set when the block is entered, and the span itself is queued then too:
    the sender thread makes its start (:meth:`start_event`) when it takes the span into a batch,
    and nothing at all if the span has ended by then (its end says everything), so a short span
    costs the caller one queue append more and the collector nothing. A span object used as a decorator
    opens a fresh span per call; one span object should not be entered twice at once.

    Cost in the caller's thread: one context-variable set/reset, two counter-based ids, and
    one :class:`~agentwatch.protocol.Event` built at exit (``benchmarks/bench_sdk.py`` measures it).
    """

    __slots__ = (
        "_init_fields",
        "_start",
        "_telemetry",
        "_token",
        "fields",
        "parent_span_id",
        "span_id",
        "span_type",
        "trace_id",
    )

    trace_id: str
    span_id: str
    parent_span_id: str | None

    def __init__(self, telemetry: AgentTelemetry, span_type: str, fields: dict[str, Any]) -> None:
        self._telemetry = telemetry
        self.span_type = span_type
        self._init_fields = fields
        #: The fields the event will carry. Shared with ``_init_fields`` until the first
        #: :meth:`set` copies it, so a decorator's fields are never changed by one call.
        self.fields: dict[str, Any] = fields
        self._token: contextvars.Token[tuple[str, str] | None] | None = None

    def set(self, **fields: Any) -> Span:
        """Set event fields for this span; returns the span. Never raises."""
        if self.fields is self._init_fields:
            self.fields = {**self._init_fields, **fields}
        else:
            self.fields.update(fields)
        return self

    # -------------------------------------------------------------- context manager
    # The bodies live in __enter__/__exit__ themselves (no helper call): this is the hot path.
    def __enter__(self) -> Span:
        self.fields = self._init_fields
        parent = _get_current()
        if parent is None:
            self.trace_id = trace_id = next(_trace_ids).to_bytes(16, "big").hex()
            self.parent_span_id = None
        else:
            trace_id, self.parent_span_id = parent
            self.trace_id = trace_id
        self.span_id = span_id = next(_span_ids).to_bytes(8, "big").hex()
        self._token = _set_current((trace_id, span_id))
        self._start = _perf_ns()
        telemetry = self._telemetry
        if telemetry._report_starts:
            telemetry._put_start(self)
        return self

    def start_event(self) -> Event | None:
        """The start of this span as it goes on the wire (:data:`~agentwatch.protocol.EVENT_SPAN_START`),
        or None once it has ended. Called by the sender thread, which the caller's thread may
        overtake: what it reads is this span's newest state, and a span that ended is left out."""
        if self._token is None:
            return None
        telemetry = self._telemetry
        fields = self.fields
        model = fields.get("model") if fields else None
        tool = fields.get("tool_name") if fields else None
        return Event(
            telemetry.agent_id,
            timestamp=telemetry._clock() - (_perf_ns() - self._start) / 1e9,
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_span_id=self.parent_span_id,
            model=model if model.__class__ is str else None,
            tool_name=tool if tool.__class__ is str else None,
            event_type=EVENT_SPAN_START,
            payload=start_payload(self.span_type),
        )

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """Record the span's event (never raises: a failure is counted as dropped)."""
        end = _perf_ns()
        token = self._token
        if token is not None:
            self._token = None
            try:
                _reset_current(token)
            except ValueError:  # exited in another context than it was entered in
                _set_current(None if self.parent_span_id is None else (self.trace_id, self.parent_span_id))
        telemetry = self._telemetry
        try:
            # Time and latency go in first: fields may override them (None values never do).
            event = Event(
                telemetry.agent_id,
                timestamp=telemetry._clock(),
                span_type=self.span_type,
                trace_id=self.trace_id,
                span_id=self.span_id,
                parent_span_id=self.parent_span_id,
                latency_ms=(end - self._start) / 1e6,
            )
            if exc is not None:
                self._fill_raised(event, exc)
            elif self.fields:
                fill(event, self.fields)
                finish(event)
        except Exception:
            _log.debug("agentwatch: could not record a span", exc_info=True)
            telemetry._sender.count_dropped()
            return
        telemetry._put(event)

    def _fill_raised(self, event: Event, exc: BaseException) -> None:
        """Fields of a span that raised: the error, or the interruption that ended it."""
        if isinstance(exc, _INTERRUPTIONS):
            fill(event, {ATTR_INTERRUPTED: type(exc).__name__, **self.fields})
        else:
            fill(event, self.fields)
            event.error = error_text(exc)
        finish(event)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.__exit__(exc_type, exc, tb)

    # -------------------------------------------------------------------- decorator
    def __call__(self, fn: F) -> F:
        telemetry, span_type, fields = self._telemetry, self.span_type, self._init_fields

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with Span(telemetry, span_type, fields):
                    return await fn(*args, **kwargs)

            return cast(F, async_wrapper)  # a wrapper takes and returns what fn does

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Span(telemetry, span_type, fields):
                return fn(*args, **kwargs)

        return cast(F, wrapper)
