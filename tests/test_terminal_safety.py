"""Terminal safety: no string an agent sends reaches a terminal as an escape sequence or as markup.

Agents send hostile text in every field they control (agent id, message, error, model, tool
name, decision, metadata keys and values) to a real collector. Then ``agentwatch status`` runs
as a subprocess (its stdout bytes are checked) and the TUI runs under Pilot against the same
collector (the text of every rendered strip is checked, on the overview, the drill-down, the
agent picker and the help screen).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from typing import Any

import pytest
from textual.widgets import OptionList

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screens import AgentPicker
from agentwatch.tui.widgets import AgentTable
from tests.helpers import RunningCollector, async_wait_until, screen_text, wait_until

#: One of each kind of sequence a terminal would act on, plus Rich markup.
ATTACKS = {
    "csi": "\x1b[31mred\x1b[0m\x1b[2J",
    "osc-title": "\x1b]0;pwned\x07",
    "osc-hyperlink": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "osc52-clipboard": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "dcs": "\x1bP1$rqm\x1b\\",
    "c0": "nul\x00bel\x07bs\x08cr\rlf\nvt\x0bff\x0cdel\x7f",
    "c1": "csi\x9b31m osc\x9d0;t\x9c nel\x85",
    "bidi": "\u202eevil\u202c \u2066iso\u2069 \u200fRLM",
    "markup": "[bold red]loud[/] [link=https://evil.example]x[/link] [@click=app.quit]q[/]",
}
ESC = "\x1b"


def forbidden(char: str) -> bool:
    """A character that must never reach the terminal from agent text."""
    code = ord(char)
    if code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F:
        return True
    return unicodedata.category(char) == "Cf" and char not in "\u200c\u200d"


def hostile_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for name, text in ATTACKS.items():
        agent = f"{name[:8]}{text}"[:100]
        events += [
            {"agent_id": agent, "span_type": "llm_call", "model": f"m{text}"[:200], "tokens_input": 10,
             "tokens_output": 5, "latency_ms": 100.0, "message": f"msg {text}"},
            {"agent_id": agent, "span_type": "tool_call", "tool_name": f"t{text}"[:200], "latency_ms": 5.0},
            {"agent_id": agent, "span_type": "error", "error": f"err {text}", "level": "error"},
            {"agent_id": agent, "span_type": "decision", "decision_made": f"d{text}"[:200], "confidence": 0.5},
            {"agent_id": agent, "span_type": "log", "level": "warning", "message": f"log {text}",
             "attributes": {f"k{text}": f"v{text}", "nested": [text]}},
        ]  # fmt: skip
    return events


@pytest.fixture
def hostile(collector: RunningCollector) -> RunningCollector:
    response = collector.post(hostile_events())
    assert response.status_code == 202
    assert response.json()["rejected"] == [], response.text[:300]
    wait_until(lambda: len(collector.service.window.agent_ids()) == len(ATTACKS))
    return collector


# ------------------------------------------------------------------ agentwatch status


def run_status(url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AGENTWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "agentwatch", "status", url, *args],
        capture_output=True,
        timeout=30,
        env={**env, "NO_COLOR": "1"},
    )


def assert_no_terminal_controls(output: bytes, where: str) -> None:
    text = output.decode("utf-8")
    body = text[:-1] if text.endswith("\n") else text
    bad = sorted({f"U+{ord(c):04X}" for c in body if forbidden(c)})
    assert not bad, f"{where}: {bad}"


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--json",),
        ("--format", "{agents}"),
        ("--format", "{agents!r} {status} {url}"),
    ],
    ids=["line", "json", "format-agents", "format-repr"],
)
def test_status_prints_no_escape_sequences_from_agent_text(
    hostile: RunningCollector, args: tuple[str, ...]
) -> None:
    result = run_status(hostile.url, *args)
    assert result.returncode == 0, result.stderr
    assert_no_terminal_controls(result.stdout, f"stdout of status {args}")
    assert_no_terminal_controls(result.stderr, "stderr")
    if args == ("--json",):
        snapshot = json.loads(result.stdout)  # still valid JSON, and the text survives intact
        agents = {row["agent_id"] for row in snapshot["agents"]}
        assert any(ESC in agent for agent in agents)
        assert any("\u202e" in (row["agent_id"]) for row in snapshot["agents"])


# -------------------------------------------------------------------------- the TUI


def assert_screen_safe(app: AgentWatchApp, where: str) -> str:
    text = screen_text(app)
    bad = sorted({f"U+{ord(c):04X}" for line in text.split("\n") for c in line if forbidden(c)})
    assert not bad, f"{where}: {bad}"
    return text


def shows_one_agents_log(text: str) -> bool:
    """The drill-down is on screen: its header, and a log pane holding one agent's five lines."""
    kinds = ("llm_call m", "tool_call t", "error err", "decision d")
    return "(Esc: fleet)" in text and all(text.count(kind) == 1 for kind in kinds)


