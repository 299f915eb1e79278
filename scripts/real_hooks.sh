#!/usr/bin/env bash
# Drive the real Claude Code CLI with agentwatch's hooks and watch its session's states.
#
# Not part of CI: it needs Node.js and the CLI from npm (see scripts/real_agents.sh). Everything
# stays on 127.0.0.1. It starts `agentwatch serve --no-store` on a free port, writes the settings
# `agentwatch hooks print claude-code` gives, runs the shared run_claude.sh with them (its OTLP
# export to the same collector), then prints the session's state changes as the collector logged
# them (each is a `session …` line of the session's agent) and its row from /api/snapshot (one
# row: the hooks and the telemetry name the same session). Exit status 1 unless the states were
# working, then waiting for a prompt, then ended, in that order.
#
# Usage: scripts/real_hooks.sh [MODE]      MODE = tool (default) | text | error (run_claude.sh's)
# Environment: AGENT_SCRIPTS, PYTHON, AGENTWATCH as in scripts/real_agents.sh.
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENT_SCRIPTS="${AGENT_SCRIPTS:-$REPO/../shared/coding_agents}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
AGENTWATCH="${AGENTWATCH:-$(dirname "$(command -v "$PYTHON")")/agentwatch}"
MODE="${1:-tool}"
RUN="$(mktemp -d "${TMPDIR:-/tmp}/agentwatch-real-hooks.XXXXXX")"
PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"

"$AGENTWATCH" serve --port "$PORT" --otlp-grpc-port 0 --no-store >"$RUN/serve.log" 2>&1 &
SERVE=$!
cleanup() { kill "$SERVE" 2>/dev/null; wait "$SERVE" 2>/dev/null; rm -rf "$RUN"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
"$AGENTWATCH" hooks print claude-code --url "$URL" >"$RUN/settings.json"

MODE="$MODE" OTLP_ENDPOINT="$URL" OUT="$RUN/claude" CLI_ENV="TMUX_PANE=%1" \
  CLAUDE_ARGS="--settings $RUN/settings.json" bash "$AGENT_SCRIPTS/run_claude.sh" >"$RUN/claude.log" 2>&1
sleep 1  # the CLI's last OTLP export
"$PYTHON" "$REPO/scripts/session_states.py" "$URL"
