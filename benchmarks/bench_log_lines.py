"""What a new log line's row costs the viewer to draw: Textual's Log path beside the pane's own.

    python benchmarks/bench_log_lines.py            # ~20 s
    python benchmarks/bench_log_lines.py --lines 2000 --rounds 7
    python benchmarks/bench_log_lines.py --before /tmp/before     # also a full log's writes, both trees

A real log pane (:class:`~agentwatch.tui.logview.LogView`, 120 columns) in a headless app, fed lines
formatted as the viewer formats them (12 agents, every level, a few long messages). Two measures,
each in alternating rounds of the old and the new path in the same process:

* ``strip``: a row's uncropped strip — Textual's ``Log._render_line_strip`` (a rich Text, the
  highlighter's copy and spans, ``Text.render``) against ``LogPane.line_strip`` (the line cut at
  its known columns, styles combined once);
* ``row as painted``: the whole row the screen gets for a new line, ``Widget.render_lines`` for the
  dirty rows of a paint (``--per-paint`` new lines: the styles cache, the widget's style, the crop
  to the pane's width, the offsets), the old path entirely Textual's.

With ``--before DIR`` (an agentwatch source tree, e.g. a worktree of an older commit), in a process
for each tree, the two taking turns: the pane's ``row as painted`` in each tree, and ``full log, 5
lines written + painted``, what a paint at 50 lines/s costs the pane in steady state: a log at
``max_lines`` takes five new lines (``LogView.append_entries``: the oldest lines pruned, the rows
kept, moved up) and renders what is dirty, in µs per batch.

Each cell is the best round's µs per line (the least disturbed by the machine's other load); the
ratio is old / new.
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
from functools import partial
from pathlib import Path
from typing import Any

# The tree measured: this one, or another one's (``--before``: this file run with BENCH_TREE set).
sys.path.insert(0, os.environ.get("BENCH_TREE") or str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Log

from agentwatch.protocol import LogEntry
from agentwatch.tui import formatting as fmt
from agentwatch.tui.logview import LogView

WORDS = "tool call read file edit wrote tokens cache hit model reply retry timeout ok done plan step".split()


def lines(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    agents = [f"claude-code·{rng.getrandbits(32):08x}" for _ in range(12)]
    levels = ["info"] * 12 + ["debug"] * 4 + ["warning"] * 2 + ["error", "critical"]
    out = []
    for n in range(count):
        words = rng.randint(3, 30 if n % 10 else 60)
        entry = LogEntry(
            timestamp=1_700_000_000 + n * 0.02,
            agent_id=rng.choice(agents),
            level=rng.choice(levels),
            message=" ".join(rng.choice(WORDS) for _ in range(words)),
        )
        out.append(fmt.log_line(entry))
    return out


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=100_000, id="log")


def textual_strips(pane: Any, count: int) -> float:
    style = pane.rich_style
    pane._render_line_cache.clear()  # Log keeps nothing while no text is selected
    started = time.perf_counter()
    for y in range(count):
        Log._render_line_strip(pane, y, style)
    return time.perf_counter() - started


def own_strips(pane: Any, count: int) -> float:
    style = pane.rich_style
    rows = pane.lines
    started = time.perf_counter()
    for y in range(count):
        pane.line_strip(rows[y], style)
    return time.perf_counter() - started


def painted_rows(pane: Any, texts: list[str], per_paint: int, *, textual: bool) -> float:
    """The lines put on the pane's rows ``per_paint`` at a time, each batch's rows rendered in one
    ``render_lines`` call, as a paint with that many new lines renders them (only they are dirty)."""
    if textual:  # Textual's Log draws the rows, and Widget.render_lines runs as Textual's
        pane.line_strip = lambda _line, _style: None
        pane.render_lines = partial(Widget.render_lines, pane)
    try:
        shown = pane._lines
        cache = pane._render_line_cache
        styles = pane._styles_cache
        width = pane.size.width
        height = pane.scrollable_content_region.height
        batches = height // per_paint
        top = pane.scroll_offset.y
        total = 0.0
        for n in range(0, len(texts), per_paint):
            first = (n // per_paint) % batches * per_paint
            batch = texts[n : n + per_paint]
            for row, text in enumerate(batch, first):
                shown[top + row] = text
                cache.discard(top + row)
                pane.forget_lines(top + row, 1)  # the strip kept for the row's old line
                styles._dirty_lines.add(row)
            started = time.perf_counter()
            pane.render_lines(Region(0, first, width, len(batch)))
            total += time.perf_counter() - started
        return total
    finally:
        if textual:
            del pane.line_strip, pane.render_lines


async def measure(options: argparse.Namespace, *, painted_only: bool = False) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    app = PaneApp()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = app.query_one(LogView)
        for round_number in range(options.rounds):
            if painted_only:  # the pane's rows as painted, alone (``--before``: each tree in turn)
                pane.replace(lines(options.lines, seed=round_number))
                await pilot.pause()
                part = lines(options.lines, seed=2_000 + round_number)
                spent = painted_rows(pane, part, options.per_paint, textual=False)
                found.setdefault("painted", []).append(spent / len(part) * 1e6)
                continue
            # New lines each round, as in a stream (Rich keeps the widths of lines it measured).
            texts = lines(options.lines, seed=round_number)
            pane.replace(texts)
            await pilot.pause()
            count = len(pane.lines)
            for name, run in (
                ("strip: Textual's Log", textual_strips),
                ("strip: the pane's own", own_strips),
            ):
                found.setdefault(name, []).append(run(pane, count) / count * 1e6)
            painted = lines(2 * options.lines, seed=1_000 + round_number)
            for name, textual, part in (
                ("row as painted: Textual's Log", True, painted[: options.lines]),
                ("row as painted: the pane's own", False, painted[options.lines :]),
            ):
                spent = painted_rows(pane, part, options.per_paint, textual=textual)
                found.setdefault(name, []).append(spent / len(part) * 1e6)
    return found


class FullLogApp(App[None]):
    """The viewer's log pane as the viewer makes it (``max_lines`` is the viewer's default)."""

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=FULL, id="log")


FULL = 10_000


async def full_log_writes(rounds: int, batches: int = 300) -> list[float]:
    """µs per batch of 5 lines written to a full log and painted (the dirty rows), per round."""
    app = FullLogApp()
    found = []
    async with app.run_test(size=(120, 36)) as pilot:
        pane = app.query_one(LogView)
        texts = lines(FULL + rounds * batches * 5, seed=7)
        entries = [LogEntry(timestamp=0.0, agent_id="a", level="info", message=text) for text in texts]
        pane.append_entries(entries[:FULL], texts[:FULL])
        await pilot.pause()
        whole = Region(0, 0, *pane.size)
        pane.render_lines(whole)
        styles = pane._styles_cache
        at = FULL
        for _ in range(rounds):
            spent = 0.0
            for _ in range(batches):
                started = time.perf_counter()
                pane.append_entries(entries[at : at + 5], texts[at : at + 5])
                dirty = sorted(styles._dirty_lines) or [0]
                pane.render_lines(Region(0, dirty[0], whole.width, dirty[-1] + 1 - dirty[0]))
                spent += time.perf_counter() - started
                at += 5
            found.append(spent / batches * 1e6)
    return found


def tree_measures(tree: str, options: argparse.Namespace) -> dict[str, list[float]]:
    """One round of the pane's rows as painted and of the full log's writes, in ``tree``."""
    env = dict(os.environ, BENCH_TREE=tree)
    out = subprocess.run(
        [sys.executable, __file__, "--tree-only", "--rounds", "1", "--lines", str(options.lines),
         "--per-paint", str(options.per_paint)],
        env=env, cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000, help="lines per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--per-paint", type=int, default=5, help="new lines a paint renders (50 lines/s at 10 fps: 5)"
    )
    parser.add_argument(
        "--before", metavar="DIR", help="an agentwatch source tree to compare full-log writes with"
    )
    parser.add_argument("--tree-only", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.tree_only:
        measures = asyncio.run(measure(options, painted_only=True))
        measures["writes"] = asyncio.run(full_log_writes(options.rounds))
        print(json.dumps(measures))
        return
    found = asyncio.run(measure(options))
    if options.before:
        this = str(Path(__file__).resolve().parent.parent)
        for _ in range(options.rounds):
            for tree, name in ((options.before, "before"), (this, "this tree")):
                for measure_name, values in tree_measures(tree, options).items():
                    found.setdefault(f"{measure_name}: {name}", []).extend(values)
    print(
        f"{options.lines} lines × {options.rounds} rounds, {options.per_paint} new lines a paint;"
        " µs per line (best round; median in brackets)\n"
    )
    print(f"| {'measure':<16} | {'Textual Log':>16} | {'the pane':>16} | {'old / new':>9} |")
    print(f"| {'-' * 16} | {'-' * 16} | {'-' * 16} | {'-' * 9} |")
    for measure_name in ("strip", "row as painted"):
        old = sorted(found[f"{measure_name}: Textual's Log"])
        new = sorted(found[f"{measure_name}: the pane's own"])
        old_cell = f"{old[0]:.1f} ({old[len(old) // 2]:.1f})"
        new_cell = f"{new[0]:.1f} ({new[len(new) // 2]:.1f})"
        print(f"| {measure_name:<16} | {old_cell:>16} | {new_cell:>16} | {old[0] / new[0]:>8.1f}x |")
    if options.before:
        old, new = sorted(found["painted: before"]), sorted(found["painted: this tree"])
        print(
            f"\nthe pane's row as painted, µs per line: before {old[0]:.1f} ({old[len(old) // 2]:.1f}),"
            f" this tree {new[0]:.1f} ({new[len(new) // 2]:.1f}), before / this tree {old[0] / new[0]:.1f}x"
        )
        old, new = sorted(found["writes: before"]), sorted(found["writes: this tree"])
        print(
            f"\nfull log, 5 lines written + painted, µs per batch: before {old[0]:.0f} ({old[len(old) // 2]:.0f}),"
            f" this tree {new[0]:.0f} ({new[len(new) // 2]:.0f}), before / this tree {old[0] / new[0]:.1f}x"
        )


if __name__ == "__main__":
    main()
