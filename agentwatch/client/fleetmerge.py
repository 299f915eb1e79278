"""Several collectors' snapshots as one fleet's: totals summed, percentiles from merged sketches.

Pure functions over what the collectors answered; nothing here does I/O. Each part is one collector's
snapshot with, when it could be read, its window's latency sketch (:mod:`agentwatch.sketchwire`). A
collector that is down simply has no part: the merge is of the ones that answered.

- Counters and rates add up (events, errors, tokens, tool calls, costs, active agents, dropped agents).
- ``error_rate`` is errors / events of the sum, not an average of rates.
- p50 / p95 / p99 come from the merge of the sketches: exact, as one collector fed every event would
  say. A part without a sketch (a collector that does not serve one) leaves them to the percentiles of
  the only part when there is just one, else None: averaging percentiles would be wrong.
- Agent rows are the union, sorted by agent id; :func:`merge_snapshots` also says which collector each
  agent's row came from (agents are sharded by agent: one agent is on one collector). The same id from
  several collectors (an agent that failed over, or two agents of one name) is one row
  (:func:`merge_rows`): its counts and rates summed, its p50 / p99 the larger (an upper bound), the
  rest from the collector that heard from it last, which is also the one named for it; it counts
  once among the active agents.
- The per-second history adds the series aligned on their newest second; its p99 per second is the
  merge of the collectors' sketches of that second when every part has them (``GET /api/sketch?since=``),
  else the largest of the collectors' p99 (an upper bound, and ``p99_bound`` says so).
- Alerts and sessions are the union.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from agentwatch.protocol import (
    STATUS_DEGRADED,
    STATUS_FAILING,
    STATUS_IDLE,
    STATUS_OFFLINE,
    STATUS_OK,
    AgentRow,
    Alert,
    History,
    Session,
    Snapshot,
)
from agentwatch.sketchwire import BadSketch, WireSketch, check, merge, quantiles

_QUANTILES = (0.5, 0.95, 0.99)
#: Statuses of an agent not counted as active.
_QUIET = (STATUS_IDLE, STATUS_OFFLINE)
#: Which status a row merged from several shows: the one that needs attention most.
_STATUS_ORDER = {STATUS_FAILING: 0, STATUS_DEGRADED: 1, STATUS_OK: 2, STATUS_IDLE: 3, STATUS_OFFLINE: 4}


@dataclass
class Part:
    """One collector's answer: its name (its URL as the viewer was given it), snapshot and sketch."""

    name: str
    snapshot: Snapshot
    sketch: WireSketch | None = None
    #: Unix second → that second's sketch (None: the collector sent none).
    seconds: dict[int, WireSketch] | None = None


@dataclass
class FleetSnapshot:
    """The merged snapshot, and which collector each agent's row came from (agent id → collector name)."""

    snapshot: Snapshot
    collector_of: dict[str, str] = field(default_factory=dict)
    #: Sketches that were refused (malformed or another accuracy): their percentiles are left out.
    bad_sketches: int = 0
    #: The history's p99 of each second is an upper bound (some part had no per-second sketches).
    p99_bound: bool = False


def merge_percentiles(sketches: Sequence[WireSketch | None]) -> tuple[list[float | None], int]:
    """(p50, p95, p99) of the merge of ``sketches`` (None ones skipped), and how many were refused."""
    good: list[WireSketch] = []
    refused = 0
    for sketch in sketches:
        if sketch is None:
            continue
        try:
            good.append(check(sketch))
        except BadSketch:
            refused += 1
    try:
        return quantiles(merge(good), _QUANTILES), refused
    except BadSketch:  # sketches of different accuracies do not merge
        return [None, None, None], refused + len(good)


def merge_history(
    histories: Sequence[History], seconds: Sequence[dict[int, WireSketch] | None] = ()
) -> History:
    """Per-second series added up, aligned on their newest second; the p99 of each second from
    ``seconds`` (each part's per-second sketches) when every part has them (see the module docstring)."""
    if not histories:
        return History()
    if len(histories) == 1:
        return histories[0]
    length = max(len(history.events_per_second) for history in histories)

    def padded(values: Sequence[float | None]) -> list[float | None]:
        return [None] * (length - len(values)) + list(values)

    def summed(name: str) -> list[float]:
        columns = [padded(getattr(history, name)) for history in histories]
        return [sum(value or 0.0 for value in row) for row in zip(*columns, strict=True)]

    events = summed("events_per_second")
    errors = [
        sum((rate or 0.0) * (count or 0.0) for rate, count in zip(rates, counts, strict=True))
        for rates, counts in zip(
            zip(*(padded(h.error_rate) for h in histories), strict=True),
            zip(*(padded(h.events_per_second) for h in histories), strict=True),
            strict=True,
        )
    ]
    end = max(history.end for history in histories)
    if len(seconds) == len(histories) and all(part is not None for part in seconds):
        p99 = [
            _second_p99([part for part in seconds if part], int(end) - length + 1 + i) for i in range(length)
        ]
    else:
        p99_rows = zip(*(padded(h.p99_latency_ms) for h in histories), strict=True)
        p99 = [max((v for v in row if v is not None), default=None) for row in p99_rows]
    return History(
        end=end,
        tokens_per_second=summed("tokens_per_second"),
        p99_latency_ms=p99,
        error_rate=[e / n if n else 0.0 for e, n in zip(errors, events, strict=True)],
        events_per_second=events,
        cost_per_second=summed("cost_per_second"),
    )


