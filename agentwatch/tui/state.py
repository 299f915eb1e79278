"""The viewer's state: everything the screen shows, as plain data, with no Textual in it.

Network workers call the *ingest* side (:meth:`ViewState.apply_snapshot`,
:meth:`ViewState.add_log_entries`, :meth:`ViewState.add_marker`,
:meth:`ViewState.set_connection`); they never touch widgets. The frame timer reads the
*view* side (:meth:`ViewState.take_dirty`, :meth:`ViewState.take_pending_lines`,
:meth:`ViewState.visible_lines`, :meth:`ViewState.agent_views`) at most ``fps`` times a
second and pushes what changed to widgets.

Filters (agent, minimum level, errors only, search, one value by name) apply to what was already received:
changing one re-filters the whole buffer and marks the log as ``DIRTY_REFILTERED`` so the
log pane is rewritten from :meth:`ViewState.visible_lines`.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from agentwatch.client.deltas import SnapshotAssembler
from agentwatch.protocol import (
    ALERT_FIRING,
    LEVEL_RANK,
    LEVELS,
    STATUS_FAILING,
    AgentRow,
    Alert,
    LogEntry,
    Snapshot,
    level_rank,
    normalize_level,
)
from agentwatch.tui.agentorder import ROW_VALUE, SortedAgents, SortKey, sort_key
from agentwatch.tui.dirty import DirtyMarks, nothing
from agentwatch.tui.linefields import field_value
from agentwatch.tui.received import ReceivedHistory
from agentwatch.tui.scrub import Scrub

# What changed since the last frame.
DIRTY_METRICS: Final = "metrics"
DIRTY_AGENTS: Final = "agents"
DIRTY_LOGS_APPENDED: Final = "logs-appended"
DIRTY_LOGS_REFILTERED: Final = "logs-refiltered"
DIRTY_HEADER: Final = "header"
DIRTY_ALERTS: Final = "alerts"

#: Alert state changes a viewer keeps for its history screen.
ALERT_HISTORY: Final = 200

StreamName = Literal["metrics", "logs"]
STREAM_METRICS: Final = "metrics"
STREAM_LOGS: Final = "logs"

MarkerKind = Literal["gap", "dropped", "restart", "reset"]
MARKER_GAP: Final = "gap"
MARKER_DROPPED: Final = "dropped"
MARKER_RESTART: Final = "restart"
MARKER_RESET: Final = "reset"

#: Minimum levels the ``l`` key cycles through.
MIN_LEVEL_CYCLE: Final = ("debug", "info", "warning", "error")

#: Sortable agent-table columns, in the order ``s`` cycles through them.
SORT_COLUMNS: Final = ("agent", "status", "tok/s", "p50", "p99", "err %", "cost", "last seen")

_ERROR_RANK: Final = LEVEL_RANK["error"]


class ConnectionLike(Protocol):
    """What the state needs from a stream's connection state (``client.stream.ConnectionState``)."""

    @property
    def phase(self) -> str: ...

    @property
    def retry_at(self) -> float | None: ...

    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Marker:
    """A line in the log buffer that is not an entry: ``count`` lines were missed.

    ``gap``: entries the viewer asked for (on resume) were no longer held by the collector;
    ``exact`` False: ``count`` is an upper bound.
    ``dropped``: the collector dropped entries because this viewer read too slowly.
    ``restart``: the collector restarted and its log goes on (``count`` 0).
    ``reset``: the collector restarted without its earlier ids: what it logged after line
    ``after`` before the restart is not available (``count`` 0: unknown).
    """

    kind: MarkerKind
    count: int
    timestamp: float
    exact: bool = True
    after: int = 0


LogLine = LogEntry | Marker


#: Lines of an agent read for where it runs (its first ones: a program names it with every event).
_WHERE_LINES: Final = 20
#: Attributes naming where a coding agent's session runs, shown as (label, key).
_WHERE_KEYS: Final = (
    ("terminal", "terminal.type"),
    ("user", "user.email"),
    ("host", "host.name"),
    ("in", "cwd"),
)


def where_from(entry: LogEntry) -> str | None:
    """``terminal vscode · user ada@example.com`` from a line's attributes, or None."""
    attributes = entry.metadata.get("attributes") if entry.metadata else None
    if not isinstance(attributes, dict):
        return None
    parts = [
        f"{label} {value}"
        for label, key in _WHERE_KEYS
        if isinstance(value := attributes.get(key), str) and value
    ]
    return " · ".join(parts) or None


