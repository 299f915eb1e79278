"""The time scrub: a cursor on the sparklines that shows one past second, and what was logged then.

No Textual here. :class:`Scrub` holds where the cursor is (a unix second, or None: live) and a
copy of the per-second :class:`~agentwatch.protocol.History` taken when the scrub began, so the
sparklines stand still under the cursor while the live tail goes on being received and counted
(the log is held as ``space`` holds it). :func:`panel_values` reads that second's values from
the history; :func:`fetch_second` asks the collector for the log lines stamped within
:data:`SPREAD` seconds of it (``GET /api/logs``, bounded by :data:`LINE_LIMIT`), and
:func:`contributors` counts that second's lines by agent: the per-second history is the fleet's
whole, so which agents made a second is told by their log lines, and said so.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Final

import msgspec

from agentwatch.protocol import LEVEL_RANK, PATH_LOGS, History, LogEntry, LogRange, level_rank

if TYPE_CHECKING:
    import httpx

__all__ = [
    "LINE_LIMIT",
    "SPREAD",
    "Contributor",
    "PanelValue",
    "Scrub",
    "contributors",
    "fetch_second",
    "history_length",
    "panel_values",
    "spike_seconds",
]

#: Seconds of log lines shown either side of the scrubbed second.
SPREAD: Final = 3
#: Log lines one fetch asks for at most (per request; a busy second asks once more for itself).
LINE_LIMIT: Final = 2_000
#: Agents named as a second's top contributors.
TOP: Final = 5
#: A second is part of a spike when some series stands this far (as a share of its range) above its median.
SPIKE_SHARE: Final = 0.5

_range_decoder: Final = msgspec.json.Decoder(LogRange)
_ERROR_RANK: Final = LEVEL_RANK["error"]


@dataclass(frozen=True, slots=True)
class PanelValue:
    """What one metric panel shows for the scrubbed second: its value and the line under it."""

    value: str
    detail: str = ""
    level_class: str = ""


@dataclass(frozen=True, slots=True)
class Contributor:
    """An agent's log lines in the scrubbed second (``errors``: those at error level or above)."""

    agent_id: str
    lines: int
    errors: int


@dataclass(slots=True)
class Fetched:
    """The collector's answer for a second: its lines (± :data:`SPREAD` s) and how complete it is."""

    second: int
    lines: list[LogEntry] = field(default_factory=list)
    truncated: bool = False
    problem: str | None = None
    #: Collectors that could not be read while others answered (several collectors).
    missing: int = 0


