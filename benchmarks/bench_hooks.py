"""Hook ingest latency: a coding agent's hook POST until its state is in the viewer and on screen.

    python benchmarks/bench_hooks.py               # 200 hooks, ~1 minute
    python benchmarks/bench_hooks.py --hooks 50    # a quicker look

A real collector runs as a process (``python -m agentwatch serve --port 0 --no-store``); the
viewer is the real :class:`~agentwatch.tui.app.AgentWatchApp` under ``App.run_test`` (headless,
120×36) in this process, following the collector's streams as it always does. One Claude Code
session's hooks alternate between ``PermissionRequest`` (needs you) and ``PostToolUse``
(working), so each changes what is shown; the next is posted once the last is seen. Measured,
from just before each POST:

* the POST's round trip (``/api/hooks/claude-code``, answered ``{}``);
* ``/api/sessions`` showing the new state (the collector has applied it);
* the viewer's state holding it (``state.fleet.sessions``: the fleet snapshot reached it);
* the sessions pane drawing it (what is on screen).

Baselines in the same run: a plain ``POST /api/events`` of one event (its round trip), and that
event's message appearing in the log pane (the log stream's path to the screen), with the same
loop. Sessions travel in fleet snapshots, which the collector sends ``ticks_per_second`` (4) times
a second when something changed, so a hook reaches the screen within a tick plus a frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _procs import start_collector  # noqa: E402

SESSION = "b3c4d5e6-0000-4000-8000-0123456789ab"
AGENT = "claude-code·b3c4d5e6"
POLL = 0.001


def hook_body(index: int) -> dict[str, Any]:
    """Even: a permission request (needs you); odd: the tool ran (working)."""
    body: dict[str, Any] = {
        "session_id": SESSION,
        "cwd": "/home/u/src/bench",
        "permission_mode": "default",
        "tool_name": "Bash",
        "tool_input": {"command": f"make step-{index}"},
    }
    body["hook_event_name"] = "PermissionRequest" if index % 2 == 0 else "PostToolUse"
    return body


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def until(
    condition: Callable[[], bool], pause: Callable[[float], Awaitable[None]], timeout: float = 10.0
) -> float:
    """Wait for ``condition`` (the app runs meanwhile); the monotonic time it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("not seen within 10 s")
        await pause(POLL)
    return time.monotonic()


async def measure(url: str, hooks: int, fps: int) -> dict[str, list[float]]:
    import httpx
    from textual.widgets import Log

    from agentwatch.protocol import PATH_EVENTS, PATH_HOOKS, PATH_SESSIONS, SESSION_NEEDS_YOU, SESSION_WORKING
    from agentwatch.tui.app import AgentWatchApp
    from agentwatch.tui.sessions import SessionsPane

    times: dict[str, list[float]] = {
        "events_post": [],
        "event_on_screen": [],
        "hook_post": [],
        "hook_in_collector": [],
        "hook_in_state": [],
        "hook_on_screen": [],
    }
    app = AgentWatchApp(url=url, fps=fps)
    async with app.run_test(size=(120, 36)) as pilot, httpx.AsyncClient(timeout=10) as client:
        await until(lambda: app.state.fleet is not None, pilot.pause)
        pane = app.query_one(SessionsPane)
        log = app.query_one(Log)
        for index in range(hooks):
            # Baseline: one event, its round trip and its line on screen.
            message = f"bench line {index}"
            started = time.monotonic()
            answer = await client.post(
                url + PATH_EVENTS, json={"agent_id": "bench-agent", "span_type": "log", "message": message}
            )
            answer.raise_for_status()
            times["events_post"].append(time.monotonic() - started)
            seen = await until(lambda m=message: any(m in line for line in log.lines[-20:]), pilot.pause)
            times["event_on_screen"].append(seen - started)
            # A hook: round trip, collector, viewer state, screen.
            state = SESSION_NEEDS_YOU if index % 2 == 0 else SESSION_WORKING
            word = "● needs you" if state == SESSION_NEEDS_YOU else "▶ working"
            started = time.monotonic()
            answer = await client.post(
                f"{url}{PATH_HOOKS}/claude-code",
                content=json.dumps(hook_body(index)).encode(),
                headers={"Content-Type": "application/json"},
            )
            assert (answer.status_code, answer.content) == (200, b"{}"), answer.text
            times["hook_post"].append(time.monotonic() - started)
            while (await client.get(url + PATH_SESSIONS)).json()[0]["state"] != state:
                await asyncio.sleep(POLL)
            times["hook_in_collector"].append(time.monotonic() - started)

            def in_state(state: str = state) -> bool:
                fleet = app.state.fleet
                return fleet is not None and bool(fleet.sessions) and fleet.sessions[0].state == state

            times["hook_in_state"].append(await until(in_state, pilot.pause) - started)
            on_screen = await until(lambda w=word: pane.plain.startswith(w), pilot.pause)
            times["hook_on_screen"].append(on_screen - started)
        assert AGENT in pane.plain
    return times


ROWS = (
    ("events_post", "POST /api/events round trip (baseline)"),
    ("event_on_screen", "event → its log line on screen (baseline)"),
    ("hook_post", "POST /api/hooks/claude-code round trip"),
    ("hook_in_collector", "hook → GET /api/sessions shows it"),
    ("hook_in_state", "hook → viewer state (fleet snapshot)"),
    ("hook_on_screen", "hook → sessions pane on screen"),
)


def print_table(times: dict[str, list[float]]) -> None:
    base = statistics.median(times["event_on_screen"])
    width = max(len(label) for _, label in ROWS)
    print(
        f"\n{'measure':<{width}}  {'n':>4}  {'p50 ms':>8}  {'p99 ms':>8}  {'max ms':>8}  p50 / event on screen"
    )
    for key, label in ROWS:
        values = times[key]
        p50 = statistics.median(values)
        print(
            f"{label:<{width}}  {len(values):>4}  {p50 * 1000:>8.1f}  {percentile(values, 0.99) * 1000:>8.1f}"
            f"  {max(values) * 1000:>8.1f}  {p50 / base:>6.2f}x"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hooks", type=int, default=200, help="hooks posted, each after the last was seen")
    parser.add_argument("--fps", type=int, default=10, help="viewer frames per second (default 10)")
    parser.add_argument("--json", action="store_true", help="also print every figure as JSON (seconds)")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    process, url = start_collector(stderr=subprocess.STDOUT)
    try:
        print(f"{options.hooks} hooks against {url}, viewer at {options.fps} fps …", flush=True)
        times = asyncio.run(measure(url, options.hooks, options.fps))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    print_table(times)
    if options.json:
        print(json.dumps(times))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
