"""Coding-agent sessions in the viewer, from hooks posted to the real collector: each state in
order, the ones that need you first with the header's count, tokens and cost of the same agent,
the jump to a session's tmux pane, and an 80×24 screen."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screens import help_rows
from agentwatch.tui.sessions import SessionsPane
from agentwatch.tui.widgets import AgentTable
from tests.helpers import apost_hook, async_wait_until, header, hook_requests, screen_text

SIZE = (120, 36)
TMUX = "/tmp/tmux-1000/default,4242,0"


class Runs:
    """Stands in for the OS: records each argv the viewer would run, and answers 0."""

    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    async def __call__(self, argv: Sequence[str], stdin: bytes | None, timeout: float) -> int | None:
        self.argvs.append(list(argv))
        return 0


def pane(app: AgentWatchApp) -> str:
    return app.query_one(SessionsPane).plain


def pane_lines(app: AgentWatchApp) -> list[str]:
    return pane(app).splitlines()


def told(app: AgentWatchApp, words: str) -> bool:
    """A toast says ``words``."""
    return any(words in notification.message for notification in app._notifications)


def as_session(request: dict[str, Any], session_id: str, **changes: Any) -> dict[str, Any]:
    """A fixture request for another session (and other fields)."""
    body = copy.deepcopy(request["body"])
    body.update(session_id=session_id, **changes)
    return body


async def test_a_claude_code_session_shows_each_state_in_order(collector: Any) -> None:
    requests = hook_requests("interactive-documented")
    expected = [
        ("◌ waiting", None),  # SessionStart
        ("▶ working", None),  # UserPromptSubmit
        ("▶ working", "Bash"),  # PreToolUse
        ("● needs you", "permission to use Bash: npm test"),  # PermissionRequest
        ("● needs you", "Claude needs your permission to use Bash"),  # Notification
        ("▶ working", None),  # PostToolUse
        ("◌ waiting", None),  # Stop
        ("◌ waiting", None),  # Notification: idle_prompt
        ("○ ended", None),  # SessionEnd
    ]
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        assert not app.query_one(SessionsPane).display, "no session: no pane"
        for request, (state, detail) in zip(requests, expected, strict=True):
            await apost_hook(collector.url, request["body"], request["headers"])

            def shows(state: str = state, detail: str | None = detail) -> bool:
                line = pane(app)
                if not line.startswith(state):
                    return False
                return detail in line if detail else "Bash" not in line

            await async_wait_until(shows, pilot=pilot)
            assert app.query_one(SessionsPane).display
            line = pane(app)
            assert "claude-code·5b1f2c3d" in line and "  shop" in line, line


async def test_sessions_that_need_you_come_first_with_the_count_in_the_header(collector: Any) -> None:
    tool, asking, failing = (
        hook_requests("tool"),
        hook_requests("interactive-documented"),
        hook_requests("error"),
    )
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await apost_hook(collector.url, as_session(tool[0], "aaaa0001-w"))  # working
        await apost_hook(collector.url, as_session(tool[5], "dddd0004-s"))  # waiting (Stop)
        await apost_hook(collector.url, as_session(failing[1], "cccc0003-f"))  # failed
        await apost_hook(collector.url, as_session(asking[3], "bbbb0002-n"))  # needs you
        await async_wait_until(lambda: len(pane_lines(app)) == 4, pilot=pilot)
        lines = pane_lines(app)
        assert [line.split("  ")[0] for line in lines] == [
            "● needs you",
            "✗ failed",
            "▶ working",
            "◌ waiting",
        ]
        assert "claude-code·bbbb0002" in lines[0] and "permission to use Bash: npm test" in lines[0]
        assert "server_error" in lines[1], "a failed turn says why"
        assert "1 needs you" in header(app)
        # A second session asks: both lead, the one waiting longest first, and the count says two.
        await apost_hook(collector.url, as_session(asking[3], "aaaa0001-w"))
        await async_wait_until(lambda: "2 need you" in header(app), pilot=pilot)
        lines = pane_lines(app)
        assert ["claude-code·bbbb0002" in lines[0], "claude-code·aaaa0001" in lines[1]] == [True, True]
        assert all(line.startswith("● needs you") for line in lines[:2])


async def test_a_session_shows_the_tokens_and_cost_of_its_agent_row(collector: Any) -> None:
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        request = hook_requests("tool")[1]  # PreToolUse Bash, session 12d4ed51
        await apost_hook(collector.url, request["body"], request["headers"])
        await collector.apost(
            {
                "agent_id": "claude-code·12d4ed51",
                "span_type": "llm_call",
                "tokens_output": 1200,
                "latency_ms": 900,
                "cost_usd": 0.42,
            }
        )
        await async_wait_until(lambda: "$0.42" in pane(app), pilot=pilot)
        line = pane(app)
        assert line.startswith("▶ working") and "Bash" in line and "tok/s" in line, line
        assert "claude-code·12d4ed51" in app.query_one(AgentTable).row_agents(), "one agent row, not two"


async def test_p_and_enter_jump_to_the_sessions_tmux_pane(
    collector: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMUX", TMUX)
    runs = Runs()
    app = AgentWatchApp(url=collector.url, fps=20, runner=runs)
    async with app.run_test(size=SIZE) as pilot:
        asking = hook_requests("interactive-documented")
        await apost_hook(collector.url, as_session(asking[3], "eeee0005-a"), {"X-Tmux-Pane": "%12"})
        working = hook_requests("tool")[1]
        await apost_hook(collector.url, working["body"], working["headers"])  # pane %7
        await async_wait_until(lambda: len(pane_lines(app)) == 2, pilot=pilot)
        await pilot.press("p")  # from anywhere: the most urgent session
        await async_wait_until(lambda: runs.argvs, pilot=pilot)
        assert runs.argvs == [["tmux", "switch-client", "-t", "%12", ";", "select-pane", "-t", "%12"]]
        app.query_one(SessionsPane).focus()
        await pilot.press("down", "enter")  # the one under the cursor
        await async_wait_until(lambda: len(runs.argvs) == 2, pilot=pilot)
        assert runs.argvs[1] == ["tmux", "switch-client", "-t", "%7", ";", "select-pane", "-t", "%7"]
        assert "▶ working" in pane_lines(app)[1]
        app.query_one(AgentTable).focus()
        await pilot.press("p")  # away from the pane: the most urgent again, wherever its cursor was left
        await async_wait_until(lambda: len(runs.argvs) == 3, pilot=pilot)
        assert runs.argvs[2][3] == "%12"


async def test_no_jump_without_a_pane_id_or_outside_tmux(
    collector: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMUX", TMUX)
    runs = Runs()
    app = AgentWatchApp(url=collector.url, fps=20, runner=runs)
    async with app.run_test(size=SIZE) as pilot:
        hostile = as_session(hook_requests("tool")[0], "ffff0006-h")
        await apost_hook(collector.url, hostile, {"X-Tmux-Pane": "%7;run-shell 'touch /tmp/pwned'"})
        await async_wait_until(lambda: pane_lines(app), pilot=pilot)
        await pilot.press("p")
        await async_wait_until(lambda: told(app, "pane is not known"), pilot=pilot)
        app.notifier.inside_tmux = False
        working = hook_requests("tool")[1]
        await apost_hook(collector.url, as_session(working, "ffff0006-h"), {"X-Tmux-Pane": "%7"})
        await async_wait_until(lambda: "Bash" in pane(app), pilot=pilot)
        await pilot.press("p")
        await async_wait_until(lambda: told(app, "not running inside"), pilot=pilot)
        assert runs.argvs == [], "nothing ran"


async def test_at_80x24_sessions_take_one_line_each_and_the_rest_is_summed_up(collector: Any) -> None:
    tool = hook_requests("tool")
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=(80, 24)) as pilot:
        for n in range(6):
            await apost_hook(collector.url, as_session(tool[0], f"0000000{n}-x", cwd=f"/src/project-{n}"))
        await async_wait_until(lambda: "… 3 more (3 working)" in pane(app), pilot=pilot)
        sessions = app.query_one(SessionsPane)
        assert sessions.region.height == 4 and len(pane_lines(app)) == 4
        assert app.query_one("#log").region.height >= 5, "the log keeps its room"
        assert app.query_one(AgentTable).region.height >= 4
        text = screen_text(app)
        assert all(len(row) <= 80 for row in text.splitlines())
        assert "▶ working" in text and "… 3 more" in text


def test_the_help_screen_lists_the_session_keys() -> None:
    sections = dict(help_rows(AgentWatchApp.BINDINGS))
    keys = [keys for keys, _ in sections["Sessions"]]
    assert keys[:2] == ["p", "Enter"] and "tmux pane" in sections["Sessions"][0][1]
