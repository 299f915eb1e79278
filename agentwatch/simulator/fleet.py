"""The fleet model: simulated agents, their scenarios, and the events they produce.

:class:`Fleet` is a pure, deterministic generator in *simulated* time: given a seed and the
same sequence of ``events_until(t)`` calls it yields the same events, byte for byte. Each
agent works in *steps* — one trace of ``llm_call`` → tool calls → follow-up ``llm_call`` →
``decision`` → ``completion`` — plus log lines at every level and a heartbeat about every
:data:`HEARTBEAT_INTERVAL` seconds. Latencies are lognormal per model, token counts lognormal
per role, cost comes from :mod:`agentwatch.pricing` (sometimes left out so the collector
estimates it).

The average event rate equals ``rate``: the time to an agent's next step is drawn from an
exponential distribution scaled by the number of events the step produced, so the long-run
rate does not depend on what the steps contain (renewal-reward). Heartbeats are part of
the budget.

Scenarios (times in seconds after ``start``; the constants below are the contract that
tests and alert tests rely on; each is strong and early enough that the collector's default
alert rules, given baselines, fire within about a minute — ``agentwatch demo`` promises 90 s):

* ``steady`` — the baseline: a share :data:`LLM_ERROR_PROBABILITY` of LLM calls and
  :data:`TOOL_ERROR_PROBABILITY` of tool calls fail.
* ``burst`` — the step rate is ×:data:`BURST_FACTOR` for :data:`BURST_SECONDS` every
  :data:`BURST_EVERY` seconds, the first burst starting at :data:`BURST_FIRST_AT`; the
  providers throttle it: :data:`BURST_THROTTLE_PROBABILITY` of the LLM calls made during a
  burst fail with a 429.
* ``error-spike`` — from :data:`ERROR_SPIKE_START` to :data:`ERROR_SPIKE_END`, a third of the
  agents (:attr:`Fleet.failing_agents`) fail :data:`ERROR_SPIKE_PROBABILITY` of their calls.
* ``latency-degradation`` — from :data:`LATENCY_DEGRADATION_START`, the latency of
  :attr:`Fleet.degraded_model` grows linearly to ×:data:`LATENCY_DEGRADATION_FACTOR` over
  :data:`LATENCY_DEGRADATION_RAMP` seconds, then stays there.
* ``cost-drift`` — from :data:`COST_DRIFT_START`, tokens (input and output) and therefore cost
  per call grow linearly to ×:data:`COST_DRIFT_FACTOR` over :data:`COST_DRIFT_RAMP` seconds.
* ``new-decision`` — from :data:`NEW_DECISION_AT`, :attr:`Fleet.new_decision_agent` sometimes
  decides :data:`NEW_DECISION`, a decision no agent makes before then.
* ``stuck-step`` — the first step :attr:`Fleet.stuck_agent` begins from :data:`STUCK_STEP_AT` on
  hangs in its LLM call for :data:`STUCK_STEP_SECONDS` (then fails with a ``Timeout``); its other
  steps go on meanwhile (as an agent's other tasks do), so the fleet's mix stays as it was.

Span starts: like the SDK, the fleet reports the start of each LLM and tool call that is still
running when the sender next sends (one lasting at least :data:`START_MIN_SECONDS`), an
``event_type: span_start`` event at its start time with its span id, model or tool, so the
collector shows it in flight. A start is no event of the fleet's rate (the collector counts
none), and there is at most one per call. They come with ``span_starts=True`` (the sender, hence
``agentwatch simulate`` and ``demo``); without, the stream is the events alone.

The sender (:mod:`agentwatch.simulator.sender`) drives a fleet from the wall clock.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Any, Final, cast

from agentwatch import pricing
from agentwatch.protocol import (
    EVENT_SPAN_START,
    SPAN_COMPLETION,
    SPAN_DECISION,
    SPAN_HEARTBEAT,
    SPAN_LLM_CALL,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    START_SPAN_TYPE_KEY,
    Event,
)

SCENARIOS: Final = (
    "steady",
    "burst",
    "error-spike",
    "latency-degradation",
    "cost-drift",
    "new-decision",
    "stuck-step",
)

# ------------------------------------------------------------------ scenario timing
BURST_FIRST_AT: Final = 30.0
BURST_EVERY: Final = 60.0
BURST_SECONDS: Final = 20.0
BURST_FACTOR: Final = 5.0
#: Share of LLM calls the providers throttle (429) during a burst.
BURST_THROTTLE_PROBABILITY: Final = 0.15

ERROR_SPIKE_START: Final = 20.0
ERROR_SPIKE_END: Final = 50.0
ERROR_SPIKE_SHARE: Final = 1 / 3
ERROR_SPIKE_PROBABILITY: Final = 0.4

LATENCY_DEGRADATION_START: Final = 15.0
LATENCY_DEGRADATION_RAMP: Final = 10.0
LATENCY_DEGRADATION_FACTOR: Final = 5.0

COST_DRIFT_START: Final = 15.0
COST_DRIFT_RAMP: Final = 20.0
COST_DRIFT_FACTOR: Final = 2.5

NEW_DECISION_AT: Final = 30.0
NEW_DECISION: Final = "issue_refund_without_approval"
NEW_DECISION_PROBABILITY: Final = 0.35

STUCK_STEP_AT: Final = 8.0
#: Longer than the stuck rule's floor (60 s), so the collector marks it stuck and fires once.
STUCK_STEP_SECONDS: Final = 150.0

# ---------------------------------------------------------------------- baseline
#: A call reports its start only when it lasts at least this long: the sender sends every
#: 0.25 s, and the SDK leaves out the start of a span that has ended by then.
START_MIN_SECONDS: Final = 0.5
HEARTBEAT_INTERVAL: Final = 5.0
#: Heartbeats never take more than this share of the event budget (they slow down instead).
HEARTBEAT_MAX_SHARE: Final = 0.2
LLM_ERROR_PROBABILITY: Final = 0.015
#: An LLM call that fails with ``Timeout`` takes this long (ms) and reports its error at the end.
LLM_TIMEOUT_MS: Final = 10_000.0
TOOL_ERROR_PROBABILITY: Final = 0.02
COST_OMITTED_PROBABILITY: Final = 0.15
#: Shape of the gamma distribution of the pause between an agent's steps (mean 1; larger is
#: more regular). 4 keeps the rate of even a single agent within a few percent over a minute.
GAP_SHAPE: Final = 4.0
#: Simulated seconds (at most, and at most this many events) run before ``start`` and discarded.
WARMUP_SECONDS: Final = 12.0
WARMUP_EVENTS: Final = 20_000
#: About how many events one step makes on average (heartbeats aside), for sizing.
EVENTS_PER_STEP: Final = 6.0

#: model → (median latency ms, lognormal sigma, provider); every name is in the price table.
MODELS: Final[dict[str, tuple[float, float, str]]] = {
    "gpt-4o": (1200.0, 0.45, "openai"),
    "gpt-4o-mini": (400.0, 0.4, "openai"),
    "claude-sonnet-4": (1800.0, 0.45, "anthropic"),
    "claude-3-5-haiku": (600.0, 0.4, "anthropic"),
    "gemini-2.0-flash": (350.0, 0.35, "google"),
    "llama-3.1-70b": (900.0, 0.55, "meta"),
}
_FALLBACK_MODELS: Final = ("gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0-flash")

#: tool → (median latency ms, lognormal sigma)
TOOLS: Final[dict[str, tuple[float, float]]] = {
    "search": (300.0, 0.5),
    "web_fetch": (800.0, 0.7),
    "sql_query": (120.0, 0.6),
    "code_exec": (1500.0, 0.6),
    "send_email": (250.0, 0.4),
    "read_file": (40.0, 0.5),
    "vector_search": (90.0, 0.4),
}


@dataclass(frozen=True)
class Role:
    """What a kind of agent does: its prompts' size, its tools and its decisions."""

    name: str
    input_median: float
    output_median: float
    tools: tuple[str, ...]
    decisions: tuple[tuple[str, float], ...]  # (decision, weight)
    models: tuple[tuple[str, float], ...]  # preferred-model weights


