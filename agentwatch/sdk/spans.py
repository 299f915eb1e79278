"""Spans: timed blocks that nest through :mod:`contextvars`.

A span is a context manager (``with`` / ``async with``) and a decorator (sync and async
functions). The current ``(trace_id, span_id)`` lives in a :class:`~contextvars.ContextVar`,
so nesting follows the code's own structure: asyncio tasks and ``asyncio.to_thread`` inherit
it, a plain ``threading.Thread`` starts a fresh trace unless run in a copied context.

Ids are lowercase hex like OTLP's: 32 characters for a trace, 16 for a span, never all zeros.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from agentwatch.sdk import AgentTelemetry

F = TypeVar("F", bound=Callable[..., Any])

#: (trace_id, span_id) of the innermost open span in this context, or None at the root.
current_span: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "agentwatch_current_span", default=None
)

#: Exceptions that end a span without being the span's fault (cancellation, shutdown).
_INTERRUPTIONS = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)


_bits = random.getrandbits


def new_trace_id() -> str:
    """A random 128-bit trace id as 32 hex characters (never all zeros)."""
    return "%032x" % (_bits(128) or 1)


def new_span_id() -> str:
    """A random 64-bit span id as 16 hex characters (never all zeros)."""
    return "%016x" % (_bits(64) or 1)


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
    ``"Type: message"`` — the exception is always re-raised. A span object used as a
    decorator opens a fresh span per call; one span object should not be entered twice at once.
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

    def __init__(self, telemetry: AgentTelemetry, span_type: str, fields: dict[str, Any]) -> None:
        self._telemetry = telemetry
        self.span_type = span_type
        self._init_fields = fields
        self.fields: dict[str, Any] = dict(fields)
        self.trace_id = ""
        self.span_id = ""
        self.parent_span_id: str | None = None
        self._token: contextvars.Token[tuple[str, str] | None] | None = None
        self._start = 0.0

    def set(self, **fields: Any) -> Span:
        """Set event fields for this span; returns the span. Never raises."""
        self.fields.update(fields)
        return self

    # -------------------------------------------------------------- context manager
    def _open(self) -> None:
        self.fields = dict(self._init_fields)
        parent = current_span.get()
        if parent is None:
            self.trace_id, self.parent_span_id = new_trace_id(), None
        else:
            self.trace_id, self.parent_span_id = parent
        self.span_id = new_span_id()
        self._token = current_span.set((self.trace_id, self.span_id))
        self._start = time.perf_counter()

    def _close(self, exc: BaseException | None) -> None:
        latency_ms = (time.perf_counter() - self._start) * 1000.0
        token, self._token = self._token, None
        if token is not None:
            try:
                current_span.reset(token)
            except ValueError:  # exited in another context than it was entered in
                current_span.set(
                    None if self.parent_span_id is None else (self.trace_id, self.parent_span_id)
                )
        error: str | None = None
        if exc is not None:
            if isinstance(exc, _INTERRUPTIONS):
                self.fields.setdefault("agentwatch.span.interrupted", type(exc).__name__)
            else:
                error = error_text(exc)
        self._telemetry._record_span(self, latency_ms, error)

    def __enter__(self) -> Span:
        self._open()
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._close(exc)

    async def __aenter__(self) -> Span:
        self._open()
        return self

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._close(exc)

    # -------------------------------------------------------------------- decorator
    def __call__(self, fn: F) -> F:
        telemetry, span_type, fields = self._telemetry, self.span_type, self._init_fields

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with Span(telemetry, span_type, fields):
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Span(telemetry, span_type, fields):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