@dataclass(slots=True)
class LogAgent:
    """What the log stream alone tells about an agent (for collectors without agent rows)."""

    last_seen: float
    lines: int = 0
    errors: int = 0
    #: Where it runs, as its first lines tell (``terminal vscode · user ada@example.com``), or None.
    where: str | None = None


@dataclass(frozen=True, slots=True)
class AgentView:
    """One row of the agents table. ``row`` is None when the agent is only known from logs."""

    agent_id: str
    row: AgentRow | None
    last_seen: float | None
    errors: int


class AlertLog:
    """Alerts as this viewer knows them: what fires now and the latest state changes.

    Fed by snapshots (``Snapshot.alerts``: what fires now) and by ``event: alert`` frames
    (one per state change) between snapshots. A fleet snapshot's list is *complete*: an id it
    lacks is no longer firing. A drilled snapshot only lists its agent's alerts, so it adds
    and never removes. ``history`` keeps the last ``history`` state changes, oldest first.

    An alert that starts firing is handed once to :meth:`take_started` (for a toast and the
    bell). Alerts already firing in the first snapshot after connecting are shown and kept in
    the history, but not announced.
    """

    def __init__(self, history: int = ALERT_HISTORY) -> None:
        self.firing: dict[str, Alert] = {}
        self.history: deque[Alert] = deque(maxlen=max(1, history))
        self._started: list[Alert] = []
        self._seeded = False

    def apply(self, alert: Alert) -> bool:
        """One ``event: alert`` frame (a state change). Returns True when what is shown changed."""
        self.history.append(alert)
        if alert.state == ALERT_FIRING:
            known = self.firing.get(alert.id)
            self.firing[alert.id] = alert
            if known is None or known.started_at != alert.started_at:
                self._started.append(alert)
        else:
            self.firing.pop(alert.id, None)
        return True

    def sync(self, alerts: Sequence[Alert], *, complete: bool) -> bool:
        """What a snapshot says fires now. Returns True when what is shown changed."""
        changed = False
        now_firing = {alert.id: alert for alert in alerts if alert.state == ALERT_FIRING}
        for alert_id, alert in now_firing.items():
            known = self.firing.get(alert_id)
            if known is None:
                self.history.append(alert)
                if self._seeded:
                    self._started.append(alert)
            if known != alert:
                self.firing[alert_id] = alert
                changed = True
        if complete:
            for gone in [alert_id for alert_id in self.firing if alert_id not in now_firing]:
                del self.firing[gone]
                changed = True
        self._seeded = True
        return changed

    def take_started(self) -> list[Alert]:
        """Alerts that started firing since the last call (each handed out once)."""
        started, self._started = self._started, []
        return started

    def recent(self) -> list[Alert]:
        """The history, newest first."""
        return list(reversed(self.history))


