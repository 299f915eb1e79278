"""The collector without HTTP: ingest → window / log hub / totals / store, and the metrics tick.

:class:`Collector` wires the pieces that each do one thing (``ingest`` decodes, ``window``
aggregates, ``loghub`` and ``metricshub`` fan out, ``store`` persists, ``totals`` counts for ``/metrics``).
``app`` maps HTTP routes onto it; tests can drive it directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
import platformdirs
from msgspec.structs import replace

from agentwatch import __version__
from agentwatch.collector.alertacks import META_KEY as ACKS_KEY
from agentwatch.collector.alertacks import AlertAcks
from agentwatch.collector.alerts import AlertEngine
from agentwatch.collector.budgets import Budgets, BudgetWatch
from agentwatch.collector.config import AlertSettings
from agentwatch.collector.hooks import read_hook
from agentwatch.collector.ledger import Ledger
from agentwatch.collector.logbatches import Redo
from agentwatch.collector.loghub import LogHub
from agentwatch.collector.metricingest import MetricIngest
from agentwatch.collector.metricsframes import FIRST_FRAME_MAX_AGE, MetricsFramer
from agentwatch.collector.metricshub import MetricsHub, MetricsSubscription
from agentwatch.collector.otlp import MetricPoint
from agentwatch.collector.receipts import Receipts
from agentwatch.collector.sessionboard import SessionBoard, session_line
from agentwatch.collector.sse import sse_frame
from agentwatch.collector.store import Receipt, Store, StoreError
from agentwatch.collector.totals import DEFAULT_EXPORTED_AGENTS, Totals
from agentwatch.collector.window import Window
from agentwatch.protocol import RULE_BUDGET, SSE_ALERT, Alert, Event, Health, Snapshot

log = logging.getLogger("agentwatch.collector")
#: Events the alert ledger folds in one step of the tick, between which the event loop runs.
FOLD_STEP: Final = 500


def default_store_path() -> Path:
    """``collector.db`` in the platform's data directory (e.g. ``~/.local/share/agentwatch``)."""
    return platformdirs.user_data_path("agentwatch") / "collector.db"


@dataclass
class Settings:
    """Everything the collector can be told. Units: seconds and bytes."""

    window_seconds: int = 60
    history_seconds: int = 120
    ticks_per_second: float = 4.0
    heartbeat_seconds: float = 15.0
    max_body: int = 4 * 1024 * 1024
    body_timeout: float = 30.0
    token: str | None = None
    store_path: Path | None = None
    sync: bool = False
    flush_interval: float = 0.5
    log_history: int = 50_000
    log_replay: int = 1000
    subscriber_max_lag: int = 10_000
    max_agents: int = 10_000
    #: Agents with their own label value at ``/metrics`` (the busiest); the rest summed as ``_other``.
    metrics_agents: int = DEFAULT_EXPORTED_AGENTS
    #: Idempotency keys remembered (count, seconds): a batch resent within both is not ingested again.
    idempotency_keys: int = 100_000
    idempotency_seconds: float = 900.0
    #: OTLP metrics: cumulative series whose last point is kept (least recently updated forgotten
    #: first), and seconds GenAI metric points wait so spans and logs of the same source win.
    metric_series: int = 10_000
    metric_hold_seconds: float = 10.0
    #: OTLP/gRPC listener (:mod:`agentwatch.collector.otlp_grpc`): None = off, 0 = any free port.
    otlp_grpc_port: int | None = None
    otlp_grpc_host: str = "127.0.0.1"
    clock: Callable[[], float] = field(default=time.time)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    #: Cost budgets (the config file's ``[budgets]``); none by default.
    budgets: Budgets = field(default_factory=Budgets)


