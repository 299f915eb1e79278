"""Many collectors watched as one fleet: one read of each (``agentwatch status``), or all of them
followed live (:class:`FleetFollower`, the viewer's).

Each collector is named by its URL as given. A collector that cannot be read is reported as down
with the reason; the others still make the fleet (:mod:`agentwatch.client.fleetmerge`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import httpx
import msgspec

from agentwatch.client.deltas import MissedDelta, SnapshotAssembler
from agentwatch.client.fleetmerge import Part, merge_snapshots
from agentwatch.client.sse import DEFAULT_EVENT, ServerSentEvent
from agentwatch.client.stream import (
    CollectorUnreachable,
    ConnectionState,
    DecodeError,
    Unauthorized,
    decode_log_entries,
    decode_snapshot,
    fetch_snapshot,
    follow,
)
from agentwatch.protocol import (
    PARAM_DELTA,
    PATH_DASHBOARD_STREAM,
    PATH_LOGS_STREAM,
    SSE_ALERT,
    SSE_LOG,
    SSE_METRICS,
    SSE_METRICS_DELTA,
    Alert,
    LogEntry,
    Snapshot,
)
from agentwatch.retry import Backoff
from agentwatch.sketchwire import MAX_SECONDS, PARAM_SINCE, PATH_SKETCH, SketchResponse, WireSketch

__all__ = ["CollectorLink", "Down", "FleetFollower", "FleetView", "fetch_fleet", "fetch_sketch"]

#: Most bytes of a sketch answer read (a whole sketch is a few kilobytes).
MAX_SKETCH_BYTES: Final = 256 * 1024
_sketch_decoder: Final = msgspec.json.Decoder(SketchResponse)
_alert_decoder: Final = msgspec.json.Decoder(Alert)
#: Most log entries held for interleaving, all collectors together; past it they are released at once.
MAX_PENDING: Final = 20_000
#: Most agents whose collector is remembered (past it the memory starts again from the current rows).
MAX_HOMES: Final = 100_000


@dataclass
class Down:
    """A collector that could not be read, and why (one line)."""

    name: str
    reason: str
    unauthorized: bool = False


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def fetch_sketch(
    http: httpx.AsyncClient,
    base_url: str,
    *,
    token: str | None,
    timeout: float,
    agent: str | None = None,
    since: int | None = None,
) -> SketchResponse | None:
    """The collector's window sketch; None when it serves none (404) or sent an unreadable one.

    Raises :class:`Unauthorized` on 401/403 and :class:`CollectorUnreachable` when it cannot be reached.
    """
    url = base_url.rstrip("/") + PATH_SKETCH
    params = {"agent": agent} if agent else {}
    if since is not None:
        params[PARAM_SINCE] = str(since)
    try:
        async with http.stream("GET", url, params=params, headers=_headers(token), timeout=timeout) as answer:
            if answer.status_code in (401, 403):
                raise Unauthorized(f"{url} refused the token (HTTP {answer.status_code})")
            if answer.status_code != 200:
                return None
            body = b""
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_SKETCH_BYTES:
                    return None
    except httpx.HTTPError as exc:
        raise CollectorUnreachable(f"cannot reach {url}: {type(exc).__name__}") from None
    try:
        return _sketch_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def _read_one(http: httpx.AsyncClient, url: str, token: str | None, timeout: float) -> Part | Down:
    try:
        async with asyncio.timeout(timeout):
            snapshot, sketch = await asyncio.gather(
                fetch_snapshot(url, token=token, timeout=timeout, client=http),
                fetch_sketch(http, url, token=token, timeout=timeout),
            )
    except Unauthorized as exc:
        return Down(url, str(exc), unauthorized=True)
    except CollectorUnreachable as exc:
        return Down(url, str(exc))
    except TimeoutError:
        return Down(url, f"no answer from {url} within {timeout:g} s")
    return Part(url, snapshot, sketch.fleet if sketch is not None else None)


async def fetch_fleet(urls: Sequence[str], *, token: str | None, timeout: float) -> list[Part | Down]:
    """One snapshot and sketch of each collector, read at the same time; in the order of ``urls``."""
    async with httpx.AsyncClient() as http:
        return list(await asyncio.gather(*(_read_one(http, url, token, timeout) for url in urls)))


# ---------------------------------------------------------------- following many collectors


@dataclass
class CollectorLink:
    """One collector as :class:`FleetFollower` follows it: its streams' states, snapshot and sketch."""

    name: str
    frames: SnapshotAssembler = field(default_factory=SnapshotAssembler)
    metrics: ConnectionState | None = None
    logs: ConnectionState | None = None
    snapshot: Snapshot | None = None
    sketch: WireSketch | None = None
    #: Log entries received and not yet released (interleaved with the other collectors' by time).
    pending: list[LogEntry] = field(default_factory=list)
    #: Set when its metrics stream goes live: fetch the sketch now rather than at the next tick.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: Unix second → the sketch of that second, for the history's per-second p99; None while the
    #: collector has sent none (one that does not serve them: the p99 of a second is then a bound).
    seconds: dict[int, WireSketch] | None = None
    #: Ids of the alerts its metrics stream sent (since the last snapshot named them), for routing.
    alert_ids: set[str] = field(default_factory=set)

    @property
    def up(self) -> bool:
        """Its metrics stream is live and has sent a snapshot."""
        return self.metrics is not None and self.metrics.phase == "live" and self.snapshot is not None

    @property
    def phase(self) -> str:
        """``live``, ``connecting``, ``reconnecting`` or ``unauthorized`` (of its metrics stream)."""
        return "connecting" if self.metrics is None else self.metrics.phase


