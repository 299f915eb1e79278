"""The viewer over several collectors: a :class:`~agentwatch.client.fleet.FleetFollower` feeding the state.

The merged snapshot goes to the state as one collector's would; the header's place for the URL says
how many collectors answer and which do not (``2/3 collectors · down 10.0.0.7:8787``); each stream's
connection is shown as live while any collector's is, and the agents table is told which collector
each agent's row came from (it shows that column only with several collectors).

Questions about one agent, trace or alert go to the collector that holds it (:meth:`FleetFeed.url_for`,
:meth:`FleetFeed.alert_urls`); the time scrub's lines come from every live collector, merged by time
(:func:`fetch_fleet_second`).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Final

from agentwatch.client.fleet import FleetFollower, FleetView
from agentwatch.client.sse import ServerSentEvent
from agentwatch.client.stream import ConnectionState
from agentwatch.protocol import SSE_HELLO, LogEntry
from agentwatch.retry import Backoff
from agentwatch.tui import feed
from agentwatch.tui.linefields import line_trace_key
from agentwatch.tui.scrub import Fetched, fetch_second
from agentwatch.tui.state import STREAM_LOGS, STREAM_METRICS, ViewState

if TYPE_CHECKING:
    import httpx

#: The latency panel's title over several collectors while its sparkline's p99 of each second is the
#: largest collector's (an upper bound: some collector sends no per-second sketches).
FLEET_LATENCY_TITLE: Final = "p50/p99≈ spark≤"
#: Its title when every collector's per-second sketches are merged (as with one collector).
LATENCY_TITLE: Final = "p50 / p99 ≈"

#: A phase for several streams at once, from the best one down: the first any of them is in.
_PHASE_ORDER: Final = ("live", "connecting", "reconnecting", "unauthorized")


def short_name(url: str) -> str:
    """``http://10.0.0.7:8787`` → ``10.0.0.7:8787`` (what a narrow column or header can hold)."""
    return url.split("://", 1)[-1]


def fleet_header(view: FleetView) -> str:
    """``3 collectors``, or ``2/3 collectors · down 10.0.0.7:8787`` when some do not answer."""
    total = len(view.collectors)
    down = [short_name(name) for name, phase, _ in view.collectors if phase != "live"]
    if not down:
        return f"{total} collectors"
    return f"{total - len(down)}/{total} collectors · down {', '.join(down)}"


def combined(states: Sequence[ConnectionState | None], now: float) -> ConnectionState:
    """One state for several streams: live while any is; else the best phase any is in, with the
    soonest retry and the first error."""
    known = [state for state in states if state is not None]
    if not known:
        return ConnectionState("connecting", now)
    for phase in _PHASE_ORDER:
        matching = [state for state in known if state.phase == phase]
        if matching:
            break
    retry = min((state.retry_at for state in matching if state.retry_at is not None), default=None)
    error = next((state.error for state in matching if state.error), None)
    attempts = min(state.attempts for state in matching)
    return ConnectionState(phase, min(state.since for state in matching), retry, error, attempts)


class FleetFeed:
    """Moves what a :class:`FleetFollower` of ``urls`` reports into ``state``.

    Run ``follower.run_metrics(agent)`` and ``follower.run_logs()`` in workers; ``backoff`` makes
    each subscription's reconnection delays (the stream client's default when None).
    """

    def __init__(
        self,
        state: ViewState,
        urls: Sequence[str],
        *,
        token: str | None,
        backoff: Callable[[], Backoff] | None = None,
    ) -> None:
        self.state = state
        #: Told the latency panel's title whenever it changes (:data:`FLEET_LATENCY_TITLE` until known).
        self.on_latency_title: Callable[[str], None] | None = None
        self.latency_title = FLEET_LATENCY_TITLE
        #: Agent id → short name of the collector its row came from (for the agents table).
        self.collector_of: dict[str, str] = {}
        self.follower = FleetFollower(
            urls,
            on_view=self.on_view,
            on_entries=state.add_log_entries,
            on_alert=state.apply_alert,
            on_notice=self.on_notice,
            token=token,
            clock=state.clock,
            backoff=backoff,
        )
        state.url = f"{len(urls)} collectors"

    def on_view(self, view: FleetView) -> None:
        state = self.state
        now = state.clock()
        links = self.follower.links
        state.set_connection(STREAM_METRICS, combined([link.metrics for link in links], now))
        state.set_connection(STREAM_LOGS, combined([link.logs for link in links], now))
        state.url = fleet_header(view)
        self.collector_of = {agent: short_name(name) for agent, name in view.collector_of.items()}
        title = FLEET_LATENCY_TITLE if view.p99_bound else LATENCY_TITLE
        if view.up and title != self.latency_title:
            self.latency_title = title
            if self.on_latency_title is not None:
                self.on_latency_title(title)
        if view.up:
            state.apply_snapshot(view.snapshot)

    def url_for(
        self, *, agent: str | None = None, trace: str | None = None, lines: Iterable[object] = ()
    ) -> str | None:
        """The collector holding ``agent`` or, for ``trace``, the agent of the newest line of ``lines``
        with that trace (or prompt, turn) id; None when not known."""
        if agent is None and trace is not None:
            for line in lines:
                if isinstance(line, LogEntry) and line_trace_key(line) == trace:
                    agent = line.agent_id
                    break
        return self.follower.home_of(agent)

    def alert_urls(self, alert_id: str) -> list[str]:
        """The collectors that raised ``alert_id`` (each is told of an acknowledgement or snooze)."""
        return self.follower.holders_of_alert(alert_id)

    def scrub_urls(self, agent: str | None) -> list[str]:
        """Where the time scrub's lines are: the drilled agent's collector, else every live one."""
        home = self.follower.home_of(agent)
        return [home] if home is not None else self.follower.live_names()

    def on_notice(self, collector: str, sse: ServerSentEvent) -> None:
        """A log stream's gap, dropped or reset notice; hellos are per collector and not shown."""
        if sse.event != SSE_HELLO:
            feed.apply_log_events(self.state, (sse,))


async def fetch_fleet_second(
    http: httpx.AsyncClient, urls: Sequence[str], token: str | None, second: int, agent: str | None
) -> Fetched:
    """:func:`~agentwatch.tui.scrub.fetch_second` of each collector at once, the lines merged by time.

    Truncated when any answer is; a collector that fails is named in ``problem`` only when none answered
    (the lines of the others are shown, and the header counts the ones not read).
    """
    answers = await asyncio.gather(*(fetch_second(http, url, token, second, agent) for url in urls))
    good = [answer for answer in answers if answer.problem is None]
    failed = [f"{short_name(url)}: {a.problem}" for url, a in zip(urls, answers, strict=True) if a.problem]
    if not good:
        return Fetched(second, problem="; ".join(failed) or "no collector")
    lines = list(heapq.merge(*(answer.lines for answer in good), key=lambda e: (e.timestamp, e.id)))
    return Fetched(
        second, lines=lines, truncated=any(answer.truncated for answer in good), missing=len(failed)
    )
