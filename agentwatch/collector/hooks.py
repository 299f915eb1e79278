"""Coding agents' hook payloads read as session changes: which session, what it is now doing.

Each program calls its hooks at points of its loop with a JSON object. :func:`read_hook` turns one
into a :class:`Change` (or None for an event that changes nothing); it never raises on content,
since a hook must never fail its agent: anything unknown is simply no change.

* **Claude Code** (``hook_event_name``): ``SessionStart`` → waiting for a prompt;
  ``UserPromptSubmit`` → working; ``PreToolUse`` → working with that tool; ``PostToolUse`` /
  ``PostToolUseFailure`` / ``PermissionDenied`` → working, no tool; ``PermissionRequest`` → needs
  you (permission to use the tool); ``Notification`` → needs you, except ``idle_prompt`` (waiting
  for a prompt) and ``auth_success``; ``Elicitation`` → needs you; ``Stop`` → waiting;
  ``StopFailure`` → failed; ``SessionEnd`` → ended.
* **Gemini CLI** (``hook_event_name``): ``SessionStart`` → waiting; ``BeforeAgent`` → working;
  ``BeforeTool`` → working with that tool; ``AfterTool`` → working; ``Notification`` → needs you;
  ``AfterAgent`` → waiting; ``SessionEnd`` → ended.
* **Codex** (its ``notify`` program): ``agent-turn-complete`` → waiting.

Agent text (a tool's command, a notification) is kept short here and made safe where shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from agentwatch.collector.otlp import codex, sessions
from agentwatch.protocol import (
    SESSION_ENDED,
    SESSION_FAILED,
    SESSION_NEEDS_YOU,
    SESSION_WAITING,
    SESSION_WORKING,
)

#: Longest text kept from a payload (what a session asks, a tool's name, a directory).
MAX_TEXT: Final = 200
#: Where ``agentwatch hook`` puts what only a command sees (host, tmux pane).
EXTRA_KEY: Final = "_agentwatch"
_KEEP_TOOL: Final = object()  # a change that leaves the running tool as it is


@dataclass(frozen=True, slots=True)
class Change:
    """What one hook says: the session, its new state, and what goes with it."""

    session_id: str
    agent_id: str
    state: str
    event: str
    tool: object = None  # a tool name, None (no tool running) or _KEEP_TOOL
    asks: str | None = None
    cwd: str | None = None
    host: str | None = None
    tmux_pane: str | None = None

    @property
    def keeps_tool(self) -> bool:
        return self.tool is _KEEP_TOOL


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _command_of(tool_input: Any) -> str | None:
    """The gist of a tool's input: a shell command, a file path, a URL or a pattern."""
    if isinstance(tool_input, dict):
        for key in ("command", "file_path", "path", "url", "pattern", "query"):
            text = _text(tool_input.get(key), 120)
            if text:
                return text
    return None


def _claude(payload: dict[str, Any]) -> tuple[str, str, object, str | None] | None:
    """(event, state, tool, asks) of a Claude Code hook; None when it changes nothing."""
    event = payload.get("hook_event_name")
    tool = _text(payload.get("tool_name"), 80)
    if event == "UserPromptSubmit":
        return event, SESSION_WORKING, None, None
    if event == "PreToolUse":
        return event, SESSION_WORKING, tool, None
    if event in ("PostToolUse", "PostToolUseFailure", "PermissionDenied", "PostToolBatch"):
        return event, SESSION_WORKING, None, None
    if event == "PermissionRequest":
        gist = _command_of(payload.get("tool_input"))
        asks = f"permission to use {tool or 'a tool'}" + (f": {gist}" if gist else "")
        return event, SESSION_NEEDS_YOU, tool, asks
    if event == "Notification":
        kind = payload.get("notification_type")
        message = _text(payload.get("message")) or "a notification"
        if kind == "idle_prompt":
            return event, SESSION_WAITING, None, None
        if kind == "auth_success":
            return None
        return event, SESSION_NEEDS_YOU, _KEEP_TOOL, message
    if event == "Elicitation":
        server = _text(payload.get("mcp_server_name"), 80)
        return event, SESSION_NEEDS_YOU, _KEEP_TOOL, f"an answer for {server or 'a question'}"
    if event in ("Stop", "SessionStart"):
        return event, SESSION_WAITING, None, None
    if event == "StopFailure":
        return event, SESSION_FAILED, None, _text(payload.get("error")) or "the turn failed"
    if event == "SessionEnd":
        return event, SESSION_ENDED, None, None
    return None


def _gemini(payload: dict[str, Any]) -> tuple[str, str, object, str | None] | None:
    event = payload.get("hook_event_name")
    tool = _text(payload.get("tool_name"), 80)
    if event == "BeforeAgent":
        return event, SESSION_WORKING, None, None
    if event == "BeforeTool":
        return event, SESSION_WORKING, tool, None
    if event == "AfterTool":
        return event, SESSION_WORKING, None, None
    if event == "Notification":
        message = _text(payload.get("message")) or "a notification"
        return event, SESSION_NEEDS_YOU, _KEEP_TOOL, message
    if event in ("AfterAgent", "SessionStart"):
        return event, SESSION_WAITING, None, None
    if event == "SessionEnd":
        return event, SESSION_ENDED, None, None
    return None


def _codex(payload: dict[str, Any]) -> tuple[str, str, object, str | None] | None:
    event = payload.get("type")
    if event == "agent-turn-complete":
        return event, SESSION_WAITING, None, None
    return None


_READERS: Final = {"claude-code": _claude, "gemini-cli": _gemini, "codex": _codex}
_SESSION_KEYS: Final = {"claude-code": "session_id", "gemini-cli": "session_id", "codex": "thread-id"}


def agent_of(program: str, session_id: str) -> str:
    """The agent id the program's telemetry gives this session (so the two are one row)."""
    if program == "codex":
        return codex.session_agent(program, {"conversation.id": session_id})
    return sessions.session_agent(program, {"session.id": session_id})


def read_hook(
    program: str, payload: dict[str, Any], sent_with: dict[str, Any] | None = None
) -> Change | None:
    """The change one hook payload makes, or None (no session id, or an event that changes nothing).

    ``sent_with`` is what came beside the payload (an HTTP hook's ``X-Tmux-Pane`` and
    ``X-Agentwatch-Host`` headers); what ``agentwatch hook`` put in the payload wins over it."""
    reader = _READERS.get(program)
    session_id = _text(payload.get(_SESSION_KEYS.get(program, "session_id")), 128)
    if reader is None or session_id is None:
        return None
    read = reader(payload)
    if read is None:
        return None
    event, state, tool, asks = read
    extra = dict(sent_with or {})
    added = payload.get(EXTRA_KEY)
    if isinstance(added, dict):
        extra.update((key, value) for key, value in added.items() if value)
    return Change(
        session_id=session_id,
        agent_id=agent_of(program, session_id),
        state=state,
        event=str(event),
        tool=tool,
        asks=asks,
        cwd=_text(payload.get("cwd")),
        host=_text(extra.get("host"), 80),
        tmux_pane=_text(extra.get("tmux_pane"), 32),
    )
