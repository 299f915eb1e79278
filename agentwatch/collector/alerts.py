"""Alert rules, evaluated by the collector every ``interval`` seconds over the ledger's intervals.

Rules (thresholds and windows in :class:`~agentwatch.collector.config.AlertSettings`):

* ``error_rate`` (fleet, agents, models) — the error rate over ``error_rate.window`` is above
  the baseline mean by more than ``z`` standard deviations *and* by at least
  ``min_increase``, with at least ``min_events`` events and ``min_errors`` errors, and only
  for an error count a Poisson count at the baseline rate reaches less often than
  :data:`ERROR_RATE_ALPHA` (a few errors among few events are luck, not news).
* ``cost_per_inference`` (fleet, agents, models) — cost per inference over ``cost.window``
  above ``ratio`` × the baseline mean (and above mean + ``z``·σ, so noise alone cannot fire).
* ``latency_regression`` (fleet, models) — p99 over ``latency.window`` above the baseline's
  upper bound ``max(mean + z·σ, floor_ratio × mean)`` of the baseline p99 samples, and only
  when significantly more calls than usual (:data:`LATENCY_TAIL_SHARE`,
  :data:`LATENCY_ALPHA`) are slower than the baseline p99 (the p99 of a short window wobbles).
* ``token_efficiency`` (fleet, agents) — output tokens per successful LLM call below
  ``token_efficiency.min``. No baseline.
* ``silent_agent`` — an agent that sent at least ``silent.min_events`` events has sent
  nothing for ``silent.after`` seconds; resolves when it speaks again.
* ``new_decision`` (scope ``agent:<id>/decision:<name>``) — a ``decision_made`` value the
  agent never made before, once it has made ``new_decision.min_history`` decisions. Fires
  once, resolves after ``new_decision.hold`` seconds.
* ``stuck`` (scope ``agent:<id>/step:<span id>``) — a step in flight (an SDK span begun and not
  ended, a session's running tool; see :class:`~agentwatch.collector.window.Step`) running longer
  than its limit ``max(stuck.factor × usual p99, stuck.floor)``. The usual p99 is its model's
  (an inference span with a model): the latency baseline's mean p99, else the p99 of
  ``latency.window`` once it holds :data:`STUCK_MIN_SAMPLES` calls; other steps have the floor
  alone. A step with a step open inside it waits on that one and is not judged; otherwise it is
  judged on the time since it last did something (its start or the end of a step inside it).
  Checked once a second; fires once per step, resolves when the step ends (or is forgotten); its
  value (seconds running) is brought up to date once an ``interval``.

Baselines: each evaluation of a baseline rule yields one sample per scope; the baseline is
the mean and standard deviation of the samples of the last ``baseline_seconds``, taken
*before* the current evaluation, and only samples taken while the rule was neither firing
nor above its threshold (so an incident never becomes its own baseline). A rule may fire
only once ``min_samples`` samples exist. Hysteresis: an alert fires after ``fire_after``
consecutive evaluations above its threshold and resolves after ``resolve_after`` below it
(a scope with too little data counts as below). A firing alert is sent once; its value is
updated in place (visible in ``/api/alerts`` and snapshots) without a new frame; while it is
below its threshold again it is on its way to resolving (viewers say so).

Severity: ``critical`` when the value is :data:`CRITICAL_FACTOR` times as far from the
baseline as the threshold is (silence: three times ``silent.after``; token efficiency: a third
of its minimum), ``warning`` otherwise; it follows the value while above the threshold.

:meth:`AlertEngine.warm` builds the baselines from past events before going live (the demo
feeds it its fleet's simulated history).

Cost: evaluation is O(scopes × intervals in the longest window), independent of the
event rate; the ledger caps the number of scopes.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from agentwatch.collector.config import AlertSettings
from agentwatch.collector.ledger import Ledger, ScopeSeries, agent_scope, model_scope
from agentwatch.collector.sessionboard import STEP_THINKING
from agentwatch.collector.sketch import LatencySketch, PackedSketch, key_of
from agentwatch.protocol import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    LATENCY_SPAN_TYPES,
    RULE_COST_PER_INFERENCE,
    RULE_ERROR_RATE,
    RULE_LATENCY_REGRESSION,
    RULE_NEW_DECISION,
    RULE_SILENT_AGENT,
    RULE_STUCK,
    RULE_TOKEN_EFFICIENCY,
    SCOPE_AGENT_PREFIX,
    SCOPE_MODEL_PREFIX,
    Alert,
    Event,
)

if TYPE_CHECKING:
    from agentwatch.collector.window import Step

HISTORY: Final = 200
MAX_FIRING_IN_SNAPSHOT: Final = 50
#: An error count that a Poisson count at the baseline rate reaches this often or more is luck.
ERROR_RATE_ALPHA: Final = 1e-3
#: Share of timed calls taken as usual above the baseline p99 (three times the 1 % it means: the
#: p99 of a short window wobbles) …
LATENCY_TAIL_SHARE: Final = 0.03
#: … and how rarely luck alone may put that many or more above it.
LATENCY_ALPHA: Final = 1e-4
#: An alert is critical when its value is this many times as far from the baseline as its threshold.
CRITICAL_FACTOR: Final = 3.0
SEVERITY_WARNING: Final = "warning"
SEVERITY_CRITICAL: Final = "critical"
#: Timed calls of a model in ``latency.window`` needed before their p99 sets a stuck limit.
STUCK_MIN_SAMPLES: Final = 20
#: Seconds between two checks of the steps in flight.
STUCK_CHECK_SECONDS: Final = 1.0


def poisson_tail(count: float, mean: float) -> float:
    """P(X ≥ ``count``) for X ~ Poisson(``mean``): how often luck alone gives that many errors.

    ``count`` is rounded up (weighted counts are fractional). Exact sum for a small mean,
    the normal approximation with continuity correction above 100.
    """
    k = math.ceil(count - 1e-9)
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if mean > 100.0:
        return 0.5 * math.erfc((k - 0.5 - mean) / math.sqrt(2.0 * mean))
    if k > mean + 10.0 * math.sqrt(mean) + 20.0:
        return 0.0  # far beyond any chance the sum below could tell apart from zero
    term = below = math.exp(-mean)
    for i in range(1, k):
        term *= mean / i
        below += term
    return max(0.0, 1.0 - below)


def far_beyond(value: float, baseline: float, threshold: float) -> bool:
    """``value`` is at least :data:`CRITICAL_FACTOR` times as far from ``baseline`` as
    ``threshold`` is, on the threshold's side (either direction)."""
    margin = threshold - baseline
    if margin == 0:
        return False
    return (value - baseline) / margin >= CRITICAL_FACTOR


