"""``agentwatch hook PROGRAM`` and ``agentwatch hooks print|install PROGRAM``: the coding agents'
hooks, sent to the collector and set up.

``hook`` is what a program runs as a command hook (Claude Code or Gemini CLI command hooks give it
the payload on standard input; Codex's ``notify`` gives it as the last argument). It adds what only
a command sees (the host, ``$TMUX_PANE``) under ``_agentwatch``, posts it to
``/api/hooks/PROGRAM`` with a short timeout, writes nothing on standard output (a program may read
a hook's output as instructions) and always exits 0: a hook must never fail or slow its agent.

``hooks print`` writes the settings that send a program's hooks to the collector; ``hooks install``
merges them into the program's settings file after a backup, keeping every hook already there.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any, Final, NoReturn

from agentwatch.protocol import DEFAULT_URL, HOOK_PROGRAMS, PATH_HOOKS, normalize_token

#: Seconds a hook may take to reach the collector before it gives up (its agent waits meanwhile).
HOOK_TIMEOUT: Final = 2.0
#: Largest payload read from standard input; past it the tool's input and output are left out.
MAX_PAYLOAD: Final = 1 << 20
#: Claude Code's hook events that change a session's state.
CLAUDE_EVENTS: Final = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "PermissionDenied",
    "Notification",
    "Elicitation",
    "Stop",
    "StopFailure",
    "SessionEnd",
)
GEMINI_EVENTS: Final = (
    "SessionStart",
    "BeforeAgent",
    "BeforeTool",
    "AfterTool",
    "Notification",
    "AfterAgent",
    "SessionEnd",
)
_TOKEN_VARIABLE: Final = "AGENTWATCH_TOKEN"


def add_parsers(sub: Any) -> None:
    """The ``hook`` and ``hooks`` subcommands, on the top-level parser's subparsers."""
    hook = sub.add_parser(
        "hook",
        help="send one coding-agent hook to the collector (run by the program; always exits 0)",
        description="Send one hook payload (standard input, or the last argument as Codex's notify "
        "gives it) to the collector's /api/hooks/PROGRAM. Prints nothing on standard output and "
        "always exits 0, so it never gets in its agent's way.",
    )
    hook.add_argument("program", choices=HOOK_PROGRAMS, help="the program whose hook this is")
    hook.add_argument("payload", nargs="?", help="the payload as JSON (default: read standard input)")
    _connection_options(hook)
    hook.error = _hook_usage_error
    hooks = sub.add_parser(
        "hooks",
        help="print or install the settings that send a coding agent's hooks to the collector",
        description="print: write the settings snippet for PROGRAM. install: merge it into the "
        "program's settings file after a backup, keeping the hooks already there.",
    )
    hooks.add_argument("action", choices=("print", "install"), help="print the settings, or install them")
    hooks.add_argument("program", choices=HOOK_PROGRAMS, help="the program to set up")
    hooks.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="the settings file to install into (default: ~/.claude/settings.json, ~/.codex/config.toml, "
        "~/.gemini/settings.json)",
    )
    _connection_options(hooks)


def _hook_usage_error(message: str) -> NoReturn:
    """A mistyped ``hook`` command line is one line on standard error and exit 0 too: Claude Code
    reads a command hook's exit code 2 as "block this tool call"."""
    print(f"agentwatch hook: {message}"[:300], file=sys.stderr)
    sys.exit(0)


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", default=None, help=f"the collector (or AGENTWATCH_URL; default {DEFAULT_URL})"
    )
    parser.add_argument("--token", default=None, help="bearer token (or AGENTWATCH_TOKEN)")


def _url(namespace: argparse.Namespace) -> str:
    return (namespace.url or os.environ.get("AGENTWATCH_URL") or DEFAULT_URL).strip().rstrip("/")


def _token(namespace: argparse.Namespace) -> str | None:
    return normalize_token(namespace.token or os.environ.get(_TOKEN_VARIABLE))


# ------------------------------------------------------------------------------ hook
def read_payload(argument: str | None, stdin: Any) -> dict[str, Any] | None:
    """The hook's JSON object, from the argument or standard input (None when there is none)."""
    if argument is not None:
        text = argument
    elif stdin is None or stdin.isatty():
        return None
    else:
        text = stdin.read(MAX_PAYLOAD + 1)
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    if len(text) > MAX_PAYLOAD:  # only reachable from an argument: standard input stops at the cap
        for key in ("tool_input", "tool_response", "input-messages", "last-assistant-message"):
            payload.pop(key, None)
    return payload


