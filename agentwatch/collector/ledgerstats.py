"""The alert ledger's data: per-scope interval counters, open traces and decisions, and the names of the
breakdown's dimensions (see :mod:`agentwatch.collector.ledger`, which keeps and folds them)."""

from __future__ import annotations

from collections import deque
from typing import Final

from agentwatch.collector.sketch import LatencySketch, PackedSketch
from agentwatch.protocol import SCOPE_AGENT_PREFIX, SCOPE_MODEL_PREFIX

NO_DECISION: Final = "(no decision)"
#: A decision path: the decisions of a trace joined by this, cut at MAX_PATH characters.
PATH_JOIN: Final = " → "
MAX_PATH: Final = 256
NONE: Final = "(none)"
OTHER: Final = "(other)"

DIM_MODEL: Final = "model"
DIM_TOOL: Final = "tool"
DIM_ERROR_TYPE: Final = "error type"
DIM_DECISION: Final = "decision"
DIM_PATH: Final = "decision path"


def agent_scope(agent_id: str) -> str:
    return SCOPE_AGENT_PREFIX + agent_id


def model_scope(model: str) -> str:
    return SCOPE_MODEL_PREFIX + model


def error_type(error: str | None) -> str:
    """``"Timeout: request exceeded"`` → ``"Timeout"``; the text before the first ``:`` (≤ 64 chars)."""
    if not error:
        return NONE
    head = error.split(":", 1)[0].strip()
    return (head or error.strip() or NONE)[:64]


class Stats:
    """Counters of one scope over one interval (or a merged window). Counts are floats
    because sampled events weigh more than one. ``dims`` maps (dimension, value) to
    ``[events, errors, cost_usd, inferences]``."""

    __slots__ = (
        "calls_ok",
        "cost",
        "cost_sq",
        "dims",
        "end",
        "errors",
        "events",
        "inferences",
        "latency",
        "tokens_out",
    )

    def __init__(self) -> None:
        self.events = 0.0
        self.errors = 0.0
        self.inferences = 0.0
        self.cost = 0.0
        self.cost_sq = 0.0
        self.calls_ok = 0.0
        self.tokens_out = 0.0
        #: Packed when the interval closes (:meth:`Ledger.close_interval`).
        self.latency: LatencySketch | PackedSketch = LatencySketch()
        self.dims: dict[tuple[str, str], list[float]] = {}
        self.end = 0.0

    def merge(self, other: Stats, *, dims: bool = True, latency: bool = True) -> None:
        self.events += other.events
        self.errors += other.errors
        self.inferences += other.inferences
        self.cost += other.cost
        self.cost_sq += other.cost_sq
        self.calls_ok += other.calls_ok
        self.tokens_out += other.tokens_out
        if latency:
            sketch = self.latency
            assert isinstance(sketch, LatencySketch)  # packed only once closed; closed take no merge
            sketch.merge(other.latency)
        if dims:
            mine = self.dims
            for key, values in other.dims.items():
                row = mine.get(key)
                if row is None:
                    mine[key] = list(values)
                else:
                    for i in range(4):
                        row[i] += values[i]

    def dim(self, dimension: str, value: str) -> list[float]:
        key = (dimension, value)
        row = self.dims.get(key)
        if row is None:
            row = self.dims[key] = [0.0, 0.0, 0.0, 0.0]
        return row


class ScopeSeries:
    """One scope: its open interval, the closed ones (oldest first) and its totals since start."""

    __slots__ = ("closed", "events_total", "first_seen", "last_seen", "open", "scope", "total")

    def __init__(self, scope: str, keep: int, now: float) -> None:
        self.scope = scope
        self.open = Stats()
        self.closed: deque[Stats] = deque(maxlen=keep)
        self.total = Stats()
        self.first_seen = now
        self.last_seen = now
        self.events_total = 0.0

    def window(self, now: float, seconds: float, *, dims: bool = False, latency: bool = False) -> Stats:
        """Closed intervals ending after ``now - seconds`` merged (the open one excluded)."""
        merged = Stats()
        since = now - seconds
        for stats in reversed(self.closed):
            if stats.end <= since:
                break
            merged.merge(stats, dims=dims, latency=latency)
        return merged

    def since_start(self) -> Stats:
        merged = Stats()
        merged.merge(self.total, latency=False)
        merged.merge(self.open, latency=False)
        return merged


class Trace:
    """An open trace: its agent, the cost and inferences before its first decision, its decision path."""

    __slots__ = ("agent", "cost", "inferences", "last", "path")

    def __init__(self, agent: str, now: float) -> None:
        self.agent = agent
        self.cost = 0.0
        self.inferences = 0.0
        self.path: str | None = None
        self.last = now


class DecisionStat:
    __slots__ = ("confidence_n", "confidence_sum", "count", "first_seen", "novel")

    def __init__(self, now: float, novel: bool) -> None:
        self.count = 0.0
        self.confidence_sum = 0.0
        self.confidence_n = 0.0
        self.first_seen = now
        self.novel = novel