def _count_above(sketch: LatencySketch | PackedSketch, value: float) -> int:
    """Samples of ``sketch`` in buckets above ``value``'s."""
    key = key_of(value)
    if key is None:
        return sketch.count
    return sum(count for bucket, count in sketch.items() if bucket > key)


def _sig(value: float) -> float:
    """Round to 6 significant digits, for readable alert numbers."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, 5 - math.floor(math.log10(abs(value))))


@dataclass
class RuleState:
    """One rule on one scope: baseline samples, streaks and the alert while it fires."""

    baseline: deque[float]
    above: int = 0
    below: int = 0
    alert: Alert | None = None

    def mean_std(self) -> tuple[float, float]:
        n = len(self.baseline)
        mean = sum(self.baseline) / n
        var = sum((x - mean) ** 2 for x in self.baseline) / (n - 1) if n > 1 else 0.0
        return mean, math.sqrt(var)


@dataclass
class Judgement:
    """What a rule says about one scope now. ``value`` None = not enough data (counts as below)."""

    value: float | None
    threshold: float | None = None
    above: bool = False
    sample: float | None = None  # what goes into the baseline (None = nothing)
    message: str = ""
    critical: bool = False  # far beyond the threshold (see :func:`far_beyond`)


@dataclass
class AlertEngine:
    """Evaluates the rules; :meth:`tick` from the collector's tick returns the alerts whose
    state changed (each to be sent once as ``event: alert``)."""

    ledger: Ledger
    settings: AlertSettings = field(default_factory=AlertSettings)
    clock: Callable[[], float] = time.time
    states: dict[tuple[str, str], RuleState] = field(default_factory=dict)
    history: deque[Alert] = field(default_factory=lambda: deque(maxlen=HISTORY))
    evaluations: int = 0
    next_evaluation: float | None = None
    new_decisions: dict[str, Alert] = field(default_factory=dict)
    #: The steps in flight now (the collector's window gives them); None: no stuck rule.
    steps: Callable[[], list[Step]] | None = None
    stuck: dict[str, tuple[Alert, Step]] = field(default_factory=dict)
    next_stuck_check: float = -math.inf

    # ------------------------------------------------------------------ driving
    def tick(self, now: float | None = None) -> list[Alert]:
        """Fold new events; evaluate when an interval has passed. Returns state changes."""
        now = self.clock() if now is None else now
        self.ledger.fold(now)
        changes = self._new_decisions(now)
        if self.steps is not None and now >= self.next_stuck_check:
            self.next_stuck_check = now + STUCK_CHECK_SECONDS
            changes.extend(self.check_steps(now))
        interval = self.settings.interval
        if self.next_evaluation is None:
            self.next_evaluation = (math.floor(now / interval) + 1) * interval
        if now >= self.next_evaluation:
            self.ledger.close_interval(now)
            changes.extend(self.evaluate(now))
            self.next_evaluation = (math.floor(now / interval) + 1) * interval
        return changes

    def warm(self, history: Iterable[tuple[float, Sequence[Event]]]) -> int:
        """Build the baselines from past events before going live; returns the evaluations run.

        Each ``(time, events)`` batch is folded and evaluated as if it had arrived at that time
        (oldest first, times increasing). The baselines, the ledger's intervals and its decision
        tables stay; what fired during the history is the past, not news, and is discarded.
        """
        before = self.evaluations
        for when, events in history:
            self.ledger.add_many(events)
            self.tick(when)
        for state in self.states.values():
            state.alert = None
            state.above = state.below = 0
        self.new_decisions.clear()
        self.history.clear()
        self.next_evaluation = None
        return self.evaluations - before

    def firing(self, agent: str | None = None) -> list[Alert]:
        """Alerts firing now (at most :data:`MAX_FIRING_IN_SNAPSHOT`), optionally only one agent's."""
        alerts = [s.alert for s in self.states.values() if s.alert is not None]
        alerts.extend(self.new_decisions.values())
        alerts.extend(alert for alert, _ in self.stuck.values())
        if agent is not None:
            scope = agent_scope(agent)
            alerts = [a for a in alerts if a.scope == scope or a.scope.startswith(scope + "/")]
        alerts.sort(key=lambda a: a.started_at, reverse=True)
        return alerts[:MAX_FIRING_IN_SNAPSHOT]

    def recent(self) -> list[Alert]:
        return list(reversed(self.history))

    def firing_ids(self) -> list[str]:
        """Ids of every alert firing now (no cap)."""
        ids = [s.alert.id for s in self.states.values() if s.alert is not None]
        ids.extend(self.new_decisions)
        ids.extend(self.stuck)
        return ids

    def find(self, alert_id: str) -> Alert | None:
        """The firing alert of this id (``rule:scope``), None when it does not fire."""
        rule, _, scope = alert_id.partition(":")
        state = self.states.get((rule, scope))
        if state is not None and state.alert is not None:
            return state.alert
        found = self.new_decisions.get(alert_id)
        if found is None and alert_id in self.stuck:
            found = self.stuck[alert_id][0]
        return found

    def baseline_of(self, rule: str, scope: str) -> tuple[float, float, bool] | None:
        """(mean, threshold-free upper bound, firing) of a latency baseline; None before min_samples."""
        state = self.states.get((rule, scope))
        if state is None or len(state.baseline) < self.settings.min_samples:
            return None
        mean, std = state.mean_std()
        bound = max(mean + self.settings.latency_z * std, self.settings.latency_floor_ratio * mean)
        return mean, bound, state.alert is not None

    # --------------------------------------------------------------- evaluation
    def evaluate(self, now: float) -> list[Alert]:
        """Run every enabled rule over every tracked scope once."""
        self.evaluations += 1
        cfg = self.settings
        changes: list[Alert] = []
        fleet = self.ledger.fleet
        agents = [s for s in self.ledger.scopes.values() if s.scope.startswith(SCOPE_AGENT_PREFIX)]
        models = [s for s in self.ledger.scopes.values() if s.scope.startswith(SCOPE_MODEL_PREFIX)]
        plan: list[tuple[str, list[ScopeSeries], Callable[[ScopeSeries, RuleState, float], Judgement]]] = [
            (RULE_ERROR_RATE, [fleet, *agents, *models], self._error_rate),
            (RULE_COST_PER_INFERENCE, [fleet, *agents, *models], self._cost),
            (RULE_LATENCY_REGRESSION, [fleet, *models], self._latency),
            (RULE_TOKEN_EFFICIENCY, [fleet, *agents], self._tokens),
            (RULE_SILENT_AGENT, agents, self._silent),
        ]
        seen: set[tuple[str, str]] = set()
        for rule, scopes, judge in plan:
            if not cfg.enabled(rule):
                continue
            for series in scopes:
                key = (rule, series.scope)
                seen.add(key)
                state = self.states.get(key)
                if state is None:
                    keep = max(2, int(cfg.baseline_seconds / cfg.interval))
                    state = self.states[key] = RuleState(deque(maxlen=keep))
                judgement = judge(series, state, now)
                change = self._step(rule, series.scope, state, judgement, now)
                if change is not None:
                    changes.append(change)
        for key in [k for k in self.states if k not in seen]:  # forgotten scopes resolve
            state = self.states.pop(key)
            if state.alert is not None:
                changes.append(self._resolve(state.alert, now))
        return changes

    def _step(self, rule: str, scope: str, state: RuleState, j: Judgement, now: float) -> Alert | None:
        cfg = self.settings
        if j.above:
            state.above += 1
            state.below = 0
        else:
            state.below += 1
            state.above = 0
            if j.sample is not None and state.alert is None:
                state.baseline.append(j.sample)
        alert = state.alert
        severity = SEVERITY_CRITICAL if j.critical else SEVERITY_WARNING
        if alert is not None:
            if j.value is not None:
                alert.value = _sig(j.value)
                alert.threshold = None if j.threshold is None else _sig(j.threshold)
                alert.message = j.message or alert.message
            if j.above:  # the severity follows the magnitude while above; kept while resolving
                alert.severity = severity
            if state.below >= cfg.resolve_after:
                state.alert = None
                return self._resolve(alert, now)
            return None
        if state.above >= cfg.fire_after:
            state.alert = Alert(
                id=f"{rule}:{scope}",
                rule=rule,
                scope=scope,
                state=ALERT_FIRING,
                started_at=now,
                value=None if j.value is None else _sig(j.value),
                threshold=None if j.threshold is None else _sig(j.threshold),
                message=j.message,
                severity=severity,
            )
            return self._record(state.alert)
        return None

    def _record(self, alert: Alert) -> Alert:
        frame = Alert(**{name: getattr(alert, name) for name in alert.__struct_fields__})
        self.history.append(frame)
        return frame

    def _resolve(self, alert: Alert, now: float) -> Alert:
        alert.state = ALERT_RESOLVED
        alert.resolved_at = now
        return self._record(alert)

    def _baseline(self, state: RuleState) -> tuple[float, float] | None:
        if len(state.baseline) < self.settings.min_samples:
            return None
        return state.mean_std()

    # -------------------------------------------------------------------- rules
    def _error_rate(self, series: ScopeSeries, state: RuleState, now: float) -> Judgement:
        cfg = self.settings
        w = series.window(now, cfg.error_rate_window)
        if w.events < cfg.error_rate_min_events:
            return Judgement(None)
        rate = w.errors / w.events
        base = self._baseline(state)
        if base is None:
            return Judgement(rate, sample=rate)
        mean, std = base
        threshold = mean + max(cfg.error_rate_z * std, cfg.error_rate_min_increase)
        above = (
            rate > threshold
            and w.errors >= cfg.error_rate_min_errors
            and poisson_tail(w.errors, w.events * mean) < ERROR_RATE_ALPHA
        )
        message = f"error rate {rate:.1%} on {series.scope} (baseline {mean:.1%} ± {std:.1%})"
        return Judgement(rate, threshold, above, rate, message, far_beyond(rate, mean, threshold))

    def _cost(self, series: ScopeSeries, state: RuleState, now: float) -> Judgement:
        cfg = self.settings
        w = series.window(now, cfg.cost_window)
        if w.inferences < cfg.cost_min_inferences:
            return Judgement(None)
        value = w.cost / w.inferences
        base = self._baseline(state)
        if base is None:
            return Judgement(value, sample=value)
        mean, std = base
        # Noise guard: the larger of the baseline's spread and this window's standard error.
        variance = max(0.0, w.cost_sq / w.inferences - value * value)
        noise = max(std, math.sqrt(variance / w.inferences))
        threshold = max(cfg.cost_ratio * mean, mean + cfg.cost_z * noise)
        message = (
            f"cost per inference ${value:.5f} on {series.scope}, {value / mean:.0%} of its average ${mean:.5f}"
            if mean > 0
            else ""
        )
        return Judgement(
            value, threshold, value > threshold, value, message, far_beyond(value, mean, threshold)
        )

    def _latency(self, series: ScopeSeries, state: RuleState, now: float) -> Judgement:
        cfg = self.settings
        w = series.window(now, cfg.latency_window, latency=True)
        if w.latency.count < cfg.latency_min_count:
            return Judgement(None)
        p99 = w.latency.quantile(0.99)
        if p99 is None:
            return Judgement(None)
        base = self._baseline(state)
        if base is None:
            return Judgement(p99, sample=p99)
        mean, std = base
        bound = max(mean + cfg.latency_z * std, cfg.latency_floor_ratio * mean)
        above = (
            p99 > bound
            and poisson_tail(_count_above(w.latency, mean), w.latency.count * LATENCY_TAIL_SHARE)
            < LATENCY_ALPHA
        )
        message = f"p99 latency {p99:.0f} ms on {series.scope}, above its bound {bound:.0f} ms (baseline {mean:.0f} ms)"
        return Judgement(p99, bound, above, p99, message, far_beyond(p99, mean, bound))

    def _tokens(self, series: ScopeSeries, state: RuleState, now: float) -> Judgement:
        cfg = self.settings
        w = series.window(now, cfg.token_efficiency_window)
        if w.calls_ok < cfg.token_efficiency_min_calls:
            return Judgement(None)
        value = w.tokens_out / w.calls_ok
        message = f"{value:.1f} output tokens per successful call on {series.scope} (minimum {cfg.token_efficiency_min:g})"
        low = value < cfg.token_efficiency_min
        return Judgement(
            value,
            cfg.token_efficiency_min,
            low,
            None,
            message,
            value * CRITICAL_FACTOR <= cfg.token_efficiency_min,
        )

    def _silent(self, series: ScopeSeries, state: RuleState, now: float) -> Judgement:
        cfg = self.settings
        silent = now - series.last_seen
        if series.events_total < cfg.silent_min_events:
            return Judgement(None)
        above = silent > cfg.silent_after
        message = f"{series.scope[len(SCOPE_AGENT_PREFIX) :]} silent for {silent:.0f} s"
        return Judgement(
            silent, cfg.silent_after, above, None, message, far_beyond(silent, 0.0, cfg.silent_after)
        )

    def stuck_limit(self, span_type: str, model: str | None, now: float) -> float:
        """Seconds a step of this type and model may run: max(factor × usual p99, floor).

        A coding agent's ``thinking`` (a turn with no tool running) has a floor of its own: one
        model answer, long ones included, and no hook between its start and its end.
        """
        cfg = self.settings
        if span_type == STEP_THINKING:
            return max(cfg.stuck_thinking_floor, cfg.stuck_floor)
        usual_ms: float | None = None
        if model and span_type in LATENCY_SPAN_TYPES:
            scope = model_scope(model)
            base = self.baseline_of(RULE_LATENCY_REGRESSION, scope)
            if base is not None:
                usual_ms = base[0]
            else:
                series = self.ledger.scopes.get(scope)
                if series is not None:
                    sketch = series.window(now, cfg.latency_window, latency=True).latency
                    if sketch.count >= STUCK_MIN_SAMPLES:
                        usual_ms = sketch.quantile(0.99)
        if usual_ms is None:
            return cfg.stuck_floor
        return max(cfg.stuck_factor * usual_ms / 1000.0, cfg.stuck_floor)

    def check_steps(self, now: float) -> list[Alert]:
        """Mark the steps in flight that are stuck, fire once for each, resolve those that ended."""
        assert self.steps is not None
        changes: list[Alert] = []
        enabled = self.settings.enabled(RULE_STUCK)
        for alert_id, (alert, step) in list(self.stuck.items()):
            if not step.open or not enabled:
                del self.stuck[alert_id]
                changes.append(self._resolve(alert, now))
        steps = self.steps()
        if not steps:
            return changes
        waiting = {(step.agent_id, step.parent) for step in steps if step.parent is not None}
        limits: dict[tuple[str, str | None], float] = {}
        for step in steps:
            kind = (step.span_type, step.model)
            limit = limits.get(kind)
            if limit is None:
                limit = limits[kind] = self.stuck_limit(step.span_type, step.model, now)
            step.limit = limit
            if not enabled:
                continue
            running = now - step.since
            if step.stuck:
                scope = f"{agent_scope(step.agent_id)}/step:{step.span_id}"
                found = self.stuck.get(f"{RULE_STUCK}:{scope}")
                # Its value moves once an interval (each change is a new snapshot for every viewer).
                if found is not None and running - (found[0].value or 0.0) >= self.settings.interval:
                    found[0].value = _sig(running)
                    if running >= CRITICAL_FACTOR * limit:
                        found[0].severity = SEVERITY_CRITICAL
                continue
            if (step.agent_id, step.span_id) in waiting or now - step.quiet_since <= limit:
                continue
            step.stuck = True
            scope = f"{agent_scope(step.agent_id)}/step:{step.span_id}"
            alert = Alert(
                id=f"{RULE_STUCK}:{scope}",
                rule=RULE_STUCK,
                scope=scope,
                started_at=now,
                value=_sig(running),
                threshold=_sig(limit),
                message=f"{step.agent_id} stuck: {step.what} running for {running:.0f} s (limit {limit:.0f} s)",
            )
            self.stuck[alert.id] = (alert, step)
            changes.append(self._record(alert))
        return changes

    def _new_decisions(self, now: float) -> list[Alert]:
        """Fire each novelty the ledger found; resolve those held long enough. Immediate, no hysteresis."""
        changes: list[Alert] = []
        novelties, self.ledger.novelties = self.ledger.novelties, []
        enabled = self.settings.enabled(RULE_NEW_DECISION)
        for agent_id, decision, when in novelties:
            scope = f"{agent_scope(agent_id)}/decision:{decision}"
            alert_id = f"{RULE_NEW_DECISION}:{scope}"
            if not enabled or alert_id in self.new_decisions:
                continue
            alert = Alert(
                id=alert_id,
                rule=RULE_NEW_DECISION,
                scope=scope,
                started_at=when,
                value=1.0,
                threshold=0.0,
                message=f"{agent_id} made a decision never seen before: {decision}",
            )
            self.new_decisions[alert_id] = alert
            changes.append(self._record(alert))
        for alert_id, alert in list(self.new_decisions.items()):
            if now - alert.started_at >= self.settings.new_decision_hold:
                del self.new_decisions[alert_id]
                changes.append(self._resolve(alert, now))
        return changes
