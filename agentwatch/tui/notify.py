"""Telling the user, outside the viewer's screen, that a session needs them or an alert fires.

Channels, each opt-in (``--notify bell,osc9,osc777,tmux`` and ``--notify-command CMD``):

* ``bell`` — the terminal bell (BEL);
* ``osc9`` — ``ESC ] 9 ; text BEL``, a desktop notification in iTerm2, WezTerm, Ghostty, kitty…;
* ``osc777`` — ``ESC ] 777 ; notify ; title ; body BEL`` (urxvt, foot, Ghostty, WezTerm…);
* ``tmux`` — ``tmux display-message`` in the status line, when the viewer runs inside tmux;
* the command — run with the event as one JSON object on standard input.

A session is told once per state it enters (``needs you`` or ``failed``), the first time a
snapshot shows it there; it is told again only after it left that state (a new ``since``).
Sessions already waiting in the first snapshot a viewer gets are shown, not told (as alerts).
Alerts that start firing go to the same channels; the bell also rings for them unless the bell
is off (``--no-bell``), as it always did.

Agent text is data in every channel: control and format characters become visible stand-ins
(:func:`~agentwatch.textsafe.printable`), so no ESC or BEL reaches an OSC payload; long text
is cut; ``;`` in an OSC 777 title becomes ``,``; ``#`` is doubled for tmux, whose messages are
formats (``#(cmd)`` would run a command). Commands run from an argv list (``shlex.split`` of
the option, the event on standard input, never in argv), never through a shell, at most
:data:`MAX_RUNNING` at once for at most :data:`COMMAND_TIMEOUT` seconds each, off the UI's
way; events past that bound are dropped and counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from agentwatch.client.alertactions import is_quiet
from agentwatch.protocol import SESSION_FAILED, SESSION_NEEDS_YOU, Alert, Session
from agentwatch.textsafe import printable

CHANNEL_BELL: Final = "bell"
CHANNEL_OSC9: Final = "osc9"
CHANNEL_OSC777: Final = "osc777"
CHANNEL_TMUX: Final = "tmux"
#: Every channel ``--notify`` takes.
CHANNELS: Final = (CHANNEL_BELL, CHANNEL_OSC9, CHANNEL_OSC777, CHANNEL_TMUX)
#: Session states that are told.
TOLD_STATES: Final = (SESSION_NEEDS_YOU, SESSION_FAILED)

BEL: Final = "\x07"
TITLE_LIMIT: Final = 60
BODY_LIMIT: Final = 200
#: Commands running at once; an event past that is dropped (counted in ``Notifier.dropped``).
MAX_RUNNING: Final = 4
#: Seconds a notify command may run before it is killed.
COMMAND_TIMEOUT: Final = 5.0
#: A tmux pane id as ``$TMUX_PANE`` holds it: the only pane text that reaches a tmux argv.
_PANE_ID: Final = re.compile(r"%[0-9]{1,9}")


def parse_channels(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"bell,osc9"`` (or a list of names) → the channels, in :data:`CHANNELS` order.

    Raises ValueError naming an unknown channel. Empty, ``none`` or None → no channel.
    """
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else list(value)
    names = set()
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"channel names are strings, got {part!r}")
        name = part.strip().lower()
        if not name or name == "none":
            continue
        if name not in CHANNELS:
            raise ValueError(f"unknown channel {part.strip()!r} (one of {', '.join(CHANNELS)})")
        names.add(name)
    return tuple(name for name in CHANNELS if name in names)


def parse_command(value: str | None) -> list[str] | None:
    """The ``--notify-command`` option as an argv (``shlex.split``); ValueError when unusable."""
    if value is None or not value.strip():
        return None
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot split {value!r}: {exc}") from None
    return argv or None


def clean(text: object, limit: int) -> str:
    """Agent text for a notification: one line, every control made visible, at most ``limit`` characters."""
    shown = " ".join(printable(text if isinstance(text, str) else str(text)).split())
    return shown if len(shown) <= limit else shown[: max(0, limit - 1)] + "…"


def osc9(title: str, body: str) -> str:
    """The OSC 9 notification for a title and body (already :func:`clean`)."""
    return f"\x1b]9;{title}: {body}{BEL}" if body else f"\x1b]9;{title}{BEL}"


def osc777(title: str, body: str) -> str:
    """The OSC 777 notification; a ``;`` would end the title field, so it becomes ``,`` there."""
    return f"\x1b]777;notify;{title.replace(';', ',')};{body}{BEL}"


