"""What the header and the five metric panels cost a second to render, in the real viewer.

    python benchmarks/bench_panels.py                          # ~20 s, this tree only
    python benchmarks/bench_panels.py --before ../old-tree     # the same for another tree, round by round

The viewer (``AgentWatchApp``, not connected) runs headless at ``--width``×36. Each step is one
second of the viewer's clock: a snapshot with a new second of history (120 values a series, as
the collector sends them) goes into its state, one frame moves it to the widgets, and the screen
is painted. ``Widget.render_lines`` is timed per widget class (the compositor asks each widget for
the rows it must repaint), and ``MetricsBar.update_from`` (the panels' ``show``) beside it. The
table gives the mean ms per second of each, for each tree; with ``--before``, each round runs the
other tree's viewer and then this one's, so both share the machine's load, and the last column is
this tree's ms over the other's.

A second table, in this tree's viewer: one panel sparkline's rows for a new second drawn by
Textual's path (its Sparkline renderable through Rich, the cursor, the runs joined) and by
``sparkline_rows``, alternately, µs per sparkline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _procs import json_from_tree

HERE = Path(__file__).resolve()
#: What the table lists (the rest is summed in "other widgets").
SHOWN = ("MetricPanel", "PanelSparkline", "Static", "HeaderBar", "ScrollBar", "other widgets", "update_from")


def role_measure(options: argparse.Namespace) -> None:
    """In the tree under test (its directory first on sys.path): the steps, JSON on stdout."""
    from textual.widget import Widget

    from agentwatch.protocol import History, Snapshot
    from agentwatch.tui.app import AgentWatchApp
    from agentwatch.tui.widgets import MetricsBar

    spent: dict[str, float] = defaultdict(float)
    render_lines = Widget.render_lines
    update_from = MetricsBar.update_from

    def timed_render_lines(self: Widget, crop: Any) -> Any:
        started = time.perf_counter()
        try:
            return render_lines(self, crop)
        finally:
            name = type(self).__name__
            name = "ScrollBar" if "ScrollBar" in name else name
            spent[name if name in SHOWN else "other widgets"] += time.perf_counter() - started

    def timed_update_from(self: MetricsBar, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            update_from(self, *args, **kwargs)
        finally:
            spent["update_from"] += time.perf_counter() - started

    Widget.render_lines = timed_render_lines  # type: ignore[method-assign]
    MetricsBar.update_from = timed_update_from  # type: ignore[method-assign]
    rng = random.Random(options.seed)
    now = [1_700_000_000.0]
    series = {
        name: [rng.uniform(0, 100) for _ in range(120)]
        for name in ("tokens", "p99", "errors", "events", "cost")
    }

    def snapshot() -> Snapshot:
        for values in series.values():
            values.append(max(0.0, values[-1] + rng.uniform(-20, 20)))
            del values[0]
        history = History(
            end=now[0], tokens_per_second=list(series["tokens"]), p99_latency_ms=list(series["p99"]),
            error_rate=[v / 1000 for v in series["errors"]], events_per_second=list(series["events"]),
            cost_per_second=[v / 10_000 for v in series["cost"]],
        )  # fmt: skip
        return Snapshot(
            timestamp=now[0], tokens_per_second=series["tokens"][-1] * 40, p50_latency_ms=series["p99"][-1] * 3,
            p99_latency_ms=series["p99"][-1] * 9, error_rate=series["errors"][-1] / 1000, active_agents=12,
            events_per_second=series["events"][-1], errors=rng.randrange(100), input_tokens_per_second=4000.0,
            output_tokens_per_second=rng.uniform(100, 900), window_cost_usd=rng.uniform(0, 3),
            cost_per_minute=rng.uniform(0, 1), history=history,
        )  # fmt: skip

    async def run() -> None:
        app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False, clock=lambda: now[0] + 0.5)
        async with app.run_test(size=(options.width, 36)) as pilot:
            for step in range(options.warmup + options.seconds):
                if step == options.warmup:
                    spent.clear()
                now[0] += 1.0
                app.state.apply_snapshot(snapshot())
                app.frame()
                await pilot.pause()
            rows_micro(app)

    def rows_micro(app: AgentWatchApp) -> None:
        """One sparkline's rows for new values: Textual's path, then the widget's own drawing."""
        from textual.strip import Strip

        from agentwatch.tui import sparkcursor

        if not hasattr(sparkcursor, "sparkline_rows"):
            return  # a tree that draws them through Textual's path only
        sparkline: Any = app.query_one("#m-tokens Sparkline", Widget)
        sparkline.set_cursor(100)
        cursor_style = sparkcursor._CURSOR_STYLE
        taken = {"rows: Textual's path": 0.0, "rows: sparkline_rows": 0.0}
        for _ in range(options.micro):
            sparkline.data = [rng.uniform(0, 100) for _ in range(120)]
            started = time.perf_counter()
            Widget._render_content(sparkline)
            columns = list(sparkcursor.column_of(100, 120, sparkline.size.width))
            textual = []
            for y in range(sparkline.size.height):
                strip = Widget.render_line(sparkline, y)
                before, at, after = strip.divide([columns[0], columns[-1] + 1, strip.cell_length])
                textual.append(Strip.join([before, at.apply_style(cursor_style), after]).simplify())
            middle = time.perf_counter()
            drawn = [sparkline.render_line(y) for y in range(sparkline.size.height)]
            taken["rows: sparkline_rows"] += time.perf_counter() - middle
            taken["rows: Textual's path"] += middle - started
            assert [list(row) for row in drawn] == [list(row) for row in textual]
        for name, seconds in taken.items():  # µs per sparkline, as "ms per second" × 1000 / seconds
            spent[name] = seconds / options.micro * options.seconds * 1000

    asyncio.run(run())
    print(json.dumps({name: seconds * 1000 / options.seconds for name, seconds in spent.items()}))


