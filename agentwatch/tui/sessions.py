"""Coding-agent sessions on screen: which one needs you, which are working, waiting, failed, ended.

:class:`SessionsPane` shows the fleet snapshot's ``sessions`` (the collector lists them the most
urgent first), one line each: the state as a symbol and a word, how long it has been in it, the
session (its agent id, ``claude-code·5b1f2c3d``), project directory, host, what it asks when it
needs you or the tool it runs now, and its tokens per second and cost from the agent row of the
same id. Hidden while there are none, so an 80×24 screen loses nothing. With more sessions than
its lines, the last line sums up the rest.

The pane takes focus (Tab): ↑/↓ (j/k) move its cursor and Enter asks the app to jump to that
session's tmux pane (:class:`SessionsPane.Jump`). Everything here renders data it is given and
does no I/O; agent text goes through :func:`fmt.safe` into :class:`rich.text.Text`, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static

from agentwatch.protocol import (
    SESSION_ENDED,
    SESSION_FAILED,
    SESSION_NEEDS_YOU,
    SESSION_WAITING,
    SESSION_WORKING,
    AgentRow,
    Session,
)
from agentwatch.tui import formatting as fmt

#: State → (symbol, word, Rich style): never colour alone.
STATE_LABELS: Final = {
    SESSION_NEEDS_YOU: ("●", "needs you", "bold black on yellow"),
    SESSION_FAILED: ("✗", "failed", "bold red"),
    SESSION_WORKING: ("▶", "working", "green"),
    SESSION_WAITING: ("◌", "waiting", "cyan"),
    SESSION_ENDED: ("○", "ended", "dim"),
}
#: Width of the widest state word, so the columns after it line up.
_WORD_WIDTH: Final = max(len(word) for _, word, _ in STATE_LABELS.values())
#: Lines the pane takes at most on a short terminal (under :data:`TALL_SCREEN` rows) and otherwise.
SHORT_LINES: Final = 4
TALL_LINES: Final = 8
TALL_SCREEN: Final = 30
#: Longest project, host and agent id shown (cut with "…").
PROJECT_WIDTH: Final = 18
HOST_WIDTH: Final = 14
AGENT_WIDTH: Final = 24
ASKS_WIDTH: Final = 120


def session_key(session: Session) -> tuple[str, str]:
    """What names a session across snapshots: (program, session id)."""
    return (session.program, session.session_id)


def project_name(cwd: str | None) -> str | None:
    """The last part of a directory path ("/home/u/src/shop" → "shop"; "/" stays "/")."""
    if not cwd:
        return None
    trimmed = cwd.rstrip("/\\")
    if not trimmed:
        return cwd[:1]
    return trimmed.replace("\\", "/").rsplit("/", 1)[-1]


def short_duration(seconds: float) -> str:
    """A compact time in a state: "8s", "4m12s", "2h05m", "3d"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
    return f"{seconds // 86400}d"


def needs_you_count(sessions: Sequence[Session]) -> int:
    return sum(1 for session in sessions if session.state == SESSION_NEEDS_YOU)


def needs_you_text(count: int) -> Text:
    """The header's "● 2 need you" (empty when none does)."""
    if count <= 0:
        return Text()
    return Text(f"  ● {count} need{'s' if count == 1 else ''} you", style="bold black on yellow")


def what_it_does(session: Session, now: float) -> str:
    """What the line says after where it runs: what it asks, the tool it runs and for how long,
    or why it failed (agent text, made safe)."""
    if session.state in (SESSION_NEEDS_YOU, SESSION_FAILED) and session.asks:
        return fmt.safe(session.asks, ASKS_WIDTH)
    if session.state == SESSION_WORKING and session.tool:
        tool = fmt.safe(session.tool, 40)
        if session.tool_since is not None:
            return f"{tool} {short_duration(now - session.tool_since)}"
        return tool
    return ""


@dataclass(frozen=True, slots=True)
class Columns:
    """Widths the agent id, project and host columns are padded to, so the lines of a pane align."""

    agent: int = 0
    project: int = 0
    host: int = 0

    @classmethod
    def of(cls, sessions: Sequence[Session]) -> Columns:
        return cls(
            agent=max((len(fmt.safe(s.agent_id, AGENT_WIDTH)) for s in sessions), default=0),
            project=max(
                (len(fmt.safe(project_name(s.cwd) or "", PROJECT_WIDTH)) for s in sessions), default=0
            ),
            host=max((len(fmt.safe(s.host, HOST_WIDTH)) + 1 for s in sessions if s.host), default=0),
        )