def tmux_literal(text: str) -> str:
    """Text tmux shows as it is: ``display-message`` expands formats, and ``##`` is a literal ``#``."""
    return text.replace("#", "##")


def pane_id(value: str | None) -> str | None:
    """A tmux pane id (``%7``) or None: anything else never reaches a tmux argv."""
    if value is not None and _PANE_ID.fullmatch(value):
        return value
    return None


def jump_argv(pane: str) -> list[str]:
    """tmux's argv to show ``pane`` (a :func:`pane_id`): its session in this client, then the pane."""
    return ["tmux", "switch-client", "-t", pane, ";", "select-pane", "-t", pane]


def display_argv(text: str) -> list[str]:
    """tmux's argv to show ``text`` (already :func:`clean`) in the status line."""
    return ["tmux", "display-message", tmux_literal(text)]


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell: a title and body (safe text) and the event as JSON fields."""

    title: str
    body: str
    event: dict[str, Any] = field(default_factory=dict)


def session_notice(session: Session) -> Notice:
    """ "claude-code·5b1f2c3d needs you" / "shop @laptop: permission to use Bash: npm test"."""
    word = "needs you" if session.state == SESSION_NEEDS_YOU else "failed"
    title = clean(f"{session.agent_id} {word}", TITLE_LIMIT)
    where = []
    if session.cwd:
        where.append(session.cwd.rstrip("/").rsplit("/", 1)[-1] or session.cwd)
    if session.host:
        where.append(f"@{session.host}")
    body = " ".join(where)
    if session.asks:
        body = f"{body}: {session.asks}" if body else session.asks
    event: dict[str, Any] = {
        "kind": "session",
        "state": session.state,
        "program": session.program,
        "session_id": session.session_id,
        "agent_id": session.agent_id,
        "since": session.since,
        "asks": session.asks,
        "tool": session.tool,
        "cwd": session.cwd,
        "host": session.host,
        "tmux_pane": session.tmux_pane,
    }
    return Notice(title, clean(body, BODY_LIMIT), _clean_fields(event))


def alert_notice(alert: Alert) -> Notice:
    """ "alert: error_rate agent:coder-03" / its message."""
    title = clean(f"alert: {alert.rule} {alert.scope}", TITLE_LIMIT)
    event: dict[str, Any] = {
        "kind": "alert",
        "id": alert.id,
        "rule": alert.rule,
        "scope": alert.scope,
        "severity": alert.severity,
        "state": alert.state,
        "started_at": alert.started_at,
        "value": alert.value,
        "threshold": alert.threshold,
        "message": alert.message,
    }
    return Notice(title, clean(alert.message or alert.severity, BODY_LIMIT), _clean_fields(event))


def _clean_fields(event: dict[str, Any]) -> dict[str, Any]:
    cleaned = {
        key: clean(value, BODY_LIMIT) if isinstance(value, str) else value
        for key, value in event.items()
        if value is not None
    }
    return cleaned


class CommandRunner(Protocol):
    """Runs an argv with ``stdin`` for at most ``timeout`` s; returns its exit status (None: killed)."""

    def __call__(self, argv: Sequence[str], stdin: bytes | None, timeout: float) -> Awaitable[int | None]: ...


async def run_command(argv: Sequence[str], stdin: bytes | None, timeout: float) -> int | None:
    """The real runner: a child process with no shell, its output discarded, killed after ``timeout``."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    return process.returncode