class ViewState:
    """The whole viewer model. Not thread-safe: workers and the timer share one event loop.

    ``max_lines`` bounds the log buffer (oldest lines are evicted); ``clock`` returns unix
    seconds and is used for ages ("3s ago", "stale 12 s"), so tests can freeze it.
    """

    def __init__(
        self,
        *,
        max_lines: int = 10_000,
        clock: Callable[[], float] = time.time,
        agent: str | None = None,
        min_level: str = "debug",
        url: str = "",
        banner: str | None = None,
    ) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.clock = clock
        self.url = url
        self.banner = banner
        self.max_lines = max_lines
        self.fleet: Snapshot | None = None
        self.drilled: Snapshot | None = None
        self.drilled_agent: str | None = None
        self.last_snapshot_at: float | None = None
        self.connections: dict[str, ConnectionLike] = {}
        self.buffer: deque[LogLine] = deque(maxlen=max_lines)
        self._pending: deque[LogLine] = deque(maxlen=max_lines)
        self.log_agents: dict[str, LogAgent] = {}
        self._snapshot_agents: set[str] = set()
        # Filters.
        self.agent_filter: str | None = agent
        self.min_level: str = normalize_level(min_level)
        self.errors_only = False
        self.search_text = ""
        self.search_pattern: re.Pattern[str] | None = None
        self.search_error: str | None = None
        #: ``(name, value)``: only lines whose ``name`` is exactly ``value`` (see tui/linefields.py).
        self.field_filter: tuple[str, str] | None = None
        # Tail.
        self.paused = False
        #: The pause came from scrolling back in the log (reaching the bottom again resumes).
        self.scrolled_back = False
        self.new_while_paused = 0
        # Table.
        self.sort_column = "agent"
        self.sort_reverse = False
        self._rows: dict[str, AgentRow] = {}
        self._rows_from: tuple[Snapshot | None, Snapshot | None] = (None, None)
        self._order_index: dict[str, SortedAgents] = {}
        self._reversed: list[str] = []
        self._reversed_from: list[str] | None = None
        self._failing: set[str] = set()
        self._failing_from: dict[str, AgentRow] | None = None
        # Counters the header can show.
        self.decode_errors = 0
        self.lines_missed = 0
        #: The collector run the log stream last said hello from (a change is a restart).
        self.collector_run: str | None = None
        self.alerts = AlertLog()
        #: Which fields the collector's snapshots carry, and sparklines when it sends no history.
        self.received = ReceivedHistory()
        #: The metrics stream's last snapshot, which its deltas apply to.
        self.metrics_frames = SnapshotAssembler()
        #: The time scrub's cursor (:mod:`~agentwatch.tui.scrub`); live while ``scrub.at`` is None.
        self.scrub = Scrub()
        #: Called on the first change after a frame (the viewer's frame timer idles meanwhile).
        self.wake: Callable[[], None] = nothing
        self.dirty: set[str] = DirtyMarks(
            self._wake, (DIRTY_METRICS, DIRTY_AGENTS, DIRTY_LOGS_REFILTERED, DIRTY_HEADER)
        )

    def _wake(self) -> None:
        self.wake()

    # ------------------------------------------------------------------ ingest side
    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Take a snapshot from the metrics stream.

        A snapshot with ``agent`` set is the drilled agent's; one for an agent that is no
        longer drilled into (a late frame after Esc) is ignored.
        """
        if snapshot.agent is None:
            self.fleet = snapshot
            self._snapshot_agents = {row.agent_id for row in snapshot.agents}
        elif snapshot.agent == self.drilled_agent:
            self.drilled = snapshot
        else:
            return
        self.last_snapshot_at = self.clock()
        self.dirty.update((DIRTY_METRICS, DIRTY_AGENTS, DIRTY_HEADER))
        if self.alerts.sync(snapshot.alerts, complete=snapshot.agent is None):
            self.dirty.add(DIRTY_ALERTS)

    def apply_alert(self, alert: Alert) -> None:
        """Take an ``event: alert`` frame (one alert's state change) from the metrics stream."""
        if self.alerts.apply(alert):
            self.dirty.update((DIRTY_ALERTS, DIRTY_HEADER))

    def add_log_entries(self, entries: Iterable[LogEntry]) -> None:
        """Append entries to the bounded buffer; matching ones become pending for the next frame.

        Called for every line received, so it does no more than count and filter. The agents
        table is marked dirty only when what it shows changed: an agent seen for the first
        time, or an error counted for an agent the snapshot does not cover (an agent with a
        snapshot row shows the collector's counts; "last seen" is refreshed by the
        once-a-second tick).
        """
        appended = False
        log_agents = self.log_agents
        covered = self._snapshot_agents
        for entry in entries:
            self.buffer.append(entry)
            agent_id = entry.agent_id
            known = log_agents.get(agent_id)
            if known is None:
                known = log_agents[agent_id] = LogAgent(last_seen=entry.timestamp)
                self.dirty.add(DIRTY_AGENTS)
            known.lines += 1
            if known.where is None and known.lines <= _WHERE_LINES:
                known.where = where_from(entry)
            if entry.timestamp > known.last_seen:
                known.last_seen = entry.timestamp
            rank = _rank(entry.level)
            if rank >= _ERROR_RANK:
                known.errors += 1
                if agent_id not in covered:
                    self.dirty.add(DIRTY_AGENTS)
            if self._matches_entry(entry, rank):
                self._pending.append(entry)
                appended = True
                if self.paused:
                    self.new_while_paused += 1
        if appended:
            self.dirty.add(DIRTY_HEADER if self.paused else DIRTY_LOGS_APPENDED)

    def add_marker(self, kind: MarkerKind, count: int, *, exact: bool = True, after: int = 0) -> None:
        """Record that ``count`` lines were missed (``gap``) or dropped by the collector (``dropped``),
        or that the collector restarted (``restart``, ``reset``: no count).

        Markers pass every filter: a filtered view has lost lines too. A gap or drop of fewer than
        one line is ignored.
        """
        if count < 1 and kind in (MARKER_GAP, MARKER_DROPPED):
            return
        count = max(count, 0)
        marker = Marker(kind=kind, count=count, timestamp=self.clock(), exact=exact, after=after)
        self.lines_missed += count
        self.buffer.append(marker)
        self._pending.append(marker)
        if self.paused:
            self.new_while_paused += 1
        self.dirty.update((DIRTY_LOGS_APPENDED, DIRTY_HEADER))

    def set_connection(self, stream: StreamName, state: ConnectionLike) -> None:
        """Record the connection state of the ``metrics`` or ``logs`` stream."""
        self.connections[stream] = state
        self.dirty.add(DIRTY_HEADER)

    def count_decode_error(self) -> None:
        """Count one stream message that could not be decoded (it is skipped)."""
        self.decode_errors += 1
        self.dirty.add(DIRTY_HEADER)

    # ------------------------------------------------------------------ filters
    def matches(self, line: LogLine) -> bool:
        """True when a line passes every active filter (markers always do)."""
        if isinstance(line, Marker):
            return True
        return self._matches_entry(line, _rank(line.level))

    def _matches_entry(self, line: LogEntry, rank: int) -> bool:
        if self.agent_filter is not None and line.agent_id != self.agent_filter:
            return False
        if rank < LEVEL_RANK[self.min_level]:
            return False
        if self.errors_only and rank < _ERROR_RANK:
            return False
        if self.search_text:
            if self.search_pattern is not None:
                if self.search_pattern.search(line.message) is None:
                    return False
            elif self.search_error is not None:
                return False
            elif self.search_text.casefold() not in line.message.casefold():
                return False
        if self.field_filter is not None and field_value(line, self.field_filter[0]) != self.field_filter[1]:
            return False
        return True

    def set_field_filter(self, name: str, value: str | None) -> None:
        """Show only lines whose ``name`` is exactly ``value`` (None: every line)."""
        wanted = None if value is None else (name, value)
        if wanted != self.field_filter:
            self.field_filter = wanted
            self._refilter()

    def set_agent_filter(self, agent: str | None) -> None:
        """Show only this agent's lines (None = all agents)."""
        if agent != self.agent_filter:
            self.agent_filter = agent
            self._refilter()

    def set_min_level(self, level: str) -> None:
        """Show lines at this level or above (unknown names count as ``info``)."""
        level = normalize_level(level)
        if level != self.min_level:
            self.min_level = level
            self._refilter()

    def cycle_min_level(self) -> str:
        """debug → info → warning → error → debug; returns the new minimum level."""
        try:
            index = MIN_LEVEL_CYCLE.index(self.min_level)
        except ValueError:
            index = len(MIN_LEVEL_CYCLE) - 1
        self.set_min_level(MIN_LEVEL_CYCLE[(index + 1) % len(MIN_LEVEL_CYCLE)])
        return self.min_level

    def set_errors_only(self, on: bool) -> None:
        if on != self.errors_only:
            self.errors_only = on
            self._refilter()

    def set_search(self, text: str) -> None:
        """Search messages: plain text (case-insensitive), or a regex as ``/.../`` or ``re:...``.

        A regex that does not compile sets :attr:`search_error` and hides every entry (so the
        mistake is obvious), instead of raising.
        """
        pattern_source = _regex_source(text)
        self.search_text = text
        self.search_pattern = None
        self.search_error = None
        if pattern_source is not None:
            try:
                self.search_pattern = re.compile(pattern_source, re.IGNORECASE)
            except re.error as exc:
                self.search_error = f"bad regex: {exc}"
        self._refilter()

    def clear_filters(self) -> None:
        """Agent, level, errors-only and search back to "show everything" (drill-down stays)."""
        self.agent_filter = self.drilled_agent
        self.min_level = LEVELS[0]
        self.errors_only = False
        self.search_text = ""
        self.search_pattern = None
        self.search_error = None
        self.field_filter = None
        self._refilter()

    def search_spans(self, message: str) -> list[tuple[int, int]]:
        """(start, end) character spans of the current search's matches in ``message``."""
        if not self.search_text or self.search_error is not None:
            return []
        if self.search_pattern is not None:
            return [m.span() for m in self.search_pattern.finditer(message) if m.end() > m.start()]
        needle = self.search_text.casefold()
        haystack = message.casefold()
        if len(haystack) != len(message):  # casefold changed lengths: fall back to exact case
            haystack, needle = message, self.search_text
        spans: list[tuple[int, int]] = []
        start = haystack.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = haystack.find(needle, start + len(needle))
        return spans

    def active_filters(self) -> list[str]:
        """Short descriptions of the active filters, for the header."""
        parts: list[str] = []
        if self.agent_filter is not None:
            parts.append(f"agent={self.agent_filter}")
        if self.min_level != LEVELS[0]:
            parts.append(f"level≥{self.min_level}")
        if self.errors_only:
            parts.append("errors only")
        if self.search_text:
            parts.append(f"search={self.search_text}")
        if self.field_filter is not None:
            parts.append(f"{self.field_filter[0]}={self.field_filter[1]}")
        return parts

    def _refilter(self) -> None:
        self._pending.clear()
        self.new_while_paused = 0
        self.dirty.update((DIRTY_LOGS_REFILTERED, DIRTY_HEADER))

    # ------------------------------------------------------------------ tail
    def set_paused(self, paused: bool, *, scrolled: bool = False) -> None:
        """Freeze the tail (lines are still received and counted) or go back to live.

        ``scrolled``: the pause comes from scrolling back (``space`` pauses without it). Lines
        received but not yet drawn when the tail freezes count as new.
        """
        if paused == self.paused:
            return
        self.paused = paused
        self.scrolled_back = paused and scrolled
        if paused:
            self.new_while_paused = len(self._pending)
        else:
            self.new_while_paused = 0
            if self._pending:
                self.dirty.add(DIRTY_LOGS_APPENDED)
        self.dirty.add(DIRTY_HEADER)

    def take_pending_lines(self) -> list[LogLine]:
        """Matching lines received since the last call (none while paused)."""
        if self.paused or not self._pending:
            return []
        lines = list(self._pending)
        self._pending.clear()
        return lines

    def visible_lines(self) -> list[LogLine]:
        """Every buffered line that passes the filters, oldest first; clears pending lines."""
        self._pending.clear()
        return [line for line in self.buffer if self.matches(line)]

    # ------------------------------------------------------------------ drill-down
    def drill_into(self, agent: str | None) -> None:
        """Narrow metrics and the log to one agent (None = back to the fleet)."""
        if agent == self.drilled_agent:
            return
        self.drilled_agent = agent
        self.drilled = None
        self.set_agent_filter(agent)
        self.dirty.update((DIRTY_METRICS, DIRTY_HEADER))

    @property
    def shown_snapshot(self) -> Snapshot | None:
        """The snapshot the metric panels show: the drilled agent's, else the fleet's."""
        if self.drilled_agent is not None:
            return self.drilled
        return self.fleet

    # ------------------------------------------------------------------ agents
    def known_agents(self) -> list[str]:
        """Agent ids seen in snapshots or logs, sorted."""
        ids = set(self.log_agents)
        if self.fleet is not None:
            ids.update(row.agent_id for row in self.fleet.agents)
        if self.drilled is not None:
            ids.update(row.agent_id for row in self.drilled.agents)
        return sorted(ids)

    def _agent_rows(self) -> dict[str, AgentRow]:
        """Snapshot rows by agent id, the drilled snapshot's over the fleet's (merged again only when
        one of them is a new snapshot)."""
        fleet, drilled = self.fleet, self.drilled
        if self._rows_from[0] is not fleet or self._rows_from[1] is not drilled:
            rows: dict[str, AgentRow] = {}
            if fleet is not None:
                rows.update((row.agent_id, row) for row in fleet.agents)
            if drilled is not None:
                rows.update((row.agent_id, row) for row in drilled.agents)
            self._rows = rows
            self._rows_from = (fleet, drilled)
        return self._rows

    def agent_view(self, agent_id: str) -> AgentView | None:
        """One row of the agents table, merged from snapshots and logs (None: an unknown agent)."""
        row = self._agent_rows().get(agent_id)
        from_logs = self.log_agents.get(agent_id)
        if row is None and from_logs is None:
            return None
        last_seen = row.last_seen if row is not None else None
        if from_logs is not None and (last_seen is None or from_logs.last_seen > last_seen):
            last_seen = from_logs.last_seen
        errors = row.errors if row is not None else (from_logs.errors if from_logs else 0)
        return AgentView(agent_id=agent_id, row=row, last_seen=last_seen, errors=errors)

    def agent_order(self) -> list[str]:
        """Agent ids (from snapshots and logs) in the agents table's sort order.

        Only the sort keys are computed, and the sorted index moves only the agents whose key
        changed (:class:`~agentwatch.tui.agentorder.SortedAgents`); rows are built for the rows
        shown (:meth:`agent_view`). The same list comes back while the order does not change.
        """
        rows = self._agent_rows()
        log_agents = self.log_agents
        column = self.sort_column
        keys: dict[str, SortKey]
        if column == "last seen":  # most recent first; a line can be newer than the snapshot
            keys = {}
            for agent_id in rows.keys() | log_agents.keys():
                row, from_logs = rows.get(agent_id), log_agents.get(agent_id)
                seen = row.last_seen if row is not None else None
                if from_logs is not None and (seen is None or from_logs.last_seen > seen):
                    seen = from_logs.last_seen
                keys[agent_id] = sort_key(agent_id, -seen if seen is not None else None)
        else:
            value_of = ROW_VALUE.get(column)
            if value_of is None:  # by agent id
                keys = {agent_id: (0, 0.0, agent_id) for agent_id in rows}
            else:
                keys = {}
                for agent_id, row in rows.items():  # sort_key, inline: this runs for every agent
                    value = value_of(row)
                    keys[agent_id] = (
                        (1, 0.0, agent_id) if value is None or value != value else (0, value, agent_id)
                    )
            for agent_id in log_agents.keys() - rows.keys():
                keys[agent_id] = (0, 0.0, agent_id) if value_of is None else (1, 0.0, agent_id)
        index = self._order_index.get(column)
        if index is None:
            self._order_index = {column: (index := SortedAgents())}
        index.update(keys)
        ids = index.ids()
        if not self.sort_reverse:
            return ids
        if self._reversed_from is not ids:
            self._reversed = ids[::-1]
            self._reversed_from = ids
        return self._reversed

    def agent_views(self) -> list[AgentView]:
        """Rows for the agents table, merged from snapshots and logs, in the current sort order."""
        return [view for agent_id in self.agent_order() if (view := self.agent_view(agent_id)) is not None]

    def failing_agents(self) -> set[str]:
        """Agents whose snapshot row says they are failing."""
        rows = self._agent_rows()
        if self._failing_from is not rows:
            self._failing = {agent_id for agent_id, row in rows.items() if row.status == STATUS_FAILING}
            self._failing_from = rows
        return self._failing

    def cycle_sort(self) -> str:
        """Sort the agents table by the next column; returns its name."""
        index = SORT_COLUMNS.index(self.sort_column) if self.sort_column in SORT_COLUMNS else -1
        self.sort_column = SORT_COLUMNS[(index + 1) % len(SORT_COLUMNS)]
        self.dirty.update((DIRTY_AGENTS, DIRTY_HEADER))
        return self.sort_column

    def reverse_sort(self) -> bool:
        """Flip the sort direction; returns True when now descending."""
        self.sort_reverse = not self.sort_reverse
        self.dirty.update((DIRTY_AGENTS, DIRTY_HEADER))
        return self.sort_reverse

    # ------------------------------------------------------------------ frames
    def snapshot_age(self) -> float | None:
        """Seconds since the last snapshot arrived (None before the first)."""
        if self.last_snapshot_at is None:
            return None
        return max(0.0, self.clock() - self.last_snapshot_at)

    def request_rewrite(self) -> None:
        """Ask for the log pane to be rewritten from the buffer (e.g. its line format changed)."""
        self.dirty.add(DIRTY_LOGS_REFILTERED)

    def take_dirty(self) -> set[str]:
        """What changed since the last frame; resets the set."""
        dirty = self.dirty
        self.dirty = DirtyMarks(self._wake)
        return dirty


def _rank(level: str) -> int:
    """:func:`level_rank`, with a dictionary hit for the already-normal names decoders produce."""
    rank = LEVEL_RANK.get(level)
    return level_rank(level) if rank is None else rank


def _regex_source(text: str) -> str | None:
    """The regex in ``/.../`` or ``re:...`` search text, or None for a plain-text search."""
    if text.startswith("re:"):
        return text[3:]
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        return text[1:-1]
    return None