def session_line(session: Session, row: AgentRow | None, now: float, columns: Columns | None = None) -> Text:
    """One session as a line: "● needs you 4m12s  claude-code·5b1f2c3d  shop  @laptop  permission
    to use Bash: npm test  12 tok/s  $0.42", its columns padded to ``columns``."""
    widths = columns or Columns()
    symbol, word, style = STATE_LABELS.get(session.state, ("?", fmt.safe(session.state, 12), ""))
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{symbol} {word.ljust(_WORD_WIDTH)}", style=style)
    # How long it has waited for you stands out with its state; other states' times are plain.
    waited = style if session.state == SESSION_NEEDS_YOU else ("bold" if style.startswith("bold") else "")
    text.append(f" {short_duration(now - session.since):>6} ", style=waited)
    text.append(" ")
    text.append(fmt.safe(session.agent_id, AGENT_WIDTH).ljust(widths.agent), style="bold cyan")
    if widths.project or session.cwd:
        text.append("  ")
        text.append(fmt.safe(project_name(session.cwd) or "", PROJECT_WIDTH).ljust(widths.project))
    if widths.host or session.host:
        text.append("  ")
        host = "@" + fmt.safe(session.host, HOST_WIDTH) if session.host else ""
        text.append(host.ljust(widths.host), style="dim")
    doing = what_it_does(session, now)
    if doing:
        text.append("  ")
        text.append(doing, style="bold" if session.state == SESSION_NEEDS_YOU else "")
    if row is not None:
        if row.tokens_per_second:
            text.append(f"  {fmt.compact(row.tokens_per_second, 2)} tok/s", style="dim")
        if row.cost_usd:
            text.append(f"  {fmt.usd(row.cost_usd)}", style="dim")
    return text


def summary_line(rest: Sequence[Session]) -> Text:
    """The last line when sessions do not fit: "… 5 more (1 needs you, 2 working)"."""
    counts: dict[str, int] = {}
    for session in rest:
        counts[session.state] = counts.get(session.state, 0) + 1
    parts = [f"{counts[state]} {STATE_LABELS[state][1]}" for state in STATE_LABELS if counts.get(state)]
    return Text(f"… {len(rest)} more ({', '.join(parts)})", style="dim", no_wrap=True, overflow="ellipsis")


@dataclass(frozen=True, slots=True)
class ShownSessions:
    """What the pane draws: the sessions on its lines (in order) and how many did not fit."""

    sessions: tuple[Session, ...]
    hidden: int


class SessionsPane(Static, can_focus=True):
    """The sessions, most urgent first, one line each; hidden while there are none.

    :meth:`update_from` re-renders only when the text changed (times move once a second).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "jump", "Jump to pane", show=False),
        Binding("down,j", "cursor(1)", "Next session", show=False),
        Binding("up,k", "cursor(-1)", "Previous session", show=False),
    ]

    class Jump(Message):
        """Enter on a session: the app jumps to its tmux pane."""

        def __init__(self, session: Session) -> None:
            super().__init__()
            self.session = session

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.display = False
        self.plain = ""
        """The pane as plain text (what a reader sees without colour)."""
        self.shown = ShownSessions((), 0)
        self._cursor_key: tuple[str, str] | None = None
        self._rendered: tuple[object, ...] | None = None
        self._rest: tuple[Session, ...] = ()
        self._rows: dict[str, AgentRow] = {}
        self._now = 0.0

    # ------------------------------------------------------------------ data in
    def line_budget(self) -> int:
        """Lines the pane may take on this screen."""
        height = self.app.size.height if self.is_attached else TALL_SCREEN
        return TALL_LINES if height >= TALL_SCREEN else SHORT_LINES

    def update_from(self, sessions: Sequence[Session], rows: Sequence[AgentRow], now: float) -> bool:
        """Show these sessions (already most urgent first) with their agent rows; False when unchanged."""
        budget = self.line_budget()
        if len(sessions) > budget:
            shown, hidden = tuple(sessions[: budget - 1]), len(sessions) - (budget - 1)
        else:
            shown, hidden = tuple(sessions), 0
        self.shown = ShownSessions(shown, hidden)
        self._rows = {row.agent_id: row for row in rows}
        self._now = now
        self._rest = tuple(sessions[len(shown) :])
        self.display = bool(sessions)
        return self._render_lines()

    @property
    def cursor(self) -> int:
        """The index of the session under the cursor (0: the most urgent)."""
        keys = [session_key(session) for session in self.shown.sessions]
        if self._cursor_key in keys:
            return keys.index(self._cursor_key)
        return 0

    @property
    def selected(self) -> Session | None:
        """The session a jump goes to: under the cursor while the pane has the focus, else the most
        urgent one (the first that needs you), wherever the cursor was left."""
        sessions = self.shown.sessions
        if not sessions:
            return None
        return sessions[self.cursor] if self.has_focus else sessions[0]

    # ------------------------------------------------------------------ drawing
    def _render_lines(self) -> bool:
        sessions, rest = self.shown.sessions, self._rest
        cursor = self.cursor if self.has_focus else -1
        columns = Columns.of(sessions)
        lines = []
        for index, session in enumerate(sessions):
            line = session_line(session, self._rows.get(session.agent_id), self._now, columns)
            if index == cursor:
                line.stylize("reverse")
            lines.append(line)
        if rest:
            lines.append(summary_line(rest))
        joined = Text("\n").join(lines)
        key = (joined.plain, *joined.spans)
        if key == self._rendered:
            return False
        self._rendered = key
        self.plain = joined.plain
        self.update(joined)
        return True

    def on_focus(self) -> None:
        self._render_lines()

    def on_blur(self) -> None:
        self._render_lines()

    # ------------------------------------------------------------------ keys
    def action_cursor(self, step: int) -> None:
        sessions = self.shown.sessions
        if not sessions:
            return
        index = max(0, min(len(sessions) - 1, self.cursor + step))
        self._cursor_key = session_key(sessions[index])
        self._render_lines()

    def action_jump(self) -> None:
        session = self.selected
        if session is not None:
            self.post_message(self.Jump(session))
