"""The viewer says on screen when the collector it follows restarted.

The real app (``run_test``) follows a real ``agentwatch serve`` process over 127.0.0.1; the
collector is stopped and started again on the same port, and the log pane must say so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from agentwatch.protocol import PATH_EVENTS, SPAN_LOG
from agentwatch.tui.app import AgentWatchApp
from tests.helpers import CollectorProcess, async_wait_until, entry_lines, header, log_lines

SIZE = (120, 36)
LIVE = "● live"
#: Generous: the viewer reconnects after a jittered backoff on a shared machine.
TIMEOUT = 30.0


async def post_lines(url: str, names: list[str]) -> None:
    events = [{"agent_id": "agent-1", "span_type": SPAN_LOG, "level": "info", "message": n} for n in names]
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url + PATH_EVENTS, json=events)
    assert response.status_code == 202, response.text


def shown(app: AgentWatchApp, prefix: str) -> list[str]:
    return [line for line in entry_lines(app) if prefix in line]


def notices(app: AgentWatchApp) -> list[str]:
    return [line for line in log_lines(app) if line.startswith("⚠")]


async def test_the_viewer_says_a_collector_without_its_history_restarted_and_from_which_line(
    start_collector_process: Callable[..., CollectorProcess],
) -> None:
    collector = start_collector_process("--no-store")
    app = AgentWatchApp(url=collector.url, connect=True, max_lines=1_000, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: LIVE in header(app), TIMEOUT, pilot=pilot)
        await post_lines(collector.url, [f"old-{n:02d}" for n in range(40)])
        await async_wait_until(lambda: len(shown(app, "old-")) == 40, TIMEOUT, pilot=pilot)

        collector.stop()
        collector.restart()
        await post_lines(collector.url, [f"new-{n:02d}" for n in range(5)])
        await async_wait_until(lambda: len(shown(app, "new-")) == 5, TIMEOUT, pilot=pilot)

        assert notices(app) == ["⚠ collector restarted, history not kept — lines after #40 are not available"]
        lines = log_lines(app)
        assert lines.index(notices(app)[0]) < min(i for i, line in enumerate(lines) if "new-" in line)


async def test_the_viewer_says_a_collector_that_kept_its_log_restarted(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = start_collector_process("--store", str(tmp_path / "store.db"))
    app = AgentWatchApp(url=collector.url, connect=True, max_lines=1_000, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: LIVE in header(app), TIMEOUT, pilot=pilot)
        await post_lines(collector.url, [f"old-{n:02d}" for n in range(10)])
        await async_wait_until(lambda: len(shown(app, "old-")) == 10, TIMEOUT, pilot=pilot)

        collector.stop()
        collector.restart()
        await post_lines(collector.url, ["new-00"])
        await async_wait_until(lambda: len(shown(app, "new-")) == 1, TIMEOUT, pilot=pilot)

        assert notices(app) == ["⚠ collector restarted — its log goes on"]
        assert len(shown(app, "old-")) == 10, "nothing repeated"
