#!/usr/bin/env bash
# Run the real Gemini CLI (`gemini -p`) against scripts/fake_gemini.py with its OpenTelemetry
# export on, capturing OTLP with otlp_capture.py (or sending it to any OTLP endpoint).
# Mirrors run_claude.sh and run_codex.sh of ../shared/coding_agents.
#
# Env knobs (defaults in brackets):
#   PREFIX        npm prefix holding @google/gemini-cli [$HOME/.cache/agent-clis/gemini]
#   FAKE_PORT     fake Gemini API port [19050]
#   CAPTURE_PORT  otlp_capture.py port [19005] (ignored when OTLP_ENDPOINT is set)
#   OTLP_ENDPOINT send OTLP here instead of starting otlp_capture.py, e.g. http://127.0.0.1:8787
#                 (http: the CLI appends /v1/logs etc.; grpc: the gRPC port itself)
#   PROTOCOL      http | grpc: settings.json telemetry.otlpProtocol [http]. Gemini CLI's "http" is
#                 OTLP/HTTP JSON; "grpc" is OTLP/gRPC, gzip-compressed (its own default)
#   MODE          fake model mode: text | tool | error | flaky [tool]
#   ERROR_STATUS  HTTP status used by error/flaky modes [500]
#   MAX_ATTEMPTS  settings.json general.maxAttempts: tries per model call, 1-10 [2]
#   MODEL         --model [gemini-2.5-flash]; "auto" lets the CLI's router pick (one more call)
#   TRACES        1 = telemetry.traces on: with LOG_PROMPTS, spans carry the messages [1]
#                 (spans are exported either way)
#   LOG_PROMPTS   1 = telemetry.logPrompts on [1]
#   LATENCY_MS    fake server delay per model call [0]
#   OUTPUT_FORMAT --output-format: json | text | stream-json [json]. A run that fails prints its
#                 JSON error and exits at once, dropping the telemetry not yet exported; with
#                 text it exits through its cleanup, which flushes every signal
#   PROMPT        prompt text ["say hi"]
#   GEMINI_ARGS   extra words for the gemini command line
#   OUT           output dir (capture/, requests.jsonl, gemini.stdout, gemini.stderr, gemini.rc)
#                 [$HOME/.cache/agent-clis/runs/gemini-<ts>]
#   CLI_ENV       extra KEY=VALUE words added to the CLI's environment
#   WRAP          command prefix for the CLI, e.g.
#                 WRAP="strace -f -qq -e trace=connect -o /tmp/x.trace" to audit sockets
#   NETNS         1 = run everything in a loopback-only network namespace [0]
#   PY            python for the helper servers [$HOME/.cache/agent-clis/venv/bin/python if present]
#   AGENT_SCRIPTS where otlp_capture.py lives [<repo>/../shared/coding_agents]
set -u
if [ "${NETNS:-0}" = 1 ] && [ -z "${_IN_NETNS:-}" ]; then
  exec unshare -n env _IN_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AGENT_SCRIPTS="${AGENT_SCRIPTS:-$HERE/../../shared/coding_agents}"
PREFIX="${PREFIX:-$HOME/.cache/agent-clis/gemini}"
FAKE_PORT="${FAKE_PORT:-19050}"
CAPTURE_PORT="${CAPTURE_PORT:-19005}"
PROTOCOL="${PROTOCOL:-http}"
MODE="${MODE:-tool}"
ERROR_STATUS="${ERROR_STATUS:-500}"
MAX_ATTEMPTS="${MAX_ATTEMPTS:-2}"
MODEL="${MODEL:-gemini-2.5-flash}"
TRACES="${TRACES:-1}"
LOG_PROMPTS="${LOG_PROMPTS:-1}"
PROMPT="${PROMPT:-say hi}"
OUT="${OUT:-$HOME/.cache/agent-clis/runs/gemini-$(date +%Y%m%d-%H%M%S)}"
if [ -z "${PY:-}" ]; then
  if [ -x "$HOME/.cache/agent-clis/venv/bin/python" ]; then PY=$HOME/.cache/agent-clis/venv/bin/python; else PY=python3; fi
