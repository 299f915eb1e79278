"""Sliding-window aggregation: a ring of 1-second buckets for the fleet and for each agent.

Ingest is O(1) per event: an event is added to the bucket of its second in the fleet's ring
and in its agent's ring (counters plus a :class:`~agentwatch.collector.sketch.LatencySketch`).
A snapshot merges the buckets of the window instead of rescanning events, so its cost does
not depend on how many events the window holds; memory is O(agents × buckets).

Time
    An event is bucketed by ``int(event.timestamp)``. A timestamp in the future (or missing,
    or not a finite number) is taken as *now*. An event older than the ring
    (``max(window_seconds, history_seconds)`` seconds) is not aggregated: it is counted in
    :attr:`Window.late_events` (and still in ``events_total`` and ``total_cost_usd``). Buckets
    of seconds that have left the ring are reset lazily when their slot is reused.

Cost
    ``cost_usd`` is taken as given; when an event has none but has tokens and a model in the
    price table, the cost is estimated (:func:`agentwatch.pricing.estimate_cost`) and the
    snapshot says ``cost_estimated``. A negative or non-finite cost counts as 0 (counted in
    :attr:`Window.bad_values`).

Agent status (first rule that matches wins)
    1. ``offline``  — nothing at all (not even a heartbeat) for ``offline_after`` seconds
       (default 120).
    2. ``idle``     — no event other than heartbeats for ``idle_after`` seconds (default 15).
    3. ``failing``  — error rate ≥ 25 % over the window, with at least 4 events in it.
    4. ``degraded`` — error rate ≥ 5 %, or the agent's SDK reported dropped telemetry
       (heartbeat attribute ``agentwatch.sdk.dropped`` > 0, value of the newest heartbeat), or its p99 latency
       is more than 2 × the fleet's p99 with at least 20 latency samples in the window.
    5. ``ok``       — otherwise.
    An event counts as an error when its ``error`` is set or its ``span_type`` is ``error``;
    the error rate is errors / events (0 with no events).

Limits
    At most ``max_agents`` agents get a row; events of further *new* agents still count in
    the fleet's numbers and are counted in :attr:`Window.agents_dropped`. An agent silent for
    ``agent_retention_seconds`` is forgotten (checked at most once a second, on add or snapshot).

In flight
    A span's start (:data:`~agentwatch.protocol.EVENT_SPAN_START`, :meth:`Window.open_steps`) and a
    coding-agent session's running tool (:meth:`Window.session_tool`) open a :class:`Step` of their
    agent; the event with the same ``span_id`` closes it. A row shows its agent's oldest open step.
    Bounded: at most :data:`MAX_STEPS_PER_AGENT` per agent (the oldest is dropped first), and a
    step whose end never comes is forgotten ``step_expiry_seconds`` after it began; both counted
    in :attr:`Window.steps_dropped`. Starts are not events: no count, rate or log line.

Totals
    With ``totals`` (a :class:`~agentwatch.collector.totals.Totals`), every event is also counted
    there, in the same pass (late events and those of agents over the cap too), exactly as
    ``Totals.add_many`` would count it.

Compiled pass
    ``add_many``'s grouping and ``_add_second`` have a C twin (``_windowscan.c``, built at install
    where a C compiler is found) that gives the same numbers bit for bit, reading events at their
    slots. A batch or a second it is not sure of (a value of an odd type, a token count beyond
    ±2**50, a timestamp outside the ring) goes through the Python loops here instead, as does every
    window made with ``compiled=False`` or while ``AGENTWATCH_PURE_PYTHON`` is set
    (:mod:`agentwatch.collector.compiled`).

Threading: not thread-safe; the collector calls it from its event loop only.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

import msgspec

from agentwatch.collector.compiled import load, wanted
from agentwatch.collector.sketch import (
    INV_LOG_GAMMA,
    MAX_VALUE,
    MIN_VALUE,
    RELATIVE_ACCURACY,
    LatencySketch,
    MergedSketch,
)
from agentwatch.collector.totals import BOUNDS_MS as _TOTALS_BOUNDS
from agentwatch.collector.totals import Series as TotalsSeries
from agentwatch.collector.totals import Totals
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    DEFAULT_SPAN_TYPE,
    LATENCY_SPAN_TYPES,
    MAX_EVENT_COST_USD,
    MAX_LATENCY_MS,
    SPAN_COMPLETION,
    SPAN_DECISION,
    SPAN_EMBEDDING,
    SPAN_ERROR,
    SPAN_HEARTBEAT,
    SPAN_LLM_CALL,
    SPAN_TOOL_CALL,
    START_SPAN_TYPE_KEY,
    STATUS_DEGRADED,
    STATUS_FAILING,
    STATUS_IDLE,
    STATUS_OFFLINE,
    STATUS_OK,
    AgentRow,
    Event,
    History,
    InFlight,
    Snapshot,
)

# ------------------------------------------------------------------- status thresholds
FAILING_ERROR_RATE: Final = 0.25
FAILING_MIN_EVENTS: Final = 4
DEGRADED_ERROR_RATE: Final = 0.05
DEGRADED_P99_FACTOR: Final = 2.0
DEGRADED_MIN_LATENCY_SAMPLES: Final = 20

#: Heartbeat attribute in which the SDK reports how many events it had to drop.
ATTR_SDK_DROPPED: Final = "agentwatch.sdk.dropped"
#: Longest ``last_activity`` text, in characters.
MAX_ACTIVITY_LENGTH: Final = 80
EVICTION_CHECK_SECONDS: Final = 1.0
#: Open steps one agent may have at once (nested spans, parallel tool calls).
MAX_STEPS_PER_AGENT: Final = 64
#: A step whose end never came is forgotten this long after it began (seconds).
DEFAULT_STEP_EXPIRY: Final = 3600.0
_QUANTILES: Final = (0.5, 0.95, 0.99)
_NO_SECOND: Final = -(1 << 62)

_log = math.log
_ceil = math.ceil


class _Grouping(Protocol):
    """A batch grouped by (second, agent) by the compiled pass (``_windowscan.group``)."""

    def seconds(self) -> list[int]:
        """The batch's seconds, in the order first seen."""

    def groups(self, index: int, /) -> dict[str, list[Event]]:
        """The ``index``-th second's events by agent, each agent's in arrival order."""