@dataclass
class FleetView:
    """What a viewer shows of the fleet: the merged snapshot and where each part stands."""

    snapshot: Snapshot
    #: Agent id → the collector its row came from.
    collector_of: dict[str, str]
    #: The history's per-second p99 is the largest collector's (an upper bound), not the merged one.
    p99_bound: bool
    #: (collector name, phase, last error) of every collector, in the order given.
    collectors: list[tuple[str, str, str | None]]

    @property
    def up(self) -> int:
        return sum(1 for _, phase, _ in self.collectors if phase == "live")


class FleetFollower:
    """Follows N collectors' metrics and log streams and makes one fleet of them.

    Each collector has its own subscriptions (:func:`~agentwatch.client.stream.follow`), so each
    resumes its log stream on its own ids and reconnects on its own; one that is down is left
    out of the merge and reported so, while the rest keep going. Whenever a snapshot or a
    collector's state changes, ``on_view`` gets a :class:`FleetView` (at most once per turn of
    the event loop): totals summed, percentiles from the merged sketches (each collector's
    ``GET /api/sketch`` is read every ``sketch_every`` seconds and as soon as it comes back),
    agent rows tagged with their collector (:mod:`agentwatch.client.fleetmerge`); the alerts of a
    collector that is down stay those it last sent (its coming back is no new alert). Log entries go
    to ``on_entries`` interleaved by time: held ``hold`` seconds, then released merged by
    timestamp, each collector's in its own order (at most :data:`MAX_PENDING` held; past that
    they are released at once). Alerts of the metrics streams go to ``on_alert``; the log
    streams' other messages (gap, dropped, hello, reset) to ``on_notice`` with the collector's name.

    :meth:`run_metrics` and :meth:`run_logs` run until cancelled; the metrics part may be
    restarted with another ``agent`` (a drill-in) while the logs keep their place.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        on_view: Callable[[FleetView], None],
        on_entries: Callable[[list[LogEntry]], None],
        on_alert: Callable[[Alert], None] | None = None,
        on_notice: Callable[[str, ServerSentEvent], None] | None = None,
        token: str | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        sketch_every: float = 1.0,
        hold: float = 0.2,
        backoff: Callable[[], Backoff] | None = None,
    ) -> None:
        self.links = [CollectorLink(url) for url in urls]
        self.on_view = on_view
        self.on_entries = on_entries
        self.on_alert = on_alert
        self.on_notice = on_notice
        self.token = token
        self.client = client
        self.clock = clock
        self.sketch_every = sketch_every
        self.hold = hold
        self.backoff = backoff
        self.agent: str | None = None
        self.decode_errors = 0
        self._publish_scheduled = False
        #: Agent id → the collector its row last came from (kept through a drill-in to another agent).
        self.homes: dict[str, str] = {}

    # ------------------------------------------------------------ metrics
    async def run_metrics(self, agent: str | None = None) -> None:
        """Follow every collector's metrics stream (narrowed to ``agent``) and poll its sketch."""
        self.agent = agent
        params = {PARAM_DELTA: "1", **({"agent": agent} if agent else {})}
        async with self._http() as http, asyncio.TaskGroup() as group:
            for link in self.links:
                link.frames = SnapshotAssembler()
                link.snapshot = link.sketch = link.seconds = None
                group.create_task(self._follow(http, link, PATH_DASHBOARD_STREAM, params, metrics=True))
                group.create_task(self._poll_sketch(http, link))

    def _on_metrics(self, link: CollectorLink, events: list[ServerSentEvent]) -> None:
        missed: MissedDelta | None = None
        for sse in events:
            try:
                if sse.event == SSE_METRICS_DELTA:
                    link.snapshot = link.frames.delta(sse.data, sse.id)
                elif sse.event in (SSE_METRICS, DEFAULT_EVENT):
                    link.snapshot = link.frames.whole(decode_snapshot(sse.data), sse.id)
                elif sse.event == SSE_ALERT:
                    alert = _alert_decoder.decode(sse.data)
                    if len(link.alert_ids) < MAX_PENDING:
                        link.alert_ids.add(alert.id)
                    if self.on_alert is not None:
                        self.on_alert(alert)
            except MissedDelta as exc:
                missed = missed or exc
            except (DecodeError, msgspec.DecodeError, msgspec.ValidationError):
                self.decode_errors += 1
        self._publish_soon()
        if missed is not None:
            raise missed  # the stream reconnects for a whole snapshot

    async def _poll_sketch(self, http: httpx.AsyncClient, link: CollectorLink) -> None:
        while True:
            if link.up:
                try:
                    answer = await fetch_sketch(
                        http,
                        link.name,
                        token=self.token,
                        timeout=max(self.sketch_every, 2.0),
                        agent=self.agent,
                        since=max(link.seconds) - 2 if link.seconds else 0,  # the last two may have grown
                    )
                except CollectorUnreachable:
                    answer = None
                link.sketch = answer.fleet if answer is not None else None
                _keep_seconds(link, answer)
                self._publish_soon()
            link.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(link.wake.wait(), self.sketch_every)

    # ------------------------------------------------------------ logs
    async def run_logs(self) -> None:
        """Follow every collector's log stream, each resumed on its own ids; release entries by time."""
        async with self._http() as http, asyncio.TaskGroup() as group:
            for link in self.links:
                group.create_task(self._follow(http, link, PATH_LOGS_STREAM, {}, metrics=False))
            group.create_task(self._release_loop())

    def _on_logs(self, link: CollectorLink, events: list[ServerSentEvent]) -> None:
        payloads: list[str] = []
        for sse in events:
            if sse.event in (SSE_LOG, DEFAULT_EVENT):
                payloads.append(sse.data)
            elif self.on_notice is not None:
                self.on_notice(link.name, sse)
        if payloads:
            entries, unreadable = decode_log_entries(payloads)
            self.decode_errors += unreadable
            link.pending.extend(entries)
            if sum(len(one.pending) for one in self.links) > MAX_PENDING:
                self.release()

    def release(self) -> None:
        """Hand every held entry to ``on_entries``, the collectors' merged by timestamp."""
        runs = [link.pending for link in self.links if link.pending]
        if not runs:
            return
        for link in self.links:
            link.pending = []
        merged = runs[0] if len(runs) == 1 else list(heapq.merge(*runs, key=_timestamp))
        self.on_entries(merged)

    async def _release_loop(self) -> None:
        while True:
            await asyncio.sleep(self.hold)
            self.release()

    # ------------------------------------------------------------ both
    @contextlib.asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.client is not None:
            yield self.client
            return
        async with httpx.AsyncClient() as http:
            yield http

    async def _follow(
        self,
        http: httpx.AsyncClient,
        link: CollectorLink,
        path: str,
        params: dict[str, str],
        *,
        metrics: bool,
    ) -> None:
        def on_state(state: ConnectionState) -> None:
            if metrics:
                was_up = link.up
                link.metrics = state
                if state.phase == "live":
                    link.wake.set()
                if link.up != was_up or state.phase != "live":
                    self._publish_soon()
            else:
                link.logs = state
                self._publish_soon()

        def on_events(events: list[ServerSentEvent]) -> None:
            if metrics:
                was_up = link.up
                self._on_metrics(link, events)
                if link.up and not was_up:
                    link.wake.set()
            else:
                self._on_logs(link, events)

        await follow(
            link.name,
            path,
            params=params,
            token=self.token,
            on_events=on_events,
            on_state=on_state,
            backoff=self.backoff() if self.backoff is not None else None,
            clock=self.clock,
            client=http,
        )

    def _publish_soon(self) -> None:
        if not self._publish_scheduled:
            self._publish_scheduled = True
            asyncio.get_running_loop().call_soon(self._publish)

    def _publish(self) -> None:
        self._publish_scheduled = False
        self.on_view(self.view())

    # ------------------------------------------------------------ routing a question to its collector
    def home_of(self, agent: str | None) -> str | None:
        """The collector that holds ``agent``'s rows (its log, traces, analyses), None when not known."""
        return self.homes.get(agent) if agent is not None else None

    def holders_of_alert(self, alert_id: str) -> list[str]:
        """The collectors that raised alert ``alert_id`` (a fleet-scoped rule may fire on several)."""
        return [
            link.name
            for link in self.links
            if alert_id in link.alert_ids
            or (link.snapshot is not None and any(a.id == alert_id for a in link.snapshot.alerts))
        ]

    def live_names(self) -> list[str]:
        """The collectors whose metrics stream is live (all of them when none is)."""
        return [link.name for link in self.links if link.up] or [link.name for link in self.links]

    def view(self) -> FleetView:
        """The fleet as it stands: the merge of the collectors that are up."""
        parts = [
            Part(link.name, link.snapshot, link.sketch, link.seconds)
            for link in self.links
            if link.up and link.snapshot
        ]
        merged = merge_snapshots(parts)
        if len(self.homes) + len(merged.collector_of) > MAX_HOMES:
            self.homes.clear()
        self.homes.update(merged.collector_of)
        if not parts:
            merged.snapshot.agent = self.agent
        for link in self.links:  # a collector down: its alerts fire still, as far as anyone knows
            if not link.up and link.snapshot is not None:
                merged.snapshot.alerts.extend(link.snapshot.alerts)
        return FleetView(
            merged.snapshot,
            merged.collector_of,
            merged.p99_bound,
            [
                (link.name, "live" if link.up else link.phase, link.metrics.error if link.metrics else None)
                for link in self.links
            ],
        )


def _keep_seconds(link: CollectorLink, answer: SketchResponse | None) -> None:
    """Add an answer's per-second sketches to the link's (the oldest beyond :data:`MAX_SECONDS` let go)."""
    if answer is None or not answer.seconds_end:
        link.seconds = None
        return
    seconds = link.seconds if link.seconds is not None else {}
    first = answer.seconds_end - len(answer.seconds) + 1
    for offset, sketch in enumerate(answer.seconds):
        seconds[first + offset] = sketch
    oldest = answer.seconds_end - MAX_SECONDS
    for second in [s for s in seconds if s <= oldest]:
        del seconds[second]
    link.seconds = seconds


def _timestamp(entry: LogEntry) -> float:
    return entry.timestamp
