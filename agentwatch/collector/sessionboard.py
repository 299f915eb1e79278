"""Every coding-agent session's live state, from its program's hooks (see :mod:`.hooks`).

:class:`SessionBoard` keeps one :class:`~agentwatch.protocol.Session` per (program, session id):
its state and since when, the tool running now, what it asks when it needs its user, its
directory, host and tmux pane. Sessions are listed the most urgent first (needs you, failed,
working, waiting, ended), the longest waiting first within a state. Bounded: at most
``max_sessions`` (the least recently updated goes first, counted in :attr:`SessionBoard.evicted`),
and an ended session is forgotten ``keep_ended`` seconds after it ended.

A working session's step is its agent's in-flight step: its running tool, else ``thinking`` (the
model at work between the prompt and the turn's end, no tool running); a session waiting for a
prompt, needing its user, failed or ended has none. ``on_tool(agent_id, key, tool, since,
span_type)`` is called whenever it may have changed (``tool`` None and ``span_type``
``tool_call``: none; ``key`` names the session).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from agentwatch.collector.hooks import Change
from agentwatch.protocol import (
    SESSION_ENDED,
    SESSION_FAILED,
    SESSION_NEEDS_YOU,
    SESSION_STATES,
    SESSION_WAITING,
    SESSION_WORKING,
    SPAN_LOG,
    SPAN_TOOL_CALL,
    Event,
    Session,
)

DEFAULT_MAX_SESSIONS: Final = 1000
DEFAULT_KEEP_ENDED: Final = 3600.0
_RANK: Final = {state: rank for rank, state in enumerate(SESSION_STATES)}
#: The step of a working session with no tool running.
STEP_THINKING: Final = "thinking"
OnTool = Callable[[str, str, str | None, float | None, str], None]


class SessionBoard:
    """Session states by (program, session id). Event-loop only."""

    def __init__(
        self,
        *,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        keep_ended: float = DEFAULT_KEEP_ENDED,
        clock: Callable[[], float] = time.time,
        on_tool: OnTool | None = None,
    ) -> None:
        self.max_sessions = max_sessions
        self.on_tool = on_tool
        self.keep_ended = keep_ended
        self.clock = clock
        self._sessions: OrderedDict[tuple[str, str], Session] = OrderedDict()
        #: Bumped on every change: a viewer's copy is current while it matches.
        self.version = 0
        self.evicted = 0
        self.hooks_total = 0
        self.hooks_ignored = 0

    def apply(self, program: str, change: Change | None) -> Session | None:
        """Apply one hook's change (None: counted, changes nothing); returns the session when its
        state changed (a new session, or a new state), else None."""
        self.hooks_total += 1
        if change is None:
            self.hooks_ignored += 1
            return None
        moved = True
        now = self.clock()
        key = (program, change.session_id)
        session = self._sessions.get(key)
        if session is None:
            session = Session(
                session_id=change.session_id,
                program=program,
                agent_id=change.agent_id,
                state=change.state,
                since=now,
                updated=now,
            )
            self._sessions[key] = session
            if len(self._sessions) > self.max_sessions:
                gone_key, gone = self._sessions.popitem(last=False)
                self.evicted += 1
                if self.on_tool is not None:
                    self.on_tool(gone.agent_id, tool_key(*gone_key), None, None, SPAN_TOOL_CALL)
        else:
            self._sessions.move_to_end(key)
            moved = session.state != change.state
            if moved:
                session.since = now
            session.state = change.state
            session.updated = now
        if not change.keeps_tool:
            tool = change.tool if isinstance(change.tool, str) else None
            if tool != session.tool or tool is None:
                session.tool_since = now if tool is not None else None
            session.tool = tool
        if self.on_tool is not None:
            if session.state != SESSION_WORKING:  # waiting, needing its user, failed or ended
                self.on_tool(session.agent_id, tool_key(*key), None, None, SPAN_TOOL_CALL)
            elif session.tool is not None:
                self.on_tool(
                    session.agent_id, tool_key(*key), session.tool, session.tool_since, SPAN_TOOL_CALL
                )
            else:  # since the prompt or the last tool's end: a step already open keeps its start
                self.on_tool(session.agent_id, tool_key(*key), None, None, STEP_THINKING)
        session.asks = change.asks
        session.detail = change.event
        for name in ("cwd", "host", "tmux_pane"):
            value = getattr(change, name)
            if value is not None:
                setattr(session, name, value)
        self.version += 1
        return session if moved else None

    def sessions(self) -> list[Session]:
        """Every session, the most urgent first; ended ones past ``keep_ended`` are forgotten."""
        now = self.clock()
        stale = [
            key
            for key, session in self._sessions.items()
            if session.state == SESSION_ENDED and now - session.since > self.keep_ended
        ]
        for key in stale:
            del self._sessions[key]
        if stale:
            self.version += 1
        return sorted(self._sessions.values(), key=lambda s: (_RANK.get(s.state, len(_RANK)), s.since))

    def __len__(self) -> int:
        return len(self._sessions)


def tool_key(program: str, session_id: str) -> str:
    """The in-flight step key of a session's tool (unlike any SDK span id: those are hex)."""
    return f"session:{program}:{session_id}"


_LEVELS: Final = {SESSION_NEEDS_YOU: "warning", SESSION_FAILED: "error"}
_WORDS: Final = {SESSION_NEEDS_YOU: "needs you", SESSION_WAITING: "waiting for a prompt"}


def session_line(session: Session) -> Event:
    """A session's new state as a log line of its agent: ``session needs you: permission to use Bash``."""
    text = f"session {_WORDS.get(session.state, session.state)}"
    if session.asks:
        text += f": {session.asks}"
    elif session.tool:
        text += f": {session.tool}"
    return Event(
        session.agent_id,
        session.since,
        span_type=SPAN_LOG,
        level=_LEVELS.get(session.state, "info"),
        message=text,
        attributes={"session.state": session.state, "session.program": session.program},
    )
