"""Acknowledged and snoozed alerts: who quieted which alert, when, and for how long.

An *acknowledgement* keeps a firing alert quiet until it resolves: its next firing after that is
news again. A *snooze* keeps an alert id quiet until its end, through any firing in between.
Quiet means viewers neither toast, ring nor notify for it; they still show it, dimmed. Both are
carried on the alerts themselves (``acked_by``/``acked_at``, ``snoozed_by``/``snoozed_until``,
see :class:`~agentwatch.protocol.Alert`), so every viewer sees the same in the snapshots and
alert frames it already receives.

Bounds: at most ``max_marks`` acknowledgements and as many snoozes, the oldest forgotten first
(counted in :attr:`AlertAcks.dropped`). An acknowledgement whose alert is not seen firing for
:data:`ACK_GRACE_SECONDS` ends too: a collector restarted from its store forgets its alerts, and
one that fires again soon after is still the acknowledged one, while one that never comes back
does not quiet a firing days later.

Persistence: :meth:`AlertAcks.encode` / :meth:`AlertAcks.load` give and take the whole set as
JSON (small: it is bounded), which the collector keeps in its store's ``meta`` table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec
from msgspec.structs import replace

from agentwatch.protocol import ALERT_RESOLVED, MAX_SNOOZE_SECONDS, MAX_VIEWER_NAME_LENGTH, Alert

#: Acknowledgements (and, apart, snoozes) kept at most.
MAX_MARKS: Final = 1000
#: An acknowledgement whose alert has not been seen firing for this long ends.
ACK_GRACE_SECONDS: Final = 900.0
#: Seconds between two looks at what fires (to end acknowledgements past their grace).
CHECK_SECONDS: Final = 5.0
#: The store's ``meta`` key under which :meth:`AlertAcks.encode` is kept.
META_KEY: Final = "alert_acks"


class Mark(msgspec.Struct):
    """One acknowledgement or snooze. ``until``: a snooze's end; ``seen``: an acknowledgement's
    alert last seen firing (unix seconds)."""

    by: str
    at: float
    until: float | None = None
    seen: float | None = None


class _Saved(msgspec.Struct):
    acks: dict[str, Mark] = {}
    snoozes: dict[str, Mark] = {}


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(_Saved)


def viewer_name(value: object) -> str:
    """``by`` of a request: 1 to :data:`MAX_VIEWER_NAME_LENGTH` printable characters (trimmed);
    ValueError saying what is wrong otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("'by' must name who acts: a non-empty string (the viewer's name)")
    name = value.strip()
    if len(name) > MAX_VIEWER_NAME_LENGTH:
        raise ValueError(f"'by' is {len(name)} characters long; at most {MAX_VIEWER_NAME_LENGTH}")
    if not name.isprintable():
        raise ValueError("'by' must be printable characters only (no control characters)")
    return name


