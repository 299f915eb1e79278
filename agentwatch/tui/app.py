"""The agentwatch viewer: a Textual app over a :class:`~agentwatch.tui.state.ViewState`.

Two workers follow the collector's SSE streams (metrics and logs) and only update the
state. One timer at ``fps`` moves what changed to the widgets: the header, the metric
panels, the agents table (cell by cell) and the log (one batched write per frame). With
nothing dirty, a frame touches no widget, so an idle viewer costs next to no CPU.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Callable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import urlsplit

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable

from agentwatch.client.alertactions import default_viewer_name
from agentwatch.client.prefetch import prefetch_snapshot
from agentwatch.protocol import (
    PARAM_DELTA,
    PATH_DASHBOARD_STREAM,
    PATH_LOGS_STREAM,
    Alert,
)
from agentwatch.tui import feed, leanstrip
from agentwatch.tui import formatting as fmt
from agentwatch.tui.alerts import (
    TOAST_SEVERITY,
    AlertActing,
    AlertHistoryScreen,
    AlertsPanel,
    loud,
    toast_text,
)
from agentwatch.tui.analysis import AnalysisScreen, attribute_keys
from agentwatch.tui.browsing import LogBrowsing
from agentwatch.tui.feed import SSEMessage
from agentwatch.tui.gcpacing import GcPacing
from agentwatch.tui.keys import MAIN_BINDINGS
from agentwatch.tui.logview import LogView
from agentwatch.tui.notify import CommandRunner, Notifier, run_command
from agentwatch.tui.pacing import hurry_paint, paint_due_in
from agentwatch.tui.screens import (
    ActionsProvider,
    AgentPicker,
    HelpScreen,
    KeyFooter,
    MainScreen,
    PickResult,
    SearchScreen,
)
from agentwatch.tui.scrubbing import Scrubbing
from agentwatch.tui.selfcostbar import SelfCostBar, SelfCostHook
from agentwatch.tui.sessions import SessionsPane
from agentwatch.tui.state import (
    DIRTY_AGENTS,
    DIRTY_ALERTS,
    DIRTY_LOGS_REFILTERED,
    DIRTY_METRICS,
    STREAM_LOGS,
    STREAM_METRICS,
    StreamName,
    ViewState,
)
from agentwatch.tui.textual_internals import write_to_terminal
from agentwatch.tui.widgets import AgentTable, HeaderBar, MetricsBar, is_stale

if TYPE_CHECKING:
    import httpx

    from agentwatch.tui.fleetview import FleetFeed

#: Actions of the main screen's keys, which do nothing while another screen is on top.
_MAIN_SCREEN_ONLY: Final = frozenset(
    {"live", "leave_drill_down", "down", "up", "top", "bottom", "open_line", "next_match", "jump_to_session"}
    | {"scrub", "spike"}
)
#: The events whose effect is drawn at once rather than at the next frame.
_INPUT_EVENTS: Final = (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)
#: The name the help screen is installed under.
_HELP_SCREEN: Final = "help"
#: Least seconds between two agents-table updates made by the frame timer.
TABLE_INTERVAL = 1.0
#: How long the first paint waits for the snapshot fetched during start-up (seconds). A local
#: collector has answered long before; a slow one just means the stream fills the screen.
PREFETCH_WAIT = 0.1


def _raise(error: Exception) -> None:
    raise error


def _build_client(url: str) -> httpx.AsyncClient:
    """Import the stream client and build the shared HTTP client.

    A plain ``http://`` collector needs no certificate store: loading one is most of the
    cost of building a client (redirects, which could lead to TLS, are not followed).
    """
    feed.stream_client()
    import httpx

    return httpx.AsyncClient(verify=urlsplit(url).scheme != "http")


class AgentWatchApp(Scrubbing, LogBrowsing, AlertActing):
    """Watch one collector. ``connect=False`` builds the screen without network (tests, screenshots)."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "agentwatch"
    COMMANDS: ClassVar = App.COMMANDS | {ActionsProvider}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012 - Textual reads it per class

    BINDINGS: ClassVar[list[BindingType]] = MAIN_BINDINGS

    #: The clock second the alerts panel last showed (ages move once a second).
    _alerts_second: int = -1
    #: When the last key or mouse press came (``time.monotonic``): what it does is painted at once.
    last_input_at: float = -math.inf

    def __init__(
        self,
        *,
        url: str,
        token: str | None = None,
        fps: int = 10,
        max_lines: int = 10_000,
        agent: str | None = None,
        level: str | None = None,
        bell: bool = True,
        timestamps: bool = True,
        wrap: bool = False,
        banner: str | None = None,
        clock: Callable[[], float] = time.time,
        tz: tzinfo | None = None,
        connect: bool = True,
        notify: Sequence[str] = (),
        notify_command: Sequence[str] | None = None,
        runner: CommandRunner = run_command,
        urls: Sequence[str] = (),
        terminal: Callable[[str], None] | None = None,
        viewer_name: str | None = None,
    ) -> None:
        leanstrip.install()  # strips make their caches on first use: fewer objects for the GC to walk
        super().__init__()
        self.viewer_name = viewer_name or default_viewer_name()  # who acknowledges and snoozes
        self.state = ViewState(
            max_lines=max_lines, clock=clock, agent=agent, min_level=level or "debug", url=url, banner=banner
        )
        self.url = url
        self.token = token
        self.fps = max(1, min(30, fps))
        self.bell_enabled = bell
        self.timestamps = timestamps
        self.tz = tz
        self.connect = connect
        self.frames = 0
        self._http: httpx.AsyncClient | None = None
        self._first_data_drawn = False
        self.frame_interval = 1 / self.fps
        self.table_interval = TABLE_INTERVAL
        self._table_updated_at = -math.inf
        self._last_frame_at = -math.inf
        #: The frame timer's pending tick (None while a tick runs), when it is due (monotonic), and
        #: how long it was set to wait.
        self._frame_timer: asyncio.TimerHandle | None = None
        self._frame_due = math.inf
        self._frame_wait = 0.0
        #: The agents table changed but was held back by ``table_interval``: a later frame draws it.
        self._table_pending = False
        self.state.wake = self._wake_frames
        #: Full garbage collections run by the frame tick, in a terminal (:mod:`~agentwatch.tui.gcpacing`).
        self.gc_pacing = GcPacing()
        self._initial_wrap = wrap
        self._last_second = -1
        self._failing: set[str] = set()
        self._sessions_second = -1
        # ``terminal`` stands in for the terminal (tests); else escape sequences go to the driver.
        self.notifier = Notifier(
            notify,
            notify_command,
            write=terminal or self._write_to_terminal,
            bell=None if terminal else self.bell,
            bell_enabled=bell,
            runner=runner,
            report=lambda problem: self.notify(problem, severity="warning", timeout=5, markup=False),
        )
        # Ask for the fleet snapshot now, while Textual starts: the first paint can show data.
        #: Several collectors (``urls``): one fleet of them (:mod:`~agentwatch.tui.fleetview`); None for one.
        self.fleet_feed: FleetFeed | None = None
        if connect and len(urls) > 1:
            from agentwatch.tui.fleetview import FleetFeed

            self.fleet_feed = FleetFeed(self.state, urls, token=token)
        self._prefetch = prefetch_snapshot(url, token) if connect and self.fleet_feed is None else None

    # ------------------------------------------------------------------ layout
    def get_default_screen(self) -> MainScreen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield MetricsBar(id="metrics")
        yield AlertsPanel(id="alerts")
        yield SessionsPane(id="sessions")
        yield AgentTable(id="agents")
        yield LogView(max_lines=self.state.max_lines, id="log")
        yield SelfCostBar(id="selfcost")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        # Widgets live on the main screen; keep references so frames still land while a
        # modal screen (help, picker, search) is on top.
        self.header_bar = self.query_one(HeaderBar)
        self.metrics_bar = self.query_one(MetricsBar)
        self.alerts_panel = self.query_one(AlertsPanel)
        self.agent_table = self.query_one(AgentTable)
        self.sessions_pane = self.query_one(SessionsPane)
        self.log_pane = log = self.query_one(LogView)
        log.set_columns(self.timestamps)
        log.log_highlighter.spans = self.state.search_spans
        log.set_wrap(self._initial_wrap)
        self.watch(log, "scroll_y", self._log_scrolled, init=False)
        self.self_cost = SelfCostHook(
            self,
            self.query_one(SelfCostBar),
            lines_dropped=lambda: self.state.lines_missed,
            url=self.url,
            clock=self.state.clock,
        )
        if self.fleet_feed is not None:  # its p99 sparkline may be an upper bound: the title says so
            latency = self.metrics_bar.query_one("#m-latency")
            latency.border_title = self.fleet_feed.latency_title
            self.fleet_feed.on_latency_title = lambda title: setattr(latency, "border_title", title)
        if self._prefetch is not None:
            snapshot = self._prefetch.result(timeout=PREFETCH_WAIT)
            if snapshot is not None and self.state.fleet is None:
                self.state.apply_snapshot(snapshot)
            self._prefetch = None
        self.frame()
        self._schedule_frame(self.frame_interval)
        if not self.is_headless:
            self.gc_pacing.start()
        if self.connect:
            # Right after the first paint: importing httpx and the stream client would delay it.
            # (Done in a thread meanwhile, it only competes for the GIL: the import takes longer
            # and the first data comes no sooner.)
            self.call_after_refresh(self._connect)

    def _connect(self) -> None:
        self.follow_metrics()
        self.follow_logs()

    async def on_unmount(self) -> None:
        if self._frame_timer is not None:
            self._frame_timer.cancel()
            self._frame_timer = None
        self.gc_pacing.stop()
        if hasattr(self, "self_cost"):  # not when the mount itself failed
            self.self_cost.close()
        if self._http is not None:
            await self._http.aclose()

    # ------------------------------------------------------------------ frames
    async def on_event(self, event: events.Event) -> None:
        """Input is not paced: what a key or click does is painted at once (:mod:`~agentwatch.tui.pacing`)."""
        if isinstance(event, _INPUT_EVENTS):
            self.last_input_at = time.monotonic()
            hurry_paint(self.screen)
            self._wake_frames()
        await super().on_event(event)

    def _frame_tick(self) -> None:
        """Run a frame, then schedule the next one no sooner than 1/fps after this one began.

        A chain of one-shot timers rather than a fixed-rate interval: a late tick of an
        interval timer is followed by an on-time one a few milliseconds later, which would
        draw more than ``fps`` frames in some second. A frame a key press just drew counts
        too, so the timer waits out the rest of its interval. A frame also waits until the
        screen may be written again (:mod:`~agentwatch.tui.pacing`), so what it moves is
        painted at once rather than up to an interval later. The chain stops once the app
        shuts down (its screens and widgets are being removed).

        Once a frame leaves nothing to move (an idle fleet, or between two updates of a quiet
        one), the next one waits for the clock's next second (the ages shown move once a second),
        or until the agents table held back by ``table_interval`` is due if that is sooner; the
        first change after that wakes the timer (:meth:`_wake_frames`), so a change costs the
        frame that draws it and no frame that finds nothing. The tick also takes the
        viewer's once-a-second self-cost sample, so an idle viewer wakes once a second, not twice,
        and the full garbage collections (:mod:`~agentwatch.tui.gcpacing`), so none comes in the
        middle of drawing a key's effect.

        The timer is an event-loop callback (:meth:`_frame_timer_fired`), not a Textual timer: a
        Textual timer costs a task, an event and two callback messages each time it is set.
        """
        self._frame_timer = None
        if not self.is_running:
            return
        wait = max(self._last_frame_at + self.frame_interval - time.monotonic(), paint_due_in(self.screen))
        if wait <= 0.001:
            self.frame(timed=True)
            self.self_cost.tick_if_due()
            self.gc_pacing.collect_if_due(self.last_input_at)
            wait = self.frame_interval
            if not self.state.dirty:
                wait = max(wait, self._quiet_wait())
        self._schedule_frame(wait)  # (else: the frame that is due, once the screen may be written)

    def _quiet_wait(self) -> float:
        """Seconds the next frame may wait while there is nothing to move: until the clock's next
        second, or until the agents table held back by ``table_interval`` is due if that is sooner."""
        now = self.state.clock()
        wait = math.floor(now) + 1.001 - now
        if self._table_pending:
            # (A hair past it: a timer that fires a little early would find it still held back.)
            wait = min(wait, self._table_updated_at + self.table_interval + 0.002 - time.monotonic())
        return wait

    def _schedule_frame(self, wait: float) -> None:
        wait = max(wait, 0.001)
        self._frame_wait = wait
        self._frame_due = time.monotonic() + wait
        self._frame_timer = asyncio.get_running_loop().call_later(wait, self._frame_timer_fired)

    def _frame_timer_fired(self) -> None:
        """Run the frame tick; an error in it is raised in the app's message loop, as Textual reports
        an error in any callback (the event loop would only log it)."""
        try:
            self._frame_tick()
        except Exception as error:
            self.call_next(_raise, error)

    def _wake_frames(self) -> None:
        """Something changed (data, a key): frames come at ``fps`` again, the next within an interval."""
        timer = self._frame_timer
        if timer is not None and self.is_running:
            soonest = max(self._last_frame_at + self.frame_interval, time.monotonic())
            if self._frame_due > soonest + 0.001:
                timer.cancel()
                self._schedule_frame(soonest - time.monotonic())

    def frame(self, *, timed: bool = False) -> None:
        """Move what changed in the state to the widgets (called ``fps`` times a second).

        ``timed`` frames (the frame timer's) update the agents table at most once every
        :attr:`table_interval` seconds: redrawing every row is the dearest thing a frame
        does, and snapshots arrive less often than frames. A frame run for a key press
        updates it at once.
        """
        started = self._last_frame_at = time.monotonic()
        state = self.state
        dirty = state.take_dirty()
        now = state.clock()
        second = int(now)
        self.header_bar.show_state(state)
        stale = is_stale(state)
        self.metrics_bar.set_class(stale, "-stale")
        self.agent_table.set_class(stale, "-stale")
        if DIRTY_ALERTS in dirty or second != self._alerts_second:
            self._alerts_second = second
            self.alerts_panel.update_from(list(state.alerts.firing.values()), now)
            self._announce(state.alerts.take_started())
        if DIRTY_AGENTS in dirty or second != self._sessions_second:
            self._sessions_second = second
            self._show_sessions(now)
        if DIRTY_METRICS in dirty and not self.show_scrubbed_metrics():
            self.metrics_bar.update_from(state.shown_snapshot, state.received.sent(state.shown_snapshot))
        agents_changed = DIRTY_AGENTS in dirty or self._table_pending
        if agents_changed or second != self._last_second:
            if timed and started - self._table_updated_at < self.table_interval:
                self._table_pending = agents_changed  # not now: in a later frame
            else:
                self._table_pending = False
                if timed:
                    self._table_updated_at = started
                self._last_second = second
                if self.fleet_feed is not None:
                    self.agent_table.show_collectors(self.fleet_feed.collector_of)
                if state.scrub.at is None:
                    self.agent_table.show(state.agent_order(), state.agent_view, now)
                else:
                    self.agent_table.update_from(self.scrub_order(state.agent_views()), now)
                if agents_changed:
                    self._ring_on_new_failures(state.failing_agents())
        if DIRTY_LOGS_REFILTERED in dirty:
            self.rewrite_log()
        elif not state.paused:
            pending = state.take_pending_lines()
            if pending:
                self.append_log(pending)
                self.self_cost.meter.lines_queued(pending[-1].timestamp)
        self.frames += 1

    def _ring_on_new_failures(self, failing: set[str]) -> None:
        if failing - self._failing:
            self.notifier.ring()
        self._failing = failing

    def _write_to_terminal(self, data: str) -> None:
        write_to_terminal(self, data)

    def _show_sessions(self, now: float) -> None:
        """The fleet snapshot's coding-agent sessions to their pane, and to the notifier."""
        fleet = self.state.fleet
        if fleet is None:
            return
        self.sessions_pane.update_from(fleet.sessions, fleet.agents, now)
        self.notifier.sessions_seen(fleet.sessions)

    # ------------------------------------------------------------------ workers
    @work(exclusive=True, group="metrics", exit_on_error=False)
    async def follow_metrics(self) -> None:
        """Follow the metrics stream (narrowed to the drilled agent, if any) into the state."""
        if self.fleet_feed is not None:
            await self.fleet_feed.follower.run_metrics(self.state.drilled_agent)
            return
        params = {PARAM_DELTA: "1"}  # deltas after the first snapshot; a collector without them ignores it
        if self.state.drilled_agent:
            params["agent"] = self.state.drilled_agent
        await self._follow(STREAM_METRICS, PATH_DASHBOARD_STREAM, params)

    @work(exclusive=True, group="logs", exit_on_error=False)
    async def follow_logs(self) -> None:
        """Follow the whole log stream; filters apply locally to what was received."""
        if self.fleet_feed is not None:
            await self.fleet_feed.follower.run_logs()
            return
        await self._follow(STREAM_LOGS, PATH_LOGS_STREAM, {})

    def _client(self) -> httpx.AsyncClient:
        """The HTTP client both streams share (built by the first stream to connect)."""
        if self._http is None:
            self._http = _build_client(self.url)
        return self._http

    async def _follow(self, stream: StreamName, path: str, params: dict[str, str]) -> None:
        client = self._client()
        from agentwatch.client.stream import follow

        def on_state(connection: Any) -> None:
            self.state.set_connection(stream, connection)

        on_events = self.on_metrics_events if stream == STREAM_METRICS else self.on_log_events
        result = follow(
            self.url,
            path,
            client=client,
            params=params,
            token=self.token,
            on_events=on_events,
            on_state=on_state,
            clock=self.state.clock,
        )
        if inspect.isawaitable(result):
            await result

    def _show_first_data(self) -> None:
        """Draw the first data at once rather than at the next frame tick (start-up latency)."""
        if not self._first_data_drawn:
            self._first_data_drawn = True
            self.frame()

    def on_metrics_events(self, events: Sequence[SSEMessage]) -> None:
        """One network read's metrics-stream messages into the state (:mod:`~agentwatch.tui.feed`)."""
        feed.apply_metrics_events(self.state, events)
        self._show_first_data()

    def on_metrics_event(self, sse: SSEMessage) -> None:
        """One metrics-stream message (snapshot or alert) into the state."""
        feed.apply_metrics_event(self.state, sse.event, sse.data, getattr(sse, "id", ""))

    def on_log_event(self, sse: SSEMessage) -> None:
        """One log-stream message (entry, gap or dropped notice) into the state."""
        self.on_log_events((sse,))

    def on_log_events(self, events: Sequence[SSEMessage]) -> None:
        """One network read's log-stream messages into the state (:mod:`~agentwatch.tui.feed`)."""
        feed.apply_log_events(self.state, events)
        self._show_first_data()

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Main-screen keys do nothing while a modal (help, picker, search) is open."""
        if action in {"analysis", "alert_history"} and len(self.screen_stack) > 1:
            return isinstance(self.screen, AnalysisScreen | AlertHistoryScreen)
        if action in _MAIN_SCREEN_ONLY and len(self.screen_stack) > 1:
            return False
        return True

    def action_help(self) -> None:
        """Open the help: built once and kept, so a second ``?`` shows it without building it again."""
        if not self.is_screen_installed(_HELP_SCREEN):
            self.install_screen(HelpScreen(self.BINDINGS), _HELP_SCREEN)
        self.push_screen(_HELP_SCREEN)

    def action_pick_agent(self) -> None:
        def picked(result: PickResult) -> None:
            if result is not None:
                self.state.set_agent_filter(result[0])
                self.frame()

        self.push_screen(AgentPicker(self.state.known_agents(), self.state.agent_filter), picked)

    def action_cycle_level(self) -> None:
        level = self.state.cycle_min_level()
        self.notify(f"minimum level: {level}", timeout=2)
        self.frame()

    def action_toggle_errors(self) -> None:
        self.state.set_errors_only(not self.state.errors_only)
        self.frame()

    def action_search(self) -> None:
        def searched(text: str | None) -> None:
            if text is None:
                return
            self.state.set_search(text)
            if self.state.search_error:
                self.notify(fmt.safe(self.state.search_error), severity="error", timeout=4)
            self.frame()

        self.push_screen(SearchScreen(self.state.search_text), searched)

    def action_clear_filters(self) -> None:
        self.state.clear_filters()
        self.frame()

    def action_toggle_pause(self) -> None:
        self.state.set_paused(not self.state.paused)
        self.frame()

    def action_live(self) -> None:
        self.leave_scrub()
        self.state.set_paused(False)
        self.log_pane.clear_mark()
        self.frame()
        self.log_pane.scroll_end(animate=False)

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self.log_pane.set_columns(self.timestamps)
        self.state.request_rewrite()
        self.frame()

    def action_toggle_self_cost(self) -> None:
        self.self_cost.toggle()

    def action_toggle_wrap(self) -> None:
        log = self.log_pane
        log.set_wrap(not log.wrap)
        self.notify(f"wrap {'on' if log.wrap else 'off'}", timeout=2)

    def action_cycle_sort(self) -> None:
        self.state.cycle_sort()
        self.frame()

    def action_reverse_sort(self) -> None:
        self.state.reverse_sort()
        self.frame()

    def action_leave_drill_down(self) -> None:
        if self.state.drilled_agent is not None:
            self.drill_into(None)

    def action_analysis(self, view: str) -> None:
        """Open an analysis screen (or switch the open one to ``view``), for the drilled agent if any."""
        screen = self.screen
        if isinstance(screen, AnalysisScreen):
            screen.set_view(view)
            return
        if isinstance(screen, AlertHistoryScreen):
            self.pop_screen()
        self.push_screen(
            AnalysisScreen(
                view,
                url=self.collector_url(self.state.drilled_agent),
                token=self.token,
                agent=self.state.drilled_agent,
                attribute_keys=lambda: attribute_keys(self.state.buffer),
                connect=self.connect,
                clock=self.state.clock,
            )
        )

    def collector_url(self, agent: str | None = None, trace: str | None = None) -> str:
        """The collector holding ``agent`` (or ``trace``): over several, the one its rows come from;
        else, or when not known, the viewer's URL."""
        feed = self.fleet_feed
        if feed is None:
            return self.url
        return feed.url_for(agent=agent, trace=trace, lines=reversed(self.state.buffer)) or self.url

    def action_bundle(self) -> None:
        from agentwatch.tui.bundle import save_bundle

        self.run_worker(save_bundle(self), group="bundle", exclusive=True, exit_on_error=False)

    def action_alert_history(self) -> None:
        if isinstance(self.screen, AlertHistoryScreen):
            return
        if isinstance(self.screen, AnalysisScreen):
            self.pop_screen()
        self.push_screen(AlertHistoryScreen(self.state.alerts, self.state.clock))

    def _announce(self, started: list[Alert]) -> None:
        """A toast for each alert that started firing (at most three, then a summary) and one bell;
        none for an acknowledged or snoozed one."""
        started = loud(started, self.state.clock())
        if not started:
            return
        for alert in started[:3]:
            self.notify(
                toast_text(alert),
                title="alert firing",
                severity=TOAST_SEVERITY.get(alert.severity, "information"),
                timeout=8,
                markup=False,
            )
        if len(started) > 3:
            self.notify(
                f"… and {len(started) - 3} more alerts firing (A: history)", severity="warning", timeout=8
            )
        self.notifier.alerts_started(started)

    def action_jump_to_session(self) -> None:
        """Go to the tmux pane of the session under the sessions pane's cursor."""
        session = self.sessions_pane.selected
        if session is None:
            self.notify("No coding-agent session yet (agentwatch hooks install)", timeout=3)
            return
        self.jump_to(session)

    def on_sessions_pane_jump(self, event: SessionsPane.Jump) -> None:
        self.jump_to(event.session)

    def jump_to(self, session: Any) -> None:
        problem = self.notifier.jump(session)
        if problem is not None:
            self.notify(
                f"Cannot jump to {fmt.safe(session.agent_id, 40)}: {problem}", timeout=4, markup=False
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        agent = event.row_key.value
        if agent is not None:
            self.drill_into(agent)

    def drill_into(self, agent: str | None) -> None:
        """Narrow the metrics stream and the log to ``agent`` (None = back to the fleet); a time scrub
        ends (its history was the other scope's), and the tail stays held until End."""
        if agent != self.state.drilled_agent:
            self.leave_scrub()
        self.state.drill_into(agent)
        if self.connect:
            self.follow_metrics()
        self.frame()
