"""The agents table at fleet scale and what a key costs: key → screen inside the real viewer.

    python benchmarks/bench_agent_table.py                      # ~2 minutes
    python benchmarks/bench_agent_table.py --before ../old-tree  # the same against another source tree
    python benchmarks/bench_agent_table.py --render             # one table update's CPU, ~20 s

``--render`` times what a table update costs in the viewer's process: ``AgentTable.show`` with 12
agents, then the table's rows rendered as a paint renders them (``render_lines``: the rows that
changed). Each update moves the numbers a second moves (tok/s, p50, p99, err %, cost, last seen,
activity: about 50 cells); one in ``--reorder-every`` also changes the order (every row drawn
again). The same table is timed drawn by DataTable's own code (each changed cell through Rich,
each row's line from all its cells) beside the direct path (a one-style cell built as segments,
a row's unchanged cells reused), in alternation, in one process: the table gives the CPU per
update (median of the rounds) and the ratio.

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
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _procs import json_from_tree

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
    args = ["--role", "measure", "--agents", str(options.agents),
            "--rate", str(options.rate), "--keys", str(options.keys), "--warmup", str(options.warmup),
            "--seed", str(options.seed)]  # fmt: skip
    return json_from_tree(tree, HERE, args)  # type: ignore[no-any-return]


def render_cost(options: argparse.Namespace) -> None:
    """``--render``: CPU per table update, DataTable's drawing beside the direct one (same process)."""
    from textual.app import App, ComposeResult
    from textual.geometry import Region
    from textual.widgets import DataTable

    from agentwatch.protocol import STATUS_DEGRADED, STATUS_OK, AgentRow, InFlight
    from agentwatch.tui import agenttable
    from agentwatch.tui.agenttable import AgentTable
    from agentwatch.tui.state import AgentView
    from agentwatch.tui.textual_internals import KeptCells

    class ThroughRich(AgentTable):
        """The table as DataTable draws it: every changed cell through Rich, a row's line from all its cells."""

        render_lines = DataTable.render_lines  # type: ignore[assignment]
        _render_line = DataTable._render_line  # type: ignore[assignment]

        def _one_line_cell(self, *args: Any) -> None:
            return None

    assert KeptCells._one_line_cell is not ThroughRich._one_line_cell
    tables = {"DataTable's drawing": ThroughRich(), "direct": AgentTable()}

    class Bench(App[None]):
        CSS = "AgentTable { height: 14; }"
        AUTO_FOCUS = None  # both tables look the same (the focused one would differ)

        def compose(self) -> ComposeResult:
            yield from tables.values()

    rng = random.Random(options.seed)
    agents = [f"agent-{name}" for name in ("planner", "coder", "reviewer", "search", "tester", "docs", "triage",
              "deploy", "billing", "support", "eval", "ops")][: options.table_agents]  # fmt: skip
    state = {agent: {"tok": rng.uniform(50, 900), "p50": rng.uniform(200, 900), "p99": rng.uniform(900, 6000),
                     "err": 0.0, "cost": rng.uniform(0, 3), "since": 0.0} for agent in agents}  # fmt: skip

    def views(now: float) -> list[AgentView]:
        out = []
        for agent, values in state.items():
            for key in ("tok", "p50", "p99", "cost"):
                if rng.random() < 0.7:
                    values[key] *= rng.uniform(0.9, 1.1)
            if rng.random() < 0.3:
                values["err"] = rng.choice([0.0, 0.0, rng.uniform(0, 0.2)])
            if rng.random() < 0.2:
                values["since"] = now
            row = AgentRow(agent_id=agent, status=STATUS_DEGRADED if values["err"] > 0.1 else STATUS_OK,
                           tokens_per_second=values["tok"], p50_latency_ms=values["p50"],
                           p99_latency_ms=values["p99"], error_rate=values["err"], cost_usd=values["cost"],
                           last_seen=now - rng.uniform(0, 2.5), last_activity="llm_call gpt-4o",
                           in_flight=InFlight(what="tool_call Bash", since=values["since"], stuck=False))  # fmt: skip
            out.append(AgentView(agent_id=agent, row=row, last_seen=row.last_seen, errors=0))
        return out

    samples: dict[str, list[float]] = {name: [] for name in tables}
    cells_changed: list[int] = []
    write_cells = agenttable.set_cells

    def counted(table: Any, changes: list[Any]) -> None:
        cells_changed.append(len(changes))
        write_cells(table, changes)

    agenttable.set_cells = counted  # type: ignore[assignment]

    async def run() -> None:
        app = Bench()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            now = 1_000.0
            for round_ in range(options.render_rounds):
                updates = []
                for update in range(options.render_updates):
                    now += 1.0
                    shown = views(now)
                    if update % options.reorder_every == 0:
                        rng.shuffle(shown)
                    updates.append((now, shown))
                for name, table in tables.items() if round_ % 2 else reversed(tables.items()):
                    width, height = table.size
                    table.render_lines(Region(0, 0, width, height))
                    started = time.process_time()
                    for now_, shown in updates:
                        table.update_from(shown, now_)
                        table.render_lines(Region(0, 0, width, height))
                    samples[name].append((time.process_time() - started) / len(updates))
            for table in tables.values():  # what both drew is the same
                width, height = table.size
                table.refresh()
                drawn = [
                    [(s.text, s.style) for s in strip]
                    for strip in table.render_lines(Region(0, 0, width, height))
                ]
                samples.setdefault("_drawn", []).append(drawn)  # type: ignore[arg-type]

    asyncio.run(run())
    drawn = samples.pop("_drawn")
    assert drawn[0] == drawn[1], "the two drawings differ"
    medians = {name: sorted(values)[len(values) // 2] * 1000 for name, values in samples.items()}
    old, new = medians["DataTable's drawing"], medians["direct"]
    print(f"{len(agents)} agents, {SIZE[0]}×{SIZE[1]}, {options.render_rounds} rounds × {options.render_updates} "
          f"updates each way (one in {options.reorder_every} reorders the rows); "
          f"{sum(cells_changed) / len(cells_changed):.0f} cells changed per update")  # fmt: skip
    rows = [["table update + its rows rendered", "DataTable's drawing", "direct", "direct / DataTable's"],
            ["CPU ms per update (median)", f"{old:.2f}", f"{new:.2f}", f"{new / old:.2f}"]]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


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
    parser.add_argument(
        "--render", action="store_true", help="time one table update's drawing instead (in-process)"
    )
    parser.add_argument(
        "--table-agents", type=int, default=12, help="--render: agents in the table (at most 12)"
    )
    parser.add_argument("--render-rounds", type=int, default=7, help="--render: rounds each way")
    parser.add_argument("--render-updates", type=int, default=100, help="--render: updates per round")
    parser.add_argument(
        "--reorder-every", type=int, default=10, help="--render: one update in N reorders the rows"
    )
    parser.add_argument("--role", choices=("measure",), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.render:
        render_cost(options)
        return 0
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
