#!/usr/bin/env bash
# Long-term history in Prometheus, checked end to end: two collectors, a fleet sent to them, and
# Debian's prometheus scraping both with the shipped configuration and recording rules.
#
# Not part of CI (it needs the prometheus package: `apt-get install prometheus`). Everything stays
# on 127.0.0.1, on free ports, in a throwaway directory. It
#   1. checks deploy/prometheus/rules.yml with `promtool check rules` and runs its unit tests
#      (deploy/prometheus/rules_test.yml, `promtool test rules`); without prometheus installed it
#      stops here;
#   2. starts two `agentwatch serve --no-store --token …` collectors, a simulator on each, and 20
#      SDK agents given both URLs (each agent sends to the collector its id ranks first);
#   3. starts prometheus with deploy/prometheus/prometheus.yml, its targets, token file and rules
#      path pointed at this run, scraping and evaluating every second;
#   4. once the senders stop, checks that `up` is 1 for each collector, that Prometheus's totals
#      per instance (events, errors, tokens in and out, cost, latency count) equal each
#      collector's own (its /metrics and /healthz), that every recording rule has a value, and
#      that each SDK agent's events are on exactly one collector.
# Prints a table; exit status 0 when all of it holds, 1 otherwise.
#
# Usage: scripts/prometheus_check.sh [SECONDS]   (how long the senders run, default 8)
# Environment: PYTHON (default .venv/bin/python), PROMETHEUS and PROMTOOL (default from PATH).
set -u
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
PROMETHEUS="${PROMETHEUS:-prometheus}"
PROMTOOL="${PROMTOOL:-promtool}"
SECONDS_SENT="${1:-8}"
TOKEN="prometheus-check-token"
RULES="$REPO/deploy/prometheus/rules.yml"

if command -v "$PROMTOOL" >/dev/null 2>&1; then
  "$PROMTOOL" check rules "$RULES" || exit 1
  (cd "$REPO/deploy/prometheus" && "$PROMTOOL" test rules rules_test.yml) || exit 1
else
  echo "promtool not found: the rules were not checked (apt-get install prometheus)"
fi
if ! command -v "$PROMETHEUS" >/dev/null 2>&1; then
  echo "prometheus not found: nothing scraped (apt-get install prometheus)"
  exit 1
fi

RUN="$(mktemp -d "${TMPDIR:-/tmp}/agentwatch-prometheus.XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  rm -rf "$RUN"
}
trap cleanup EXIT
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # $1 = URL answering once the server is up (any HTTP status)
  for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "no answer from $1"; exit 1
}

# Two collectors.
URLS=()
for i in 1 2; do
  port="$(free_port)"
  "$PYTHON" -m agentwatch serve --port "$port" --otlp-grpc-port 0 --no-store --token "$TOKEN" \
    >"$RUN/collector$i.log" 2>&1 &
  PIDS+=($!)
  URLS+=("http://127.0.0.1:$port")
done
for url in "${URLS[@]}"; do wait_for "$url/healthz"; done

# Prometheus, from the shipped configuration with this run's targets, token and rules.
printf '%s' "$TOKEN" >"$RUN/token"
PROM_PORT="$(free_port)"
"$PYTHON" - "$REPO/deploy/prometheus/prometheus.yml" "$RUN/prometheus.yml" "$RUN/token" "$RULES" \
  "${URLS[@]}" <<'EOF' || exit 1
import sys
shipped, out, token, rules, *urls = sys.argv[1:]
text = open(shipped).read()
targets = "".join(f"          - {url.removeprefix('http://')}\n" for url in urls)
for old, new in [
    ("scrape_interval: 15s", "scrape_interval: 1s"),
    ("evaluation_interval: 15s", "evaluation_interval: 1s"),
    ("  - rules.yml\n", f"  - {rules}\n"),
    ("/etc/prometheus/agentwatch.token", token),
    ("".join(f"          - agentwatch-{i}.internal:8787\n" for i in (1, 2, 3)), targets),
]:
    assert text.count(old) == 1, f"{shipped} no longer has {old!r}"
    text = text.replace(old, new)
open(out, "w").write(text)
EOF
if command -v "$PROMTOOL" >/dev/null 2>&1; then "$PROMTOOL" check config "$RUN/prometheus.yml" || exit 1; fi
"$PROMETHEUS" --config.file="$RUN/prometheus.yml" --storage.tsdb.path="$RUN/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$RUN/prometheus.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$PROM_PORT/-/ready"

# The fleet: a simulator on each collector, and SDK agents sharded over both.
SENDERS=()
for i in 1 2; do
  "$PYTHON" -m agentwatch simulate --url "${URLS[$((i - 1))]}" --token "$TOKEN" --seed "$i" \
    --rate 200 --agents 8 --duration "$SECONDS_SENT" >"$RUN/simulate$i.log" 2>&1 &
  SENDERS+=($!)
  PIDS+=($!)
done
"$PYTHON" - "$SECONDS_SENT" "$TOKEN" "${URLS[@]}" >"$RUN/sdk.log" 2>&1 <<'EOF' &
import random, sys, time
from agentwatch.sdk import AgentTelemetry
seconds, token, *urls = sys.argv[1:]
agents = [AgentTelemetry(f"sharded-{i}", urls=urls, token=token, heartbeat_interval=None) for i in range(20)]
rng = random.Random(7)
end = time.monotonic() + float(seconds)
while time.monotonic() < end:
    for agent in agents:
        agent.llm_call("gpt-4o", rng.randint(100, 3000), rng.randint(10, 400), rng.uniform(200, 4000))
    time.sleep(0.05)
