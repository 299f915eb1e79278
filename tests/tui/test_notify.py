"""Notifications: the exact bytes of the bell, OSC 9 and OSC 777, tmux and the notify command,
with hostile agent text made harmless; once per session and state; alerts on the same channels.
Sessions come from hooks posted to the real collector; the terminal and the OS (what runs) are
the boundaries a test stands in for."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentwatch.config import ConfigError, load_config
from agentwatch.protocol import ALERT_FIRING, Alert
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.notify import (
    Notifier,
    display_argv,
    parse_channels,
    run_command,
)
from agentwatch.tui.screenshots import NOW, demo_app
from agentwatch.tui.sessions import SessionsPane
from tests.helpers import apost_hook, async_wait_until, hook_requests

SIZE = (120, 36)
TMUX = "/tmp/tmux-1000/default,4242,0"
#: A session id whose first eight characters (the agent id's) are an OSC title change.
HOSTILE_SESSION = "x;\x1b]2;t\x07y-rest"
HOSTILE_COMMAND = "\x1b]0;pwned\x07 rm -rf ~; echo #(touch /tmp/agentwatch-pwned)\x9b31m\u202e"


class Runs:
    """Stands in for the OS: records each (argv, standard input) the viewer would run; answers 0."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], bytes | None]] = []

    async def __call__(self, argv: Sequence[str], stdin: bytes | None, timeout: float) -> int | None:
        self.calls.append((list(argv), stdin))
        return 0


def pane(app: AgentWatchApp) -> str:
    return app.query_one(SessionsPane).plain


def permission_request(session_id: str, command: str = "npm test") -> dict[str, Any]:
    body = dict(hook_requests("interactive-documented")[3]["body"])
    body.update(session_id=session_id, tool_input={"command": command})
    return body


def hook(index: int, session_id: str, name: str = "interactive-documented") -> dict[str, Any]:
    body = dict(hook_requests(name)[index]["body"])
    body["session_id"] = session_id
    return body


async def test_needs_you_rings_and_writes_exact_osc_9_and_777_with_hostile_text_made_harmless(
    collector: Any,
) -> None:
    written: list[str] = []
    app = AgentWatchApp(url=collector.url, fps=20, notify=("bell", "osc9", "osc777"), terminal=written.append)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: app.state.fleet is not None, pilot=pilot)
        await apost_hook(collector.url, permission_request(HOSTILE_SESSION, HOSTILE_COMMAND))
        await async_wait_until(lambda: len(written) == 3, pilot=pilot)
    title = "claude-code·x;␛]2;t␇ needs you"
    body = "shop: permission to use Bash: ␛]0;pwned␇ rm -rf ~; echo #(touch /tmp/agentwatch-pwned)\\x9b31m\\u202e"
    assert written == [
        "\x07",
        f"\x1b]9;{title}: {body}\x07",
        f"\x1b]777;notify;claude-code·x,␛]2,t␇ needs you;{body}\x07",
    ]
    for sequence in written[1:]:
        payload = sequence[2:-1]
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in payload), "no control inside the OSC"


