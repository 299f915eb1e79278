#!/usr/bin/env bash
# Run the real Claude Code, Codex and Gemini CLIs against agentwatch, or refresh the OTLP fixtures.
#
# Not part of CI: it needs Node.js and the three CLIs from npm. Everything stays on 127.0.0.1:
# the CLIs talk to a fake model API (fake_anthropic.py / fake_openai.py / scripts/fake_gemini.py)
# with a throwaway HOME and a fake key, and export their OpenTelemetry to a local port. The runs
# themselves are the shared scripts run_claude.sh and run_codex.sh (their README lists every knob)
# and this repository's scripts/run_gemini.sh (knobs at its top).
#
# Usage:
#   scripts/real_agents.sh [--port PORT] [VARIANT ...]
#       For each variant: start `agentwatch serve --no-store` (PORT, or a free port), run the CLI
#       against it, then print what the CLI reported about itself (cost, tokens) beside what
#       agentwatch shows (/api/snapshot: cost, events, errors, tool calls, agents; /metrics:
#       tokens). Each variant gets a fresh collector. gRPC variants run only when
#       `agentwatch serve` has --otlp-grpc-port.
#   scripts/real_agents.sh --capture DIR [VARIANT ...]
#       Record what the CLIs send with otlp_capture.py (no agentwatch) and write each variant
#       to DIR/<program>/<variant>/ through scripts/save_capture.py. DIR is normally
#       tests/fixtures/otlp. gRPC variants are skipped: otlp_capture.py speaks OTLP/HTTP only.
#   scripts/real_agents.sh --list
# VARIANT is <program>/<variant> (e.g. claude/protobuf-tool) or a program (claude, codex,
# gemini); default: all.
#
# Install the CLIs once (the shared README's commands):
#   npm install --prefix ~/.cache/agent-clis/claude @anthropic-ai/claude-code
#   npm install --prefix ~/.cache/agent-clis/codex  @openai/codex
#   npm install --prefix ~/.cache/agent-clis/gemini @google/gemini-cli
#
# Environment:
#   AGENT_SCRIPTS  the shared run scripts [<repo>/../shared/coding_agents]
#   AGENT_CLIS     npm prefixes holding claude/, codex/ and gemini/ [~/.cache/agent-clis]
#   PYTHON         python with agentwatch and opentelemetry-proto [<repo>/.venv/bin/python, else python3]
#   AGENTWATCH     the agentwatch command [agentwatch beside PYTHON]
#   RUNS           where each run's raw output goes [a temporary directory, removed at exit]
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENT_SCRIPTS="${AGENT_SCRIPTS:-$REPO/../shared/coding_agents}"
AGENT_CLIS="${AGENT_CLIS:-$HOME/.cache/agent-clis}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
AGENTWATCH="${AGENTWATCH:-$(dirname "$(command -v "$PYTHON")")/agentwatch}"

