"""Send telemetry from an agent to an agentwatch collector.

    from agentwatch.sdk import AgentTelemetry

    telemetry = AgentTelemetry("planner-1", "http://127.0.0.1:8787")
    with telemetry.span("llm_call", model="gpt-4o") as s:
        reply = call_model()
        s.set(tokens_input=reply.usage.input, tokens_output=reply.usage.output)
    telemetry.tool_call("search", latency_ms=41.0)

The contract: recording never blocks on the network and never raises into the agent.
Each call builds a :class:`agentwatch.protocol.Event` and appends it to a bounded queue;
a daemon thread batches and ships the queue (see :mod:`agentwatch.sdk.sender`). When the
queue is full the event is dropped and counted. :meth:`AgentTelemetry.stats` returns the
counters, and the sender reports them to the collector in periodic heartbeat events
(attributes ``agentwatch.sdk.dropped``, ``agentwatch.sdk.failed``...), so a viewer can see
an agent that is losing telemetry.

Given several collectors (``urls=[...]`` or ``$AGENTWATCH_URLS``), an agent sends to the one
its id ranks first by rendezvous hashing, and to the next while that one is down
(:mod:`agentwatch.sdk.shards`).

This module imports neither Textual nor Starlette.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from agentwatch import pricing
from agentwatch.protocol import (
    DEFAULT_URL,
    MAX_AGENT_ID_LENGTH,
    SPAN_DECISION,
    SPAN_HEARTBEAT,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
    normalize_level,
    normalize_token,
)
from agentwatch.sdk.events import clip, fill, finish
from agentwatch.sdk.handler import LoggingHandler
from agentwatch.sdk.sender import BatchSender
from agentwatch.sdk.shards import parse_urls, rank
from agentwatch.sdk.spans import Span, current_span, new_span_id, new_trace_id

_get_current = current_span.get

__all__ = [
    "ENV_AGENT_ID",
    "ENV_TOKEN",
    "ENV_URL",
    "ENV_URLS",
    "SDK_ATTRIBUTE_PREFIX",
    "AgentTelemetry",
    "LoggingHandler",
    "Span",
]

ENV_URL: Final = "AGENTWATCH_URL"
#: Several collectors, comma-separated; each agent sends to one (see :mod:`agentwatch.sdk.shards`).
ENV_URLS: Final = "AGENTWATCH_URLS"
ENV_TOKEN: Final = "AGENTWATCH_TOKEN"
ENV_AGENT_ID: Final = "AGENTWATCH_AGENT_ID"
#: Heartbeat attribute keys are this prefix + a :meth:`AgentTelemetry.stats` key.
SDK_ATTRIBUTE_PREFIX: Final = "agentwatch.sdk."

_log = logging.getLogger(__name__)


class AgentTelemetry:
    """One agent's connection to a collector.

    Args:
        agent_id: the agent's name (≤ 128 chars); default ``$AGENTWATCH_AGENT_ID``.
        url: collector base URL; default ``$AGENTWATCH_URL``, else ``http://127.0.0.1:8787``.
        token: bearer token; default ``$AGENTWATCH_TOKEN``.
        urls: several collectors instead of ``url`` (default ``$AGENTWATCH_URLS``, comma-separated,
            which wins over ``$AGENTWATCH_URL``): the agent sends to the first of its
            rendezvous-hash ranking that is up (:mod:`agentwatch.sdk.shards`). Every agent should
            be given the same URLs, spelt the same (their order does not matter).
        failback_interval: with several collectors, seconds before one that failed is tried
            again (doubling with each failure in a row, up to 30 s).
        batch_size: events per POST (≥ 1).
        flush_interval: seconds an event may wait in the queue before a POST (> 0).
        max_queue: events held while the collector is slow or down; more are dropped.
        timeout: seconds per HTTP request.
        gzip_min_bytes: bodies at least this large are sent gzip-compressed.
        max_retries: retries per batch on connection errors, 429 and 5xx.
        heartbeat_interval: seconds between heartbeat events (None: none).
        atexit_timeout: seconds the interpreter-exit flush may take.
        clock: wall clock for event timestamps (unix seconds).

    Raises:
        ValueError: no agent id (argument or environment), an agent id over the limit, a
            non-positive size/interval, both ``url`` and ``urls``, an empty ``urls`` or a URL
            that is not http(s). This is the only place the SDK raises.
    """

    def __init__(
        self,
        agent_id: str | None = None,
        url: str | None = None,
        token: str | None = None,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_queue: int = 10_000,
        timeout: float = 5.0,
        gzip_min_bytes: int = 4096,
        max_retries: int = 5,
        heartbeat_interval: float | None = 10.0,
        atexit_timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
        span_starts: bool = True,
        urls: Sequence[str] | None = None,
        failback_interval: float = 1.0,
    ) -> None:
        agent_id = agent_id or os.environ.get(ENV_AGENT_ID) or None
        if not agent_id:
            raise ValueError(f"agent_id is required (pass it or set {ENV_AGENT_ID})")
        if len(agent_id) > MAX_AGENT_ID_LENGTH:
            raise ValueError(f"agent_id is longer than {MAX_AGENT_ID_LENGTH} characters")
        if batch_size < 1 or max_queue < 1 or flush_interval <= 0 or timeout <= 0 or max_retries < 0:
            raise ValueError("batch_size, max_queue, flush_interval and timeout must be positive")
        self.agent_id: str = agent_id
        if url and urls is not None:
            raise ValueError("pass url or urls, not both")
        if urls is None and not url:
            urls = parse_urls(os.environ.get(ENV_URLS, "")) or None
        #: The collectors in this agent's order of preference (one unless sharded).
        self.urls: tuple[str, ...] = (
            tuple(rank(agent_id, urls))
            if urls is not None
            else (url or os.environ.get(ENV_URL) or DEFAULT_URL,)
        )
        #: The collector this agent prefers (the first of :attr:`urls`).
        self.url: str = self.urls[0]
        self._clock = clock
        self._atexit_timeout = atexit_timeout
        self._sender = BatchSender(
            self.urls[0] if len(self.urls) == 1 else self.urls,
            normalize_token(token or os.environ.get(ENV_TOKEN)),
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            timeout=timeout,
            gzip_min_bytes=gzip_min_bytes,
            max_retries=max_retries,
            heartbeat_interval=heartbeat_interval,
            heartbeat_factory=self._heartbeat_event if heartbeat_interval is not None else None,
            failback_interval=failback_interval,
        )
        self._put = self._sender.put
        #: Queue each span's start too (the collector shows the span in flight until it ends).
        self._report_starts = span_starts
        self._put_start = self._sender.put_start
        atexit.register(self._close_at_exit)

    # ------------------------------------------------------------------ recording
    def span(self, span_type: str, **fields: Any) -> Span:
        """A timed span: ``with``, ``async with``, or a decorator for sync/async functions.

        ``fields`` are event fields (``model``, ``tokens_input``...) or, for unknown names,
        attributes. See :class:`~agentwatch.sdk.spans.Span`.
        """
        return Span(self, span_type, fields)

    def llm_call(
        self,
        model: str,
        tokens_input: int | None,
        tokens_output: int | None,
        latency_ms: float | None,
        cost_usd: float | None = None,
        **fields: Any,
    ) -> bool:
        """Record one model call. Without ``cost_usd`` the cost is estimated from
        :mod:`agentwatch.pricing` and flagged ``cost_estimated``. Returns False if dropped."""
        if not fields:  # the hot path: no dict building, no helper calls
            try:
                parent = _get_current()
                if parent is None:
                    trace_id, parent_span_id = new_trace_id(), None
                else:
                    trace_id, parent_span_id = parent
                cost_estimated = None
                if cost_usd is None:
                    cost_usd = pricing.estimate_cost(model, tokens_input, tokens_output)
                    cost_estimated = True if cost_usd is not None else None
                event = Event(
                    self.agent_id,
                    timestamp=self._clock(),
                    span_type=SPAN_LLM_CALL,
                    trace_id=trace_id,
                    span_id=new_span_id(),
                    parent_span_id=parent_span_id,
                    model=model,
                    tokens_input=tokens_input,
                    tokens_output=tokens_output,
                    latency_ms=latency_ms,
                    cost_usd=cost_usd,
                    cost_estimated=cost_estimated,
                )
            except Exception:
                self._sender.count_dropped()
                return False
            return self._put(event)
        fields.update(model=model, tokens_input=tokens_input, tokens_output=tokens_output)
        fields.update(latency_ms=latency_ms, cost_usd=cost_usd)
        return self._record(SPAN_LLM_CALL, fields, new_span=True)

    def tool_call(
        self, name: str, latency_ms: float | None = None, error: str | None = None, **fields: Any
    ) -> bool:
        """Record one tool invocation (``error`` set means it failed)."""
        fields.update(tool_name=name, latency_ms=latency_ms, error=error)
        return self._record(SPAN_TOOL_CALL, fields, new_span=True)

    def decision(self, name: str, confidence: float | None, **fields: Any) -> bool:
        """Record a decision the agent made, with its confidence in [0, 1]."""
        fields.update(decision_made=name, confidence=confidence)
        return self._record(SPAN_DECISION, fields, new_span=True)

    def log(self, level: str, message: str, **metadata: Any) -> bool:
        """Record a log line; ``metadata`` travels as attributes. Unknown levels become info."""
        try:
            parent = _get_current()
            event = Event(
                self.agent_id,
                timestamp=self._clock(),
                span_type=SPAN_LOG,
                trace_id=None if parent is None else parent[0],
                span_id=None if parent is None else parent[1],
                level=normalize_level(level),
                message=clip(message if isinstance(message, str) else str(message)),
                attributes=metadata or None,
            )
        except Exception:
            self._sender.count_dropped()
            return False
        return self._put(event)

    def heartbeat(self) -> bool:
        """Record a heartbeat now, carrying the delivery counters as attributes."""
        event = self._heartbeat_event(self._sender.stats())
        return event is not None and self._put(event)

    # --------------------------------------------------------------------- control
    def stats(self) -> dict[str, int]:
        """Delivery counters: ``sent``, ``dropped``, ``retried``, ``failed``, ``rejected``, ``queued``;
        with several collectors also ``failovers``, ``failbacks``, ``collector_errors`` and
        ``collectors_down``."""
        return self._sender.stats()

    @property
    def collector(self) -> str:
        """The collector this agent's batches go to now (another of :attr:`urls` while its own is down)."""
        return self._sender.collector

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything recorded so far is sent (or failed), at most ``timeout`` s."""
        return self._sender.flush(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Send a last heartbeat, flush for at most ``timeout`` s and stop. Later records are dropped."""
        atexit.unregister(self._close_at_exit)
        return self._sender.close(timeout)

    def __enter__(self) -> AgentTelemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def sender_thread_ident(self) -> int | None:
        """Ident of the sender thread (log handlers skip records it emits)."""
        return self._sender.thread_ident

    # ------------------------------------------------------------------- internals
    def _close_at_exit(self) -> None:
        self._sender.close(self._atexit_timeout)

    def _heartbeat_event(self, counters: dict[str, int]) -> Event:
        """A heartbeat carrying ``counters`` (the sender's :meth:`stats`, passed in because the
        sender thread may ask for one before this object has finished constructing)."""
        attributes = {SDK_ATTRIBUTE_PREFIX + name: value for name, value in counters.items()}
        return Event(self.agent_id, self._clock(), SPAN_HEARTBEAT, attributes=attributes)

    def _record(self, span_type: str, fields: dict[str, Any], *, new_span: bool) -> bool:
        """Build the event and queue it; any failure is counted as dropped, never raised."""
        try:
            parent = _get_current()
            if new_span:
                if parent is None:
                    fields["trace_id"], fields["span_id"] = new_trace_id(), new_span_id()
                else:
                    fields["trace_id"], fields["parent_span_id"] = parent
                    fields["span_id"] = new_span_id()
            elif parent is not None:
                fields["trace_id"], fields["span_id"] = parent
            event = self._build(span_type, fields)
        except Exception:
            _log.debug("agentwatch: could not record a %s event", span_type, exc_info=True)
            self._sender.count_dropped()
            return False
        return self._put(event)

    def _build(self, span_type: str, fields: dict[str, Any]) -> Event:
        """An event from free-form fields (see :func:`~agentwatch.sdk.events.fill`), finished and timed."""
        event = Event(self.agent_id, span_type=span_type)
        fill(event, fields)
        finish(event)
        if event.timestamp is None:
            event.timestamp = self._clock()
        return event
