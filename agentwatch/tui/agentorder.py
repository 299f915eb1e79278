"""The agents table's order: agent ids kept sorted by the chosen column from one snapshot to the next.

Only sort keys are compared, never rows: a key is ``(missing, value, agent id)``, so missing values
sort last, ties go by agent id and no two keys are equal. When a few agents' keys changed, each is
taken out of the sorted list and put back in its place (a bisection each); when most did (a new
column, a busy fleet) the keys are sorted once. Either way the order is exactly that of a full sort.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Final

from agentwatch.protocol import (
    STATUS_DEGRADED,
    STATUS_FAILING,
    STATUS_IDLE,
    STATUS_OFFLINE,
    STATUS_OK,
    AgentRow,
)

#: ``(1 when the value is missing, the value, the agent id)``.
SortKey = tuple[int, float, str]

#: Health order for sorting: worst first when sorting ascending by status.
STATUS_ORDER: Final = {
    STATUS_FAILING: 0,
    STATUS_DEGRADED: 1,
    STATUS_OK: 2,
    STATUS_IDLE: 3,
    STATUS_OFFLINE: 4,
}
#: The number each sortable column (but agent and last seen) sorts a snapshot row by.
ROW_VALUE: Final[dict[str, Callable[[AgentRow], float | None]]] = {
    "status": lambda row: float(STATUS_ORDER.get(row.status, 5)),
    "tok/s": lambda row: row.tokens_per_second,
    "p50": lambda row: row.p50_latency_ms,
    "p99": lambda row: row.p99_latency_ms,
    "err %": lambda row: row.error_rate,
    "cost": lambda row: row.cost_usd,
}

#: Above this share of changed keys, sorting them all again is cheaper than moving each.
_RESORT_SHARE: Final = 0.25


def sort_key(agent_id: str, value: float | None) -> SortKey:
    """An agent's key: missing (None or NaN) values last, then ascending, ties by agent id."""
    if value is None or math.isnan(value):
        return (1, 0.0, agent_id)
    return (0, value, agent_id)


class SortedAgents:
    """Agent ids in key order, updated by :meth:`update` with every agent's current key."""

    def __init__(self) -> None:
        self._keys: dict[str, SortKey] = {}
        self._sorted: list[SortKey] = []
        self._ids: list[str] | None = []
        #: Updates that sorted every key again (the rest moved only the changed ones).
        self.full_sorts = 0

    def update(self, keys: dict[str, SortKey]) -> None:
        """Take every agent's current key (an agent missing from ``keys`` is gone)."""
        old = self._keys
        gone = [key for agent_id, key in old.items() if agent_id not in keys]
        moved = [(before, key) for agent_id, key in keys.items() if (before := old.get(agent_id)) != key]
        self._keys = keys
        if not gone and not moved:
            return
        self._ids = None
        if len(gone) + len(moved) > _RESORT_SHARE * max(len(old), 1):
            self._sorted = sorted(keys.values())
            self.full_sorts += 1
            return
        ordered = self._sorted
        for key in gone:
            del ordered[bisect_left(ordered, key)]
        for before, _ in moved:
            if before is not None:
                del ordered[bisect_left(ordered, before)]
        for _, after in moved:
            insort(ordered, after)

    def ids(self) -> list[str]:
        """The agent ids in ascending key order (the same list until the order changes)."""
        if self._ids is None:
            self._ids = [key[2] for key in self._sorted]
        return self._ids