def run_hook(namespace: argparse.Namespace) -> int:
    """Post one hook; every failure is one line on standard error, and the exit code is 0."""
    try:
        payload = read_payload(namespace.payload, sys.stdin)
        if payload is None:
            print("agentwatch hook: no JSON object to send", file=sys.stderr)
            return 0
        payload["_agentwatch"] = {"host": socket.gethostname(), "tmux_pane": os.environ.get("TMUX_PANE")}
        import httpx

        headers = {}
        token = _token(namespace)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = httpx.post(
            f"{_url(namespace)}{PATH_HOOKS}/{namespace.program}",
            json=payload,
            headers=headers,
            timeout=HOOK_TIMEOUT,
        )
        if response.status_code >= 400:
            print(f"agentwatch hook: the collector answered {response.status_code}", file=sys.stderr)
    except Exception as exc:  # a hook never fails its agent
        print(f"agentwatch hook: not sent ({type(exc).__name__}: {exc})"[:300], file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- hooks
def claude_settings(url: str, with_token: bool) -> dict[str, Any]:
    """Claude Code ``settings.json`` hooks: an HTTP hook per event, the pane and token from the environment."""
    headers = {"X-Tmux-Pane": "$TMUX_PANE"}
    variables = ["TMUX_PANE"]
    if with_token:
        headers["Authorization"] = f"Bearer ${_TOKEN_VARIABLE}"
        variables.append(_TOKEN_VARIABLE)
    hook = {
        "type": "http",
        "url": f"{url}{PATH_HOOKS}/claude-code",
        "timeout": HOOK_TIMEOUT,
        "headers": headers,
        "allowedEnvVars": variables,
    }
    return {"hooks": {event: [{"hooks": [dict(hook)]}] for event in CLAUDE_EVENTS}}


def agentwatch_command() -> str:
    """How a program's shell runs this agentwatch: ``agentwatch`` when it is on PATH, else this
    interpreter with ``-m agentwatch`` (a virtualenv not on PATH)."""
    if shutil.which("agentwatch"):
        return "agentwatch"
    return f"{shlex.quote(sys.executable)} -m agentwatch"


def gemini_settings(url: str) -> dict[str, Any]:
    """Gemini CLI ``settings.json`` hooks: ``agentwatch hook gemini-cli`` per event."""
    command = f"{agentwatch_command()} hook --url {shlex.quote(url)} gemini-cli"
    return {
        "hooks": {
            event: [
                {
                    "hooks": [
                        {"type": "command", "command": command, "timeout": int(HOOK_TIMEOUT * 1000) + 1000}
                    ]
                }
            ]
            for event in GEMINI_EVENTS
        }
    }


def codex_notify(url: str) -> str:
    """Codex ``config.toml``'s notify line: Codex appends the payload as the last argument, so the
    options come before the program name."""
    return f'notify = ["agentwatch", "hook", "--url", "{url}", "codex"]'


def _ours(entry: Any, program: str) -> bool:
    """An entry of a hooks list that already sends to agentwatch."""
    text = json.dumps(entry)
    return f"{PATH_HOOKS}/{program}" in text or ("agentwatch hook" in text and program in text)


def merge_hooks(settings: dict[str, Any], ours: dict[str, Any], program: str) -> dict[str, Any]:
    """``settings`` with our hook added to each event, every hook already there kept (and ours
    replaced, not repeated, when installed before)."""
    merged = dict(settings)
    hooks = dict(merged.get("hooks") or {})
    for event, entries in ours["hooks"].items():
        kept = [entry for entry in hooks.get(event) or [] if not _ours(entry, program)]
        hooks[event] = kept + entries
    merged["hooks"] = hooks
    return merged


def _default_settings(program: str) -> Path:
    home = Path.home()
    return {
        "claude-code": home / ".claude" / "settings.json",
        "codex": home / ".codex" / "config.toml",
        "gemini-cli": home / ".gemini" / "settings.json",
    }[program]


def _backup(path: Path) -> Path | None:
    if not path.exists():
        return None
    stem = f"{path.name}.agentwatch-backup-{time.strftime('%Y%m%d-%H%M%S')}"
    backup = path.with_name(stem)
    for n in range(1, 1000):  # never over an earlier backup (two installs within a second)
        if not backup.exists():
            break
        backup = path.with_name(f"{stem}-{n}")
    shutil.copy2(path, backup)
    return backup


def install(program: str, path: Path, url: str, with_token: bool) -> str:
    """Merge the hooks into ``path``; returns what was done. Raises ValueError when it must not."""
    if program == "codex":
        text = path.read_text() if path.exists() else ""
        for line in text.splitlines():
            if line.strip().startswith("notify") and "agentwatch" not in line:
                raise ValueError(
                    f"{path} already sets notify ({line.strip()[:80]}); Codex runs one notify program: "
                    f"add `agentwatch hook codex` to yours, or replace it with: {codex_notify(url)}"
                )
        lines = [
            line
            for line in text.splitlines()
            if not (line.strip().startswith("notify") and "agentwatch" in line)
        ]
        backup = _backup(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([codex_notify(url), *lines]) + "\n")  # before any [table]
        return f"installed in {path}" + (f" (backup: {backup})" if backup else "")
    try:
        settings = json.loads(path.read_text()) if path.exists() else {}
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON ({exc}); nothing changed") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path} does not hold a JSON object; nothing changed")
    ours = claude_settings(url, with_token) if program == "claude-code" else gemini_settings(url)
    merged = merge_hooks(settings, ours, program)
    backup = _backup(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2) + "\n")
    return f"installed in {path}" + (f" (backup: {backup})" if backup else "")


def run_hooks(namespace: argparse.Namespace) -> int:
    url, program = _url(namespace), namespace.program
    with_token = _token(namespace) is not None
    if namespace.action == "print":
        if program == "codex":
            print(f"# ~/.codex/config.toml (top level, before any [table])\n{codex_notify(url)}")
        else:
            ours = claude_settings(url, with_token) if program == "claude-code" else gemini_settings(url)
            print(json.dumps(ours, indent=2))
        if with_token and program == "claude-code":
            print(f"# the hooks send ${_TOKEN_VARIABLE} from Claude Code's environment", file=sys.stderr)
        return 0
    path = namespace.settings or _default_settings(program)
    try:
        print(install(program, path, url, with_token))
    except (ValueError, OSError) as exc:
        print(f"agentwatch hooks install: {exc}", file=sys.stderr)
        return 1
    return 0


def main(namespace: argparse.Namespace) -> int:
    if namespace.command == "hook":
        return run_hook(namespace)
    return run_hooks(namespace)
