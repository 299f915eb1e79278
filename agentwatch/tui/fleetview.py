"""The viewer over several collectors: a :class:`~agentwatch.client.fleet.FleetFollower` feeding the state.

The merged snapshot goes to the state as one collector's would; the header's place for the URL says
how many collectors answer and which do not (``2/3 collectors · down 10.0.0.7:8787``); each stream's
connection is shown as live while any collector's is, and the agents table is told which collector
each agent's row came from (it shows that column only with several collectors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from agentwatch.client.fleet import FleetFollower, FleetView
from agentwatch.client.sse import ServerSentEvent
from agentwatch.client.stream import ConnectionState
from agentwatch.protocol import SSE_HELLO
from agentwatch.retry import Backoff
from agentwatch.tui import feed
from agentwatch.tui.state import STREAM_LOGS, STREAM_METRICS, ViewState

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
        if view.up:
            state.apply_snapshot(view.snapshot)

    def on_notice(self, collector: str, sse: ServerSentEvent) -> None:
        """A log stream's gap, dropped or reset notice; hellos are per collector and not shown."""
        if sse.event != SSE_HELLO:
            feed.apply_log_events(self.state, (sse,))