class Scrub:
    """Where the cursor is, over a copy of the history taken when the scrub began.

    ``at`` is None while live. :meth:`move` steps the cursor (from live, a step back starts at the
    newest second) and clamps it to the history held; it returns False when nothing moved.
    ``fetched`` is the log answer for ``at`` once it came (None while it is asked for).
    """

    def __init__(self) -> None:
        self.at: int | None = None
        self.history: History | None = None
        self.scope: str | None = None
        self.tz: tzinfo | None = None
        self.fetched: Fetched | None = None
        #: The history's last second was still filling when the scrub began.
        self.filling = False
        #: Bumped each time the cursor moves: an answer for an older position is dropped.
        self.generation = 0

    @property
    def active(self) -> bool:
        return self.at is not None

    def first_second(self) -> int:
        history = self.history
        return 0 if history is None else int(history.end) - history_length(history) + 1

    def last_second(self) -> int:
        return 0 if self.history is None else int(self.history.end)

    def begin(
        self, history: History, scope: str | None, tz: tzinfo | None = None, now: float | None = None
    ) -> None:
        """Freeze a copy of ``history`` (its lists are the live snapshot's, which move on); ``tz`` is
        the zone the header tells the cursor's time in; ``now``, the snapshot's time: when it falls
        within the history's last second, that second was still filling and a step from live
        starts before it."""
        self.tz = tz
        self.filling = now is not None and now < history.end + 1
        self.history = History(
            end=history.end,
            tokens_per_second=list(history.tokens_per_second),
            p99_latency_ms=list(history.p99_latency_ms),
            error_rate=list(history.error_rate),
            events_per_second=list(history.events_per_second),
            cost_per_second=list(history.cost_per_second),
        )
        self.scope = scope

    def move_to(self, second: int) -> bool:
        """Put the cursor on ``second`` (clamped to the history held)."""
        if self.history is None or history_length(self.history) == 0:
            return False
        second = max(self.first_second(), min(self.last_second(), second))
        if second == self.at:
            return False
        self.at = second
        self.fetched = None
        self.generation += 1
        return True

    def step(self, seconds: int) -> bool:
        """Move by ``seconds`` (negative: back); from live, start on the newest whole second (the
        last one held, unless it was still filling: its values then are only part of it)."""
        if self.at is None:
            newest = self.last_second() - self.filling
            start = newest + (1 if seconds < 0 else 0)
            return self.move_to(min(start + seconds, newest))
        return self.move_to(self.at + seconds)

    def index(self) -> int | None:
        """The cursor's position in the history's lists (None while live)."""
        if self.at is None or self.history is None:
            return None
        return self.at - self.first_second()

    def leave(self) -> None:
        self.at = None
        self.history = None
        self.fetched = None
        self.generation += 1

    def take(self, fetched: Fetched, generation: int) -> bool:
        """Keep an answer if the cursor has not moved since it was asked for."""
        if generation != self.generation or self.at is None:
            return False
        self.fetched = fetched
        return True

    def lines(self) -> list[LogEntry]:
        return [] if self.fetched is None else self.fetched.lines

    def header_text(self, new_lines: int) -> str:
        """``⏪ at 15:04:12 · 3 new (End: live)`` ("" while live)."""
        from agentwatch.tui import formatting as fmt

        if self.at is None:
            return ""
        return f"⏪ at {fmt.clock_time(self.at, self.tz)} · {fmt.number(new_lines, 0)} new (End: live)"

    def status(self) -> str:
        """What the log pane holds for the scrub, for the header."""
        fetched = self.fetched
        if self.at is None:
            return ""
        if fetched is None:
            return "fetching lines…"
        if fetched.problem is not None:
            return f"lines not fetched: {fetched.problem}"
        more = (
            " (first " + f"{LINE_LIMIT:,}".replace(",", " ") + ", more not shown)"
            if fetched.truncated
            else ""
        )
        unread = f", {fetched.missing} collectors not read" if fetched.missing else ""
        return f"{len(fetched.lines)} lines ±{SPREAD} s{more}{unread}"


def history_length(history: History) -> int:
    """Seconds the history holds (its longest series)."""
    return max(
        len(history.tokens_per_second),
        len(history.p99_latency_ms),
        len(history.error_rate),
        len(history.events_per_second),
        len(history.cost_per_second),
    )


def _at(values: Sequence[float | None], index: int, length: int) -> float | None:
    """The series' value at ``index`` of a history ``length`` long (series end together)."""
    position = index - (length - len(values))
    if 0 <= position < len(values):
        value = values[position]
        return value if value is not None and math.isfinite(value) else None
    return None


def panel_values(history: History, index: int) -> dict[str, PanelValue]:
    """Each panel's value at ``index`` of ``history``, by panel id; a second not held shows ``—``."""
    from agentwatch.tui import formatting as fmt  # it imports the state, which imports this module

    length = history_length(history)
    tokens = _at(history.tokens_per_second, index, length)
    p99 = _at(history.p99_latency_ms, index, length)
    errors = _at(history.error_rate, index, length)
    events = _at(history.events_per_second, index, length)
    cost = _at(history.cost_per_second, index, length)
    return {
        "m-tokens": PanelValue(fmt.number(tokens) if tokens is not None else fmt.MISSING, "in that second"),
        "m-latency": PanelValue(
            f"p99 {fmt.latency(p99)}",
            "p99 of that second",
            fmt.threshold_class(p99, fmt.LATENCY_WARNING_MS, fmt.LATENCY_ERROR_MS),
        ),
        "m-errors": PanelValue(
            fmt.percent(errors),
            "in that second",
            fmt.threshold_class(errors, fmt.ERROR_RATE_WARNING, fmt.ERROR_RATE_ERROR),
        ),
        "m-cost": PanelValue(
            f"{fmt.usd(cost)}/s" if cost is not None else fmt.MISSING,
            f"{fmt.usd(cost * 60)}/min rate" if cost is not None else "",
        ),
        "m-agents": PanelValue(
            f"{fmt.number(events)} ev/s" if events is not None else fmt.MISSING, "that second"
        ),
    }


