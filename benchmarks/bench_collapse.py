"""What collapsing repeated lines costs the log pane: ``python benchmarks/bench_collapse.py`` (about 10 s).

The viewer formats each frame's new lines and hands them to the log pane. With repeats collapsed
(``x``), each line is also masked (numbers, ids, hex, UUIDs) and looked up among the open rows
(:class:`agentwatch.tui.collapse.Collapser`), and a repeat's row text is formatted again. This
measures, in one run and alternating, CPU µs per line of:

* the baseline: :func:`agentwatch.tui.formatting.log_lines` over a frame's batch;
* collapsed: :meth:`Collapser.add` plus formatting the new rows and the rows the batch joined;

for a demo-like mix (mostly distinct lines) and for a storm of one repeated message, in batches of
``--batch`` lines (a frame's worth at 10 000 lines/s and 10 fps by default), and whether the cost
per line stays flat as the tail grows (first vs last tenth of ``--lines``). Best of ``--rounds``,
in CPU time (``time.process_time``); compare ratios within one run.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from datetime import UTC

from agentwatch.protocol import LogEntry
from agentwatch.tui import formatting as fmt
from agentwatch.tui.collapse import Collapser, row_text

T0 = 1_700_000_000.0


def demo_lines(count: int, seed: int = 1) -> list[LogEntry]:
    """Mostly distinct lines, as a simulated fleet logs them (ids, durations, token counts vary)."""
    rng = random.Random(seed)
    shapes = (
        "llm_call gpt-4o {a}→{b} tok {c} ms $0.0{d}",
        "tool_call search {c} ms",
        "task {h} done in {s}s: answer",
        "step {a}: prompt assembled, {b} tokens",
        "decision retry (conf 0.{d})",
    )
    return [
        LogEntry(
            timestamp=T0 + i / 1000,
            agent_id=f"agent-{rng.randrange(50)}",
            level="info",
            message=rng.choice(shapes).format(
                a=rng.randrange(5000),
                b=rng.randrange(2000),
                c=rng.randrange(3000),
                d=rng.randrange(99),
                h=f"{rng.getrandbits(32):08x}",
                s=rng.randrange(9),
            ),
        )
        for i in range(count)
    ]


def storm_lines(count: int) -> list[LogEntry]:
    """One message repeating with a changing number and id (a retry loop)."""
    return [
        LogEntry(
            timestamp=T0 + i / 1000,
            agent_id="worker-1",
            level="warning",
            message=f"retry {i % 7} for req-{i} after 429",
        )
        for i in range(count)
    ]


def plain(lines: list[LogEntry], batch: int) -> Callable[[], None]:
    def run() -> None:
        for start in range(0, len(lines), batch):
            fmt.log_lines(lines[start : start + batch], timestamps=True, tz=UTC)

    return run


def collapsed(lines: list[LogEntry], batch: int) -> Callable[[], None]:
    def run() -> None:
        collapser = Collapser()
        for start in range(0, len(lines), batch):
            new, joined = collapser.add(lines[start : start + batch])
            for row in (*new, *joined):
                row_text(row, timestamps=True, tz=UTC)

    return run


def best(run: Callable[[], None], lines: int, rounds: int) -> float:
    """CPU µs per line, best of ``rounds``."""
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.lines} lines in batches of {args.batch}, best of {args.rounds} (CPU µs per line)\n")
    print(f"{'lines':<22}{'plain':>10}{'collapsed':>12}{'ratio':>8}")
    for name, lines in (
        ("demo mix", demo_lines(args.lines)),
        ("one repeated message", storm_lines(args.lines)),
    ):
        base = best(plain(lines, args.batch), len(lines), args.rounds)
        ours = best(collapsed(lines, args.batch), len(lines), args.rounds)
        print(f"{name:<22}{base:>10.2f}{ours:>12.2f}{ours / base:>7.2f}x")
    # Flat: the cost per line of the last tenth of a long tail against the first tenth.
    lines = demo_lines(args.lines)
    tenth = len(lines) // 10
    collapser = Collapser()
    first = last = 0.0
    for start in range(0, len(lines), args.batch):
        chunk = lines[start : start + args.batch]
        began = time.process_time()
        new, joined = collapser.add(chunk)
        for row in (*new, *joined):
            row_text(row, timestamps=True, tz=UTC)
        spent = time.process_time() - began
        if start < tenth:
            first += spent
        elif start >= len(lines) - tenth:
            last += spent
    print(
        f"\nflat: last tenth / first tenth of the tail, per line: {last / first if first else float('nan'):.2f}x"
    )


if __name__ == "__main__":
    main()