class Notifier:
    """Sends notices to the chosen channels; deduplicates sessions by (session, state, since).

    ``write`` puts an escape sequence on the terminal (the app's driver); ``bell`` rings the
    terminal bell (default: BEL through ``write``); ``runner`` runs tmux and the notify
    command (the OS boundary; tests pass one that records argv). ``report`` shows a problem to
    the user (a failed jump, a failing command). Event-loop only.
    """

    def __init__(
        self,
        channels: Iterable[str] = (),
        command: Sequence[str] | None = None,
        *,
        write: Callable[[str], None],
        bell: Callable[[], None] | None = None,
        bell_enabled: bool = True,
        runner: CommandRunner = run_command,
        report: Callable[[str], None] | None = None,
        environ: Mapping[str, str] = os.environ,
        timeout: float = COMMAND_TIMEOUT,
        max_running: int = MAX_RUNNING,
    ) -> None:
        self.channels = frozenset(channels)
        self.command = list(command) if command else None
        self.bell_enabled = bell_enabled
        self._write = write
        self._bell = bell if bell is not None else (lambda: write(BEL))
        self._runner = runner
        self._report = report
        self.inside_tmux = bool(environ.get("TMUX"))
        self.hostname = socket.gethostname()
        self.timeout = timeout
        self.max_running = max(1, max_running)
        #: (program, session id) → (state, since) last told.
        self._told: dict[tuple[str, str], tuple[str, float]] = {}
        self._seeded = False
        self._running: set[asyncio.Task[None]] = set()
        self.sent: list[Notice] = []
        """The last notices sent (at most 50), newest last."""
        self.dropped = 0
        self.command_failures = 0

    # ------------------------------------------------------------------ what to tell
    def sessions_seen(self, sessions: Sequence[Session]) -> list[Notice]:
        """Take a fleet snapshot's sessions; tell each that newly needs you or failed. Returns what was told."""
        told: dict[tuple[str, str], tuple[str, float]] = {}
        fresh: list[Notice] = []
        for session in sessions:
            if session.state not in TOLD_STATES:
                continue
            key = (session.program, session.session_id)
            mark = (session.state, session.since)
            told[key] = mark
            if self._seeded and self._told.get(key) != mark:
                fresh.append(session_notice(session))
        self._told = told
        self._seeded = True
        for notice in fresh:
            self.send(notice)
        return fresh

    def alerts_started(self, alerts: Sequence[Alert], now: float | None = None) -> None:
        """Alerts that started firing: the bell once (unless off), each alert to the other channels;
        nothing for an acknowledged or snoozed one (quiet at ``now``, unix seconds)."""
        alerts = [alert for alert in alerts if not is_quiet(alert, time.time() if now is None else now)]
        if not alerts:
            return
        if self.bell_enabled:
            self._bell()
        for alert in alerts:
            self.send(alert_notice(alert), bell=False)

    def ring(self) -> None:
        """The bell alone (an agent started failing), unless the bell is off."""
        if self.bell_enabled:
            self._bell()

    # ------------------------------------------------------------------ channels
    def send(self, notice: Notice, *, bell: bool = True) -> None:
        """Send one notice to every chosen channel."""
        self.sent = [*self.sent[-49:], notice]
        channels = self.channels
        if bell and CHANNEL_BELL in channels and self.bell_enabled:
            self._bell()
        if CHANNEL_OSC9 in channels:
            self._write(osc9(notice.title, notice.body))
        if CHANNEL_OSC777 in channels:
            self._write(osc777(notice.title, notice.body))
        if CHANNEL_TMUX in channels and self.inside_tmux:
            text = f"agentwatch: {notice.title}" + (f" — {notice.body}" if notice.body else "")
            self._start(display_argv(clean(text, BODY_LIMIT)), None, "tmux display-message")
        if self.command is not None:
            payload = json.dumps(
                {"title": notice.title, "body": notice.body, **notice.event}, ensure_ascii=True
            )
            self._start(self.command, payload.encode() + b"\n", "notify command")

    def jump(self, session: Session) -> str | None:
        """Show the session's tmux pane in this tmux client; returns why not (None: started)."""
        pane = pane_id(session.tmux_pane)
        if pane is None:
            return "its tmux pane is not known (agentwatch hooks install sends it)"
        if not self.inside_tmux:
            return f"the viewer is not running inside tmux (the session is in pane {pane})"
        if session.host and session.host != self.hostname:
            return f"it runs on {clean(session.host, 40)}, not here"
        self._start(jump_argv(pane), None, "tmux switch-client")
        return None

    def _start(self, argv: Sequence[str], stdin: bytes | None, what: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: the app is not running
            loop = None
        if loop is None or len(self._running) >= self.max_running:
            self.dropped += 1
            if self._report is not None:
                self._report(
                    f"{what} not run: {self.dropped} dropped so far ({len(self._running)} still running)"
                )
            return
        task = loop.create_task(self._run(list(argv), stdin, what))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, argv: list[str], stdin: bytes | None, what: str) -> None:
        try:
            status = await self._runner(argv, stdin, self.timeout)
        except OSError as exc:
            self._failed(f"{what}: {argv[0]}: {exc.strerror or exc}")
            return
        if status is None:
            self._failed(f"{what}: still running after {self.timeout:g} s, stopped")
        elif status != 0:
            self._failed(f"{what}: exit status {status}")

    def _failed(self, problem: str) -> None:
        self.command_failures += 1
        if self._report is not None:
            self._report(problem)

    async def drain(self) -> None:
        """Wait for the commands started so far (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