for agent in agents:
    agent.close()
    assert agent.stats()["failed"] == agent.stats()["dropped"] == 0, agent.stats()
EOF
SENDERS+=($!)
PIDS+=($!)
status=0
for pid in "${SENDERS[@]}"; do wait "$pid" || status=1; done
if [ "$status" != 0 ]; then echo "a sender failed:"; cat "$RUN"/simulate*.log "$RUN/sdk.log"; exit 1; fi

"$PYTHON" - "http://127.0.0.1:$PROM_PORT" "$TOKEN" "$RULES" "${URLS[@]}" <<'EOF'
import json, re, sys, time, urllib.parse, urllib.request

prometheus, token, rules, *urls = sys.argv[1:]
FAMILIES = ["events", "errors", "input_tokens", "output_tokens", "cost_usd"]


def get(url, headers=None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as answer:
        return answer.read().decode()


def query(expr):
    answer = json.loads(get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})))
    return [(item["metric"], float(item["value"][1])) for item in answer["data"]["result"]]


def own(url):
    """The collector's totals, read from its own /metrics and /healthz."""
    auth = {"authorization": f"Bearer {token}"}
    text = get(url + "/metrics", auth)
    totals = {}
    for family in FAMILIES:
        totals[family] = sum(float(v) for v in re.findall(rf"^agentwatch_{family}_total{{[^}}]*}} (\S+)$", text, re.M))
    totals["latency_count"] = sum(float(v) for v in re.findall(r"^agentwatch_latency_seconds_count{[^}]*} (\S+)$", text, re.M))
    totals["healthz_events"] = float(json.loads(get(url + "/healthz", auth))["events_total"])
    return totals


def scraped():
    by_instance = {}
    for family in FAMILIES:
        for labels, value in query(f'sum by (instance) (agentwatch_{family}_total{{job="agentwatch"}})'):
            by_instance.setdefault(labels["instance"], {})[family] = value
    for labels, value in query('sum by (instance) (agentwatch_latency_seconds_count{job="agentwatch"})'):
        by_instance.setdefault(labels["instance"], {})["latency_count"] = value
    return by_instance


def same(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


failures = []
deadline = time.monotonic() + 60
while True:  # the collectors re-render /metrics at most once a second; Prometheus scrapes every second
    up = {labels["instance"]: value for labels, value in query('up{job="agentwatch"}')}
    mine = {url.removeprefix("http://"): own(url) for url in urls}
    theirs = scraped()
    matches = all(
        up.get(instance) == 1.0
        and all(same(totals[key], theirs.get(instance, {}).get(key, -1)) for key in FAMILIES + ["latency_count"])
        for instance, totals in mine.items()
    )
    if matches or time.monotonic() > deadline:
        break
    time.sleep(0.5)

print(f"{'collector':<22}{'up':>4}{'events':>10}{'healthz':>10}{'errors':>8}{'tokens in':>12}{'tokens out':>12}{'cost USD':>12}  Prometheus")
for instance, totals in mine.items():
    got = theirs.get(instance, {})
    agree = all(same(totals[key], got.get(key, -1)) for key in FAMILIES + ["latency_count"])
    print(
        f"{instance:<22}{up.get(instance, 0):>4.0f}{totals['events']:>10.0f}{totals['healthz_events']:>10.0f}"
        f"{totals['errors']:>8.0f}{totals['input_tokens']:>12.0f}{totals['output_tokens']:>12.0f}"
        f"{totals['cost_usd']:>12.4f}  {'same' if agree else 'DIFFERENT: ' + repr(got)}"
    )
    if up.get(instance) != 1.0:
        failures.append(f"up is not 1 for {instance}")
    if not agree:
        failures.append(f"Prometheus's totals for {instance} differ from the collector's")
    if totals["events"] != totals["healthz_events"]:
        failures.append(f"{instance}: /metrics counts {totals['events']} events, /healthz {totals['healthz_events']}")
if len(mine) != len(urls) or set(up) != set(mine):
    failures.append(f"scraped instances {sorted(up)} are not the collectors {sorted(mine)}")

fleet = sum(totals["events"] for totals in mine.values())
fleet_seen = query('sum(agentwatch_events_total{job="agentwatch"})')
print(f"fleet events: {fleet:.0f} by the collectors, {fleet_seen[0][1] if fleet_seen else 'none':.0f} in Prometheus")

records = re.findall(r"^\s*- record: (\S+)$", open(rules).read(), re.M)
deadline = time.monotonic() + 30
missing = records
while missing and time.monotonic() < deadline:
    missing = [record for record in records if not query(record)]
    time.sleep(0.5)
print(f"recording rules with a value: {len(records) - len(missing)} of {len(records)}")
for record in records:
    values = query(record)
    shown = ", ".join(f"{value:.4g}" for _, value in values[:3]) + (" …" if len(values) > 3 else "")
    print(f"  {record:<42} {shown}")
failures += [f"recording rule {record} has no value" for record in missing]

placement = query('count by (agent) (sum by (agent, instance) (agentwatch_events_total{agent=~"sharded-.*"}))')
spread = query('count by (instance) (sum by (agent, instance) (agentwatch_events_total{agent=~"sharded-.*"}))')
print(f"SDK agents: {len(placement)}, on {sorted((labels['instance'], int(value)) for labels, value in spread)}")
if len(placement) != 20 or any(value != 1 for _, value in placement):
    failures.append("an SDK agent's events are not on exactly one collector")

print("\n".join(["FAILED:", *failures]) if failures else "OK: every collector up, Prometheus's totals are the collectors'")
sys.exit(1 if failures else 0)
EOF
