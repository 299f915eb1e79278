"""Print the coding-agent session states a collector logged, and its agent rows; used by real_hooks.sh.

usage: python scripts/session_states.py URL [--expect STATE,STATE,...]

Reads the log stream from the start up to the last id /healthz gives (bounded), prints every
``session …`` line, then /api/snapshot's rows. Exit status 0 when the last states were the
expected ones (default: working, waiting for a prompt, ended) and the session is one agent row.
"""

from __future__ import annotations

import argparse
import json
import urllib.request


def main(url: str, wanted: list[str]) -> int:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as answer:
        last = json.load(answer)["last_log_id"]
    states: list[str] = []
    with urllib.request.urlopen(url + "/api/logs/stream?after=0", timeout=5) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if not line.startswith("data:") or '"message"' not in line:
                continue
            entry = json.loads(line[5:])
            if entry["message"].startswith("session "):
                print(entry["agent_id"], entry["level"], entry["message"])
                states.append(entry["message"].split(":")[0].removeprefix("session "))
            if entry.get("id", 0) >= last:
                break
    with urllib.request.urlopen(url + "/api/snapshot", timeout=5) as answer:
        snapshot = json.load(answer)
    for row in snapshot["agents"]:
        print("row:", row["agent_id"], "events", row["events"], "cost", row["cost_usd"])
    print("states:", " → ".join(states))
    return 0 if states[-len(wanted) :] == wanted and len(snapshot["agents"]) == 1 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--expect", default="working,waiting for a prompt,ended")
    args = parser.parse_args()
    raise SystemExit(main(args.url, args.expect.split(",")))