def _second_p99(parts: Sequence[dict[int, WireSketch]], second: int) -> float | None:
    """The p99 of ``second`` over the parts' sketches of it; None when none saw a latency then."""
    sketches = [part[second] for part in parts if second in part and part[second].count]
    if not sketches:
        return None
    return merge_percentiles(sketches)[0][2]


def merge_snapshots(parts: Sequence[Part]) -> FleetSnapshot:
    """The fleet's snapshot over the collectors that answered (see the module docstring)."""
    if not parts:
        return FleetSnapshot(Snapshot(timestamp=0.0))
    snapshots = [part.snapshot for part in parts]
    events = sum(s.events for s in snapshots)
    errors = sum(s.errors for s in snapshots)
    if len(parts) == 1 and parts[0].sketch is None:
        only = snapshots[0]
        percentiles: list[float | None] = [only.p50_latency_ms, only.p95_latency_ms, only.p99_latency_ms]
        refused = 0
    elif all(part.sketch is not None for part in parts):
        percentiles, refused = merge_percentiles([part.sketch for part in parts])
    else:
        percentiles, refused = [None, None, None], 0
    by_id: dict[str, list[tuple[str, AgentRow]]] = {}
    for part in parts:
        for row in part.snapshot.agents:
            by_id.setdefault(row.agent_id, []).append((part.name, row))
    rows = [merge_rows(found) for _, found in sorted(by_id.items())]
    counted_twice = sum(
        sum(1 for _, row in found if row.status not in _QUIET) - 1
        for found in by_id.values()
        if len(found) > 1 and any(row.status not in _QUIET for _, row in found)
    )
    alerts: list[Alert] = [alert for s in snapshots for alert in s.alerts]
    sessions: list[Session] = [session for s in snapshots for session in s.sessions]
    merged = Snapshot(
        timestamp=max(s.timestamp for s in snapshots),
        tokens_per_second=sum(s.tokens_per_second for s in snapshots),
        tool_calls_total=sum(s.tool_calls_total for s in snapshots),
        error_rate=errors / events if events else 0.0,
        completions=sum(s.completions for s in snapshots),
        p50_latency_ms=percentiles[0],
        p99_latency_ms=percentiles[2],
        active_agents=max(sum(s.active_agents for s in snapshots) - counted_twice, 0),
        window_seconds=max(s.window_seconds for s in snapshots),
        events_per_second=sum(s.events_per_second for s in snapshots),
        events=events,
        errors=errors,
        p95_latency_ms=percentiles[1],
        input_tokens_per_second=sum(s.input_tokens_per_second for s in snapshots),
        output_tokens_per_second=sum(s.output_tokens_per_second for s in snapshots),
        window_cost_usd=sum(s.window_cost_usd for s in snapshots),
        cost_per_minute=sum(s.cost_per_minute for s in snapshots),
        total_cost_usd=sum(s.total_cost_usd for s in snapshots),
        cost_estimated=any(s.cost_estimated for s in snapshots),
        latency_relative_error=max(s.latency_relative_error for s in snapshots),
        agent=snapshots[0].agent,
        agents=[row for _, row in rows],
        agents_dropped=sum(s.agents_dropped for s in snapshots),
        history=merge_history([s.history for s in snapshots], [part.seconds for part in parts]),
        alerts=alerts,
        sessions=sessions,
    )
    bound = len(parts) > 1 and any(part.seconds is None for part in parts)
    return FleetSnapshot(merged, {row.agent_id: name for name, row in rows}, refused, bound)


def merge_rows(found: Sequence[tuple[str, AgentRow]]) -> tuple[str, AgentRow]:
    """One agent's rows from several collectors as one row, and the collector named for it."""
    if len(found) == 1:
        return found[0]
    name, latest = max(found, key=lambda item: item[1].last_seen or 0.0)
    rows = [row for _, row in found]
    events = sum(row.events for row in rows)
    errors = sum(row.errors for row in rows)

    def largest(values: Sequence[float | None]) -> float | None:
        known = [value for value in values if value is not None]
        return max(known) if known else None

    merged = msgspec.structs.replace(
        latest,
        status=min((row.status for row in rows), key=lambda status: _STATUS_ORDER.get(status, 2)),
        events_per_second=sum(row.events_per_second for row in rows),
        tokens_per_second=sum(row.tokens_per_second for row in rows),
        p50_latency_ms=largest([row.p50_latency_ms for row in rows]),
        p99_latency_ms=largest([row.p99_latency_ms for row in rows]),
        error_rate=errors / events if events else 0.0,
        errors=errors,
        events=events,
        cost_usd=sum(row.cost_usd for row in rows),
        telemetry_dropped=sum(row.telemetry_dropped for row in rows),
        cost_unpriced=any(row.cost_unpriced for row in rows),
    )
    return name, merged
