#!/usr/bin/env bash
# Drive a real coding agent with agentwatch's hooks and check the states its session went through.
#
# Not part of CI: it needs Node.js and the CLIs from npm (see scripts/real_agents.sh). Everything
# stays on 127.0.0.1. It starts `agentwatch serve --no-store` on a free port, installs the hooks
# with `agentwatch hooks install PROGRAM` into the run's throwaway settings (Claude Code: the
# settings file `hooks print` writes, passed with --settings), runs the program once (the shared
# run_claude.sh / run_codex.sh, or scripts/run_gemini.sh) with its OTLP export to the same
# collector, then prints the session's state changes as the collector logged them (each is a
# `session …` line of the session's agent) and its agent rows. Exit status 1 unless the states
# end as expected (Claude Code and Gemini CLI: working, waiting for a prompt, ended; Codex, whose
# notify runs only at a turn's end: waiting for a prompt) on one agent row.
#
# Usage: scripts/real_hooks.sh [claude|gemini|codex] [MODE]   MODE: tool (default) | text | error
# Environment: AGENT_SCRIPTS, PYTHON, AGENTWATCH as in scripts/real_agents.sh.
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENT_SCRIPTS="${AGENT_SCRIPTS:-$REPO/../shared/coding_agents}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
AGENTWATCH="${AGENTWATCH:-$(dirname "$(command -v "$PYTHON")")/agentwatch}"
PROGRAM="${1:-claude}"
MODE="${2:-tool}"
RUN="$(mktemp -d "${TMPDIR:-/tmp}/agentwatch-real-hooks.XXXXXX")"
PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
BIN="$(dirname "$AGENTWATCH")"

"$AGENTWATCH" serve --port "$PORT" --otlp-grpc-port 0 --no-store >"$RUN/serve.log" 2>&1 &
SERVE=$!
cleanup() { kill "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null; rm -rf "$RUN"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

# A WRAP for the run scripts: install the hooks into the run's own HOME, then start the CLI.
install_wrap() {  # $1 = agentwatch program name, $2 = settings path relative to the run's HOME
  cat >"$RUN/wrap.sh" <<EOF
#!/bin/sh
PATH="$BIN:\$PATH" "$AGENTWATCH" hooks install $1 --url "$URL" --settings "\$HOME/$2" >"$RUN/install.log" 2>&1
exec "\$@"
EOF
  chmod +x "$RUN/wrap.sh"
}
CLI_PATH="$BIN:/usr/local/bin:/usr/bin:/bin"
case "$PROGRAM" in
  claude)
    "$AGENTWATCH" hooks print claude-code --url "$URL" >"$RUN/settings.json"
    MODE="$MODE" OTLP_ENDPOINT="$URL" OUT="$RUN/out" CLI_ENV="TMUX_PANE=%1" \
      CLAUDE_ARGS="--settings $RUN/settings.json" bash "$AGENT_SCRIPTS/run_claude.sh" >"$RUN/cli.log" 2>&1
    EXPECT="working,waiting for a prompt,ended" ;;
  gemini)
    install_wrap gemini-cli .gemini/settings.json
    MODE="$MODE" OTLP_ENDPOINT="$URL" PROTOCOL=http OUT="$RUN/out" WRAP="$RUN/wrap.sh" \
      CLI_ENV="PATH=$CLI_PATH TMUX_PANE=%2" bash "$REPO/scripts/run_gemini.sh" >"$RUN/cli.log" 2>&1
    EXPECT="working,waiting for a prompt,ended" ;;
  codex)
    install_wrap codex .codex/config.toml
    MODE="$MODE" OTLP_ENDPOINT="$URL" OUT="$RUN/out" WRAP="$RUN/wrap.sh" \
      CLI_ENV="PATH=$CLI_PATH" bash "$AGENT_SCRIPTS/run_codex.sh" >"$RUN/cli.log" 2>&1
    EXPECT="waiting for a prompt" ;;
  *) echo "usage: $0 [claude|gemini|codex] [MODE]" >&2; exit 2 ;;
esac
sleep 1  # the CLI's last OTLP export
"$PYTHON" "$REPO/scripts/session_states.py" "$URL" --expect "$EXPECT"
