"""The agents table at fleet scale and what a key costs: key → screen inside the real viewer.

    python benchmarks/bench_agent_table.py                      # ~2 minutes
    python benchmarks/bench_agent_table.py --before ../old-tree  # the same against another source tree

A real collector (``agentwatch serve --no-store``) fed by ``agentwatch simulate`` (``--agents`` agents at
``--rate`` events/s), and the real viewer connected to it, run headless in a process of its own at 120×36.
Each key is posted as the terminal driver posts it, at a random 0.1–0.3 s after the previous one, and timed
to the first screen write after it (what the terminal would be sent): ``s`` (the table sorted by the next
column: the frame it runs is timed too) and ``?`` (the help opened, then closed). With ``--before``, each
round measures the other tree's viewer and then this one's, so both share the machine's load; the table
gives each tree's p50 / p95 over all rounds and the ratio of this tree's to the other's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SIZE = (120, 36)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000 if ordered else float("nan")


def role_measure(options: argparse.Namespace) -> None:
    """In the tree under test (its directory first on sys.path): one viewer, the keys, JSON on stdout."""
    sys.path.insert(0, str(HERE.parent))
    from _procs import start_collector, stop
    from textual import events

    from agentwatch.tui.app import AgentWatchApp

    collector, url = start_collector(stderr=subprocess.STDOUT)
    feeder = subprocess.Popen(
        [sys.executable, "-m", "agentwatch", "simulate", "--url", url, "--agents", str(options.agents),
         "--rate", str(options.rate)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    pending: dict[str, float] = {}
    found: dict[str, list[float]] = {"s: its frame": [], "s → written": [], "? open → written": [],
                                     "? close → written": []}  # fmt: skip

    class Timed(AgentWatchApp):
        def frame(self, *, timed: bool = False) -> None:
            started = time.perf_counter()
            super().frame(timed=timed)
            if not timed and pending.get("key") == 1 and "written" not in pending:
                found["s: its frame"].append(time.perf_counter() - started)

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is not None and "posted" in pending and "written" not in pending:
                pending["written"] = time.monotonic()

    async def press(app: AgentWatchApp, key: str, character: str, name: str) -> None:
        pending.clear()
        pending["key"] = 1 if key == "s" else 0
        pending["posted"] = time.monotonic()
        app.post_message(events.Key(key, character))
        for _ in range(1000):  # at most 5 s
            await asyncio.sleep(0.005)
            if "written" in pending:
                break
        found[name].append(pending.get("written", time.monotonic()) - pending["posted"])

    async def run() -> None:
        app = Timed(url=url, bell=False)
        rng = random.Random(options.seed)
        async with app.run_test(size=SIZE):
            await asyncio.sleep(options.warmup)
            for _ in range(options.keys):
                for key, character, name in (("s", "s", "s → written"), ("question_mark", "?", "? open → written"),
                                             ("question_mark", "?", "? close → written")):  # fmt: skip
                    await asyncio.sleep(rng.uniform(0.1, 0.3))
                    await press(app, key, character, name)

    try:
        asyncio.run(run())
    finally:
        stop(feeder)
        stop(collector)
    print(json.dumps(found))


def measure(tree: Path, options: argparse.Namespace) -> dict[str, list[float]]:
    """One viewer of ``tree`` (its ``agentwatch`` imported first, this script's measuring code)."""
    argv = [sys.executable, str(HERE), "--role", "measure", "--agents", str(options.agents),
            "--rate", str(options.rate), "--keys", str(options.keys), "--warmup", str(options.warmup),
            "--seed", str(options.seed)]  # fmt: skip
    environment = dict(os.environ, PYTHONPATH=str(tree))
    result = subprocess.run(argv, cwd=tree, env=environment, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=2000, help="events/s the simulator sends")
    parser.add_argument("--keys", type=int, default=20, help="rounds of s, ? and ? per viewer")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=6.0, help="seconds connected before the first key")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--before", type=Path, help="another source tree, measured just before this one")
    parser.add_argument("--role", choices=("measure",), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.role == "measure":
        role_measure(options)
        return 0
    trees = {"this tree": HERE.parents[1]}
    if options.before is not None:
        trees = {"before": options.before.resolve(), **trees}
    results: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
    print(f"{options.agents} agents at {options.rate} events/s, {options.rounds} rounds of {options.keys} × (s, ?, ?) "
          f"per tree …", flush=True)  # fmt: skip
    for round_ in range(options.rounds):
        for name, tree in trees.items():
            for key, samples in measure(tree, options).items():
                results[name].setdefault(key, []).extend(samples)
        print(f"  round {round_ + 1}: done", flush=True)
    keys = list(results["this tree"])
    header = ["key → screen (ms)", *(f"{name} p50 / p95" for name in trees)]
    if "before" in trees:
        header.append("p50 / p95 × before")
    rows = []
    for key in keys:
        row = [key]
        for name in trees:
            samples = results[name].get(key, [])
            row.append(f"{percentile(samples, 0.5):.1f} / {percentile(samples, 0.95):.1f}")
        if "before" in trees:
            now, then = results["this tree"][key], results["before"].get(key, [])
            row.append(f"{percentile(now, 0.5) / percentile(then, 0.5):.2f} / "
                       f"{percentile(now, 0.95) / percentile(then, 0.95):.2f}")  # fmt: skip
        rows.append(row)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