class _Counters:
    """What a second's bucket and a merge of several seconds both count."""

    __slots__ = (
        "completions",
        "cost",
        "cost_estimated",
        "errors",
        "events",
        "second",
        "sketch",
        "tokens_in",
        "tokens_out",
        "tool_calls",
    )

    sketch: LatencySketch | MergedSketch

    def _zero(self, second: int) -> None:
        self.second = second
        self.events = 0
        self.errors = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost = 0.0
        self.cost_estimated = False
        self.tool_calls = 0
        self.completions = 0  # inference spans: llm_call and completion
        self.sketch.clear()


class Bucket(_Counters):
    """Counters for one second of a ring; its sketch keeps a dict of counts (cheap to add to)."""

    __slots__ = ("cached", "cached_events")

    sketch: LatencySketch

    def __init__(self, second: int = _NO_SECOND) -> None:
        self.sketch = LatencySketch()
        self.reset(second)

    def reset(self, second: int) -> None:
        """Reuse this bucket for another second (no allocation)."""
        self._zero(second)
        self.cached: tuple[float, float | None, float, float, float] | None = None
        self.cached_events = -1

    def per_second(self) -> tuple[float, float | None, float, float, float]:
        """(tokens, p99 ms, error rate, events, cost USD) of this second, cached until it changes."""
        if self.cached is None or self.cached_events != self.events:
            events = self.events
            self.cached = (
                float(self.tokens_in + self.tokens_out),
                self.sketch.quantile(0.99),
                self.errors / events if events else 0.0,
                float(events),
                self.cost,
            )
            self.cached_events = events
        return self.cached


class MergedBucket(_Counters):
    """Counters for several merged seconds.

    Read far more often than added to: its sketch keeps counts in key order (quantiles
    without a sort).
    """

    __slots__ = ()

    sketch: MergedSketch

    def __init__(self, second: int = _NO_SECOND) -> None:
        self.sketch = MergedSketch()
        self._zero(second)

    def absorb(self, other: _Counters) -> None:
        """Add ``other``'s counters and sketch into this one (exact)."""
        self.events += other.events
        self.errors += other.errors
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.cost += other.cost
        self.cost_estimated = self.cost_estimated or other.cost_estimated
        self.tool_calls += other.tool_calls
        self.completions += other.completions
        self.sketch.merge(other.sketch)

    def remove(self, other: Bucket) -> None:
        """Subtract a second absorbed earlier (counts exact; floats to rounding)."""
        self.events -= other.events
        self.errors -= other.errors
        self.tokens_in -= other.tokens_in
        self.tokens_out -= other.tokens_out
        self.cost = self.cost - other.cost if self.events else 0.0
        self.tool_calls -= other.tool_calls
        self.completions -= other.completions
        self.sketch.subtract(other.sketch)

    def copy(self) -> MergedBucket:
        clone = MergedBucket(self.second)
        clone.absorb(self)
        return clone


class WindowStats:
    """The numbers of one series (fleet or agent) over the window, as a snapshot reports them."""

    __slots__ = (
        "completions",
        "cost",
        "cost_estimated",
        "errors",
        "events",
        "latency_samples",
        "p50",
        "p95",
        "p99",
        "tokens_in",
        "tokens_out",
        "tool_calls",
    )

    def __init__(self, agg: _Counters | None = None) -> None:
        agg = agg or Bucket()
        self.events = agg.events
        self.errors = agg.errors
        self.tokens_in = agg.tokens_in
        self.tokens_out = agg.tokens_out
        self.cost = agg.cost
        self.cost_estimated = agg.cost_estimated
        self.tool_calls = agg.tool_calls
        self.completions = agg.completions
        self.latency_samples = agg.sketch.count
        self.p50, self.p95, self.p99 = agg.sketch.quantiles(_QUANTILES)

    @property
    def error_rate(self) -> float:
        return self.errors / self.events if self.events else 0.0


class Series:
    """A ring of buckets plus the caches that make repeated snapshots cheap."""

    __slots__ = (
        "closed",
        "closed_current_events",
        "closed_events",
        "closed_rebuilt",
        "closed_second",
        "events",
        "ring",
        "stats",
        "stats_key",
    )

    def __init__(self, ring_seconds: int, *, preallocate: bool) -> None:
        self.ring: list[Bucket | None] = (
            [Bucket() for _ in range(ring_seconds)] if preallocate else [None] * ring_seconds
        )
        self.events = 0  # events aggregated into this ring, ever
        self.closed = MergedBucket()  # merge of the window's closed seconds
        self.closed_second = _NO_SECOND
        self.closed_rebuilt = _NO_SECOND
        self.closed_events = -1
        self.closed_current_events = -1
        self.stats: WindowStats | None = None
        self.stats_key: tuple[int, int] = (_NO_SECOND, -1)