fi
GEMINI="$PREFIX/node_modules/.bin/gemini"
[ -x "$GEMINI" ] || { echo "gemini not found at $GEMINI (npm install --prefix $PREFIX @google/gemini-cli)" >&2; exit 2; }
case "$PROTOCOL" in http|grpc) ;; *) echo "PROTOCOL must be http or grpc" >&2; exit 2 ;; esac

mkdir -p "$OUT/home/.gemini" "$OUT/work" "$OUT/tmp"
OUT="$(cd "$OUT" && pwd)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
wait_port() {
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1:$2 did not open" >&2; return 1
}

"$PY" "$HERE/fake_gemini.py" --port "$FAKE_PORT" --mode "$MODE" --error-status "$ERROR_STATUS" \
  --latency-ms "${LATENCY_MS:-0}" --cwd "$OUT/work" --log "$OUT/requests.jsonl" 2>"$OUT/fake_gemini.stderr" &
PIDS+=($!)
if [ -z "${OTLP_ENDPOINT:-}" ]; then
  [ "$PROTOCOL" = http ] || { echo "otlp_capture.py speaks OTLP/HTTP only: set OTLP_ENDPOINT for grpc" >&2; exit 2; }
  "$PY" "$AGENT_SCRIPTS/otlp_capture.py" --port "$CAPTURE_PORT" --out "$OUT/capture" 2>"$OUT/otlp_capture.stderr" &
  PIDS+=($!)
  OTLP_ENDPOINT="http://127.0.0.1:$CAPTURE_PORT"
  wait_port 127.0.0.1 "$CAPTURE_PORT" || exit 1
fi
wait_port 127.0.0.1 "$FAKE_PORT" || exit 1

bool() { [ "$1" = 1 ] && echo true || echo false; }
# The whole configuration lives in the throwaway HOME: an API key chosen as the auth type (the
# base URL alone would make it a "gateway"), no usage statistics or update checks (both would
# leave the machine), few retries, and the telemetry block.
cat >"$OUT/home/.gemini/settings.json" <<EOF
{
  "security": { "auth": { "selectedType": "gemini-api-key" }, "folderTrust": { "enabled": false } },
  "general": { "maxAttempts": $MAX_ATTEMPTS, "enableAutoUpdate": false, "enableAutoUpdateNotification": false },
  "privacy": { "usageStatisticsEnabled": false },
  "telemetry": {
    "enabled": true,
    "target": "local",
    "otlpEndpoint": "$OTLP_ENDPOINT",
    "otlpProtocol": "$PROTOCOL",
    "traces": $(bool "$TRACES"),
    "logPrompts": $(bool "$LOG_PROMPTS")
  }
}
EOF

echo "[run_gemini] out=$OUT mode=$MODE protocol=$PROTOCOL otlp=$OTLP_ENDPOINT" >&2
cd "$OUT/work"
# env -i: throwaway HOME, no real config or credentials leak in.
env -i PATH="$(dirname "$(command -v node)"):/usr/local/bin:/usr/bin:/bin" \
  HOME="$OUT/home" TMPDIR="$OUT/tmp" TERM=dumb LANG=C.UTF-8 NO_COLOR=1 \
  GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:$FAKE_PORT" GEMINI_API_KEY=fake-gemini-key \
  ${CLI_ENV:-} ${WRAP:-} timeout 110 "$GEMINI" ${GEMINI_ARGS:-} --model "$MODEL" --approval-mode yolo \
  --output-format "${OUTPUT_FORMAT:-json}" -p "$PROMPT" \
  >"$OUT/gemini.stdout" 2>"$OUT/gemini.stderr" </dev/null
RC=$?
echo "$RC" >"$OUT/gemini.rc"
sleep 2  # let the capture server finish writing the last export
echo "[run_gemini] gemini exit=$RC; requests=$(wc -l <"$OUT/requests.jsonl" 2>/dev/null || echo 0); captured=$(ls "$OUT/capture" 2>/dev/null | grep -c meta.json)" >&2
exit "$RC"