async def test_each_session_is_told_once_per_state_and_again_after_it_left_it(collector: Any) -> None:
    written: list[str] = []
    app = AgentWatchApp(url=collector.url, fps=20, notify=("osc9",), terminal=written.append)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: app.state.fleet is not None, pilot=pilot)
        await apost_hook(collector.url, permission_request("aaaa1111-one"))
        await async_wait_until(lambda: len(written) == 1, pilot=pilot)
        assert "claude-code·aaaa1111 needs you: shop: permission to use Bash: npm test" in written[0]
        # Still needing you (its Notification hook): shown, not told again.
        await apost_hook(collector.url, hook(4, "aaaa1111-one"))
        await async_wait_until(lambda: "Claude needs your permission" in pane(app), pilot=pilot)
        # Another session's own notice.
        await apost_hook(collector.url, permission_request("bbbb2222-two"))
        await async_wait_until(lambda: len(written) == 2, pilot=pilot)
        assert "claude-code·bbbb2222 needs you" in written[1]
        # The first goes back to work, then asks again: told again.
        await apost_hook(collector.url, hook(5, "aaaa1111-one"))  # PostToolUse
        await async_wait_until(lambda: pane(app).splitlines()[-1].startswith("▶ working"), pilot=pilot)
        await apost_hook(collector.url, permission_request("aaaa1111-one", "make deploy"))
        await async_wait_until(lambda: len(written) == 3, pilot=pilot)
        assert "claude-code·aaaa1111 needs you" in written[2] and "make deploy" in written[2]
        # A failed turn is told too, once.
        await apost_hook(collector.url, hook(0, "cccc3333-err", "error"))
        await apost_hook(collector.url, hook(1, "cccc3333-err", "error"))
        await async_wait_until(lambda: len(written) == 4, pilot=pilot)
        assert written[3].startswith("\x1b]9;claude-code·cccc3333 failed: work: server_error")
        await apost_hook(collector.url, hook(0, "dddd4444-late", "tool"))
        await async_wait_until(lambda: "claude-code·dddd4444" in pane(app), pilot=pilot)
        assert len(written) == 4, "working is not told; nothing was told twice"
        assert len(app.notifier.sent) == 4


async def test_sessions_already_waiting_when_the_viewer_starts_are_shown_not_told(collector: Any) -> None:
    await apost_hook(collector.url, permission_request("eeee5555-old"))
    written: list[str] = []
    app = AgentWatchApp(url=collector.url, fps=20, notify=("bell", "osc9"), terminal=written.append)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "claude-code·eeee5555" in pane(app), pilot=pilot)
        await apost_hook(collector.url, permission_request("ffff6666-new"))
        await async_wait_until(lambda: len(written) == 2, pilot=pilot)
    assert written[0] == "\x07" and "claude-code·ffff6666" in written[1]
    assert not any("eeee5555" in text for text in written)


async def test_tmux_message_and_notify_command_get_safe_argv_and_the_event_on_stdin(
    collector: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMUX", TMUX)
    runs = Runs()
    app = AgentWatchApp(
        url=collector.url, fps=20, notify=("tmux",), notify_command=["notify-me", "--urgent"], runner=runs
    )
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: app.state.fleet is not None, pilot=pilot)
        await apost_hook(
            collector.url, permission_request("abcd0000-cmd", HOSTILE_COMMAND), {"X-Tmux-Pane": "%3"}
        )
        await async_wait_until(lambda: len(runs.calls) == 2, pilot=pilot)
    (display, no_input), (command, stdin) = runs.calls
    assert no_input is None
    assert display == [
        "tmux",
        "display-message",
        "agentwatch: claude-code·abcd0000 needs you — shop: permission to use Bash: ␛]0;pwned␇ rm -rf ~; "
        "echo ##(touch /tmp/agentwatch-pwned)\\x9b31m\\u202e",
    ]
    assert command == ["notify-me", "--urgent"], "agent text never reaches argv"
    assert stdin is not None and stdin.isascii() and stdin.endswith(b"\n")
    event = json.loads(stdin)
    assert event["kind"] == "session" and event["state"] == "needs_you"
    assert (event["agent_id"], event["tmux_pane"], event["cwd"]) == (
        "claude-code·abcd0000",
        "%3",
        "/home/u/src/shop",
    )
    assert (
        event["asks"]
        == "permission to use Bash: ␛]0;pwned␇ rm -rf ~; echo #(touch /tmp/agentwatch-pwned)\\x9b31m\\u202e"
    )
    assert event["title"] == "claude-code·abcd0000 needs you"