ROLES: Final = (
    Role("planner", 1800, 220, ("search", "vector_search"),
         (("delegate", 5), ("answer", 3), ("ask_clarification", 1), ("retry", 0.5)),
         (("gpt-4o", 3), ("claude-sonnet-4", 3), ("gemini-2.0-flash", 1))),
    Role("researcher", 3200, 300, ("search", "web_fetch", "vector_search"),
         (("answer", 6), ("delegate", 1.5), ("retry", 1), ("escalate_to_human", 0.5)),
         (("claude-sonnet-4", 3), ("gpt-4o", 2), ("llama-3.1-70b", 1))),
    Role("coder", 2600, 420, ("code_exec", "read_file", "sql_query"),
         (("answer", 4), ("run_tests", 3), ("retry", 1), ("escalate_to_human", 0.4)),
         (("claude-sonnet-4", 4), ("gpt-4o", 2), ("llama-3.1-70b", 1))),
    Role("support-bot", 900, 140, ("sql_query", "send_email", "vector_search"),
         (("answer", 7), ("escalate_to_human", 1.5), ("refund", 0.8), ("retry", 0.5)),
         (("gpt-4o-mini", 4), ("claude-3-5-haiku", 3), ("gemini-2.0-flash", 2))),
    Role("reviewer", 2200, 180, ("read_file", "code_exec"),
         (("approve", 5), ("request_changes", 3), ("escalate_to_human", 0.5)),
         (("gpt-4o", 2), ("claude-sonnet-4", 2), ("claude-3-5-haiku", 1))),
    Role("summarizer", 4000, 250, ("web_fetch", "read_file"),
         (("answer", 8), ("retry", 0.5)),
         (("gemini-2.0-flash", 3), ("gpt-4o-mini", 3), ("claude-3-5-haiku", 1))),
    Role("router", 500, 40, ("vector_search",),
         (("delegate", 8), ("answer", 1.5), ("escalate_to_human", 0.3)),
         (("gpt-4o-mini", 4), ("gemini-2.0-flash", 3))),
    Role("analyst", 2400, 260, ("sql_query", "code_exec", "search"),
         (("answer", 5), ("delegate", 1), ("escalate_to_human", 0.6)),
         (("gpt-4o", 3), ("llama-3.1-70b", 2), ("claude-sonnet-4", 1))),
)  # fmt: skip

