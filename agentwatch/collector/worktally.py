"""What coding agents say they did, from their own metrics: lines changed, active time, sessions,
commits and pull requests, per session.

Claude Code and Gemini CLI send these only as metrics (their log events and spans do not carry
them), so they are what their metrics add: :class:`WorkTally` sums each point's delta (after
:class:`~agentwatch.collector.otlp.temporality.DeltaConverter`) under the agent the point names,
as :func:`~agentwatch.collector.otlp.conventions.metric_agent` names a session's events, so that a
snapshot's row shows its session's work beside its tokens and cost. These totals run from when
the collector first saw each series (a cumulative series counts from its second point unless it
began while watched) and are not kept across restarts. At most ``max_agents`` agents are kept;
the least recently updated is forgotten first (:attr:`WorkTally.evicted` counts them).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Final

from agentwatch.collector.otlp.metrics import MetricPoint
from agentwatch.protocol import Work

#: Metric name → the :class:`~agentwatch.protocol.Work` field it adds to (``lines`` splits by
#: the point's ``type`` attribute: ``added`` / ``removed``).
WORK_METRICS: Final[dict[str, str]] = {
    "claude_code.lines_of_code.count": "lines",
    "claude_code.active_time.total": "active_seconds",
    "claude_code.session.count": "sessions",
    "claude_code.commit.count": "commits",
    "claude_code.pull_request.count": "pull_requests",
    "gemini_cli.lines.changed": "lines",
    "gemini_cli.session.count": "sessions",
}
_LINE_FIELDS: Final = {"added": "lines_added", "removed": "lines_removed"}
_TO_SECONDS: Final = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}
#: Largest delta one point may add (a bad value must not make a total absurd or infinite).
MAX_DELTA: Final = 1e12
DEFAULT_MAX_AGENTS: Final = 10_000


class WorkTally:
    """Per-agent :class:`~agentwatch.protocol.Work` totals (see the module docstring). Event-loop only."""

    def __init__(self, max_agents: int = DEFAULT_MAX_AGENTS) -> None:
        self.max_agents = max_agents
        self._work: OrderedDict[str, Work] = OrderedDict()
        self.evicted = 0

    def add(self, agent: str, delta: MetricPoint) -> None:
        """Add one delta point of a :data:`WORK_METRICS` metric to ``agent``'s work."""
        kind = WORK_METRICS.get(delta.name)
        value = delta.value
        if kind is None or value is None or isinstance(value, bool):
            return
        if not (math.isfinite(value) and 0 <= value <= MAX_DELTA):  # a sum's delta never goes down
            return
        if kind == "lines":
            field = _LINE_FIELDS.get(str(delta.attributes.get("type", "added")))
            if field is None:
                return
        elif kind == "active_seconds":
            field = kind
            value = value * _TO_SECONDS.get(delta.unit, 1.0)
        else:
            field = kind
        work = self._work.get(agent)
        if work is None:
            work = self._work[agent] = Work()
            if len(self._work) > self.max_agents:
                self._work.popitem(last=False)
                self.evicted += 1
        else:
            self._work.move_to_end(agent)
        total = getattr(work, field) + value
        setattr(work, field, round(total) if field != "active_seconds" else round(total, 3))

    def get(self, agent: str) -> Work | None:
        return self._work.get(agent)

    def __len__(self) -> int:
        return len(self._work)
