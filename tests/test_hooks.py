"""Coding agents' hooks: each program's payloads as session states, over the real collector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentwatch.collector.hooks import EXTRA_KEY, read_hook
from agentwatch.collector.sessionboard import SessionBoard
from agentwatch.protocol import (
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_HOOKS,
    PATH_SESSIONS,
    PATH_SNAPSHOT,
    SESSION_ENDED,
    SESSION_FAILED,
    SESSION_NEEDS_YOU,
    SESSION_WAITING,
    SESSION_WORKING,
)
from tests.helpers import Clock, all_logs

HOOKS = Path(__file__).resolve().parent / "fixtures" / "hooks"


def captured(name: str) -> list[dict[str, Any]]:
    """Hook requests the real Claude Code CLI sent (or the documentation shows), in order."""
    lines = (HOOKS / "claude-code" / f"{name}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def post_hook(url: str, program: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{url}{PATH_HOOKS}/{program}",
        content=content,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=10,
    )


def states(url: str, program: str, requests: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """Post each request and read the session's (state, tool) after it."""
    seen = []
    for request in requests:
        answer = post_hook(url, program, request["body"], request["headers"])
        assert (answer.status_code, answer.content) == (200, b"{}"), answer.text
        (session,) = httpx.get(url + PATH_SESSIONS, timeout=10).json()
        seen.append((session["state"], session.get("tool")))
    return seen


def test_a_real_claude_code_run_goes_working_then_waiting_then_ended(collector: Any) -> None:
    seen = states(collector.url, "claude-code", captured("tool"))
    assert seen == [
        (SESSION_WORKING, None),  # UserPromptSubmit
        (SESSION_WORKING, "Bash"),
        (SESSION_WORKING, None),
        (SESSION_WORKING, "Write"),
        (SESSION_WORKING, None),
        (SESSION_WAITING, None),  # Stop
        (SESSION_ENDED, None),  # SessionEnd
    ]
    (session,) = httpx.get(collector.url + PATH_SESSIONS, timeout=10).json()
    assert session["agent_id"] == "claude-code·12d4ed51", "the row its telemetry reports under"
    assert session["tmux_pane"] == "%7" and session["cwd"].endswith("/work")
    assert "prompt" not in json.dumps(session), "a prompt's text is never kept"


def test_a_failed_turn_is_failed_with_its_error(collector: Any) -> None:
    seen = states(collector.url, "claude-code", captured("error"))
    assert [state for state, _ in seen] == [SESSION_WORKING, SESSION_FAILED, SESSION_ENDED]


def test_a_permission_request_needs_you_until_the_tool_runs(collector: Any) -> None:
    requests = captured("interactive-documented")
    seen = states(collector.url, "claude-code", requests)
    assert [state for state, _ in seen] == [
        SESSION_WAITING,  # SessionStart
        SESSION_WORKING,
        SESSION_WORKING,
        SESSION_NEEDS_YOU,  # PermissionRequest
        SESSION_NEEDS_YOU,  # Notification permission_prompt
        SESSION_WORKING,  # PostToolUse: it was allowed
        SESSION_WAITING,  # Stop
        SESSION_WAITING,  # Notification idle_prompt: still waiting for a prompt
        SESSION_ENDED,
    ]
    assert seen[3] == (SESSION_NEEDS_YOU, "Bash"), "the tool it asks about"
    post_hook(collector.url, "claude-code", requests[3]["body"])
    (session,) = httpx.get(collector.url + PATH_SESSIONS, timeout=10).json()
    assert session["asks"] == "permission to use Bash: npm test"


def test_needs_you_comes_first_then_failed_working_waiting_ended() -> None:
    clock = Clock()
    board = SessionBoard(clock=clock)

    def hook(session: str, event: str, **fields: Any) -> None:
        clock.now += 1
        payload = {"session_id": session, "hook_event_name": event, **fields}
        board.apply("claude-code", read_hook("claude-code", payload))

    hook("ended-1", "SessionEnd")
    hook("wait-1", "Stop")
    hook("work-1", "UserPromptSubmit")
    hook("ask-late", "PermissionRequest", tool_name="Bash")
    hook("fail-1", "StopFailure", error="rate_limit")
    hook("ask-early", "Notification", message="needs your permission to use Write")
    clock.now += 1
    board.apply(
        "claude-code",
        read_hook(
            "claude-code",
            {
                "session_id": "ask-late",
                "hook_event_name": "Notification",
                "message": "x",
                "notification_type": "permission_prompt",
            },
        ),
    )
    order = [s.session_id for s in board.sessions()]
    assert order == ["ask-late", "ask-early", "fail-1", "work-1", "wait-1", "ended-1"], (
        "the longest waiting first"
    )


def test_ended_sessions_are_forgotten_and_the_board_is_bounded() -> None:
    clock = Clock()
    board = SessionBoard(clock=clock, max_sessions=3, keep_ended=60)
    for i in range(5):
        board.apply(
            "claude-code", read_hook("claude-code", {"session_id": f"s{i}", "hook_event_name": "Stop"})
        )
    assert [s.session_id for s in board.sessions()] == ["s2", "s3", "s4"] and board.evicted == 2
    board.apply(
        "claude-code", read_hook("claude-code", {"session_id": "s4", "hook_event_name": "SessionEnd"})
    )
    clock.now += 61
    assert [s.session_id for s in board.sessions()] == ["s2", "s3"]