class Collector:
    """One collector's state. Create, then ``await start()``; ``await stop()`` on the way out."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings = settings or Settings()
        self.clock = settings.clock
        self.started_at = self.clock()
        self.window = Window(
            settings.window_seconds,
            history_seconds=settings.history_seconds,
            max_agents=settings.max_agents,
            clock=settings.clock,
            origin=settings.clock(),
        )
        self.logs = LogHub(
            history=settings.log_history,
            max_lag=settings.subscriber_max_lag,
            replay=settings.log_replay,
            clock=settings.clock,
        )
        self.metrics = MetricsHub()
        self.otlp_items_ignored = 0
        self.sessions = SessionBoard(clock=settings.clock, on_tool=self.window.session_tool)
        self.totals = Totals(max_series=settings.max_agents)
        self.window.totals = self.totals  # counted in the window's pass over each batch
        #: Everything that aggregates accepted events, in order; each takes a whole batch.
        self.aggregators: list[Callable[[Sequence[Event]], None]] = [self.window.add_many]
        self.ledger = Ledger(settings.alerts, window_seconds=settings.window_seconds, clock=settings.clock)
        self.alerts = AlertEngine(self.ledger, settings.alerts, settings.clock, steps=self.window.steps)
        self.aggregators.append(self.ledger.add_many)
        #: Who acknowledged or snoozed which alert (kept in the store's ``meta``).
        self.acks = AlertAcks(clock=settings.clock)
        self._acks_saving = asyncio.Lock()
        self.metric_points = MetricIngest(
            max_series=settings.metric_series,
            max_sources=settings.max_agents,
            max_agents=settings.max_agents,
            hold_seconds=settings.metric_hold_seconds,
            clock=settings.clock,
        )
        self.aggregators.append(self.metric_points.note_events)
        self.budgets = BudgetWatch(settings.budgets, max_agents=settings.max_agents, clock=settings.clock)
        self.aggregators.append(self.budgets.add_many)
        self.receipts = Receipts(
            max_keys=settings.idempotency_keys, seconds=settings.idempotency_seconds, clock=settings.clock
        )
        self.store: Store | None = None
        self.store_status = "disabled"
        #: Why the configured store could not be opened (None: opened, or none configured).
        self.store_problem: str | None = None
        self.warnings: list[str] = []
        self._tick_task: asyncio.Task[None] | None = None
        self.framer = MetricsFramer(settings.clock)

    # ------------------------------------------------------------------ lifecycle
    def open_store(self) -> None:
        """Open the store and refill the window and log history from it.

        A store that cannot be opened never stops the collector: it runs in memory and says
        so once in ``warnings`` and in ``/healthz``. With ``sync`` set, every durable ingest is
        then refused (:meth:`ingest_durable` raises :class:`StoreError`): a 202 would claim a
        commit that never happens.
        """
        path = self.settings.store_path
        if path is None:
            return
        store = Store(
            path,
            flush_interval=self.settings.flush_interval,
            clock=self.clock,
            receipt_seconds=self.settings.idempotency_seconds,
            max_receipts=self.settings.idempotency_keys,
        )
        try:
            restored = store.open()
        except StoreError as exc:
            self.store_problem = str(exc)
            if self.settings.sync:
                self.store_status = f"error: {exc} (--sync: ingest is refused with 503)"
                self.warnings.append(
                    f"store unavailable, running in memory only: {exc}; with --sync every ingest "
                    "batch is refused (503) until the collector is restarted with a usable store"
                )
            else:
                self.store_status = f"error: {exc} (running in memory only)"
                self.warnings.append(f"store unavailable, running in memory only: {exc}")
            return
        self.store = store
        self.logs.backfill = store.backfill
        self.warnings.extend(restored.warnings)
        self.logs.preload_events(
            restored.logs,
            last_id=restored.last_log_id,
            sequence=restored.sequence,
            exact_after=restored.exact_after,
        )
        self.logs.reserve = store.reserve_ids  # ids are reserved before use: none reused after a crash
        self.receipts.load(restored.receipts)
        try:
            problem = self.acks.load(store.get_meta(ACKS_KEY))
        except StoreError as exc:
            problem = f"acknowledged and snoozed alerts not read: {exc}"
        if problem is not None:
            self.warnings.append(problem)
        if restored.events:
            # Refilled seconds count as watched, so rates after a restart are not underestimated.
            oldest = min(event.timestamp for event in restored.events if isinstance(event.timestamp, float))
            self.window.origin = min(self.window.origin, oldest)
        self._aggregate(restored.events)

    async def start(self) -> None:
        await asyncio.to_thread(self.open_store)
        self._tick_task = asyncio.create_task(self._tick_loop(), name="agentwatch-metrics-tick")

    async def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            try:
                await self._tick_task
            except asyncio.CancelledError:
                pass
            self._tick_task = None
        if self.store is not None:
            await asyncio.to_thread(self.store.close)

    # --------------------------------------------------------------------- ingest
    def _aggregate(self, events: Sequence[Event]) -> None:
        for aggregate in self.aggregators:
            aggregate(events)

    def apply_hook(
        self, program: str, payload: dict[str, Any], sent_with: dict[str, Any] | None = None
    ) -> bool:
        """One coding-agent hook (see :mod:`agentwatch.collector.hooks`); True when a session's state
        changed, which is also a line of its agent's log (``session needs you: permission to use Bash``)."""
        session = self.sessions.apply(program, read_hook(program, payload, sent_with))
        if session is None:
            return False
        self.ingest([session_line(session)])
        return True

    def ignore_otlp_items(self, count: int) -> None:
        """Count OTLP items accepted but shown nowhere (see ``Health.otlp_items_ignored``)."""
        self.otlp_items_ignored += count

    def ingest(
        self, events: Sequence[Event], receipt: Receipt | None = None, redo: Redo | None = None
    ) -> None:
        """Aggregate, log, persist. O(len(events)); never awaits, never blocks on a viewer.

        ``receipt`` (an idempotency key's answer) is persisted in the same transaction as the
        events; remembering it in :attr:`receipts` is the caller's part. ``redo``: how to make
        these events again (see :meth:`LogHub.publish_events
        <agentwatch.collector.loghub.LogHub.publish_events>`).
        """
        if events:
            self._aggregate(events)
            first_id = self.logs.publish_events(events, redo)
        else:
            first_id = self.logs.last_id + 1
        if self.store is not None and (events or receipt is not None):
            self.store.append(events, first_id, receipt)

    def open_steps(self, starts: Sequence[Event]) -> None:
        """Span starts (:func:`~agentwatch.collector.ingest.split_starts`): each opens an in-flight
        step of its agent, closed by the span's end; not events, so nothing else sees them."""
        self.window.open_steps(starts)

    def ingest_metrics(self, points: Sequence[MetricPoint], rejected: int = 0) -> None:
        """Count an OTLP metrics request's data points (and the ``rejected`` ones); the GenAI
        metrics' deltas reach the window once held (:mod:`agentwatch.collector.metricingest`)."""
        self.metric_points.accept(points, rejected)
        self.release_metric_events()

    def release_metric_events(self) -> None:
        """Ingest the events made from metric points whose hold is over (per request and tick)."""
        events = self.metric_points.release()
        if events:
            self.ingest(events)

    async def ingest_durable(
        self, events: Sequence[Event], receipt: Receipt | None = None, *, step: int = 10_000
    ) -> None:
        """Commit the events (and ``receipt``) to the store, then aggregate and show them.

        Raises :class:`StoreError` when the commit fails: nothing of the batch is then counted,
        shown or stored later, and its ids are never handed out again. Ids are taken at once, so
        entries appear in the log stream in arrival order whatever order commits finish in.
        Aggregation goes ``step`` events at a time, yielding to the event loop in between.
        The commit and what follows it are shielded: a cancelled caller does not leave a
        committed batch unshown. Without a store (``--no-store``), the same as :meth:`ingest`;
        with a store configured that could not be opened, :class:`StoreError` naming it.
        """
        if self.store is None:
            if self.store_problem is not None:
                raise StoreError(f"store unavailable: {self.store_problem}")
            self.ingest(events, receipt)
            return
        if not events:
            if receipt is not None:
                await self.store.append_durable(events, self.logs.last_id + 1, receipt)
            return
        await asyncio.shield(self._commit_then_show(self.store, events, receipt, max(step, 1)))

    async def _commit_then_show(
        self, store: Store, events: Sequence[Event], receipt: Receipt | None, step: int
    ) -> None:
        first_id = self.logs.allocate(len(events))
        try:
            await store.append_durable(events, first_id, receipt)
        except BaseException:
            self.logs.cancel(first_id, len(events))
            raise
        self.logs.publish_allocated(first_id, events)
        for start in range(0, len(events), step):
            if start:
                await asyncio.sleep(0)
            self._aggregate(events[start : start + step] if len(events) > step else events)

    # ------------------------------------------------------------------ snapshots
    def firing_alerts(self, agent: str | None = None) -> list[Alert]:
        """What fires now: the alert rules' and the budgets' (only this agent's, when given)."""
        firing = self.alerts.firing(agent)
        if RULE_BUDGET not in self.settings.alerts.disabled:
            firing.extend(self.budgets.firing(agent))
        return self.acks.mark(firing)

    def find_firing(self, alert_id: str) -> Alert | None:
        """The firing alert of this id (the rules' or a budget's), as it is; None when none fires."""
        found = self.alerts.find(alert_id)
        if found is None and RULE_BUDGET not in self.settings.alerts.disabled:
            found = next((alert for alert in self.budgets.firing() if alert.id == alert_id), None)
        return found

    def firing_ids(self) -> list[str]:
        """Ids of every alert firing now (no cap, unlike the snapshot's list)."""
        ids = self.alerts.firing_ids()
        ids.extend(alert.id for alert in self.budgets.firing())
        return ids

    async def save_acks(self) -> None:
        """Write the acknowledgements and snoozes to the store (no store: nothing). A failed write
        is logged and counted in the store's errors; what the viewers see stays as it is."""
        if self.store is None:
            self.acks.dirty = False
            return
        async with self._acks_saving:  # one write at a time, each of the newest state
            try:
                await asyncio.to_thread(self.store.put_meta, ACKS_KEY, self.acks.encode())
            except StoreError as exc:
                log.warning("acknowledged and snoozed alerts not stored: %s", exc)

    def snapshot(self, agent: str | None = None, *, offset: int = 0, limit: int | None = None) -> Snapshot:
        """The window's snapshot with the firing alerts; ``offset``/``limit`` page its agent rows."""
        snapshot = self.window.snapshot(agent, offset=offset, limit=limit)
        # Copies of what changes in place (alerts, sessions, work): a snapshot stays as it was
        # taken, so the next one can be compared with it and it can be encoded later.
        snapshot.alerts = [replace(alert) for alert in self.firing_alerts(agent)]
        if len(self.sessions):  # every snapshot: a viewer drilled into one agent still sees who needs it
            snapshot.sessions = [replace(session) for session in self.sessions.sessions()]
        work = self.metric_points.work
        if len(work):  # coding agents' work, from their metrics
            for row in snapshot.agents:
                done = work.get(row.agent_id)
                row.work = replace(done) if done is not None else None
        return snapshot

    def publish_metrics(self) -> int:
        """Send a metrics frame to each subscribed scope whose snapshot changed. Returns frames sent.

        "Changed" ignores the time alone, so an idle collector sends nothing. Each scope's frames
        are made once (whole and as a delta, :mod:`~agentwatch.collector.metricsframes`) and
        shared by its viewers.
        """
        sent = 0
        scopes = self.metrics.filters()
        self.framer.keep_only(scopes)
        for scope in scopes:
            frames = self.framer.next(scope, self.snapshot(scope))
            if frames is not None:
                self.metrics.publish(scope, frames)
                sent += 1
        return sent

    def subscribe_metrics(
        self, agent: str | None, *, delta: bool = False, gzip: bool = False
    ) -> MetricsSubscription:
        """A new viewer of the metrics stream; its first frame (the scope's newest) is due at once,
        so its first paint has data."""
        first = self.framer.current(agent)
        if (
            first is None
            or first.snapshot is None
            or self.clock() - first.snapshot.timestamp > FIRST_FRAME_MAX_AGE
        ):
            first = self.framer.next(agent, self.snapshot(agent), force=True)
            assert first is not None
            self.metrics.publish(agent, first)  # the scope's newest frame, for its viewers too
        return self.metrics.subscribe(agent, first=first, delta=delta, gzip=gzip)

    def evaluate_alerts(self) -> list[Alert]:
        """Fold new events into the alert ledger, evaluate when due, check the budgets, send each
        state change once (a budget's goes into the alerts' history too)."""
        changes = self.alerts.tick()
        spent = self.budgets.check()
        if spent and RULE_BUDGET not in self.settings.alerts.disabled:
            self.alerts.history.extend(replace(alert) for alert in spent)
            changes.extend(spent)
        self.acks.observe(changes, self.firing_ids)
        for alert in self.acks.mark(changes):
            self.metrics.publish_event(sse_frame(SSE_ALERT, msgspec.json.encode(alert)))
        return changes

    def fold_step(self) -> bool:
        """One step of the tick's fold of the alert ledger: :data:`FOLD_STEP` events of its round.

        False, folding nothing, once what is left of the round fits in one step: the tick's own
        fold (:meth:`tick`) takes it, and starts no round of its own. So a tick analyses one
        round, at most ``fold_limit`` events; what arrives during its steps waits for the next.
        """
        if self.ledger.round_left <= FOLD_STEP:
            return False
        self.ledger.fold(limit=FOLD_STEP)
        return True

    async def fold_in_steps(self) -> None:
        """The tick's fold up to its last step (:meth:`fold_step`), letting requests and streams
        run between steps: a large batch never holds the loop for a whole fold."""
        for _ in range(self.ledger.settings.fold_limit // FOLD_STEP + 1):
            if not self.fold_step():
                return
            await asyncio.sleep(0)

    def tick(self) -> int:
        """One metrics tick: held metric events in, alerts evaluated, frames published (returned)."""
        self.release_metric_events()
        self.evaluate_alerts()
        return self.publish_metrics()

    async def _tick_loop(self) -> None:
        interval = 1.0 / self.settings.ticks_per_second
        while True:
            await asyncio.sleep(interval)
            try:
                await self.fold_in_steps()
                self.tick()
                self.ledger.plan(self.settings.clock() + interval, interval)
                if self.acks.dirty:
                    await self.save_acks()
            except Exception:  # a bug here must not stop every future tick
                log.exception("metrics tick failed")

    # --------------------------------------------------------------------- health
    def health(self) -> Health:
        store = self.store.status if self.store is not None else self.store_status
        points = self.metric_points
        return Health(
            status="ok",
            version=__version__,
            uptime_seconds=round(self.clock() - self.started_at, 3),
            events_total=self.window.events_total,
            log_entries_total=self.logs.published_total,
            last_log_id=self.logs.last_id,
            agents=self.window.agent_count(),  # not a sorted copy of every id per probe
            subscribers=self.logs.subscriber_count + self.metrics.subscriber_count,
            store=store,
            store_written_rows=self.store.written_rows if self.store is not None else 0,
            store_queued_rows=self.store.queued_rows if self.store is not None else 0,
            store_dropped_rows=self.store.dropped_rows if self.store is not None else 0,
            metric_requests_total=points.counts.requests,
            metric_points_total=sum(points.counts.points.values()),
            metric_points_rejected=points.counts.rejected,
            metric_points_superseded=points.counts.superseded,
            metric_series=points.deltas.series,
            metric_series_evicted=points.deltas.evicted,
            values_refused=self.totals.values_refused + self.window.bad_values,
            otlp_items_ignored=self.otlp_items_ignored,
            sessions=len(self.sessions),
            sessions_evicted=self.sessions.evicted,
            metrics_resyncs=self.metrics.resyncs_total,
            steps_in_flight=self.window.steps_in_flight(),
            steps_dropped=self.window.steps_dropped,
        )
