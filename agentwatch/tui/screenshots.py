"""Save SVG screenshots of the viewer on a fixed, deterministic state (no network, frozen clock).

    python -m agentwatch.tui.screenshots [--out screenshots/]

Writes overview.svg (120×36), drilldown.svg, search.svg, small-80x24.svg, small-60x15.svg, help.svg, alerts.svg
(three alerts firing, one acknowledged and one snoozed), costs.svg (the Costs analysis screen), sessions.svg (coding-agent
sessions from their hooks: one needs you, one failed, two working, one waiting), waterfall.svg
(one agent run's trace, a failed call and its retry), in-flight.svg (what each agent is doing now,
one step stuck), scrub.svg (the time scrub's cursor 9 s back: that second's values, its top
contributors and its lines), line-detail.svg (a log line in full) and viewer-cost.svg (the viewer's own
cost in its footer). ``--only NAME`` writes that
one scene. The same fixture (:func:`demo_app`) feeds the snapshot tests, so what is committed is
what is tested.

    python -m agentwatch.tui.screenshots --live URL [--name coding-agents.svg] [--token T]

instead shows a running collector (e.g. one the real coding agents export to, see
``scripts/real_agents.sh --screenshot``) and saves what the viewer draws once its first rows
have arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import msgspec

from agentwatch.protocol import (
    RULE_ERROR_RATE,
    RULE_LATENCY_REGRESSION,
    RULE_NEW_DECISION,
    SESSION_FAILED,
    SESSION_NEEDS_YOU,
    SESSION_WAITING,
    SESSION_WORKING,
    STATUS_DEGRADED,
    STATUS_FAILING,
    STATUS_IDLE,
    STATUS_OFFLINE,
    STATUS_OK,
    VIEW_COSTS,
    AgentRow,
    Alert,
    Analysis,
    AnalysisRow,
    AnalysisSection,
    CostPoint,
    History,
    InFlight,
    LogEntry,
    Session,
    Snapshot,
    Trace,
    TraceSpan,
)
from agentwatch.tui.analysis import AnalysisScreen
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.state import (
    DIRTY_AGENTS,
    DIRTY_HEADER,
    DIRTY_LOGS_REFILTERED,
    STREAM_LOGS,
    STREAM_METRICS,
    ViewState,
)

#: The frozen "now" of every screenshot (2026-01-15 12:00:00 UTC).
NOW = 1_768_478_400.0
URL = "http://127.0.0.1:8787"


@dataclass(frozen=True)
class FixedConnection:
    """A connection state that does not change (stands in for the live client's)."""

    phase: str
    since: float | None = None
    retry_at: float | None = None
    error: str | None = None
    attempts: int = 0


_AGENTS = (
    # id, status, tok/s, p50, p99, err, cost, seen ago, activity, model
    ("planner-01", STATUS_OK, 412.0, 820.0, 2_140.0, 0.012, 0.84, 1, "llm_call gpt-4o", "gpt-4o"),
    ("retriever-02", STATUS_OK, 198.5, 310.0, 990.0, 0.0, 0.12, 0, "tool_call vector_search", "gpt-4o-mini"),
    (
        "coder-03",
        STATUS_DEGRADED,
        655.2,
        1_450.0,
        6_800.0,
        0.071,
        2.31,
        2,
        "llm_call claude-sonnet-4",
        "claude-sonnet-4",
    ),
    ("reviewer-04", STATUS_FAILING, 40.1, 2_900.0, 14_200.0, 0.38, 0.55, 3, "error: rate limited", "gpt-4.1"),
    ("summarizer-05", STATUS_IDLE, 0.0, None, None, 0.0, 0.0, 95, None, "gemini-2.0-flash"),
    ("scraper-06", STATUS_OFFLINE, 0.0, None, None, 0.0, 0.0, 1_820, None, None),
)

_MESSAGES = (
    ("planner-01", "info", "plan ready: 4 steps, next step fetch_docs"),
    ("retriever-02", "debug", "vector_search k=8 returned 8 hits in 212 ms"),
    ("coder-03", "info", "calling claude-sonnet-4 with 3 812 input tokens"),
    ("reviewer-04", "warning", "retrying after 429 Too Many Requests (attempt 2/5)"),
    ("reviewer-04", "error", "timeout after 30 s calling gpt-4.1: upstream did not answer"),
    ("coder-03", "warning", "latency 6.8 s above the 5 s budget"),
    ("planner-01", "info", "decision: delegate to coder-03 (confidence 0.82)"),
    ("retriever-02", "info", "cache hit for query 'quarterly revenue by region'"),
    ("reviewer-04", "critical", "giving up on task 7781 after 5 timeouts"),
    ("coder-03", "info", "tool_call run_tests passed 41/41"),
    ("planner-01", "debug", "context window 61 % used"),
    ("retriever-02", "error", "timeout fetching https://example.com/report.pdf"),
)


def _wave(n: int, base: float, amplitude: float, phase: float = 0.0) -> list[float]:
    return [round(base + amplitude * math.sin(i / 4 + phase), 4) for i in range(n)]


def fleet_snapshot() -> Snapshot:
    """A fixed fleet snapshot: six agents in every status, 60 s of history."""
    rows = [
        AgentRow(
            agent_id=agent_id,
            status=status,
            tokens_per_second=tps,
            p50_latency_ms=p50,
            p99_latency_ms=p99,
            error_rate=err,
            errors=round(err * 200),
            events=200,
            cost_usd=cost,
            last_seen=NOW - ago,
            last_activity=activity,
            model=model,
        )
        for agent_id, status, tps, p50, p99, err, cost, ago, activity, model in _AGENTS
    ]
    history = History(
        end=NOW,
        tokens_per_second=_wave(60, 1300, 300),
        p99_latency_ms=[*_wave(50, 4000, 1500, 1.0), *_wave(10, 9000, 2000), None],
        error_rate=[*([0.02] * 40), *_wave(20, 0.07, 0.03)],
        events_per_second=_wave(60, 55, 12, 2.0),
        cost_per_second=_wave(60, 0.07, 0.02, 0.5),
    )
    return Snapshot(
        timestamp=NOW,
        tokens_per_second=1305.8,
        input_tokens_per_second=902.3,
        output_tokens_per_second=403.5,
        tool_calls_total=1_284,
        error_rate=0.068,
        completions=311,
        p50_latency_ms=840.0,
        p99_latency_ms=9_120.0,
        active_agents=4,
        events_per_second=55.2,
        events=3_312,
        errors=225,
        window_cost_usd=3.82,
        cost_per_minute=3.82,
        total_cost_usd=117.40,
        cost_estimated=True,
        agents=rows,
        history=history,
    )


def agent_snapshot(agent_id: str) -> Snapshot:
    """The drilled-down snapshot of one agent (its own row, scaled-down history)."""
    fleet = fleet_snapshot()
    row = next(r for r in fleet.agents if r.agent_id == agent_id)
    history = History(
        end=NOW,
        tokens_per_second=_wave(60, row.tokens_per_second, row.tokens_per_second / 4),
        p99_latency_ms=[*_wave(60, row.p99_latency_ms or 0, (row.p99_latency_ms or 0) / 5)],
        error_rate=_wave(60, row.error_rate, row.error_rate / 3),
        events_per_second=_wave(60, 8, 2),
        cost_per_second=_wave(60, row.cost_usd / 60, row.cost_usd / 200),
    )
    return Snapshot(
        timestamp=NOW,
        tokens_per_second=row.tokens_per_second,
        error_rate=row.error_rate,
        p50_latency_ms=row.p50_latency_ms,
        p99_latency_ms=row.p99_latency_ms,
        active_agents=1,
        events_per_second=8.0,
        errors=row.errors,
        window_cost_usd=row.cost_usd,
        cost_per_minute=row.cost_usd,
        cost_estimated=True,
        agent=agent_id,
        agents=[row],
        history=history,
    )


def log_entries(count: int = 60) -> list[LogEntry]:
    """``count`` fixed log entries, one every 0.5 s, ending at :data:`NOW`."""
    return [
        LogEntry(
            timestamp=NOW - (count - i) * 0.5,
            agent_id=_MESSAGES[i % len(_MESSAGES)][0],
            level=_MESSAGES[i % len(_MESSAGES)][1],
            message=_MESSAGES[i % len(_MESSAGES)][2],
            id=i + 1,
        )
        for i in range(count)
    ]


def feed(state: ViewState) -> None:
    """Fill ``state`` as a live viewer's would be after a minute of a busy fleet."""
    state.set_connection(STREAM_METRICS, FixedConnection("live", since=NOW - 60))
    state.set_connection(STREAM_LOGS, FixedConnection("live", since=NOW - 60))
    state.apply_snapshot(fleet_snapshot())
    entries = log_entries()
    state.add_log_entries(entries[:40])
    state.add_marker("dropped", 1_234)
    state.add_log_entries(entries[40:])


def demo_app(*, banner: str | None = "SIMULATED DATA — agentwatch demo") -> AgentWatchApp:
    """A viewer on the fixed state: no network, clock frozen at :data:`NOW`, times in UTC."""
    app = AgentWatchApp(url=URL, clock=lambda: NOW, tz=UTC, connect=False, banner=banner)
    feed(app.state)
    return app


Scene = Callable[[AgentWatchApp], Awaitable[None]]


async def _overview(app: AgentWatchApp) -> None:
    return None


async def _drilldown(app: AgentWatchApp) -> None:
    app.drill_into("coder-03")
    app.state.apply_snapshot(agent_snapshot("coder-03"))
    app.frame()


async def _search(app: AgentWatchApp) -> None:
    app.state.set_search("timeout")
    app.frame()


def demo_alerts() -> list[Alert]:
    """Three firing alerts of different rules and severities."""
    return [
        Alert(
            id=f"{RULE_ERROR_RATE}:agent:reviewer-04", rule=RULE_ERROR_RATE, scope="agent:reviewer-04",
            started_at=NOW - 130, value=0.38, threshold=0.06, severity="error",
            message="error rate 38.0 % over 10 s, baseline 1.9 % ± 2.0 %",
        ),
        Alert(
            id=f"{RULE_LATENCY_REGRESSION}:model:claude-sonnet-4", rule=RULE_LATENCY_REGRESSION,
            scope="model:claude-sonnet-4", started_at=NOW - 620, value=6_800.0, threshold=4_100.0,
            message="p99 6.80 s above its baseline bound 4.10 s",
        ),
        Alert(
            id=f"{RULE_NEW_DECISION}:agent:planner-01/decision:escalate_to_human", rule=RULE_NEW_DECISION,
            scope="agent:planner-01/decision:escalate_to_human", started_at=NOW - 45, value=3.0, severity="info",
            message="new decision escalate_to_human after 1 200 decisions",
        ),
    ]  # fmt: skip


def costs_analysis() -> Analysis:
    """A fixed Costs view: by model, agent and decision path, and cost per inference over time."""

    def row(key: str, inferences: float, window: float, total: float, share: float) -> AnalysisRow:
        return AnalysisRow(
            key, inferences=inferences, cost_window_usd=window, cost_total_usd=total,
            cost_per_inference_usd=round(total / inferences, 6), share=share,
        )  # fmt: skip

    return Analysis(
        view=VIEW_COSTS,
        timestamp=NOW,
        sections=[
            AnalysisSection("model", [
                row("claude-sonnet-4", 1_210, 1.42, 61.30, 0.5221), row("gpt-4o", 2_480, 1.18, 38.75, 0.3301),
                row("gpt-4.1", 410, 0.31, 12.02, 0.1024), row("gpt-4o-mini", 5_900, 0.06, 5.33, 0.0454),
            ]),
            AnalysisSection("agent", [
                row("coder-03", 1_300, 1.51, 64.10, 0.546), row("planner-01", 2_020, 0.84, 31.50, 0.2683),
                row("reviewer-04", 640, 0.55, 16.47, 0.1403), row("retriever-02", 5_640, 0.12, 5.33, 0.0454),
            ]),
            AnalysisSection("decision path", [
                row("delegate → run_tests", 1_900, 1.60, 58.20, 0.4957), row("answer_directly", 6_100, 0.92, 36.40, 0.31),
                row("(no decision)", 2_000, 0.45, 22.80, 0.1943),
            ]),
        ],
        cost_per_inference=[CostPoint(NOW - 10 * (60 - i), round(0.011 + 0.002 * math.sin(i / 5) + (0.004 if i > 50 else 0), 6)) for i in range(60)],
    )  # fmt: skip


async def _alerts(app: AgentWatchApp) -> None:
    snapshot = fleet_snapshot()
    snapshot.alerts = alerts = demo_alerts()
    alerts[1].acked_by, alerts[1].acked_at = "ana@ops-laptop", NOW - 180  # quiet until it resolves
    alerts[2].snoozed_by, alerts[2].snoozed_until = "ana@ops-laptop", NOW + 42 * 60
    app.state.apply_snapshot(snapshot)
    app.frame()


async def _viewer_cost(app: AgentWatchApp) -> None:
    app.action_toggle_self_cost()
    entries = log_entries(25)
    for entry in entries:  # the readout's first figures come after two of its once-a-second samples
        await asyncio.sleep(0.1)
        app.state.add_log_entries([msgspec.structs.replace(entry, timestamp=NOW)])  # as if just sent
        app.frame()


async def _costs(app: AgentWatchApp) -> None:
    screen = AnalysisScreen(VIEW_COSTS, url=URL, connect=False, clock=lambda: NOW)
    await app.push_screen(screen)
    screen.show(costs_analysis())


def demo_sessions() -> tuple[list[Session], list[AgentRow]]:
    """Five coding-agent sessions as their hooks leave them, most urgent first, and their agent rows."""

    def session(
        agent: str,
        state: str,
        since: float,
        cwd: str,
        host: str,
        tool: str | None = None,
        tool_since: float | None = None,
        asks: str | None = None,
    ) -> Session:
        program, short = agent.split("·")
        return Session(
            session_id=f"{short}-5b1f-4c3d-9a8e-0c1d2e3f4a5b",
            program=program,
            agent_id=agent,
            state=state,
            since=NOW - since,
            updated=NOW - 1,
            cwd=cwd,
            host=host,
            tmux_pane="%7",
            tool=tool,
            tool_since=tool_since,
            asks=asks,
        )

    sessions = [
        session(
            "claude-code·5b1f2c3d",
            SESSION_NEEDS_YOU,
            252,
            "/home/ana/src/shop",
            "laptop",
            tool="Bash",
            asks="permission to use Bash: npm run migrate -- --env=staging",
        ),
        session(
            "gemini-cli·0a7e91c4",
            SESSION_FAILED,
            75,
            "/home/ana/src/docs",
            "laptop",
            asks="RESOURCE_EXHAUSTED: quota exceeded for gemini-2.5-pro",
        ),
        session(
            "claude-code·12d4ed51",
            SESSION_WORKING,
            96,
            "/home/ana/src/api",
            "devbox",
            tool="Edit",
            tool_since=NOW - 4,
        ),
        session(
            "codex·9c18f95d",
            SESSION_WORKING,
            41,
            "/home/ana/src/web",
            "devbox",
            tool="shell",
            tool_since=NOW - 12,
        ),
        session("claude-code·77ab03e9", SESSION_WAITING, 610, "/home/ana/src/infra", "laptop"),
    ]
    rows = [
        AgentRow(
            agent_id=agent, tokens_per_second=tps, cost_usd=cost, events=40, last_seen=NOW - 1, model=model
        )
        for agent, tps, cost, model in (
            ("claude-code·5b1f2c3d", 0.0, 1.84, "claude-sonnet-4-5"),
            ("gemini-cli·0a7e91c4", 0.0, 0.31, "gemini-2.5-pro"),
            ("claude-code·12d4ed51", 182.0, 3.07, "claude-sonnet-4-5"),
            ("codex·9c18f95d", 96.5, 0.72, "gpt-5-codex"),
            ("claude-code·77ab03e9", 0.0, 0.46, "claude-haiku-4-5"),
        )
    ]
    return sessions, rows  # fmt: skip


async def _sessions(app: AgentWatchApp) -> None:
    snapshot = fleet_snapshot()
    snapshot.sessions, rows = demo_sessions()
    snapshot.agents = [*snapshot.agents[:3], *rows]
    app.state.apply_snapshot(snapshot)
    app.frame()


async def _help(app: AgentWatchApp) -> None:
    app.action_help()


def demo_trace() -> Trace:
    """One run of coder-03: a plan, a search, a model call that timed out, its retry and a test run."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    start = NOW - 12.0

    def span(
        number: int, at: float, ms: float, span_type: str, name: str, parent: str | None, **fields: Any
    ) -> TraceSpan:
        return TraceSpan(
            id=48_200 + number,
            agent_id="coder-03",
            start=start + at,
            duration_ms=ms,
            span_type=span_type,
            name=name,
            level="error" if "error" in fields else "info",
            trace_id=trace_id,
            span_id=f"s{number}",
            parent_span_id=parent,
            **fields,
        )

    spans = [
        span(1, 0.0, 9_400, "decision", "fix failing test", None, decision_made="fix_test"),
        span(2, 0.05, 1_150, "llm_call", "plan", "s1", model="claude-sonnet-4", tokens_input=3_812, tokens_output=412, cost_usd=0.0176),
        span(3, 1.25, 620, "tool_call", "grep -rn parse_date", "s1", tool_name="grep"),
        span(4, 1.9, 2_000, "llm_call", "edit", "s1", model="gpt-4o", tokens_input=5_120, error="Timeout: no answer in 2 s"),
        span(5, 3.95, 2_650, "llm_call", "edit (retry)", "s1", model="gpt-4o", tokens_input=5_120, tokens_output=890, cost_usd=0.0217),
        span(6, 4.1, 380, "tool_call", "read src/dates.py", "s5", tool_name="read_file"),
        span(7, 6.7, 2_600, "tool_call", "pytest tests/test_dates.py", "s1", tool_name="pytest"),
        span(8, 9.35, 40, "completion", "done: 1 file changed", "s1", model="claude-sonnet-4", tokens_input=640, tokens_output=85, cost_usd=0.0032),
    ]  # fmt: skip
    return Trace(
        trace_id, spans, spans_total=len(spans), start=start, duration_ms=9_400,
        tokens_input=sum(s.tokens_input or 0 for s in spans), tokens_output=sum(s.tokens_output or 0 for s in spans),
        cost_usd=round(sum(s.cost_usd or 0.0 for s in spans), 6), errors=1,
    )  # fmt: skip


async def _waterfall(app: AgentWatchApp) -> None:
    from agentwatch.tui.waterfall import WaterfallScreen

    screen = WaterfallScreen(demo_trace().trace_id, url=URL, connect=False, tz=UTC)
    await app.push_screen(screen)
    screen.show(demo_trace())


def steps_in_flight(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with what its agents are doing now: four steps running, one past its stuck limit."""
    steps = {
        "planner-01": InFlight("llm_call gpt-4o", NOW - 12.4, "s-91"),
        "retriever-02": InFlight("tool_call vector_search", NOW - 0.8, "s-92"),
        "coder-03": InFlight("tool_call pytest", NOW - 41.0, "s-93"),
        "reviewer-04": InFlight("llm_call gpt-4.1", NOW - 245.0, "s-94", stuck=True, limit_seconds=90.0),
    }
    for row in snapshot.agents:
        row.in_flight = steps.get(row.agent_id)
    return snapshot


async def _in_flight(app: AgentWatchApp) -> None:
    app.state.apply_snapshot(steps_in_flight(fleet_snapshot()))
    app.frame()


async def _scrub(app: AgentWatchApp) -> None:
    from agentwatch.tui.scrub import SPREAD, Fetched

    app.action_scrub(-9)  # the cursor 9 s back, where the latency climbs
    scrub = app.state.scrub
    assert scrub.at is not None
    lines = [
        entry for entry in log_entries(120) if scrub.at - SPREAD <= entry.timestamp < scrub.at + SPREAD + 1
    ]
    scrub.take(Fetched(scrub.at, lines=lines), scrub.generation)  # as the collector's /api/logs answers
    app.state.dirty.update((DIRTY_AGENTS, DIRTY_HEADER, DIRTY_LOGS_REFILTERED))
    app.frame()


def detailed_line() -> LogEntry:
    """A model call's log line with everything an SDK span carries: ids, model, tokens, cost, attributes."""
    return LogEntry(
        timestamp=NOW - 0.2,
        agent_id="coder-03",
        level="error",
        message="llm_call gpt-4o: Timeout: no answer in 2 s",
        id=48_204,
        span_type="llm_call",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        metadata={
            "span_id": "s4",
            "parent_span_id": "s1",
            "model": "gpt-4o",
            "tokens_input": 5_120,
            "latency_ms": 2_000.0,
            "error": "Timeout: no answer in 2 s",
            "attributes": {"retry": 0, "prompt.template": "edit_file_v3", "repo": "billing-service"},
        },
    )


async def _line_detail(app: AgentWatchApp) -> None:
    app.state.add_log_entries([detailed_line()])
    app.frame()
    await asyncio.sleep(0)
    app.open_line(1)


SCENES: dict[str, tuple[tuple[int, int], Scene]] = {
    "overview.svg": ((120, 36), _overview),
    "drilldown.svg": ((120, 36), _drilldown),
    "search.svg": ((120, 36), _search),
    "small-80x24.svg": ((80, 24), _overview),
    "small-60x15.svg": ((60, 15), _overview),
    "help.svg": ((120, 36), _help),
    "alerts.svg": ((120, 36), _alerts),
    "costs.svg": ((120, 36), _costs),
    "sessions.svg": ((120, 36), _sessions),
    "waterfall.svg": ((120, 36), _waterfall),
    "in-flight.svg": ((120, 36), _in_flight),
    "scrub.svg": ((120, 36), _scrub),
    "line-detail.svg": ((120, 36), _line_detail),
    "viewer-cost.svg": ((120, 36), _viewer_cost),
}


async def save_all(out: Path, only: str | None = None) -> list[Path]:
    """Render every scene (or the one named ``only``) and write its SVG into ``out``; returns the paths
    written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, (size, scene) in SCENES.items():
        if only is not None and name != only:
            continue
        app = demo_app()
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scene(app)
            await pilot.pause()
            app.frame()
            await pilot.pause()
            path = out / name
            path.write_text(app.export_screenshot(title=f"agentwatch — {name.removesuffix('.svg')}"))
            written.append(path)
    return written


async def save_live(url: str, out: Path, name: str, token: str | None, settle: float) -> Path:
    """The viewer on a live collector: wait for its rows and log, let it draw ``settle`` s, save."""
    out.mkdir(parents=True, exist_ok=True)
    app = AgentWatchApp(url=url, token=token, fps=10)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(200):  # at most 20 s for the first snapshot and log lines
            state = app.state
            if state.fleet is not None and state.fleet.agents and state.visible_lines():
                break
            await pilot.pause(0.1)
        await pilot.pause(settle)
        app.frame()
        await pilot.pause()
        path = out / name
        path.write_text(app.export_screenshot(title=f"agentwatch — {name.removesuffix('.svg')}"))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentwatch.tui.screenshots", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("screenshots"), help="directory (default screenshots/)"
    )
    parser.add_argument("--live", metavar="URL", help="show this running collector instead of the fixture")
    parser.add_argument("--name", default="coding-agents.svg", help="file name with --live")
    parser.add_argument("--only", choices=sorted(SCENES), help="write this one scene")
    parser.add_argument("--token", help="bearer token of the collector, with --live")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds to draw before saving, with --live"
    )
    args = parser.parse_args(argv)
    if args.live:
        print(asyncio.run(save_live(args.live, args.out, args.name, args.token, args.settle)))
        return 0
    for path in asyncio.run(save_all(args.out, args.only)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
