"""Cost budgets: per agent (each coding-agent session is one) and per program per UTC day.

The collector's config file sets them (``[budgets] session_usd``, ``[budgets.daily_usd]``).
:class:`BudgetWatch` is an aggregator of the collector: it sums each accepted event's cost (the
cost it carries, else the price table's estimate, as the window counts it) per agent and per
(program, UTC day), where a program is the part of an agent id before ``·``
(``claude-code·d0615065`` → ``claude-code``; an agent id without one is its own program).
:meth:`BudgetWatch.check` turns each crossing into a ``budget`` alert, sent once: a session's
stays firing, a day's resolves when the day ends. Bounded: at most ``max_agents`` agents are
summed (the least recently seen are forgotten first).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from agentwatch.collector.otlp.sessions import SEPARATOR
from agentwatch.pricing import estimate_cost
from agentwatch.protocol import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    MAX_EVENT_COST_USD,
    RULE_BUDGET,
    SCOPE_AGENT_PREFIX,
    SCOPE_PROGRAM_PREFIX,
    Alert,
    Event,
)

DEFAULT_MAX_AGENTS: Final = 10_000
#: A budget spent this many times over is critical; below, a warning.
CRITICAL_RATIO: Final = 1.5
_DAY: Final = 86_400


@dataclass
class Budgets:
    """What the config file sets: USD per agent (session), and per program per UTC day."""

    session_usd: float | None = None
    daily_usd: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.session_usd is not None or bool(self.daily_usd)


def program_of(agent_id: str) -> str:
    return agent_id.partition(SEPARATOR)[0]


def event_cost(event: Event) -> float:
    """An event's cost as the window counts it: its own when valid, else the price table's, else 0."""
    cost = event.cost_usd
    if cost is not None:
        return cost if math.isfinite(cost) and 0.0 <= cost <= MAX_EVENT_COST_USD else 0.0
    if event.tokens_input is None and event.tokens_output is None:
        return 0.0
    estimate = estimate_cost(event.model, event.tokens_input, event.tokens_output)
    return estimate if estimate is not None and 0.0 <= estimate <= MAX_EVENT_COST_USD else 0.0


class BudgetWatch:
    """Spend per agent and per program-day, and the ``budget`` alerts it raises. Event-loop only."""

    def __init__(
        self,
        budgets: Budgets,
        *,
        max_agents: int = DEFAULT_MAX_AGENTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.budgets = budgets
        self.max_agents = max_agents
        self.clock = clock
        self._agents: OrderedDict[str, float] = OrderedDict()
        self._days: dict[tuple[str, int], float] = {}
        self._firing: dict[str, Alert] = {}

    def add_many(self, events: Sequence[Event]) -> None:
        """An aggregator of the collector: sum what each event cost (nothing when no budget is set)."""
        if not self.budgets:
            return
        day = int(self.clock() // _DAY)
        agents, days, watched = self._agents, self._days, self.budgets.daily_usd
        for event in events:
            cost = event_cost(event)
            if not cost:
                continue
            agent = event.agent_id
            agents[agent] = agents.get(agent, 0.0) + cost
            agents.move_to_end(agent)
            program = program_of(agent)
            if program in watched:
                days[(program, day)] = days.get((program, day), 0.0) + cost
        while len(agents) > self.max_agents:
            agents.popitem(last=False)

    def check(self) -> list[Alert]:
        """The budget alerts that started or resolved since the last check."""
        if not self.budgets:
            return []
        now = self.clock()
        day = int(now // _DAY)
        changes: list[Alert] = []
        limit = self.budgets.session_usd
        if limit is not None:
            for agent, spent in self._agents.items():
                if spent > limit:
                    changes.extend(self._fire(SCOPE_AGENT_PREFIX + agent, spent, limit, now, "spent"))
        for (program, when), spent in list(self._days.items()):
            scope = SCOPE_PROGRAM_PREFIX + program
            if when < day:
                del self._days[(program, when)]
                alert = self._firing.pop(f"{RULE_BUDGET}:{scope}", None)
                if alert is not None:
                    alert.state, alert.resolved_at = ALERT_RESOLVED, now
                    changes.append(alert)
                continue
            limit = self.budgets.daily_usd[program]
            if spent > limit:
                changes.extend(self._fire(scope, spent, limit, now, "spent today"))
        return changes

    def _fire(self, scope: str, spent: float, limit: float, now: float, what: str) -> list[Alert]:
        key = f"{RULE_BUDGET}:{scope}"
        alert = self._firing.get(key)
        severity = "critical" if spent >= CRITICAL_RATIO * limit else "warning"
        if alert is not None:
            alert.value = spent  # the figure goes on; a new frame only when it turns critical
            if alert.severity == severity:
                return []
            alert.severity = severity
            return [alert]
        alert = Alert(
            id=key,
            rule=RULE_BUDGET,
            scope=scope,
            state=ALERT_FIRING,
            started_at=now,
            value=spent,
            threshold=limit,
            message=f"${spent:.2f} {what}, over the ${limit:.2f} budget",
            severity=severity,
        )
        self._firing[key] = alert
        return [alert]

    def firing(self, agent: str | None = None) -> list[Alert]:
        alerts = list(self._firing.values())
        if agent is not None:
            alerts = [
                a
                for a in alerts
                if a.scope in (SCOPE_AGENT_PREFIX + agent, SCOPE_PROGRAM_PREFIX + program_of(agent))
            ]
        return alerts