# program|variant|settings for run_<program>.sh|settings added in --capture mode (both ';'-separated;
# LEAVE_OUT=<signal> is for save_capture.py: that signal's exports are not kept).
# Codex sends a few hundred kB of traces and metrics per run (far more as JSON): the fixtures keep
# them for binary-tool only.
VARIANTS=(
  "claude|protobuf-text|MODE=text;PROTOCOL=http/protobuf"
  "claude|protobuf-tool|MODE=tool;PROTOCOL=http/protobuf"
  "claude|protobuf-tool-notraces|MODE=tool;PROTOCOL=http/protobuf;TRACES=0"
  "claude|protobuf-tool-gzip|MODE=tool;PROTOCOL=http/protobuf;CLI_ENV=OTEL_EXPORTER_OTLP_COMPRESSION=gzip"
  "claude|protobuf-flaky429|MODE=flaky;ERROR_STATUS=429;PROTOCOL=http/protobuf"
  "claude|protobuf-error500|MODE=error;ERROR_STATUS=500;PROTOCOL=http/protobuf"
  "claude|protobuf-error429|MODE=error;ERROR_STATUS=429;PROTOCOL=http/protobuf"
  "claude|json-text|MODE=text;PROTOCOL=http/json"
  "claude|json-tool|MODE=tool;PROTOCOL=http/json"
  "claude|json-error500|MODE=error;ERROR_STATUS=500;PROTOCOL=http/json"
  "claude|grpc-text|MODE=text;PROTOCOL=grpc"
  "claude|grpc-tool|MODE=tool;PROTOCOL=grpc"
  "claude|grpc-error500|MODE=error;ERROR_STATUS=500;PROTOCOL=grpc"
  "codex|binary-text|MODE=text;PROTOCOL=binary|TRACES=0;METRICS=0"
  "codex|binary-tool|MODE=tool;PROTOCOL=binary"
  "codex|json-text|MODE=text;PROTOCOL=json|TRACES=0;METRICS=0"
  "codex|json-tool|MODE=tool;PROTOCOL=json|TRACES=0;METRICS=0"
  # Codex does not flush telemetry when a turn fails: a slow model and short export delays
  # let the periodic exports carry the failure.
  "codex|binary-error500|MODE=error;ERROR_STATUS=500;PROTOCOL=binary;LATENCY_MS=800;CLI_ENV=OTEL_BLRP_SCHEDULE_DELAY=200 OTEL_BSP_SCHEDULE_DELAY=200|TRACES=0"
  # run_codex.sh writes otlp-http exporters; this script, as the CLI's WRAP, turns them into
  # otlp-grpc ones (Codex's other exporter kind) before starting the CLI.
  "codex|grpc-tool|MODE=tool;PROTOCOL=grpc;WRAP=bash $REPO/scripts/real_agents.sh --codex-otlp-grpc"
  # Gemini CLI's "http" is OTLP/HTTP JSON; a run sends each signal at exit, every log and span
  # carrying the system prompt: the fixtures leave the prompts out but for http-tool, and the
  # traces (always exported) but for http-tool and http-error429. A run that
  # fails with --output-format json exits without exporting what is left: the failing runs use
  # text, whose exit flushes every signal.
  "gemini|http-text|MODE=text;PROTOCOL=http|LOG_PROMPTS=0;LEAVE_OUT=traces"
  "gemini|http-tool|MODE=tool;PROTOCOL=http"
  "gemini|http-auto-text|MODE=text;MODEL=auto;PROTOCOL=http|LOG_PROMPTS=0;LEAVE_OUT=traces"
  "gemini|http-error500|MODE=error;ERROR_STATUS=500;PROTOCOL=http;OUTPUT_FORMAT=text|LOG_PROMPTS=0;LEAVE_OUT=traces"
  "gemini|http-error429|MODE=error;ERROR_STATUS=429;PROTOCOL=http;OUTPUT_FORMAT=text|LOG_PROMPTS=0"
  "gemini|grpc-text|MODE=text;PROTOCOL=grpc"
  "gemini|grpc-tool|MODE=tool;PROTOCOL=grpc"
  "gemini|grpc-error500|MODE=error;ERROR_STATUS=500;PROTOCOL=grpc;OUTPUT_FORMAT=text"
)

usage() { sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# --codex-otlp-grpc COMMAND...: rewrite the otlp-http exporters of $CODEX_HOME/config.toml
# (written by run_codex.sh) as otlp-grpc ones at the endpoint's origin, then run COMMAND.
if [ "${1:-}" = --codex-otlp-grpc ]; then
  shift
  sed -E -i 's#otlp-http = \{ endpoint = "([a-z]+://[^/"]+)[^"]*", protocol = "[a-z]+" \}#otlp-grpc = { endpoint = "\1" }#' \
    "${CODEX_HOME:?}/config.toml" || exit 2
  exec "$@"
fi

CAPTURE=""
PORT=""
SELECT=()
while [ $# -gt 0 ]; do
  case "$1" in
    --capture) CAPTURE="${2:?--capture needs a directory}"; shift 2 ;;
    --port) PORT="${2:?--port needs a number}"; shift 2 ;;
    --list)
      for v in "${VARIANTS[@]}"; do
        IFS='|' read -r p n s c <<<"$v"
        echo "$p/$n  ${s//;/ }${c:+  (--capture: ${c//;/ })}"
      done
      exit 0 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) SELECT+=("$1"); shift ;;
  esac
done