def series(history: History) -> dict[str, list[float]]:
    """Each panel's sparkline, as the live panels draw it (missing seconds as 0)."""

    def clean(values: Sequence[float | None]) -> list[float]:
        return [v if v is not None and math.isfinite(v) else 0.0 for v in values]

    return {
        "m-tokens": clean(history.tokens_per_second),
        "m-latency": clean(history.p99_latency_ms),
        "m-errors": clean(history.error_rate),
        "m-cost": clean(history.cost_per_second),
        "m-agents": clean(history.events_per_second),
    }


def spike_seconds(history: History) -> list[int]:
    """Indexes of the history's spikes, oldest first: the peak second of each run of seconds where
    some series stands at least :data:`SPIKE_SHARE` of its range above its median."""
    length = history_length(history)
    scores = [0.0] * length
    for values in series(history).values():
        if len(values) < 3:
            continue
        offset = length - len(values)
        median = statistics.median(values)
        top = max(values)
        if top <= median:
            continue
        for i, value in enumerate(values):
            share = (value - median) / (top - median)
            if share > scores[offset + i]:
                scores[offset + i] = share
    peaks: list[int] = []
    run_best: int | None = None
    for i, score in enumerate(scores):
        if score >= SPIKE_SHARE:
            if run_best is None or score > scores[run_best]:
                run_best = i
        elif run_best is not None:
            peaks.append(run_best)
            run_best = None
    if run_best is not None:
        peaks.append(run_best)
    return peaks


def contributors(lines: Sequence[LogEntry], second: int, top: int = TOP) -> list[Contributor]:
    """The agents with the most lines stamped in ``second``, most first (ties by id)."""
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for entry in lines:
        if int(entry.timestamp) == second:
            counts[entry.agent_id] += 1
            if level_rank(entry.level) >= _ERROR_RANK:
                errors[entry.agent_id] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [Contributor(agent, n, errors[agent]) for agent, n in ranked[:top]]


async def _get_range(
    http: httpx.AsyncClient, url: str, token: str | None, start: float, end: float, agent: str | None
) -> LogRange:
    params = {"from": repr(float(start)), "to": repr(float(end)), "limit": str(LINE_LIMIT)}
    if agent is not None:
        params["agent"] = agent
    headers = {"Authorization": f"Bearer {token}"} if token else None
    response = await http.get(url.rstrip("/") + PATH_LOGS, params=params, headers=headers, timeout=10)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}")
    return _range_decoder.decode(response.content)


async def fetch_second(
    http: httpx.AsyncClient, url: str, token: str | None, second: int, agent: str | None = None
) -> Fetched:
    """The lines stamped in [second - SPREAD, second + SPREAD + 1), oldest first.

    One request; when that answer is cut at :data:`LINE_LIMIT` (the first lines to arrive are
    kept), a second request for the scrubbed second alone makes its own lines whole (up to the
    limit again). A failure is a :class:`Fetched` with ``problem`` set, never an exception.
    """
    import httpx

    try:
        answer = await _get_range(http, url, token, second - SPREAD, second + SPREAD + 1, agent)
        lines = list(answer.entries)
        truncated = answer.truncated
        if truncated:
            own = await _get_range(http, url, token, second, second + 1, agent)
            before = [e for e in lines if e.timestamp < second]
            ids = {e.id for e in before if e.id}
            lines = before + [e for e in own.entries if not e.id or e.id not in ids]
            lines.sort(key=lambda e: (e.timestamp, e.id))
    except (httpx.HTTPError, RuntimeError, msgspec.DecodeError) as exc:
        return Fetched(second, problem=str(exc) or type(exc).__name__)
    return Fetched(second, lines=lines, truncated=truncated)
