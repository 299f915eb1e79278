"""The viewer's ``!`` key: an incident bundle of the collector it watches, plus the screen as SVG and
the log as filtered on screen, written in the current directory; the path is shown; the key is in
the help screen."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

import pytest

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screens import HelpScreen
from tests.helpers import async_wait_until, entry_lines, screen_text

SIZE = (120, 36)


def notices(app: AgentWatchApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def test_the_bang_key_writes_the_bundle_and_says_where(
    collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    events = [
        {"agent_id": "planner-01", "span_type": "llm_call", "model": "gpt-4o", "message": "fine"},
        {"agent_id": "coder-03", "span_type": "llm_call", "model": "gpt-4o", "error": "Timeout: upstream"},
    ]
    assert collector.post(events).status_code == 202
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: len(entry_lines(app)) == 2, pilot=pilot)
        await pilot.press("e")  # only errors on screen
        await async_wait_until(lambda: len(entry_lines(app)) == 1, pilot=pilot)
        await pilot.press("exclamation_mark")
        told = await async_wait_until(
            lambda: [n for n in notices(app) if n.startswith("Incident bundle written: ")], pilot=pilot
        )
        path = Path(told[0].removeprefix("Incident bundle written: "))
        assert path.parent == tmp_path and path.name.startswith("agentwatch-incident-")
        names = {p.name for p in path.iterdir()}
        assert {"screen.svg", "logs-on-screen.txt", "summary.md", "snapshot.json", "logs.ndjson"} <= names
        assert (path / "screen.svg").read_text().startswith("<svg")
        assert "planner-01" in (path / "screen.svg").read_text()
        on_screen = (path / "logs-on-screen.txt").read_text().splitlines()
        assert on_screen[0] == "# 1 of 2 lines held by the viewer; filters: errors only"
        assert len(on_screen) == 2 and "coder-03" in on_screen[1] and "Timeout: upstream" in on_screen[1]
        assert len((path / "logs.ndjson").read_text().splitlines()) == 2  # the collector's, in full


async def test_the_bang_key_is_in_the_help_screen() -> None:
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await async_wait_until(lambda: isinstance(app.screen, HelpScreen), pilot=pilot)
        await pilot.press("G")  # the Screens section is at the end
        row = re.compile(r"│\s+!\s+Write an incident bundle here")
        await async_wait_until(lambda: row.search(screen_text(app)), pilot=pilot)
