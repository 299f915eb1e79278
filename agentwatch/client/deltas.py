"""The metrics stream's deltas, applied: whole snapshots back from ``metrics-delta`` frames.

A viewer that opens the metrics stream with ``?delta=1`` gets a whole snapshot first (``event:
metrics``, ``id: n``), then ``event: metrics-delta`` frames, each the change since the frame whose
id is one less (:class:`~agentwatch.protocol.SnapshotDelta`). :class:`SnapshotAssembler` keeps
the last snapshot of the stream and makes each new one from it; unchanged agent rows are the
same objects as before (nothing is decoded twice, and a renderer may skip a row that ``is`` the
one it drew). A delta that does not follow the last frame raises :class:`MissedDelta`: the
viewer reconnects, and a new stream starts with a whole snapshot.

A collector that does not know ``?delta=1`` sends whole snapshots without ids, which pass as
they are.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from agentwatch.protocol import SNAPSHOT_SCALARS, AgentRow, History, Snapshot, SnapshotDelta

__all__ = ["MissedDelta", "SnapshotAssembler", "apply_delta"]

_SERIES: Final = tuple(name for name in History.__struct_fields__ if name != "end")
_delta_decoder: Final = msgspec.json.Decoder(SnapshotDelta)


class MissedDelta(Exception):
    """A delta that does not apply to the snapshot held: the stream must start again whole."""


def apply_delta(base: Snapshot, delta: SnapshotDelta) -> Snapshot:
    """The snapshot ``delta`` makes of ``base`` (which is left as it was).

    Raises :class:`MissedDelta` when the delta cannot come after ``base`` (its history does not
    line up with base's).
    """
    history = _history(base.history, delta.history)
    rows = _rows(base.agents, delta.agents, delta.removed)
    return Snapshot(
        **{name: getattr(delta, name) for name in SNAPSHOT_SCALARS},
        agents=rows,
        history=history,
        alerts=base.alerts if delta.alerts is None else delta.alerts,
        sessions=base.sessions if delta.sessions is None else delta.sessions,
    )


def _rows(base: list[AgentRow], changed: list[AgentRow], removed: list[str]) -> list[AgentRow]:
    if not changed and not removed:
        return list(base)
    by_id = {row.agent_id: row for row in base}
    for agent_id in removed:
        by_id.pop(agent_id, None)
    added = False
    for row in changed:
        added = added or row.agent_id not in by_id
        by_id[row.agent_id] = row
    if added or removed:
        return [by_id[agent_id] for agent_id in sorted(by_id)]
    return [by_id[row.agent_id] for row in base]


def _history(base: History, tail: History) -> History:
    shift = tail.end - base.end
    length = len(base.tokens_per_second)
    seconds = int(shift)
    if shift < 0 or shift != seconds:
        raise MissedDelta(f"history moved from {base.end} to {tail.end}")
    series: dict[str, Any] = {}
    for name in _SERIES:
        before, newest = getattr(base, name), getattr(tail, name)
        kept = max(length, len(newest)) - len(newest)  # values of base the tail does not replace
        if len(before) != length or (kept and seconds + kept > length):
            raise MissedDelta(f"history {name} does not line up")
        series[name] = before[seconds : seconds + kept] + newest
    return History(end=tail.end, **series)


class SnapshotAssembler:
    """The last snapshot of one metrics stream, and the next one from each frame.

    Feed it every ``metrics`` and ``metrics-delta`` frame of one stream, in order, with its id
    (``""`` when the frame had none). A new stream starts with a whole snapshot, so one
    assembler serves every connection of a viewer, one after the other.
    """

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None
        self.seq: int | None = None
        #: Deltas applied, whole snapshots taken, and deltas that did not follow (each one a
        #: reconnection) since creation.
        self.deltas = 0
        self.wholes = 0
        self.missed = 0

    def whole(self, snapshot: Snapshot, frame_id: str) -> Snapshot:
        """Take a whole snapshot (``event: metrics``): the next delta applies to it."""
        self.snapshot = snapshot
        self.seq = _seq(frame_id)
        self.wholes += 1
        return snapshot

    def delta(self, data: str | bytes, frame_id: str) -> Snapshot:
        """The snapshot a ``metrics-delta`` frame makes. Raises :class:`MissedDelta` when it does
        not follow the last frame taken (or cannot be read); the assembler then holds nothing
        until the next whole snapshot."""
        seq = _seq(frame_id)
        base, expected = self.snapshot, self.seq
        self.snapshot = self.seq = None
        try:
            if base is None or expected is None or seq is None or seq != expected + 1:
                raise MissedDelta(f"delta {frame_id or '(no id)'} does not follow frame {expected}")
            try:
                delta = _delta_decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
                raise MissedDelta(f"unreadable delta: {exc}") from None
            snapshot = apply_delta(base, delta)
        except MissedDelta:
            self.missed += 1
            raise
        self.snapshot, self.seq = snapshot, seq
        self.deltas += 1
        return snapshot


def _seq(frame_id: str) -> int | None:
    return int(frame_id) if frame_id.isascii() and frame_id.isdigit() and len(frame_id) < 20 else None
