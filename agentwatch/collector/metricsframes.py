"""The metrics stream's frames: each scope's snapshot once per tick, whole and as a delta.

:class:`MetricsFramer` keeps, per scope (the fleet or one agent), the last snapshot it published
and its sequence number. For a new snapshot it makes one :class:`MetricsFrames`: the snapshot
whole (``event: metrics``, for viewers that did not ask for deltas, for a viewer's first frame,
and for one that missed a frame) and the change since the last one (``event: metrics-delta``,
:class:`~agentwatch.protocol.SnapshotDelta`). Each is encoded on first use and then shared by
every viewer of the scope, gzipped too (:mod:`agentwatch.collector.streamgzip`: each delta also
as a segment of the scope's deflate chain), so a tick costs one encoding per scope whatever the
number of viewers.

Every ``full_every`` seconds a scope's frame is whole for every viewer, which bounds what a
bug in applying deltas could ever leave wrong. A scope whose snapshot stays the same still gets a
frame every ``alive_every`` seconds (a delta of its time alone), so a viewer of an idle fleet can
tell a quiet collector from a dead connection. Nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec

from agentwatch.collector.sse import sse_frame
from agentwatch.collector.streamgzip import DeflateChain, deflate_segment
from agentwatch.protocol import (
    SNAPSHOT_SCALARS,
    SSE_METRICS,
    SSE_METRICS_DELTA,
    AgentRow,
    History,
    Snapshot,
    SnapshotDelta,
)

#: Seconds between two whole frames of a scope on a delta stream.
FULL_EVERY: Final = 60.0
#: Seconds a scope whose snapshot did not change goes without a frame at most (viewers call a
#: stream stale after 5 s without one).
ALIVE_EVERY: Final = 2.0
#: A new viewer's first frame is the scope's last one if it is at most this many seconds old.
FIRST_FRAME_MAX_AGE: Final = 1.0
#: The per-second series of :class:`~agentwatch.protocol.History`.
_SERIES: Final = tuple(name for name in History.__struct_fields__ if name != "end")
_encode: Final = msgspec.json.Encoder().encode


class MetricsFrames:
    """One scope's frames for one published snapshot, each encoded on first use then shared.

    ``seq`` numbers the scope's frames (the ``id:`` of delta streams); ``delta`` is None when
    every viewer gets the whole snapshot (a scope's first frame, a periodic whole frame, a change
    a delta cannot say).
    """

    __slots__ = ("_cache", "_chain", "_chained", "_delta", "_plain", "seq", "snapshot")

    def __init__(
        self,
        seq: int,
        snapshot: Snapshot | None,
        delta: SnapshotDelta | None = None,
        *,
        plain: bytes = b"",
        chain: DeflateChain | None = None,
    ) -> None:
        self.seq = seq
        self.snapshot = snapshot
        self._delta = delta
        self._plain = plain
        self._chain = chain
        self._chained: tuple[bytes, int, bool] | None = None
        self._cache: dict[tuple[str, bool], bytes] = {}

    @classmethod
    def fixed(cls, frame: bytes) -> MetricsFrames:
        """Frames that are ``frame`` for every viewer (no snapshot, no delta)."""
        return cls(0, None, plain=frame)

    @property
    def has_delta(self) -> bool:
        return self._delta is not None

    def frame(self, kind: str, gzip: bool = False) -> bytes:
        """``plain`` (whole, no id: what viewers without deltas get), ``full`` (whole, with the id)
        or ``delta`` (with the id), as SSE bytes or as one gzip segment of them."""
        key = (kind, gzip)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = deflate_segment(self.frame(kind)) if gzip else self._make(kind)
        return cached

    def chained(self) -> tuple[bytes, int, bool] | None:
        """The delta as its scope's :class:`~agentwatch.collector.streamgzip.DeflateChain` segment:
        (segment, generation, begins the generation); None without a delta or a chain."""
        if self._delta is None or self._chain is None:
            return None
        if self._chained is None:
            self._chained = self._chain.segment(self.seq, self.frame("delta"))
        return self._chained

    def restart_chain(self) -> None:
        """A viewer outside the chain wants to join it: a new generation from the next frame."""
        if self._chain is not None:
            self._chain.restart()

    def _make(self, kind: str) -> bytes:
        if self.snapshot is None:
            return self._plain
        if kind == "delta":
            assert self._delta is not None, "no delta in these frames"
            return sse_frame(SSE_METRICS_DELTA, _encode(self._delta), self.seq)
        body = self._json()
        return sse_frame(SSE_METRICS, body, self.seq if kind == "full" else None)

    def _json(self) -> bytes:
        body = self._cache.get(("json", False))
        if body is None:
            body = self._cache["json", False] = _encode(self.snapshot)
        return body


class _Scope:
    __slots__ = ("chain", "frames", "full_at", "sent_at")

    def __init__(self, frames: MetricsFrames, full_at: float) -> None:
        self.frames = frames
        self.full_at = full_at
        self.sent_at = full_at
        self.chain = DeflateChain()


class MetricsFramer:
    """Per scope, the last published snapshot's frames; makes the next ones. Single-threaded."""

    def __init__(
        self, clock: Callable[[], float], *, full_every: float = FULL_EVERY, alive_every: float = ALIVE_EVERY
    ) -> None:
        self.alive_every = alive_every
        self._clock = clock
        self.full_every = full_every
        self._scopes: dict[str | None, _Scope] = {}
        #: Where a scope's ids start: past every id any earlier frames of any scope had, so a
        #: scope forgotten and followed again never repeats an id.
        self._first_seq = 1

    def current(self, scope: str | None) -> MetricsFrames | None:
        """The scope's last published frames (None: none yet, or forgotten)."""
        known = self._scopes.get(scope)
        return known.frames if known is not None else None

    def next(self, scope: str | None, snapshot: Snapshot, *, force: bool = False) -> MetricsFrames | None:
        """The frames for ``snapshot``, the scope's newest; None when it changed nothing but its
        time and the scope had a frame within ``alive_every`` seconds, unless ``force``."""
        known = self._scopes.get(scope)
        now = self._clock()
        if known is None or known.frames.snapshot is None:
            frames = MetricsFrames(self._first_seq, snapshot)
            self._first_seq += 1
            self._scopes[scope] = _Scope(frames, now)
            return frames
        changed, delta = snapshot_delta(known.frames.snapshot, snapshot)
        if not (changed or force or now - known.sent_at >= self.alive_every):
            return None
        known.sent_at = now
        if delta is None or now - known.full_at >= self.full_every:
            known.full_at = now
            delta = None
        known.frames = MetricsFrames(known.frames.seq + 1, snapshot, delta, chain=known.chain)
        self._first_seq = max(self._first_seq, known.frames.seq + 1)
        return known.frames

    def keep_only(self, scopes: set[str | None]) -> None:
        """Forget the scopes no viewer follows any more."""
        for scope in [scope for scope in self._scopes if scope not in scopes]:
            del self._scopes[scope]


