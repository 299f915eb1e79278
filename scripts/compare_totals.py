#!/usr/bin/env python3
"""Print what a CLI reported about its run beside what agentwatch shows for it.

Usage: compare_totals.py RUN_DIR --program claude|codex|gemini --url http://127.0.0.1:PORT
       [--variant NAME]

The CLI side comes from the run's own output (see save_capture.read_cli_result). The
agentwatch side comes from ``GET /api/snapshot`` (``total_cost_usd``, events, errors, tool
calls, agents) and the cumulative counters of ``GET /metrics`` (input and output tokens),
since the snapshot holds token rates over its window, not totals. For a CLI that reports no cost
but its tokens per model (Gemini CLI), the CLI side adds what agentwatch's price table makes of
them (thoughts tokens at the output rate), "n/a" when a model is not priced.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from save_capture import CLI_STDOUT, read_cli_result

COUNTER = re.compile(r"^(agentwatch_\w+?)_total\{[^}]*\} (\S+)$")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


def agentwatch_totals(url: str) -> dict[str, Any]:
    snapshot = json.loads(fetch(url + "/api/snapshot"))
    counters: dict[str, float] = defaultdict(float)
    for line in fetch(url + "/metrics").decode().splitlines():
        match = COUNTER.match(line)
        if match:
            counters[match.group(1)] += float(match.group(2))
    return {
        "cost_usd": snapshot.get("total_cost_usd", 0.0),
        "cost_estimated": snapshot.get("cost_estimated", False),
        "input_tokens": int(counters["agentwatch_input_tokens"]),
        "output_tokens": int(counters["agentwatch_output_tokens"]),
        "events": snapshot.get("events", 0),
        "errors": snapshot.get("errors", 0),
        "tool_calls": snapshot.get("tool_calls_total", 0),
        "agents": [row.get("agent_id") for row in snapshot.get("agents", [])],
    }


def money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.5f}"


def priced(by_model: dict[str, dict[str, int]]) -> float | None:
    """The price table's estimate of the CLI's own counts, model by model; None if one is unpriced."""
    from agentwatch.pricing import estimate_cost

    total = 0.0
    for model, counts in by_model.items():
        cost = estimate_cost(
            model,
            counts["input_tokens"],
            counts["output_tokens"] + counts["reasoning_tokens"],
            counts["cache_read_tokens"],
        )
        if cost is None:
            return None
        total += cost
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--program", choices=sorted(CLI_STDOUT), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--variant", default="")
    args = parser.parse_args(argv)
    cli = read_cli_result(Path(args.run_dir), args.program)
    totals = cli["totals"]
    seen = agentwatch_totals(args.url.rstrip("/"))
    name = f"{args.program}/{args.variant}" if args.variant else args.program
    print(f"== {name} (exit {cli['exit_code']}{', error' if totals['is_error'] else ''})")
    print(
        f"   CLI        cost {money(totals['cost_usd'])}  in {totals['input_tokens']}"
        f"  out {totals['output_tokens']}  cache read {totals['cache_read_tokens']}"
        f"  cache write {totals['cache_creation_tokens']}  reasoning {totals['reasoning_tokens']}"
        + ("  (input includes cache read)" if totals["input_includes_cache_read"] else "")
        + (f"  priced {money(priced(totals['by_model']))}" if "by_model" in totals else "")
    )
    print(
        f"   agentwatch cost {money(seen['cost_usd'])}{' (estimated)' if seen['cost_estimated'] else ''}"
        f"  in {seen['input_tokens']}  out {seen['output_tokens']}  events {seen['events']}"
        f"  errors {seen['errors']}  tool calls {seen['tool_calls']}  agents {seen['agents']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