def snooze_seconds(value: object) -> float:
    """``for_s`` of a snooze: seconds from 1 to :data:`MAX_SNOOZE_SECONDS`; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(
            f"'for_s' must be a number of seconds from 1 to {MAX_SNOOZE_SECONDS:.0f}, got {value!r:.40}"
        )
    if not 1 <= value <= MAX_SNOOZE_SECONDS:
        raise ValueError(f"'for_s' must be from 1 to {MAX_SNOOZE_SECONDS:.0f} seconds (24 h), got {value:g}")
    return float(value)


@dataclass
class AlertAcks:
    """The acknowledgements and snoozes of one collector, by alert id. Event-loop only."""

    clock: Callable[[], float] = time.time
    max_marks: int = MAX_MARKS
    acks: dict[str, Mark] = field(default_factory=dict)
    snoozes: dict[str, Mark] = field(default_factory=dict)
    #: Marks forgotten beyond ``max_marks`` (oldest first).
    dropped: int = 0
    #: Something changed since the last :meth:`encode`: the store's copy is behind.
    dirty: bool = False
    next_check: float = -math.inf

    def __len__(self) -> int:
        return len(self.acks) + len(self.snoozes)

    # ------------------------------------------------------------------ actions
    def ack(self, alert_id: str, by: str) -> None:
        now = self.clock()
        self._put(self.acks, alert_id, Mark(by=by, at=now, seen=now))

    def snooze(self, alert_id: str, by: str, seconds: float) -> None:
        now = self.clock()
        self._put(self.snoozes, alert_id, Mark(by=by, at=now, until=now + seconds))

    def unack(self, alert_id: str) -> bool:
        """End an acknowledgement; False when there was none."""
        return self._pop(self.acks, alert_id)

    def unsnooze(self, alert_id: str) -> bool:
        """End a snooze; False when there was none (or it had ended)."""
        self._expire(self.clock())
        return self._pop(self.snoozes, alert_id)

    def _put(self, marks: dict[str, Mark], alert_id: str, mark: Mark) -> None:
        marks.pop(alert_id, None)  # the newest goes last: the oldest is forgotten first
        marks[alert_id] = mark
        while len(marks) > max(self.max_marks, 1):
            del marks[next(iter(marks))]
            self.dropped += 1
        self.dirty = True

    def _pop(self, marks: dict[str, Mark], alert_id: str) -> bool:
        if marks.pop(alert_id, None) is None:
            return False
        self.dirty = True
        return True

    def _expire(self, now: float) -> None:
        for alert_id in [a for a, mark in self.snoozes.items() if (mark.until or 0.0) <= now]:
            del self.snoozes[alert_id]
            self.dirty = True

    # ------------------------------------------------------------------ reading
    def mark(self, alerts: Sequence[Alert]) -> list[Alert]:
        """``alerts`` with their acknowledgement and snooze filled in: a copy of each one that has
        either (the rest as they are); ended snoozes are forgotten first."""
        if not self.acks and not self.snoozes:
            return list(alerts)
        self._expire(self.clock())
        marked: list[Alert] = []
        for alert in alerts:
            ack = self.acks.get(alert.id)
            snooze = self.snoozes.get(alert.id)
            if ack is None and snooze is None:
                marked.append(alert)
                continue
            marked.append(
                replace(
                    alert,
                    acked_by=None if ack is None else ack.by,
                    acked_at=None if ack is None else ack.at,
                    snoozed_by=None if snooze is None else snooze.by,
                    snoozed_until=None if snooze is None else snooze.until,
                )
            )
        return marked

    def observe(self, changes: Iterable[Alert], firing: Callable[[], Iterable[str]]) -> None:
        """The alerts' state changes of a tick: a resolved alert's acknowledgement ends. Every
        :data:`CHECK_SECONDS` (only while there are acknowledgements) ``firing()`` gives the ids
        firing now, to end those not seen for :data:`ACK_GRACE_SECONDS`."""
        if not self.acks:
            return
        for alert in changes:
            if alert.state == ALERT_RESOLVED and self.acks.pop(alert.id, None) is not None:
                self.dirty = True
        now = self.clock()
        if now < self.next_check or not self.acks:
            return
        self.next_check = now + CHECK_SECONDS
        firing_now = set(firing())
        for alert_id, mark in list(self.acks.items()):
            if alert_id in firing_now:
                mark.seen = now
            elif now - (mark.seen if mark.seen is not None else mark.at) > ACK_GRACE_SECONDS:
                del self.acks[alert_id]
                self.dirty = True

    # -------------------------------------------------------------- persistence
    def encode(self) -> bytes:
        """The whole set as JSON (what :meth:`load` takes); clears :attr:`dirty`."""
        self.dirty = False
        return _encoder.encode(_Saved(acks=self.acks, snoozes=self.snoozes))

    def load(self, blob: bytes | str | None) -> str | None:
        """Take back what :meth:`encode` gave (None: nothing kept). An acknowledgement's grace starts
        again now (its alert fires again once the restarted collector sees it). Returns a warning
        for a value that cannot be read (then nothing is loaded)."""
        if blob is None:
            return None
        try:
            saved = _decoder.decode(blob)
        except msgspec.DecodeError as exc:
            return f"store: acknowledged and snoozed alerts unreadable, forgotten ({exc})"
        now = self.clock()
        for alert_id, mark in list(saved.acks.items())[-self.max_marks :]:
            mark.seen = now
            self.acks[alert_id] = mark
        for alert_id, mark in list(saved.snoozes.items())[-self.max_marks :]:
            if (mark.until or 0.0) > now:
                self.snoozes[alert_id] = mark
        return None