def picker_lists_every_agent(app: AgentWatchApp) -> bool:
    """The agent picker is on screen, and its list shows "all agents" and every agent id."""
    if not isinstance(app.screen, AgentPicker):
        return False
    region = app.screen.query_one(OptionList).region
    rows = screen_text(app).split("\n")[region.y : region.bottom]
    shown = "\n".join(row[region.x : region.right] for row in rows)
    return "all agents" in shown and all(name[:8] in shown for name in ATTACKS)


async def test_tui_shows_hostile_agent_text_as_inert_characters_on_every_screen(
    hostile: RunningCollector,
) -> None:
    app = AgentWatchApp(url=hostile.url, fps=20)
    async with app.run_test(size=(160, 50)) as pilot:
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: len(table.row_agents()) == len(ATTACKS), pilot=pilot)
        await async_wait_until(lambda: "loud[/]" in screen_text(app), pilot=pilot)
        overview = assert_screen_safe(app, "overview")
        # Markup is shown as the characters it is made of, never applied.
        assert "[bold red]loud[/]" in overview
        assert "␛[31mred" in overview or "␛]0;pwned␇" in overview  # control pictures, visible
        assert app.title == "agentwatch" or ESC not in str(app.title)

        # Drill into agents (first, middle, last row): the agent view shows model, tool, error
        # and decision text.
        for row in (0, len(ATTACKS) // 2, len(ATTACKS) - 1):
            table.focus()
            table.move_cursor(row=row)
            await pilot.press("enter")
            await async_wait_until(lambda: app.state.drilled is not None, pilot=pilot)
            await async_wait_until(lambda: shows_one_agents_log(screen_text(app)), pilot=pilot)
            assert_screen_safe(app, f"drill-down {row}")
            await pilot.press("escape")
            await async_wait_until(lambda: app.state.drilled_agent is None, pilot=pilot)
            await async_wait_until(lambda: "(Esc: fleet)" not in screen_text(app), pilot=pilot)

        # The agent picker lists every agent id; picking one puts it in the header.
        await pilot.press("a")
        await async_wait_until(lambda: picker_lists_every_agent(app), pilot=pilot)
        assert_screen_safe(app, "agent picker")
        await pilot.press("down", "enter")
        await async_wait_until(
            lambda: "filter: agent=" in (text := screen_text(app)) and "Show the log of" not in text,
            pilot=pilot,
        )
        assert_screen_safe(app, "header with an agent filter")

        # The search prompt echoes what is typed; help lists bindings.
        await pilot.press("question_mark")
        await async_wait_until(lambda: "agentwatch — keys" in screen_text(app), pilot=pilot)
        assert_screen_safe(app, "help")
        await pilot.press("escape")
        await pilot.press("c")
        await async_wait_until(
            lambda: "filter:" not in (text := screen_text(app)) and "agentwatch — keys" not in text,
            pilot=pilot,
        )
        assert_screen_safe(app, "after clearing filters")
    assert ESC not in str(app.title) and ESC not in str(app.sub_title)