# ------------------------------------------------------------------------ the delta
def snapshot_delta(old: Snapshot, new: Snapshot) -> tuple[bool, SnapshotDelta | None]:
    """Whether ``new`` differs from ``old`` in more than its time, and the delta that makes
    ``new`` from ``old`` (None when a delta cannot say it: history series of another length, a
    clock that went back; the whole snapshot is sent then)."""
    scalars = {name: getattr(new, name) for name in SNAPSHOT_SCALARS}
    changed = any(scalars[name] != getattr(old, name) for name in SNAPSHOT_SCALARS if name != "timestamp")
    rows, removed = _row_changes(old.agents, new.agents)
    alerts = None if new.alerts == old.alerts else new.alerts
    sessions = None if new.sessions == old.sessions else new.sessions
    tail = _history_tail(old.history, new.history)
    changed = changed or bool(rows or removed) or alerts is not None or sessions is not None
    changed = changed or any(getattr(old.history, name) != getattr(new.history, name) for name in _SERIES)
    if tail is None:
        return changed, None
    return changed, SnapshotDelta(
        **scalars, agents=rows, removed=removed, history=tail, alerts=alerts, sessions=sessions
    )


def _row_changes(old: list[AgentRow], new: list[AgentRow]) -> tuple[list[AgentRow], list[str]]:
    """Rows of ``new`` not in ``old`` as they are, and the ids of ``old``'s rows ``new`` lacks."""
    if len(old) == len(new):  # the usual case: the same agents, in the same (sorted) order
        if all(a.agent_id == b.agent_id for a, b in zip(old, new, strict=True)):
            return [row for before, row in zip(old, new, strict=True) if row != before], []
    before = {row.agent_id: row for row in old}
    rows = [row for row in new if before.get(row.agent_id) != row]
    ids = {row.agent_id for row in new}
    return rows, [agent_id for agent_id in before if agent_id not in ids]


def _history_tail(old: History, new: History) -> History | None:
    """The newest values of ``new``'s series: from the first second whose value ``old`` does not
    hold (the same for every series) to ``new.end``. None when ``old`` cannot be moved to ``new``."""
    shift = new.end - old.end
    lengths = {len(getattr(series, name)) for series in (old, new) for name in _SERIES}
    if shift < 0 or shift != int(shift) or len(lengths) != 1:
        return None
    length, seconds = lengths.pop(), int(shift)
    kept = max(0, length - seconds)  # new's first values that old may hold already
    for name in _SERIES:
        before, after = getattr(old, name), getattr(new, name)
        if after[:kept] == before[seconds : seconds + kept]:
            continue
        if kept and after[: kept - 1] == before[seconds : seconds + kept - 1]:  # the last second grew
            kept -= 1
            continue
        kept = next(i for i in range(kept) if after[i] != before[i + seconds])
    return History(end=new.end, **{name: getattr(new, name)[kept:] for name in _SERIES})