_LLM_ERRORS: Final = (
    ("Timeout", "request exceeded 10s deadline"),
    ("RateLimitError", "429 Too Many Requests: rate limit reached for requests"),
    ("ValidationError", "model output did not match the expected JSON schema"),
)
_TOOL_ERRORS: Final = (
    ("ToolError", "tool returned a non-zero exit status"),
    ("Timeout", "tool call exceeded 10s deadline"),
    ("RateLimitError", "upstream answered 429"),
)


def _ramp(elapsed: float, start: float, duration: float, factor: float) -> float:
    """1.0 before ``start``, rising linearly to ``factor`` over ``duration`` seconds."""
    if elapsed <= start:
        return 1.0
    return 1.0 + (factor - 1.0) * min(1.0, (elapsed - start) / duration)


@dataclass
class _Agent:
    agent_id: str
    role: Role
    model: str
    weight: float
    steps: int = 0


class Fleet:
    """A deterministic simulated fleet; see the module docstring for what it produces.

    ``start`` is the simulated unix time at which the fleet starts (events come strictly
    after it); ``rate`` is the average number of events per second of the whole fleet.
    Raises ``ValueError`` for an unknown scenario, fewer than one agent or a rate ≤ 0.
    """

    def __init__(
        self,
        agents: int = 12,
        *,
        seed: int = 0,
        scenario: str = "steady",
        start: float = 0.0,
        rate: float = 100.0,
        span_starts: bool = False,
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
        if agents < 1:
            raise ValueError("a fleet needs at least one agent")
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError("rate must be a finite number of events per second > 0")
        if not math.isfinite(start):
            raise ValueError("start must be a finite unix time")
        self.scenario = scenario
        self.span_starts = span_starts
        self.start = float(start)
        self.rate = float(rate)
        self.now = self.start
        self._rng = random.Random(seed)
        rng = self._rng
        self._agents: list[_Agent] = []
        for index in range(agents):
            role = ROLES[index % len(ROLES)]
            names, weights = zip(*role.models, strict=True)
            model = rng.choices(names, weights)[0]
            self._agents.append(_Agent(f"{role.name}-{index + 1}", role, model, rng.lognormvariate(0, 0.35)))
        self.agent_ids: list[str] = [agent.agent_id for agent in self._agents]
        total_weight = sum(agent.weight for agent in self._agents)

        self.heartbeat_interval = max(HEARTBEAT_INTERVAL, agents / (HEARTBEAT_MAX_SHARE * self.rate))
        step_rate = self.rate - agents / self.heartbeat_interval
        self._step_rates = [step_rate * agent.weight / total_weight for agent in self._agents]

        spike_count = max(1, math.ceil(agents * ERROR_SPIKE_SHARE))
        self.failing_agents: list[str] = sorted(rng.sample(self.agent_ids, spike_count))
        self._failing = frozenset(self.failing_agents)
        self.degraded_model: str = self._agents[0].model
        self.new_decision_agent: str = rng.choice(self.agent_ids)
        #: The agent whose step hangs in ``stuck-step`` (chosen without the generator: the other
        #: scenarios' events stay what they were).
        self.stuck_agent: str = self.agent_ids[len(self.agent_ids) // 2]
        self._stuck_pending = scenario == "stuck-step"
        #: Span starts made (no part of the rate: see the module docstring).
        self.starts = 0

        self._pending: list[tuple[float, int, Event]] = []  # (timestamp, seq, event)
        self._seq = 0
        # (time, kind, agent index); kind 0 = step, 1 = heartbeat.
        self._schedule: list[tuple[float, int, int]] = []
        # Start warm: steps begin before ``start`` so calls are already in flight at ``start``
        # (their earlier events are discarded), instead of a first second with no completions.
        warmup = min(WARMUP_SECONDS, WARMUP_EVENTS / self.rate)
        self.now = self.start - warmup
        for index in range(agents):
            first_step = self._after(self.now, rng.expovariate(1.0) / self._step_rates[index])
            self._schedule.append((first_step, 0, index))
            self._schedule.append((self.start + rng.uniform(1e-3, self.heartbeat_interval), 1, index))
        heapq.heapify(self._schedule)
        self.events_until(self.start)

    # ------------------------------------------------------------------ public
    def events_until(self, t: float) -> list[Event]:
        """All events with ``last_t < timestamp <= t``, oldest first; advances simulated time.

        A ``t`` at or before the last one returns ``[]``. ``NaN`` or an infinity raises
        ``ValueError``. The cost is proportional to the number of events produced, so callers
        whose clock jumped far ahead should call :meth:`skip_to` first.
        """
        if not math.isfinite(t):
            raise ValueError("t must be a finite unix time")
        if t <= self.now:
            return []
        while self._schedule and self._schedule[0][0] <= t:
            when, kind, index = heapq.heappop(self._schedule)
            if kind == 0:
                starts = self.starts
                produced = self._step(self._agents[index], when) - (self.starts - starts)
                gap = produced * self._rng.gammavariate(GAP_SHAPE, 1.0 / GAP_SHAPE) / self._step_rates[index]
                heapq.heappush(self._schedule, (self._after(when, gap), 0, index))
            else:
                self._heartbeat(self._agents[index], when)
                jitter = self._rng.uniform(-0.1, 0.1) * self.heartbeat_interval
                heapq.heappush(self._schedule, (when + self.heartbeat_interval + jitter, 1, index))
        out: list[Event] = []
        while self._pending and self._pending[0][0] <= t:
            out.append(heapq.heappop(self._pending)[2])
        self.now = t
        return out

    def skip_to(self, t: float) -> int:
        """Jump to ``t`` without producing the events in between; returns how many were pending.

        Work scheduled before ``t`` restarts shortly after ``t``. Used when the wall clock
        jumps (a suspended laptop) so the sender does not flood the collector with hours of
        catch-up. A ``t`` at or before the current time does nothing.
        """
        if not math.isfinite(t) or t <= self.now:
            return 0
        discarded = sum(1 for when, _, _ in self._pending if when <= t)
        self._pending = [item for item in self._pending if item[0] > t]
        heapq.heapify(self._pending)
        self._schedule = [
            (when if when > t else t + self._rng.uniform(1e-3, 1.0), kind, index)
            for when, kind, index in self._schedule
        ]
        heapq.heapify(self._schedule)
        self.now = t
        return discarded

    # ------------------------------------------------------------- scenario knobs
    def _rate_factor(self, when: float) -> float:
        if self.scenario != "burst":
            return 1.0
        elapsed = when - self.start - BURST_FIRST_AT
        return BURST_FACTOR if elapsed >= 0 and elapsed % BURST_EVERY < BURST_SECONDS else 1.0

    def _after(self, when: float, work: float) -> float:
        """The time at which ``work`` units of steady-rate time have passed after ``when``.

        Outside ``burst`` this is ``when + work``; inside a burst, time runs
        :data:`BURST_FACTOR` times faster, so steps come that much more often.
        """
        if self.scenario != "burst":
            return when + work
        while True:
            factor = self._rate_factor(when)
            elapsed = when - self.start - BURST_FIRST_AT
            if elapsed < 0:
                boundary = when - elapsed
            else:
                phase = elapsed % BURST_EVERY
                boundary = when + (BURST_SECONDS - phase if phase < BURST_SECONDS else BURST_EVERY - phase)
            capacity = (boundary - when) * factor
            if work <= capacity:
                return when + work / factor
            work -= capacity
            when = boundary

    def _error_probability(self, agent: _Agent, when: float, base: float) -> float:
        if self.scenario == "error-spike" and agent.agent_id in self._failing:
            elapsed = when - self.start
            if ERROR_SPIKE_START <= elapsed < ERROR_SPIKE_END:
                return ERROR_SPIKE_PROBABILITY
        return base

    def _latency_factor(self, model: str, when: float) -> float:
        if self.scenario != "latency-degradation" or model != self.degraded_model:
            return 1.0
        return _ramp(
            when - self.start, LATENCY_DEGRADATION_START, LATENCY_DEGRADATION_RAMP, LATENCY_DEGRADATION_FACTOR
        )

    def _token_factor(self, when: float) -> float:
        if self.scenario != "cost-drift":
            return 1.0
        return _ramp(when - self.start, COST_DRIFT_START, COST_DRIFT_RAMP, COST_DRIFT_FACTOR)

    # --------------------------------------------------------------- generation
    def _emit(self, event: Event) -> None:
        """Queue ``event`` until simulated time reaches its (float) timestamp."""
        self._seq += 1
        heapq.heappush(self._pending, (cast(float, event.timestamp), self._seq, event))

    def _start(
        self,
        agent: _Agent,
        when: float,
        end: float,
        span_type: str,
        trace_id: str,
        span_id: str,
        parent: str,
        *,
        model: str | None = None,
        tool: str | None = None,
    ) -> None:
        """The start of a call from ``when`` to ``end``, as the SDK sends it, when it lasts long
        enough to be seen running (:data:`START_MIN_SECONDS`)."""
        if not self.span_starts or end - when < START_MIN_SECONDS:
            return
        self.starts += 1
        self._emit(
            Event(
                agent_id=agent.agent_id,
                timestamp=round(when, 6),
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                model=model,
                tool_name=tool,
                event_type=EVENT_SPAN_START,
                payload={START_SPAN_TYPE_KEY: span_type},
            )
        )

    def _id(self, bits: int) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    def _log(self, agent: _Agent, when: float, level: str, message: str, trace_id: str | None) -> None:
        self._emit(
            Event(
                agent_id=agent.agent_id,
                timestamp=round(when, 6),
                span_type=SPAN_LOG,
                level=level,
                message=message,
                trace_id=trace_id,
            )
        )

    def _heartbeat(self, agent: _Agent, when: float) -> None:
        self._emit(
            Event(
                agent_id=agent.agent_id,
                timestamp=round(when, 6),
                span_type=SPAN_HEARTBEAT,
                model=agent.model,
                attributes={"role": agent.role.name, "steps": agent.steps},
            )
        )

    def _llm_call(
        self, agent: _Agent, when: float, trace_id: str, parent: str, tokens_in: int
    ) -> tuple[float, str | None]:
        """Emit one LLM call starting at ``when``; returns (end time, error or None)."""
        rng = self._rng
        model = agent.model if rng.random() < 0.9 else rng.choice(_FALLBACK_MODELS)
        median, sigma, provider = MODELS[model]
        latency = median * rng.lognormvariate(0.0, sigma) * self._latency_factor(model, when)
        if rng.random() < 0.01:  # the tail: a cold cache, a congested region
            latency *= rng.uniform(3.0, 6.0)
        drift = self._token_factor(when)
        tokens_in = max(1, round(tokens_in * drift))
        tokens_out = max(1, round(agent.role.output_median * rng.lognormvariate(0.0, 0.6) * drift))
        error = None
        if self._rate_factor(when) > 1.0 and rng.random() < BURST_THROTTLE_PROBABILITY:
            error = f"RateLimitError: 429 Too Many Requests: {provider} is throttling the burst"
            tokens_out = 0
        elif rng.random() < self._error_probability(agent, when, LLM_ERROR_PROBABILITY):
            kind, text = rng.choice(_LLM_ERRORS)
            error = f"{kind}: {text}"
            if kind == "Timeout":
                latency = max(latency, LLM_TIMEOUT_MS * rng.uniform(1.0, 1.02))
            tokens_out = 0
        if self._stuck_pending and agent.agent_id == self.stuck_agent and when - self.start >= STUCK_STEP_AT:
            self._stuck_pending = False
            latency = STUCK_STEP_SECONDS * 1000.0
            error = f"Timeout: no answer from {provider} in {STUCK_STEP_SECONDS:.0f}s"
            tokens_out = 0
        end = when + latency / 1000.0
        cost = (
            None
            if rng.random() < COST_OMITTED_PROBABILITY
            else pricing.estimate_cost(model, tokens_in, tokens_out)
        )
        span_id = self._id(64)
        self._start(agent, when, end, SPAN_LLM_CALL, trace_id, span_id, parent, model=model)
        self._emit(
            Event(
                agent_id=agent.agent_id,
                timestamp=round(end, 6),
                span_type=SPAN_LLM_CALL,
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                model=model,
                tokens_input=tokens_in,
                tokens_output=tokens_out,
                latency_ms=round(latency, 3),
                cost_usd=None if cost is None else round(cost, 8),
                error=error,
                attributes={"provider": provider},
            )
        )
        if error is not None:
            self._log(agent, end, "error", f"llm_call to {model} failed: {error}", trace_id)
        elif latency > 3 * median:
            self._log(agent, end, "warning", f"slow response from {model}: {latency:.0f} ms", trace_id)
        return end, error

    def _emit_tool_call(
        self,
        agent: _Agent,
        end: float,
        trace_id: str,
        parent: str,
        tool: str,
        latency: float,
        *,
        error: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        span_id = self._id(64)
        self._start(agent, end - latency / 1000.0, end, SPAN_TOOL_CALL, trace_id, span_id, parent, tool=tool)
        self._emit(
            Event(
                agent_id=agent.agent_id,
                timestamp=round(end, 6),
                span_type=SPAN_TOOL_CALL,
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                tool_name=tool,
                latency_ms=round(latency, 3),
                error=error,
                attributes=attributes,
            )
        )

    def _tool_call(self, agent: _Agent, when: float, trace_id: str, parent: str, tool: str) -> float:
        """Emit one tool call (and a retry after a 429); returns its end time."""
        rng = self._rng
        median, sigma = TOOLS[tool]
        latency = median * rng.lognormvariate(0.0, sigma)
        error = None
        if rng.random() < self._error_probability(agent, when, TOOL_ERROR_PROBABILITY):
            kind, text = rng.choice(_TOOL_ERRORS)
            error = f"{kind}: {text}"
        end = when + latency / 1000.0
        self._emit_tool_call(agent, end, trace_id, parent, tool, latency, error=error)
        if error is None:
            return end
        if error.startswith("RateLimitError"):
            backoff = rng.uniform(0.2, 1.0)
            self._log(
                agent, end, "warning", f"retrying tool {tool} after 429 (backoff {backoff:.1f}s)", trace_id
            )
            retry_latency = median * rng.lognormvariate(0.0, sigma)
            end += backoff + retry_latency / 1000.0
            self._emit_tool_call(agent, end, trace_id, parent, tool, retry_latency, attributes={"retry": 1})
        else:
            self._log(agent, end, "warning", f"tool {tool} failed, continuing without it: {error}", trace_id)
        return end

    def _decide(self, agent: _Agent, when: float) -> str:
        if (
            self.scenario == "new-decision"
            and agent.agent_id == self.new_decision_agent
            and when - self.start >= NEW_DECISION_AT
            and self._rng.random() < NEW_DECISION_PROBABILITY
        ):
            return NEW_DECISION
        names, weights = zip(*agent.role.decisions, strict=True)
        return self._rng.choices(names, weights)[0]

    def _step(self, agent: _Agent, when: float) -> int:
        """Generate one step of ``agent`` starting at ``when``; returns how many events it made
        (its starts included)."""
        rng = self._rng
        before = self._seq
        agent.steps += 1
        trace_id, root = self._id(128), self._id(64)
        tokens_in = max(20, round(agent.role.input_median * rng.lognormvariate(0.0, 0.5)))
        if rng.random() < 0.25:
            self._log(
                agent, when, "debug", f"step {agent.steps}: prompt assembled, {tokens_in} tokens", trace_id
            )
        if rng.random() < 0.03:
            full = rng.randint(70, 97)
            self._log(agent, when, "warning", f"context window {full}% full, truncating history", trace_id)
        t, error = self._llm_call(agent, when, trace_id, root, tokens_in)
        if error is None:
            tool_calls = rng.choices((0, 1, 2, 3), (0.35, 0.35, 0.2, 0.1))[0]
            for _ in range(tool_calls):
                t = self._tool_call(agent, t, trace_id, root, rng.choice(agent.role.tools))
            if tool_calls and rng.random() < 0.5:
                t, error = self._llm_call(agent, t, trace_id, root, tokens_in + rng.randint(200, 2000))
        if error is None:
            decision = self._decide(agent, t)
            confidence = rng.betavariate(3, 2) if decision == "escalate_to_human" else rng.betavariate(8, 2)
            t += rng.uniform(0.001, 0.02)
            self._emit(
                Event(
                    agent_id=agent.agent_id,
                    timestamp=round(t, 6),
                    span_type=SPAN_DECISION,
                    trace_id=trace_id,
                    span_id=self._id(64),
                    parent_span_id=root,
                    decision_made=decision,
                    confidence=round(confidence, 3),
                )
            )
            if decision == "escalate_to_human":
                self._log(
                    agent, t, "warning", f"escalating to a human (confidence {confidence:.2f})", trace_id
                )
            t += rng.uniform(0.001, 0.01)
            self._emit(
                Event(
                    agent_id=agent.agent_id,
                    timestamp=round(t, 6),
                    span_type=SPAN_COMPLETION,
                    trace_id=trace_id,
                    span_id=root,
                    model=agent.model,
                    latency_ms=round((t - when) * 1000.0, 3),
                )
            )
            if rng.random() < 0.4:
                self._log(
                    agent, t, "info", f"task {trace_id[:8]} done in {t - when:.1f}s: {decision}", trace_id
                )
        return self._seq - before