def measure(tree: Path, options: argparse.Namespace) -> dict[str, float]:
    """One viewer of ``tree`` (its ``agentwatch`` imported first, this script's measuring code)."""
    args = ["--role", "measure", "--seconds", str(options.seconds),
            "--warmup", str(options.warmup), "--width", str(options.width), "--seed", str(options.seed),
            "--micro", str(options.micro)]  # fmt: skip
    return json_from_tree(tree, HERE, args)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=200, help="viewer seconds measured per round")
    parser.add_argument("--warmup", type=int, default=20, help="viewer seconds before the measured ones")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=120, help="terminal columns (36 rows)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--micro", type=int, default=300, help="sparklines drawn each way for the second table"
    )
    parser.add_argument("--before", type=Path, help="another source tree, measured just before this one")
    parser.add_argument("--role", choices=("measure",), help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.role == "measure":
        role_measure(options)
        return 0
    trees = {"this tree": HERE.parents[1]}
    if options.before is not None:
        trees = {"before": options.before.resolve(), **trees}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    print(
        f"{options.width}×36, {options.rounds} rounds of {options.seconds} viewer seconds per tree …",
        flush=True,
    )
    for round_ in range(options.rounds):
        for name, tree in trees.items():
            results[name].append(measure(tree, options))
        print(f"  round {round_ + 1}: done", flush=True)

    def mean(name: str, key: str) -> float:
        return sum(r.get(key, 0.0) for r in results[name]) / len(results[name])

    header = ["ms per viewer second", *trees]
    if "before" in trees:
        header.append("× before")
    rows = []
    for key in (*SHOWN, "panels + header"):
        parts = (*SHOWN[:4], "update_from") if key == "panels + header" else (key,)
        row = [key]
        for name in trees:
            row.append(f"{sum(mean(name, part) for part in parts):.3f}")
        if "before" in trees:
            then = sum(mean("before", part) for part in parts)
            row.append(f"{sum(mean('this tree', part) for part in parts) / then:.2f}" if then else "–")
        rows.append(row)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    textual, drawn = mean("this tree", "rows: Textual's path"), mean("this tree", "rows: sparkline_rows")
    if drawn:
        print(
            f"\none sparkline's rows for a new second (this tree's viewer, {options.micro} × {options.rounds}):"
        )
        print(
            f"  Textual's path  {textual:8.1f} µs\n  sparkline_rows  {drawn:8.1f} µs   ({textual / drawn:.1f}× less)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
