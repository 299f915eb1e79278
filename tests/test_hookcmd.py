"""``agentwatch hook`` (sent by the programs) and ``agentwatch hooks print|install`` (set up)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from agentwatch.hookcmd import claude_settings, install, merge_hooks
from agentwatch.protocol import PATH_SESSIONS

NOTIFY = Path(__file__).resolve().parent / "fixtures" / "hooks" / "codex-notify-documented.json"


def agentwatch(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentwatch", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_a_command_hook_reaches_the_collector_with_its_host_and_pane(collector: Any) -> None:
    payload = {
        "session_id": "abcdef12-3456",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "cwd": "/src",
    }
    done = agentwatch(
        "hook", "claude-code", "--url", collector.url, stdin=json.dumps(payload), env={"TMUX_PANE": "%4"}
    )
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    (session,) = httpx.get(collector.url + PATH_SESSIONS, timeout=10).json()
    assert (session["state"], session["tool"], session["tmux_pane"]) == ("working", "Bash", "%4")
    assert session["host"] == socket.gethostname()[:80]


def test_codex_notify_passes_its_payload_as_the_last_argument(collector: Any) -> None:
    done = agentwatch("hook", "--url", collector.url, "codex", NOTIFY.read_text())  # as notify runs it
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    (session,) = httpx.get(collector.url + PATH_SESSIONS, timeout=10).json()
    assert (session["agent_id"], session["state"]) == ("codex·2a035a53", "waiting")


def test_a_hook_never_fails_its_agent(start_collector: Any) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    for args, stdin in (
        (("hook", "claude-code", "--url", f"http://127.0.0.1:{port}"), '{"session_id": "s"}'),
        (("hook", "claude-code", "--url", "http://127.0.0.1:1"), "not json"),
        (("hook", "--url", "http://127.0.0.1:1", "codex", "[1, 2]"), None),
    ):
        done = agentwatch(*args, stdin=stdin)
        assert (done.returncode, done.stdout) == (0, "") and done.stderr.count("\n") == 1, done.stderr
    guarded = start_collector(token="s3cret")
    refused = agentwatch(
        "hook", "claude-code", "--url", guarded.url, stdin='{"session_id": "s", "hook_event_name": "Stop"}'
    )
    assert refused.returncode == 0 and "401" in refused.stderr
    sent = agentwatch(
        "hook",
        "claude-code",
        "--url",
        guarded.url,
        stdin='{"session_id": "s", "hook_event_name": "Stop"}',
        env={"AGENTWATCH_TOKEN": "s3cret\n"},
    )
    assert (
        sent.stderr == ""
        and len(
            httpx.get(
                guarded.url + PATH_SESSIONS, headers={"Authorization": "Bearer s3cret"}, timeout=10
            ).json()
        )
        == 1
    )


def test_a_mistyped_hook_command_line_still_exits_0() -> None:
    # Claude Code reads exit code 2 from a command hook as "block this tool call": a typo in the
    # settings must not stop every tool the agent runs.
    for args in (
        ("hook",),
        ("hook", "claude"),
        ("hook", "claude-code", "--bogus"),
        ("hook", "claude-code", "--url"),
        ("hook", "claude-code", "{}", "extra"),
    ):
        done = agentwatch(*args, stdin='{"session_id": "s"}')
        assert (done.returncode, done.stdout) == (0, ""), (args, done.stderr)
        assert done.stderr.startswith("agentwatch hook: ") and done.stderr.count("\n") == 1, done.stderr
    assert agentwatch("hooks", "print", "claude").returncode == 2  # the setup command still refuses


def test_print_gives_settings_each_program_reads() -> None:
    claude = json.loads(agentwatch("hooks", "print", "claude-code", "--url", "http://box:8787").stdout)
    hook = claude["hooks"]["PermissionRequest"][0]["hooks"][0]
    assert hook["type"] == "http" and hook["url"] == "http://box:8787/api/hooks/claude-code"
    assert "Authorization" not in hook["headers"], "no token, no header"
    printed = agentwatch("hooks", "print", "claude-code", "--token", "tok-SECRET-123").stdout
    assert "tok-SECRET-123" not in printed, "the token itself is never written"
    with_token = json.loads(printed)
    assert (
        with_token["hooks"]["Stop"][0]["hooks"][0]["headers"]["Authorization"] == "Bearer $AGENTWATCH_TOKEN"
    )
    gemini = json.loads(agentwatch("hooks", "print", "gemini-cli").stdout)
    assert gemini["hooks"]["BeforeTool"][0]["hooks"][0]["command"].endswith(" gemini-cli")
    notify = agentwatch("hooks", "print", "codex").stdout.splitlines()[-1]
    assert notify.startswith('notify = ["agentwatch", "hook", "--url"') and notify.endswith('"codex"]')


def test_install_keeps_the_users_hooks_backs_up_and_does_not_repeat(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    mine = {"type": "command", "command": "notify-send done"}
    settings.write_text(json.dumps({"model": "opus", "hooks": {"Stop": [{"hooks": [mine]}]}}))
    for _ in range(2):
        done = agentwatch("hooks", "install", "claude-code", "--settings", str(settings))
        assert done.returncode == 0, done.stderr
    merged = json.loads(settings.read_text())
    assert merged["model"] == "opus"
    stop = merged["hooks"]["Stop"]
    assert stop[0] == {"hooks": [mine]} and len(stop) == 2, "the user's hook first, ours once"
    assert len(list(tmp_path.glob("settings.json.agentwatch-backup-*"))) >= 1
    assert (
        merge_hooks({}, claude_settings("http://x", False), "claude-code")["hooks"].keys()
        == claude_settings("http://x", False)["hooks"].keys()
    )


def test_each_install_keeps_its_own_backup_even_within_one_second(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    original = '{"model": "opus"}'
    settings.write_text(original)
    for _ in range(3):  # well within a second: the backups' names must still differ
        install("claude-code", settings, "http://127.0.0.1:8787", with_token=False)
    backups = list(tmp_path.glob("settings.json.agentwatch-backup-*"))
    assert len(backups) == 3, backups
    assert original in [backup.read_text() for backup in backups], "the user's own file is kept"


def test_install_refuses_what_it_cannot_merge_and_changes_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "settings.json"
    broken.write_text("{not json")
    done = agentwatch("hooks", "install", "claude-code", "--settings", str(broken))
    assert done.returncode == 1 and "not JSON" in done.stderr and broken.read_text() == "{not json"
    config = tmp_path / "config.toml"
    config.write_text('notify = ["my-notifier"]\nmodel = "gpt-5"\n')
    done = agentwatch("hooks", "install", "codex", "--settings", str(config))
    assert done.returncode == 1 and "already sets notify" in done.stderr
    assert config.read_text() == 'notify = ["my-notifier"]\nmodel = "gpt-5"\n'
    fresh = tmp_path / "fresh.toml"
    fresh.write_text('model = "gpt-5"\n[otel]\nenvironment = "dev"\n')
    assert agentwatch("hooks", "install", "codex", "--settings", str(fresh)).returncode == 0
    assert fresh.read_text().splitlines()[0].startswith('notify = ["agentwatch", "hook"')