[ -f "$AGENT_SCRIPTS/run_claude.sh" ] || { echo "no run_claude.sh in $AGENT_SCRIPTS (set AGENT_SCRIPTS)" >&2; exit 2; }
run_script() { # program
  if [ "$1" = gemini ]; then echo "$REPO/scripts/run_gemini.sh"; else echo "$AGENT_SCRIPTS/run_$1.sh"; fi
}
if [ -n "$CAPTURE" ]; then mkdir -p "$CAPTURE" && CAPTURE="$(cd "$CAPTURE" && pwd)"; fi
OWN_RUNS=0
if [ -z "${RUNS:-}" ]; then RUNS="$(mktemp -d "${TMPDIR:-/tmp}/agentwatch-real-agents.XXXXXX")" && OWN_RUNS=1; fi
mkdir -p "$RUNS"

GRPC=0
if [ -z "$CAPTURE" ] && "$AGENTWATCH" serve --help 2>/dev/null | grep -q -- --otlp-grpc-port; then GRPC=1; fi

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

selected() { # program variant
  [ ${#SELECT[@]} -eq 0 ] && return 0
  for want in "${SELECT[@]}"; do
    [ "$want" = "$1" ] || [ "$want" = "$1/$2" ] && return 0
  done
  return 1
}

wait_healthy() { # url
  for _ in $(seq 1 100); do
    curl -sf "$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "agentwatch did not answer at $1" >&2; return 1
}

SERVE_PID=""
stop_serve() {
  if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; SERVE_PID=""; fi
}
cleanup() { stop_serve; if [ "$OWN_RUNS" = 1 ]; then rm -rf "$RUNS"; fi; }
trap cleanup EXIT

FAILED=0
for entry in "${VARIANTS[@]}"; do
  IFS='|' read -r program variant settings capture_settings <<<"$entry"
  selected "$program" "$variant" || continue
  if [ -n "$CAPTURE" ] && [ -n "$capture_settings" ]; then settings="$settings;$capture_settings"; fi
  IFS=';' read -r -a knobs <<<"$settings"
  protocol=""
  for k in "${knobs[@]}"; do [ "${k%%=*}" = PROTOCOL ] && protocol="${k#*=}"; done
  if [ "$protocol" = grpc ] && { [ -n "$CAPTURE" ] || [ "$GRPC" = 0 ]; }; then
    echo "== $program/$variant skipped: $([ -n "$CAPTURE" ] && echo "otlp_capture.py has no gRPC" || echo "agentwatch serve has no --otlp-grpc-port")"
    continue
  fi
  out="$RUNS/$program-$variant"
  rm -rf "$out"
  ports=(FAKE_PORT="$(free_port)" CAPTURE_PORT="$(free_port)")
  cli=(env "${knobs[@]}" "${ports[@]}" PY="$PYTHON" PREFIX="$AGENT_CLIS/$program" OUT="$out"
    AGENT_SCRIPTS="$AGENT_SCRIPTS")
  if [ -n "$CAPTURE" ]; then
    "${cli[@]}" bash "$(run_script "$program")" 2>&1 | sed 's/^/   /'
    version="$("$AGENT_CLIS/$program/node_modules/.bin/$program" --version 2>/dev/null | head -1)"
    setting_args=()
    for k in "${knobs[@]}"; do
      if [ "${k%%=*}" = LEAVE_OUT ]; then setting_args+=(--leave-out "${k#*=}"); else setting_args+=(--setting "$k"); fi
    done
    "$PYTHON" "$REPO/scripts/save_capture.py" "$out" "$CAPTURE/$program/$variant" --program "$program" \
      --variant "$variant" --cli-version "$version" "${setting_args[@]}" || FAILED=1
    continue
  fi
  port="${PORT:-$(free_port)}"
  serve=("$AGENTWATCH" serve --port "$port" --no-store)
  endpoint="http://127.0.0.1:$port"
  if [ "$protocol" = grpc ]; then
    grpc_port="$(free_port)"
    serve+=(--otlp-grpc-port "$grpc_port")
    endpoint="http://127.0.0.1:$grpc_port"
  fi
  mkdir -p "$out"
  "${serve[@]}" >"$out/agentwatch.log" 2>&1 &
  SERVE_PID=$!
  if ! wait_healthy "http://127.0.0.1:$port"; then stop_serve; FAILED=1; continue; fi
  "${cli[@]}" OTLP_ENDPOINT="$endpoint" bash "$(run_script "$program")" >/dev/null 2>&1
  "$PYTHON" "$REPO/scripts/compare_totals.py" "$out" --program "$program" --variant "$variant" \
    --url "http://127.0.0.1:$port" || FAILED=1
  stop_serve
done
exit "$FAILED"