class Step:
    """One step an agent has begun and not ended: an SDK span or a session's tool.

    ``since`` is when it began (unix seconds); ``quiet_since`` when it last did something the
    window saw: its start, or the end of a step inside it (``parent`` is the span id of the step
    it runs inside). ``limit`` (seconds) and ``stuck`` are set by the stuck rule
    (:mod:`agentwatch.collector.alerts`); ``open`` turns False once it ended, expired or was dropped.
    """

    __slots__ = (
        "agent_id",
        "limit",
        "model",
        "open",
        "parent",
        "quiet_since",
        "since",
        "span_id",
        "span_type",
        "stuck",
        "what",
    )

    def __init__(
        self,
        agent_id: str,
        span_id: str,
        span_type: str,
        what: str,
        since: float,
        model: str | None = None,
        parent: str | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.span_id = span_id
        self.span_type = span_type
        self.what = what
        self.since = self.quiet_since = since
        self.model = model
        self.parent = parent
        self.limit: float | None = None
        self.stuck = False
        self.open = True

    def in_flight(self) -> InFlight:
        return InFlight(self.what, self.since, self.span_id, self.stuck, self.limit)


def _showing(steps: dict[str, Step]) -> Step:
    """The step a row shows: a stuck one, else the newest (the innermost of nested spans)."""
    for step in steps.values():
        if step.stuck:
            return step
    return next(reversed(steps.values()))


class AgentState(Series):
    __slots__ = (
        "activity",
        "activity_event",
        "agent_id",
        "cost_estimated",
        "cost_unpriced",
        "heartbeat_at",
        "last_active",
        "last_event",
        "last_seen",
        "model",
        "steps",
        "telemetry_dropped",
        "total_cost",
    )

    def __init__(self, agent_id: str, ring_seconds: int, first_seen: float) -> None:
        super().__init__(ring_seconds, preallocate=False)
        self.agent_id = agent_id
        self.last_seen = first_seen  # newest event of any kind (unix s)
        self.last_active = -math.inf  # newest event other than a heartbeat
        self.last_event: Event | None = None
        self.activity: str | None = None
        self.activity_event: Event | None = None
        self.model: str | None = None
        self.telemetry_dropped = 0
        self.heartbeat_at = -math.inf  # timestamp of the heartbeat telemetry_dropped came from
        self.total_cost = 0.0
        self.cost_estimated = False
        self.cost_unpriced = False  # a call with tokens had no cost and no price
        self.steps: dict[str, Step] | None = None  # open steps by span id, oldest first


def agent_status(
    *,
    now: float,
    last_seen: float,
    last_active: float,
    stats: WindowStats,
    telemetry_dropped: int,
    fleet_p99: float | None,
    idle_after: float,
    offline_after: float,
) -> str:
    """Health of one agent by the rules in the module docstring."""
    if now - last_seen >= offline_after:
        return STATUS_OFFLINE
    if now - last_active >= idle_after:
        return STATUS_IDLE
    rate = stats.error_rate
    if stats.events >= FAILING_MIN_EVENTS and rate >= FAILING_ERROR_RATE:
        return STATUS_FAILING
    if rate >= DEGRADED_ERROR_RATE or telemetry_dropped > 0:
        return STATUS_DEGRADED
    if (
        stats.p99 is not None
        and fleet_p99 is not None
        and stats.latency_samples >= DEGRADED_MIN_LATENCY_SAMPLES
        and stats.p99 > DEGRADED_P99_FACTOR * fleet_p99
    ):
        return STATUS_DEGRADED
    return STATUS_OK


def activity_text(event: Event) -> str:
    """Short description of what an event was: ``"llm_call gpt-4o"``, ``"error: Timeout"``..."""
    span_type = event.span_type or event.event_type or "event"
    if event.error or span_type == SPAN_ERROR:
        text = f"error: {event.error or event.message or ''}".rstrip(": ")
    elif span_type in LATENCY_SPAN_TYPES or span_type == SPAN_EMBEDDING:
        text = f"{span_type} {event.model}" if event.model else span_type
    elif span_type == SPAN_TOOL_CALL:
        text = f"{span_type} {event.tool_name}" if event.tool_name else span_type
    elif span_type == SPAN_DECISION:
        text = f"{span_type} {event.decision_made}" if event.decision_made else span_type
    elif event.message:  # a log line, or a span named by its message (``agent: interaction``)
        text = f"{span_type}: {event.message}"
    else:
        text = span_type
    text = " ".join(text.split())  # one line, whatever the message held
    return text if len(text) <= MAX_ACTIVITY_LENGTH else text[: MAX_ACTIVITY_LENGTH - 1] + "…"


def step_text(span_type: str, model: str | None, tool: str | None) -> str:
    """What a step in flight is, as :func:`activity_text` would say of its end (``llm_call gpt-4o``)."""
    if model and (span_type in LATENCY_SPAN_TYPES or span_type == SPAN_EMBEDDING):
        text = f"{span_type} {model}"
    elif tool and span_type == SPAN_TOOL_CALL:
        text = f"{span_type} {tool}"
    else:
        text = span_type
    text = " ".join(text.split())  # one line, whatever the names held
    return text if len(text) <= MAX_ACTIVITY_LENGTH else text[: MAX_ACTIVITY_LENGTH - 1] + "…"


class Window:
    """Fleet and per-agent aggregates over the last ``window_seconds`` (see module docstring).

    ``history_seconds`` sets the length of the per-second history in snapshots; the ring
    keeps ``max(window_seconds, history_seconds)`` seconds. Counters are public attributes:
    ``version``, ``events_total``, ``agents_dropped``, ``late_events``, ``total_cost_usd``,
    ``bad_values``, ``agents_evicted``, ``last_snapshot_merges`` (buckets merged by the most
    recent snapshot: the measure of its cost).
    """

    def __init__(
        self,
        window_seconds: int = 60,
        *,
        history_seconds: int = 120,
        max_agents: int = 10_000,
        agent_retention_seconds: float = 3600.0,
        idle_after: float = 15.0,
        offline_after: float = 120.0,
        clock: Callable[[], float] = time.time,
        origin: float | None = None,
        step_expiry_seconds: float = DEFAULT_STEP_EXPIRY,
        totals: Totals | None = None,
        compiled: bool = True,
    ) -> None:
        if window_seconds < 1 or history_seconds < 1:
            raise ValueError("window_seconds and history_seconds must be at least 1")
        if max_agents < 0:
            raise ValueError("max_agents must be >= 0")
        self.window_seconds = int(window_seconds)
        self.history_seconds = int(history_seconds)
        self.ring_seconds = max(self.window_seconds, self.history_seconds)
        self.max_agents = max_agents
        self.agent_retention_seconds = agent_retention_seconds
        self.idle_after = idle_after
        self.offline_after = offline_after
        self._clock = clock
        #: Since when events have been watched (unix s). While the window is not yet full, rates
        #: divide by the time covered, not by the whole window (a fresh collector would
        #: otherwise report a fraction of the true rate for a minute). None: always full.
        self.origin = -math.inf if origin is None else origin
        self._fleet = Series(self.ring_seconds, preallocate=True)
        self._agents: dict[str, AgentState] = {}
        self._next_eviction_check = -math.inf
        self.version = 0
        self.events_total = 0
        self.agents_dropped = 0
        self.agents_evicted = 0
        self.late_events = 0
        self.bad_values = 0
        self.total_cost_usd = 0.0
        self.cost_estimated = False
        self.last_snapshot_merges = 0
        self.step_expiry_seconds = step_expiry_seconds
        #: Agents with open steps (the only ones a closing event or an expiry check looks at).
        self._stepping: dict[str, AgentState] = {}
        self.steps_opened = 0
        self.steps_dropped = 0
        #: Since-start totals counted in the same pass over each batch (None: none kept here).
        self.totals = totals
        #: Whether events go through the compiled per-event pass: asked for, built, and not turned
        #: off with :data:`~agentwatch.collector.compiled.PURE_PYTHON_ENV`.
        self.compiled = compiled and COMPILED_AVAILABLE and wanted()

    # ------------------------------------------------------------------ in flight
    def open_steps(self, starts: Iterable[Event]) -> None:
        """Open a step for each span start (see the module docstring); a start without a
        ``span_id`` could never be closed and is counted in :attr:`steps_dropped`."""
        now = self._clock()
        for start in starts:
            span_id = start.span_id
            ts = start.timestamp
            since = ts if isinstance(ts, float) and ts <= now else now
            if not span_id:
                self.steps_dropped += 1
                continue
            payload = start.payload
            span_type = payload.get(START_SPAN_TYPE_KEY) if payload else None
            if not isinstance(span_type, str):
                span_type = DEFAULT_SPAN_TYPE
            model = start.model
            what = step_text(span_type, model, start.tool_name)
            step = Step(start.agent_id, span_id, span_type, what, since, model, start.parent_span_id)
            self._open(start.agent_id, step, now)

    def session_tool(
        self, agent_id: str, key: str, tool: str | None, since: float | None, span_type: str = SPAN_TOOL_CALL
    ) -> None:
        """A coding-agent session's running tool (``tool`` None: none runs now), or another step
        named by its ``span_type`` alone (``thinking``): the agent's step ``key`` (one per session)."""
        what = None if tool is None and span_type == SPAN_TOOL_CALL else step_text(span_type, None, tool)
        agent = self._stepping.get(agent_id)
        if agent is not None and agent.steps is not None:
            step = agent.steps.get(key)
            if step is not None and step.what != what:
                self._close(agent, key)
            elif step is not None:
                return
        if what is not None:
            now = self._clock()
            self._open(
                agent_id,
                Step(agent_id, key, span_type, what, now if since is None else since, None),
                now,
            )

    def _open(self, agent_id: str, step: Step, now: float) -> None:
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = self._new_agent(agent_id, now)
            if agent is None:
                self.steps_dropped += 1
                return
        steps = agent.steps
        if steps is None:
            steps = agent.steps = {}
            self._stepping[agent_id] = agent
        old = steps.pop(step.span_id, None)
        if old is not None:
            old.open = False
        elif len(steps) >= MAX_STEPS_PER_AGENT:
            oldest = next(iter(steps))
            steps.pop(oldest).open = False
            self.steps_dropped += 1
        steps[step.span_id] = step
        self.steps_opened += 1
        self.version += 1

    def _close(self, agent: AgentState, span_id: str) -> None:
        steps = agent.steps
        if steps is None:
            return
        step = steps.pop(span_id, None)
        if step is None:
            return
        step.open = False
        if not steps:
            agent.steps = None
            self._stepping.pop(agent.agent_id, None)
        elif step.parent is not None:
            parent = steps.get(step.parent)
            if parent is not None:
                parent.quiet_since = self._clock()
        self.version += 1

    def _close_ended(self, agent: AgentState, group: list[Event]) -> None:
        """Close the steps whose span ended in ``group`` (events of one agent)."""
        steps = agent.steps
        for event in group:
            span_id = event.span_id
            if span_id is not None and steps is not None and span_id in steps:
                self._close(agent, span_id)
                steps = agent.steps

    def steps(self) -> list[Step]:
        """Every open step (the stuck rule reads them)."""
        return [step for agent in self._stepping.values() if agent.steps for step in agent.steps.values()]

    def steps_in_flight(self) -> int:
        """How many steps are open now (cheap: one length per agent with open steps)."""
        return sum(len(agent.steps) for agent in self._stepping.values() if agent.steps)

    def _expire_steps(self, now: float) -> None:
        cutoff = now - self.step_expiry_seconds
        for agent in list(self._stepping.values()):
            steps = agent.steps
            if steps is None:
                continue
            old = [span_id for span_id, step in steps.items() if step.since < cutoff]
            for span_id in old:
                self._close(agent, span_id)
            self.steps_dropped += len(old)

    # ------------------------------------------------------------------ ingest
    def add(self, event: Event) -> None:
        """Aggregate one event (see :meth:`add_many`)."""
        self.add_many((event,))

    def add_many(self, events: Iterable[Event]) -> None:
        """Aggregate a batch of events: O(1) each, reading the clock once per batch.

        The batch is first grouped by (second, agent); each group then updates its agent's
        bucket and the fleet's bucket once, with sums, and computes each latency's sketch key
        once for both. Never raises for a decoded :class:`Event`: odd timestamps, costs and
        latencies are handled as the module docstring says. Where ``max_agents`` is reached,
        new agents get rows in the order they first appear within each second of the batch.
        """
        now = self._clock()
        now_sec = int(now)
        oldest = now_sec - self.ring_seconds + 1
        oldest_ts = float(oldest)
        batch = events if isinstance(events, list) else list(events)
        n = len(batch)
        late_cost = 0.0
        late_events: list[Event] = []
        by_second: dict[int, dict[str, list[Event]]] = {}
        groups: dict[str, list[Event]] = {}
        # Every event a float timestamp within the ring: grouped as below, without a list per group.
        grouped = _compiled_group(batch, oldest_ts, now) if self.compiled else None  # type: ignore[misc]
        if grouped is None:
            second_start = second_end = 0.0  # [start, end): the second ``groups`` holds (none yet)
            for event in batch:
                ts = event.timestamp
                if ts.__class__ is not float or not oldest_ts <= ts <= now:
                    ts = self._coerce_timestamp(ts, now)
                    if ts < oldest_ts:
                        late_events.append(event)
                        cost = event.cost_usd
                        if cost is None or not 0.0 <= cost <= MAX_EVENT_COST_USD:
                            cost = self._coerce_cost(event)[0]
                        late_cost += cost
                        continue
                    event = msgspec.structs.replace(event, timestamp=ts)  # the caller's event stays as it was
                if not second_start <= ts < second_end:  # int(ts) only when the second changes
                    sec = int(ts)
                    second_start = float(sec)
                    second_end = second_start + 1.0
                    found = by_second.get(sec)
                    if found is None:
                        found = by_second[sec] = {}
                    groups = found
                agent_id = event.agent_id
                group = groups.get(agent_id)
                if group is None:
                    groups[agent_id] = [event]
                else:
                    group.append(event)
        if not n:
            self._maybe_evict(now)
            return
        seconds: list[int] = grouped.seconds() if grouped is not None else list(by_second)
        if seconds:
            # Events from before the collector started (a sender's backlog after a restart) widen
            # the watched part of the window to their seconds, or they would count as this run's
            # and inflate every rate.
            first = min(seconds)
            if first < self.origin:
                first_groups = (
                    grouped.groups(seconds.index(first)) if grouped is not None else by_second[first]
                )
                stamps = (e.timestamp for group in first_groups.values() for e in group)
                self.origin = min(
                    self.origin, min((t for t in stamps if isinstance(t, float)), default=first)
                )
        total_cost = late_cost
        totals = self.totals
        for index, sec in enumerate(seconds):
            total_cost += self._add_second(
                sec, grouped if grouped is not None else by_second[sec], totals, index
            )
        if late_events and totals is not None:
            totals.add_many(late_events)
        self.events_total += n
        self.late_events += len(late_events)
        self.total_cost_usd += total_cost
        self.version += 1
        self._maybe_evict(now)

    def _add_second(
        self, sec: int, groups: dict[str, list[Event]] | _Grouping, totals: Totals | None, index: int = 0
    ) -> float:
        """Aggregate the events of one second (within the ring), grouped by agent; returns their cost.

        ``groups``: agent id → its events, or the compiled grouping of the batch whose ``index``-th
        second this is.

        With ``totals``, each event is also counted there, in the same pass (exactly as
        :meth:`Totals.add_many <agentwatch.collector.totals.Totals.add_many>` would). The compiled
        pass (``_windowscan.add_second``) does the same when this window uses it and it takes the
        second's events; otherwise this loop does. Change both together.
        """
        ring_seconds = self.ring_seconds
        slot = sec % ring_seconds
        fleet = self._fleet
        f_bucket = fleet.ring[slot]
        if f_bucket is None:  # not after __init__: the fleet's ring is preallocated
            f_bucket = fleet.ring[slot] = Bucket(sec)
        elif f_bucket.second != sec:
            f_bucket.reset(sec)
        if self.compiled:
            done = _compiled_add_second(  # type: ignore[misc]  # compiled implies it is there
                sec,
                slot,
                groups,
                self._agents,
                self._new_agent,
                f_bucket,
                fleet,
                totals,
                self._coerce_cost,
                self._close_ended,
                self._heartbeats,
                index,
            )
            if done is not None:
                cost, estimated, refused_values, bad, dropped = done
                if estimated:
                    self.cost_estimated = True
                if refused_values:
                    totals.values_refused += refused_values  # type: ignore[union-attr]  # only with totals
                self.bad_values += bad
                self.agents_dropped += dropped
                return cost
        if not isinstance(groups, dict):  # the compiled grouping of a second its pass left to this loop
            groups = groups.groups(index)
        f_keys = f_bucket.sketch.counts
        f_keys_get = f_keys.get
        agents_get = self._agents.get
        latency_types = LATENCY_SPAN_TYPES
        span_error, span_heartbeat, span_tool = SPAN_ERROR, SPAN_HEARTBEAT, SPAN_TOOL_CALL
        lo, hi, inv = MIN_VALUE, MAX_VALUE, INV_LOG_GAMMA
        log, ceil = _log, _ceil
        max_cost = MAX_EVENT_COST_USD
        f_events = f_errors = f_in = f_out = f_tools = f_compl = f_lat_n = 0
        f_cost = f_lat_sum = 0.0
        f_estimated = False
        edges: list[float] = []
        spare: dict[int, int] = {}
        tally = totals is not None
        no_series: dict[str, TotalsSeries] = {}
        bounds, max_latency = _TOTALS_BOUNDS, MAX_LATENCY_MS
        refused = 0
        for agent_id, group in groups.items():
            agent = agents_get(agent_id)
            if agent is None:
                agent = self._new_agent(agent_id, group[0].timestamp)  # type: ignore[arg-type]  # add_many made it a float
            if agent is not None:
                bucket = agent.ring[slot]
                if bucket is None:
                    bucket = agent.ring[slot] = Bucket(sec)
                elif bucket.second != sec:
                    bucket.reset(sec)
                a_keys = bucket.sketch.counts
                last_seen = agent.last_seen
                last_active = agent.last_active
            else:  # over the cardinality cap: the fleet's numbers only, each event counted
                self.agents_dropped += len(group) - 1
                bucket = None
                a_keys = spare
                last_seen = last_active = math.inf
            a_keys_get = a_keys.get
            errors = tokens_in = tokens_out = tools = completions = lat_n = 0
            cost_sum = lat_sum = 0.0
            estimated = unpriced = False
            last_event = model = None
            heartbeats: list[tuple[float, dict[str, Any]]] | None = None
            group_edges: list[float] | None = None
            series_of = (totals.models_of(agent_id) or no_series).get if totals is not None else no_series.get
            for event in group:
                span_type = event.span_type
                event_model = event.model
                series: TotalsSeries | None = None
                if tally:
                    series = series_of(event_model or "")
                    if series is None:
                        series = totals.series_for(agent_id, event_model or "")  # type: ignore[union-attr]
                        series_of = (totals.models_of(agent_id) or no_series).get  # type: ignore[union-attr]
                    series.events += 1
                cost = event.cost_usd
                tokens_i = event.tokens_input
                tokens_o = event.tokens_output
                if cost is not None:  # a cost, tokens, an error: each read only when there is one
                    if 0.0 <= cost <= max_cost:
                        cost_sum += cost
                        if cost and series is not None:
                            series.cost += cost
                        if event.cost_estimated is True:
                            estimated = True
                    else:
                        self._coerce_cost(event)  # counts the bad value
                        if series is not None:
                            refused += 1
                elif tokens_i is not None or tokens_o is not None:
                    cost, estimated_one = self._coerce_cost(event)
                    if estimated_one:
                        estimated = True
                    else:
                        unpriced = True
                    cost_sum += cost
                if tokens_i:
                    tokens_in += tokens_i
                    if series is not None:
                        series.tokens_in += tokens_i
                if tokens_o:
                    tokens_out += tokens_o
                    if series is not None:
                        series.tokens_out += tokens_o
                error = event.error
                if error is not None and span_type != span_error:
                    if error:
                        errors += 1
                    if series is not None:
                        series.errors += 1
                if span_type in latency_types:
                    completions += 1
                    latency = event.latency_ms
                    if latency is not None:
                        if series is not None:
                            if 0.0 <= latency <= max_latency:
                                series.latency_count += 1
                                series.latency_sum_ms += latency
                                series.buckets[bisect_left(bounds, latency)] += 1
                            else:
                                refused += 1
                        if lo < latency < hi:
                            key = ceil(log(latency) * inv)
                            a_keys[key] = a_keys_get(key, 0) + 1
                            f_keys[key] = f_keys_get(key, 0) + 1
                            lat_n += 1
                            lat_sum += latency
                        elif group_edges is None:
                            group_edges = [latency]
                        else:
                            group_edges.append(latency)
                elif span_type == span_tool:
                    tools += 1
                    if series is not None:
                        series.tool_calls += 1
                elif span_type == span_error:
                    errors += 1
                    if series is not None:
                        series.errors += 1
                ts: float = event.timestamp  # type: ignore[assignment]  # add_many made it a float
                if ts >= last_seen:
                    last_seen = ts
                if span_type == span_heartbeat:
                    attributes = event.attributes
                    if attributes:
                        if heartbeats is None:
                            heartbeats = []
                        heartbeats.append((ts, attributes))
                elif ts >= last_active:
                    last_active = ts
                    last_event = event
                if event_model:
                    model = event_model
            count = len(group)
            f_events += count
            if agent is None or bucket is None:  # over the cap (both are None then)
                spare.clear()
            else:
                bucket.events += count
                agent.events += count
                agent.last_seen = last_seen
                if last_event is not None:
                    agent.last_active = last_active
                    agent.last_event = last_event
                if model is not None:
                    agent.model = model
                if unpriced:
                    agent.cost_unpriced = True
            # Counters that are often zero for a group are only touched when they are not.
            if tokens_in or tokens_out:
                f_in += tokens_in
                f_out += tokens_out
                if bucket is not None:
                    bucket.tokens_in += tokens_in
                    bucket.tokens_out += tokens_out
            if cost_sum or estimated:
                f_cost += cost_sum
                if estimated:
                    f_estimated = True
                if agent is not None and bucket is not None:
                    bucket.cost += cost_sum
                    agent.total_cost += cost_sum
                    if estimated:
                        bucket.cost_estimated = agent.cost_estimated = True
            if errors:
                f_errors += errors
                if bucket is not None:
                    bucket.errors += errors
            if tools:
                f_tools += tools
                if bucket is not None:
                    bucket.tool_calls += tools
            if completions:
                f_compl += completions
                if bucket is not None:
                    bucket.completions += completions
            if lat_n:
                f_lat_n += lat_n
                f_lat_sum += lat_sum
                if bucket is not None:
                    sketch = bucket.sketch
                    sketch.count += lat_n
                    sketch.sum += lat_sum
            if group_edges is not None:
                edges.extend(group_edges)
                if bucket is not None:
                    for latency in group_edges:
                        bucket.sketch._add_edge(latency)
            if agent is not None and agent.steps is not None:
                self._close_ended(agent, group)
            if heartbeats is not None and agent is not None:
                self._heartbeats(agent, heartbeats)
        f_bucket.events += f_events
        f_bucket.errors += f_errors
        f_bucket.tokens_in += f_in
        f_bucket.tokens_out += f_out
        f_bucket.tool_calls += f_tools
        f_bucket.completions += f_compl
        f_bucket.cost += f_cost
        if f_estimated:
            f_bucket.cost_estimated = self.cost_estimated = True
        f_sketch = f_bucket.sketch
        f_sketch.count += f_lat_n
        f_sketch.sum += f_lat_sum
        for latency in edges:
            f_sketch._add_edge(latency)
        fleet.events += f_events
        if refused:
            totals.values_refused += refused  # type: ignore[union-attr]  # only counted with totals
        return f_cost

    def _heartbeats(self, agent: AgentState, heartbeats: list[tuple[float, dict[str, Any]]]) -> None:
        """Read the newest of an agent's heartbeats (``(time, attributes)``, in arrival order)."""
        for at, attributes in heartbeats:
            if at >= agent.heartbeat_at:
                agent.heartbeat_at = at
                self._read_heartbeat(agent, attributes)

    def _coerce_timestamp(self, ts: Any, now: float) -> float:
        """Timestamp for an event whose own is missing, in the future, or not a finite number."""
        if ts is None:
            return now
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            value = float(ts)
            if value != value:  # NaN
                self.bad_values += 1
                return now
            if value == -math.inf:
                self.bad_values += 1
                return -1.0  # older than any ring: counted as late
            return now if value > now else value
        self.bad_values += 1  # a string the ingest layer should have converted
        return now

    def _coerce_cost(self, event: Event) -> tuple[float, bool]:
        cost = event.cost_usd
        if cost is not None:  # out of range or NaN
            self.bad_values += 1
            return 0.0, False
        if event.tokens_input is None and event.tokens_output is None:
            return 0.0, False
        estimate = estimate_cost(event.model, event.tokens_input, event.tokens_output)
        if estimate is None or not 0.0 <= estimate <= MAX_EVENT_COST_USD:
            return 0.0, False
        return estimate, True

    def _new_agent(self, agent_id: str, ts: float) -> AgentState | None:
        if len(self._agents) >= self.max_agents:
            self.agents_dropped += 1
            return None
        agent = AgentState(agent_id, self.ring_seconds, ts)
        self._agents[agent_id] = agent
        return agent

    def _read_heartbeat(self, agent: AgentState, attributes: dict[str, Any]) -> None:
        dropped = attributes.get(ATTR_SDK_DROPPED)
        if isinstance(dropped, (int, float)) and not isinstance(dropped, bool) and dropped >= 0:
            agent.telemetry_dropped = int(dropped) if dropped < 1 << 62 else 1 << 62
        elif dropped is not None:
            self.bad_values += 1

    def _maybe_evict(self, now: float) -> None:
        if now < self._next_eviction_check:
            return
        self._next_eviction_check = now + EVICTION_CHECK_SECONDS
        if self._stepping:
            self._expire_steps(now)
        cutoff = now - self.agent_retention_seconds
        stale = [
            agent_id
            for agent_id, agent in self._agents.items()
            if agent.last_seen < cutoff and agent.steps is None
        ]
        for agent_id in stale:
            del self._agents[agent_id]
        if stale:
            self.agents_evicted += len(stale)
            self.version += 1

    # ---------------------------------------------------------------- reading
    def agent_ids(self) -> list[str]:
        """Ids of the agents that have a row, sorted."""
        return sorted(self._agents)

    def agent_count(self) -> int:
        """Agents that have a row."""
        return len(self._agents)

    def latency_sketch(self, agent: str | None = None) -> MergedSketch:
        """A copy of the latency sketch of the fleet (or of one agent) over the window, as the
        snapshot at the clock's now reads it; empty for an unknown agent. Costs what a snapshot
        of that series costs: the merge of the closed seconds is the one snapshots keep."""
        now_sec = int(self._clock())
        series = self._fleet if agent is None else self._agents.get(agent)
        if series is None:
            return MergedSketch()
        self._stats(series, now_sec)  # brings series.closed up to now_sec
        merged = series.closed.sketch.copy()
        assert isinstance(merged, MergedSketch)
        current = series.ring[now_sec % self.ring_seconds]
        if current is not None and current.second == now_sec and current.events:
            merged.merge(current.sketch)
        return merged

    def snapshot(self, agent: str | None = None, *, offset: int = 0, limit: int | None = None) -> Snapshot:
        """The fleet's numbers (``agent=None``) or one agent's, over the window, at the clock's now.

        The fleet's ``agents`` rows are sorted by agent id; ``offset`` and ``limit`` take a page of
        them (only that page's rows are computed). The fleet's numbers always cover every agent.

        Cost: at most ``window_seconds`` bucket merges for the fleet and for each agent with
        events in the window — usually one, since the merge of the window's closed seconds is
        kept until the second changes or an event lands in a closed second. An unknown agent
        gives a snapshot of zeros with ``agent`` set and no rows.
        """
        now = self._clock()
        now_sec = int(now)
        self._maybe_evict(now)
        self.last_snapshot_merges = 0
        fleet_stats = self._stats(self._fleet, now_sec)
        if agent is None:
            # Ids only (untracked strings): a list of (id, state) pairs would be GC work per request.
            page = sorted(self._agents)[offset : None if limit is None else offset + limit]
            agents = self._agents
            rows = [self._row(agents[agent_id], now, now_sec, fleet_stats.p99) for agent_id in page]
            start = now_sec - self.window_seconds + 1
            active = sum(1 for state in self._agents.values() if state.last_seen >= start)
            return self._build(
                now,
                now_sec,
                fleet_stats,
                self._fleet,
                rows=rows,
                active=active,
                total_cost=self.total_cost_usd,
                cost_estimated=self.cost_estimated,
            )
        state = self._agents.get(agent)
        if state is None:
            return self._build(
                now,
                now_sec,
                WindowStats(),
                None,
                rows=[],
                active=0,
                total_cost=0.0,
                cost_estimated=False,
                agent=agent,
            )
        row = self._row(state, now, now_sec, fleet_stats.p99)
        stats = self._stats(state, now_sec)
        active = 1 if state.last_seen >= now_sec - self.window_seconds + 1 else 0
        return self._build(
            now,
            now_sec,
            stats,
            state,
            rows=[row],
            active=active,
            total_cost=state.total_cost,
            cost_estimated=state.cost_estimated,
            agent=agent,
        )

    def covered_seconds(self, now: float) -> float:
        """The part of the window that has been watched: ``window_seconds`` once full, ≥ 1 s."""
        return min(float(self.window_seconds), max(1.0, now - self.origin))

    def _build(
        self,
        now: float,
        now_sec: int,
        stats: WindowStats,
        series: Series | None,
        *,
        rows: list[AgentRow],
        active: int,
        total_cost: float,
        cost_estimated: bool,
        agent: str | None = None,
    ) -> Snapshot:
        window = self.covered_seconds(now)
        return Snapshot(
            timestamp=now,
            tokens_per_second=(stats.tokens_in + stats.tokens_out) / window,
            tool_calls_total=stats.tool_calls,
            error_rate=stats.error_rate,
            completions=stats.completions,
            p50_latency_ms=stats.p50,
            p99_latency_ms=stats.p99,
            active_agents=active,
            window_seconds=float(self.window_seconds),
            events_per_second=stats.events / window,
            events=stats.events,
            errors=stats.errors,
            p95_latency_ms=stats.p95,
            input_tokens_per_second=stats.tokens_in / window,
            output_tokens_per_second=stats.tokens_out / window,
            window_cost_usd=stats.cost,
            cost_per_minute=stats.cost * 60.0 / window,
            total_cost_usd=total_cost,
            cost_estimated=cost_estimated or stats.cost_estimated,
            latency_relative_error=RELATIVE_ACCURACY,
            agent=agent,
            agents=rows,
            agents_dropped=self.agents_dropped,
            history=self._history(series, now_sec),
        )

    def _row(self, state: AgentState, now: float, now_sec: int, fleet_p99: float | None) -> AgentRow:
        stats = self._stats(state, now_sec)
        if state.last_event is not state.activity_event:
            state.activity_event = state.last_event
            state.activity = activity_text(state.last_event) if state.last_event is not None else None
        window = self.covered_seconds(now)
        return AgentRow(
            agent_id=state.agent_id,
            status=agent_status(
                now=now,
                last_seen=state.last_seen,
                last_active=state.last_active,
                stats=stats,
                telemetry_dropped=state.telemetry_dropped,
                fleet_p99=fleet_p99,
                idle_after=self.idle_after,
                offline_after=self.offline_after,
            ),
            events_per_second=stats.events / window,
            tokens_per_second=(stats.tokens_in + stats.tokens_out) / window,
            p50_latency_ms=stats.p50,
            p99_latency_ms=stats.p99,
            error_rate=stats.error_rate,
            errors=stats.errors,
            events=stats.events,
            cost_usd=stats.cost,
            last_seen=state.last_seen,
            last_activity=state.activity,
            model=state.model,
            telemetry_dropped=state.telemetry_dropped,
            cost_unpriced=state.cost_unpriced,
            in_flight=None if state.steps is None else _showing(state.steps).in_flight(),
        )

    def _stats(self, series: Series, now_sec: int) -> WindowStats:
        """Window numbers of a series, recomputed only when the second or its events changed."""
        key = (now_sec, series.events)
        if series.stats is not None and series.stats_key == key:
            return series.stats
        ring = series.ring
        ring_seconds = self.ring_seconds
        current = ring[now_sec % ring_seconds]
        current_events = current.events if current is not None and current.second == now_sec else 0
        # The closed seconds' merge stays valid while every new event went to the current second.
        if series.closed_second != now_sec:
            if not self._slide(series, now_sec):
                self._rebuild(series, now_sec)
        elif series.events - series.closed_events != current_events - series.closed_current_events:
            self._rebuild(series, now_sec)
        series.closed_events = series.events
        series.closed_current_events = current_events
        agg = series.closed
        if current_events and current is not None:
            agg = agg.copy()
            agg.absorb(current)
            self.last_snapshot_merges += 1
        stats = WindowStats(agg)
        series.stats = stats
        series.stats_key = key
        return stats

    def _rebuild(self, series: Series, now_sec: int) -> None:
        """Merge the window's closed seconds from scratch (at most ``window_seconds - 1`` merges)."""
        ring = series.ring
        ring_seconds = self.ring_seconds
        closed = MergedBucket()
        merges = 0
        for second in range(now_sec - self.window_seconds + 1, now_sec):
            bucket = ring[second % ring_seconds]
            if bucket is not None and bucket.second == second and bucket.events:
                closed.absorb(bucket)
                merges += 1
        self.last_snapshot_merges += merges
        series.closed = closed
        series.closed_second = series.closed_rebuilt = now_sec
        series.closed_events = series.events

    def _slide(self, series: Series, now_sec: int) -> bool:
        """Move the closed merge forward to ``now_sec`` by adding the seconds that closed and
        subtracting those that left the window (counts subtract exactly).

        Returns False, leaving the series untouched, when that is not possible or not exact:
        an event landed in an already merged second, a second to subtract is no longer in the
        ring, the jump is a window or more, or the merge is a window old (float sums and the
        ``cost_estimated`` flag are then refreshed by a rebuild).
        """
        previous = series.closed_second
        window = self.window_seconds
        steps = now_sec - previous
        if not 0 < steps < window or now_sec - series.closed_rebuilt >= window:
            return False
        ring = series.ring
        ring_seconds = self.ring_seconds
        entering = []
        new_events = 0
        for second in range(previous, now_sec + 1):
            bucket = ring[second % ring_seconds]
            if bucket is not None and bucket.second == second:
                new_events += bucket.events
                if second < now_sec and bucket.events:
                    entering.append(bucket)
        # Events since the merge: those in the old current second beyond what it then held,
        # and everything in later seconds. Any other event went to an already merged second.
        if series.events - series.closed_events != new_events - series.closed_current_events:
            return False
        leaving = []
        for second in range(previous - window + 1, now_sec - window + 1):
            bucket = ring[second % ring_seconds]
            if bucket is None or bucket.second < second:
                continue  # nothing happened in that second
            if bucket.second > second:
                return False  # its slot was reused: the counts to subtract are gone
            if bucket.events:
                leaving.append(bucket)
        closed = series.closed
        for bucket in entering:
            closed.absorb(bucket)
        for bucket in leaving:
            closed.remove(bucket)
        self.last_snapshot_merges += len(entering) + len(leaving)
        series.closed_second = now_sec
        series.closed_events = series.events
        return True

    def _history(self, series: Series | None, now_sec: int) -> History:
        """The last ``history_seconds`` per-second values, oldest first, ending at ``now_sec``."""
        length = self.history_seconds
        tokens: list[float] = []
        p99: list[float | None] = []
        error_rate: list[float] = []
        events: list[float] = []
        cost: list[float] = []
        ring = series.ring if series is not None else None
        ring_seconds = self.ring_seconds
        for second in range(now_sec - length + 1, now_sec + 1):
            bucket = ring[second % ring_seconds] if ring is not None else None
            if bucket is not None and bucket.second == second and bucket.events:
                t, p, e, n, c = bucket.per_second()
            else:
                t, p, e, n, c = 0.0, None, 0.0, 0.0, 0.0
            tokens.append(t)
            p99.append(p)
            error_rate.append(e)
            events.append(n)
            cost.append(c)
        return History(
            end=float(now_sec),
            tokens_per_second=tokens,
            p99_latency_ms=p99,
            error_rate=error_rate,
            events_per_second=events,
            cost_per_second=cost,
        )


def _load_compiled() -> Any:
    """The compiled passes' module, set up for this module's types and constants; None without it."""
    _windowscan = load("_windowscan")
    if _windowscan is None:
        return None
    if LATENCY_SPAN_TYPES != {SPAN_LLM_CALL, SPAN_COMPLETION}:  # the two the compiled pass knows
        return None
    _windowscan.setup(
        Event,
        TotalsSeries,
        Bucket,
        AgentState,
        LatencySketch,
        list(_TOTALS_BOUNDS),
        MIN_VALUE,
        MAX_VALUE,
        INV_LOG_GAMMA,
        MAX_EVENT_COST_USD,
        MAX_LATENCY_MS,
        SPAN_LLM_CALL,
        SPAN_COMPLETION,
        SPAN_TOOL_CALL,
        SPAN_ERROR,
        SPAN_HEARTBEAT,
    )
    return _windowscan


_compiled = _load_compiled()
#: Whether the compiled passes are there (built where a C compiler was found at install).
COMPILED_AVAILABLE: Final = _compiled is not None
#: ``_add_second`` and ``add_many``'s grouping, compiled (None: not built).
_compiled_add_second: Callable[..., tuple[float, bool, int, int, int] | None] | None = (
    _compiled.add_second if _compiled is not None else None
)
_compiled_group: Callable[[list[Event], float, float], _Grouping | None] | None = (
    _compiled.group if _compiled is not None else None
)