def test_codex_notify_and_gemini_hooks_name_the_rows_of_their_telemetry() -> None:
    notify = json.loads((HOOKS / "codex-notify-documented.json").read_text())
    change = read_hook("codex", notify)
    assert change is not None and change.state == SESSION_WAITING
    assert change.agent_id == "codex·2a035a53", "Codex rows end with the conversation id's last 8"
    gemini = read_hook(
        "gemini-cli",
        {"session_id": "9f8e7d6c-1234", "hook_event_name": "BeforeTool", "tool_name": "run_shell_command"},
    )
    assert gemini is not None and (gemini.state, gemini.tool, gemini.agent_id) == (
        SESSION_WORKING,
        "run_shell_command",
        "gemini-cli·9f8e7d6c",
    )
    assert (
        read_hook(
            "gemini-cli", {"session_id": "x", "hook_event_name": "Notification", "message": "Allow?"}
        ).state
        == SESSION_NEEDS_YOU
    )  # type: ignore[union-attr]


def test_what_agentwatch_hook_adds_wins_over_headers() -> None:
    payload = {
        "session_id": "s",
        "hook_event_name": "Stop",
        EXTRA_KEY: {"host": "build-box", "tmux_pane": "%3"},
    }
    change = read_hook("claude-code", payload, {"tmux_pane": "%9", "host": None})
    assert change is not None and (change.host, change.tmux_pane) == ("build-box", "%3")


@pytest.mark.parametrize(
    "payload",
    [
        {"hook_event_name": "Stop"},  # no session
        {"session_id": 7, "hook_event_name": "Stop"},
        {"session_id": "s", "hook_event_name": "SomethingNew"},
        {"session_id": "s"},
        {"session_id": "s", "hook_event_name": ["Stop"]},
    ],
)
def test_a_payload_that_says_nothing_known_changes_nothing(payload: dict[str, Any]) -> None:
    assert read_hook("claude-code", payload) is None


def test_sessions_past_the_bound_are_counted_in_healthz(collector: Any) -> None:
    collector.service.sessions.max_sessions = 2
    for i in range(5):
        assert post_hook(
            collector.url, "claude-code", {"session_id": f"s{i}", "hook_event_name": "Stop"}
        ).is_success
    health = httpx.get(collector.url + PATH_HEALTH, timeout=10).json()
    assert (health["sessions"], health["sessions_evicted"]) == (2, 3)


def test_bad_hook_requests_get_a_precise_4xx_and_unknown_events_are_accepted(collector: Any) -> None:
    url = collector.url
    assert post_hook(url, "vim", {"session_id": "s"}).status_code == 404
    assert "claude-code" in post_hook(url, "vim", {}).text
    assert post_hook(url, "claude-code", b"{not json").status_code == 400
    assert post_hook(url, "claude-code", [1, 2]).status_code == 400
    for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        nested = post_hook(url, "claude-code", deep)
        assert nested.status_code == 400 and "deep" in nested.text, nested.text
    assert (
        post_hook(url, "claude-code", {"session_id": "s", "hook_event_name": "TaskCreated"}).status_code
        == 200
    )
    assert httpx.get(url + PATH_SESSIONS, timeout=10).json() == []
    hostile = {
        "session_id": "s\x1b]0;pwn\x07",
        "hook_event_name": "PermissionRequest",
        "tool_name": "Bash\x1b[2J",
        "tool_input": {"command": "x" * 10_000},
    }
    assert post_hook(url, "claude-code", hostile).status_code == 200
    (session,) = httpx.get(url + PATH_SESSIONS, timeout=10).json()
    assert len(session["asks"]) <= 200


def test_hooks_need_the_token_when_the_collector_has_one(start_collector: Any) -> None:
    collector = start_collector(token="s3cret")
    body = {"session_id": "s", "hook_event_name": "Stop"}
    assert post_hook(collector.url, "claude-code", body).status_code == 401
    assert (
        post_hook(collector.url, "claude-code", body, {"Authorization": "Bearer s3cret"}).status_code == 200
    )


def test_a_session_and_its_telemetry_are_one_row(collector: Any) -> None:
    post_hook(
        collector.url, "claude-code", {"session_id": "d0615065-1e47", "hook_event_name": "UserPromptSubmit"}
    )
    event = {
        "agent_id": "claude-code·d0615065",
        "span_type": "llm_call",
        "tokens_output": 5,
        "cost_usd": 0.01,
    }
    assert httpx.post(collector.url + PATH_EVENTS, json=event, timeout=10).status_code == 202
    snapshot = httpx.get(collector.url + PATH_SNAPSHOT, timeout=10).json()
    assert [row["agent_id"] for row in snapshot["agents"]] == ["claude-code·d0615065"]
    assert [s["agent_id"] for s in snapshot["sessions"]] == ["claude-code·d0615065"]


def test_each_state_change_is_a_line_in_its_agents_log(collector: Any) -> None:
    states(collector.url, "claude-code", captured("interactive-documented"))
    lines = [
        entry
        for entry in all_logs(collector.url, collector.service.logs.last_id)
        if entry.message.startswith("session ")
    ]
    assert [(line.level, line.message) for line in lines] == [
        ("info", "session waiting for a prompt"),
        ("info", "session working"),
        ("warning", "session needs you: permission to use Bash: npm test"),
        ("info", "session working"),
        ("info", "session waiting for a prompt"),
        ("info", "session ended"),
    ]
    assert {line.agent_id for line in lines} == {"claude-code·5b1f2c3d"}