async def test_an_alert_firing_goes_to_the_same_channels() -> None:
    written: list[str] = []
    app = demo_app()
    app = AgentWatchApp(
        url=app.url, clock=lambda: NOW, connect=False, notify=("osc777",), terminal=written.append
    )
    async with app.run_test(size=SIZE) as pilot:
        app.frame()
        await pilot.pause()
        written.clear()
        app.state.apply_alert(
            Alert(
                id="error_rate:agent:w\x1b]0;x",
                rule="error_rate",
                scope="agent:w\x1b]0;x",
                state=ALERT_FIRING,
                started_at=NOW,
                value=0.4,
                threshold=0.05,
                severity="error",
                message="error rate 40.0 %\x07 over 10 s",
            )
        )
        app.frame()
    assert written == [
        "\x07",
        "\x1b]777;notify;alert: error_rate agent:w␛]0,x;error rate 40.0 %␇ over 10 s\x07",
    ]


async def test_no_bell_means_no_bell_on_any_channel() -> None:
    written: list[str] = []
    notifier = Notifier(("bell", "osc9"), write=written.append, bell_enabled=False)
    notifier.alerts_started([Alert(id="a", rule="error_rate", scope="fleet", started_at=NOW)])
    notifier.ring()
    assert written == ["\x1b]9;alert: error_rate fleet: warning\x07"]


async def test_commands_past_the_bound_are_dropped_counted_and_said() -> None:
    release = asyncio.Event()
    started: list[list[str]] = []
    problems: list[str] = []

    async def slow(argv: Sequence[str], stdin: bytes | None, timeout: float) -> int | None:
        started.append(list(argv))
        await release.wait()
        return 0

    notifier = Notifier(
        (), ["notify-me"], write=lambda _: None, runner=slow, report=problems.append, max_running=2
    )
    alerts = [Alert(id=f"a{n}", rule="error_rate", scope=f"agent:{n}", started_at=NOW) for n in range(5)]
    notifier.alerts_started(alerts)
    await asyncio.sleep(0)
    assert len(started) == 2 and notifier.dropped == 3
    assert problems[-1] == "notify command not run: 3 dropped so far (2 still running)"
    release.set()
    await notifier.drain()
    assert notifier.command_failures == 0


async def test_the_real_runner_feeds_stdin_without_a_shell_and_stops_a_slow_command(tmp_path: Path) -> None:
    out = tmp_path / "event.json"
    copy = f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())"
    assert await run_command([sys.executable, "-c", copy], b'{"a": "$(id)"}\n', 10) == 0
    assert out.read_bytes() == b'{"a": "$(id)"}\n'
    assert await run_command([sys.executable, "-c", "import time; time.sleep(30)"], None, 0.3) is None
    assert await run_command([sys.executable, "-c", "raise SystemExit(3)"], None, 10) == 3


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_real_tmux_shows_the_message_literally_and_runs_nothing(tmp_path: Path) -> None:
    socket = str(tmp_path / "tmux.sock")
    marker = tmp_path / "pwned"
    text = f"agentwatch: asks #(touch {marker}) #{{pane_id}} #[fg=red]"
    argv = display_argv(text)
    tmux = ["tmux", "-S", socket, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-s", "t"], check=True, timeout=10)
    try:
        shown = subprocess.run(
            [*tmux, argv[1], "-p", *argv[2:]], check=True, timeout=10, capture_output=True, text=True
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], timeout=10, check=False)
    # Formats are not expanded and #(...) runs nothing; "##[" is what the status line draws as "#[".
    assert shown == text.replace("#[", "##[") + "\n"
    assert not marker.exists()


def test_channels_parse_from_the_option_and_the_config_file(tmp_path: Path) -> None:
    assert parse_channels("osc777, BELL,bell") == ("bell", "osc777")
    assert parse_channels("none") == ()
    config = tmp_path / "config.toml"
    config.write_text('notify = ["tmux", "osc9"]\nnotify-command = "notify-me --from agentwatch"\n')
    loaded = load_config(path=config, environ={})
    assert (loaded.notify, loaded.notify_command) == (("osc9", "tmux"), "notify-me --from agentwatch")
    config.write_text('notify = "bell,sms"\n')
    with pytest.raises(ConfigError, match="notify: unknown channel 'sms'"):
        load_config(path=config, environ={})
    config.write_text("notify_command = 'unclosed \"quote'\n")
    with pytest.raises(ConfigError, match="notify_command: cannot split"):
        load_config(path=config, environ={})
