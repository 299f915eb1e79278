"""What a viewer left open costs: CPU, bytes written to its terminal, and key press → screen latency.

    python benchmarks/bench_viewer_cost.py                   # four loads and two baselines: ~3 minutes
    python benchmarks/bench_viewer_cost.py --seconds 5 --keys 10 --loads idle,12x50
    python benchmarks/bench_viewer_cost.py --before /tmp/before     # also the viewer of another tree
    python benchmarks/bench_viewer_cost.py --loads idle --repeat 3 --before /tmp/before  # idle, 3 rounds

Real processes on 127.0.0.1, as in use: a collector (``agentwatch serve --port 0 --no-store``) fed
by ``agentwatch simulate`` (or, for the log flood, ``bench_tui.py``'s line feeder), and the real
viewer (``agentwatch URL``) on a pseudo-terminal of 120×36 whose output this process reads and
counts, as a terminal would. Loads:

* ``idle``: connected to a collector that receives nothing;
* ``12x50``: 12 agents at 50 events/s (``agentwatch simulate``);
* ``lines``: 10 000 log lines/s from 200 agents;
* ``2000x2000``: 2 000 agents at 2 000 events/s (``agentwatch simulate``).

Per load, after ``--warmup`` seconds: the viewer's CPU and the bytes it wrote to the pty over
``--seconds``, as % of one core and bytes/s; then ``--keys`` key presses,
each timed from the write to the pty to the first output that shows its effect: ``?`` opens the
help (its title appears), ``?`` closes it (the main screen's header is drawn again), ``s`` sorts the
agents table by the next column (the header names it: the part of the name that changed, which is all
the viewer writes of it). Presses are spaced by a random 0.1–0.3 s so
they fall anywhere within a frame interval.

Baselines in the same run, on the same pty: ``top -d 1`` (a terminal monitor refreshing each
second; ``h`` opens its help, any key closes it) and a bare Textual app (a clock label updated
once a second; ``?`` pushes a modal screen and pops it). Ratios are the viewer's figure over
the baseline's. ``--repeat N`` runs the loads (each after its ``--before`` tree) and the bare app
N times in turn and prints every run, then each row's range: an idle viewer's fraction of a
percent moves with whatever else the machine runs.

CPU is the time the kernel says each of the process's threads ran (``/proc/PID/task/*/schedstat``,
nanoseconds), where it says so: utime + stime (``/proc/PID/stat``) count in 10 ms ticks, coarse
next to what an idle viewer uses in a second. A thread that ends within the window is not counted (the
viewer's threads last as long as it does); without schedstat, utime + stime.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import random
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import cpu_seconds, start_collector, stop

HERE = Path(__file__).resolve()
SIZE = (120, 36)
LOADS = ("idle", "12x50", "lines", "2000x2000")
TARGETS = {  # CPU % of a core, bytes/s (None: no target)
    "idle": (0.5, 500),
    "12x50": (3.0, 10_000),
    "lines": (12.0, None),
    "2000x2000": (10.0, None),
}
KEY_P95_TARGET_MS = 50.0
HELP_TITLE = "— keys".encode()


class Terminal:
    """A child process on a pty: its output is drained and counted, and watched for a pattern."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        master, slave = pty.openpty()
        columns, rows = SIZE
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        environment = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor", **(env or {}))
        environment.pop("NO_COLOR", None)
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=environment,
            start_new_session=True,
            cwd=cwd,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.bytes = 0
        self._lock = threading.Lock()
        self._pattern: bytes | None = None
        self._seen = bytearray()
        self._found = threading.Event()
        self._found_at = 0.0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO once the child side is closed
                break
            if not chunk:
                break
            now = time.perf_counter()
            with self._lock:
                self.bytes += len(chunk)
                if self._pattern is not None:
                    self._seen += chunk
                    if self._pattern in self._seen:
                        self._pattern = None
                        self._found_at = now
                        self._found.set()
                    elif len(self._seen) > 1 << 20:
                        del self._seen[: -len(self._pattern)]

    def press(self, key: bytes, shows: bytes, timeout: float = 5.0) -> float | None:
        """Write ``key``; seconds until the output contains ``shows`` (None: not within ``timeout``)."""
        with self._lock:
            self._seen.clear()
            self._found.clear()
            self._pattern = shows
        sent = time.perf_counter()
        os.write(self.master, key)
        if not self._found.wait(timeout):
            with self._lock:
                self._pattern = None
            return None
        return self._found_at - sent

    def wait_for(self, shows: bytes, timeout: float) -> bool:
        return self.press(b"", shows, timeout) is not None

    def close(self) -> None:
        stop(self.process)
        try:
            os.close(self.master)
        except OSError:
            pass


@dataclass
class Cost:
    name: str
    cpu_percent: float = 0.0
    bytes_per_second: float = 0.0
    keys: dict[str, list[float]] = field(default_factory=dict)
    missed_keys: int = 0

    def key_percentile(self, q: float) -> float | None:
        samples = sorted(s for values in self.keys.values() for s in values)
        if not samples:
            return None
        return samples[min(len(samples) - 1, round(q * (len(samples) - 1)))] * 1000


#: Whether the kernel says how long each thread ran (``schedstat``, in nanoseconds).
SCHEDSTAT = os.path.exists(f"/proc/{os.getpid()}/schedstat")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid`` (``/proc/PID/task/*/schedstat``)."""
    seconds: dict[str, float] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as schedstat:
                seconds[task] = int(schedstat.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):  # a thread that just ended
            continue
    return seconds


def measure_steady(terminal: Terminal, seconds: float) -> tuple[float, float]:
    """(CPU % of one core, bytes/s) of the terminal's process over ``seconds``."""
    pid = terminal.process.pid
    if not SCHEDSTAT:
        cpu0, bytes0, t0 = cpu_seconds(pid), terminal.bytes, time.monotonic()
        time.sleep(seconds)
        cpu1, bytes1, t1 = cpu_seconds(pid), terminal.bytes, time.monotonic()
        return 100 * (cpu1 - cpu0) / (t1 - t0), (bytes1 - bytes0) / (t1 - t0)
    threads0, bytes0, t0 = thread_cpu(pid), terminal.bytes, time.monotonic()
    time.sleep(seconds)
    threads1, bytes1, t1 = thread_cpu(pid), terminal.bytes, time.monotonic()
    cpu0, cpu1 = 0.0, sum(used - threads0.get(task, 0.0) for task, used in threads1.items())
    return 100 * (cpu1 - cpu0) / (t1 - t0), (bytes1 - bytes0) / (t1 - t0)


def pause(rng: random.Random) -> None:
    time.sleep(rng.uniform(0.1, 0.3))


def changed_part(before: str, after: str) -> str:
    """What the viewer writes when a header text goes from ``before`` to ``after``: it writes a
    changed part of a line from its first changed cell, so the characters both start with are
    not written again."""
    shared = 0
    while shared < min(len(before), len(after)) - 1 and before[shared] == after[shared]:
        shared += 1
    return after[shared:]


def viewer_keys(terminal: Terminal, presses: int, rng: random.Random, cost: Cost) -> None:
    from agentwatch.tui.state import SORT_COLUMNS

    opened, closed, sorted_ = (
        cost.keys.setdefault("? open help", []),
        cost.keys.setdefault("? close help", []),
        cost.keys.setdefault("s sort", []),
    )
    column = 0
    for _ in range(presses):
        pause(rng)
        took = terminal.press(b"?", HELP_TITLE)
        if took is None:
            cost.missed_keys += 1
        else:
            opened.append(took)
        pause(rng)
        took = terminal.press(b"?", b"sort: ")
        if took is None:
            cost.missed_keys += 1
        else:
            closed.append(took)
        pause(rng)
        previous, column = SORT_COLUMNS[column], (column + 1) % len(SORT_COLUMNS)
        took = terminal.press(b"s", changed_part(previous, SORT_COLUMNS[column]).encode())
        if took is None:
            cost.missed_keys += 1
        else:
            sorted_.append(took)


def run_viewer(load: str, options: argparse.Namespace, rng: random.Random, source: str | None = None) -> Cost:
    """One load against the viewer of this tree, or of the agentwatch source tree ``source``."""
    collector, url = start_collector(stderr=subprocess.STDOUT)
    feeder: subprocess.Popen[bytes] | None = None
    terminal: Terminal | None = None
    try:
        if load == "12x50":
            feeder = simulate(url, agents=12, rate=50)
        elif load == "2000x2000":
            feeder = simulate(url, agents=2000, rate=2000)
        elif load == "lines":
            feeder = subprocess.Popen(
                [sys.executable, str(HERE.with_name("bench_tui.py")), "--role", "feed", "--url", url,
                 "--rate", "10000", "--agents", "200", "--seconds", "3600"]
            )  # fmt: skip
        env = {"PYTHONPATH": source} if source else None
        # (From the source tree's folder: run from this one, ``-m`` would import this tree first.)
        terminal = Terminal([sys.executable, "-m", "agentwatch", url, "--no-bell"], env=env, cwd=source)
        if not terminal.wait_for(b"sort: ", 30):
            raise RuntimeError(f"{load}: the viewer drew no header within 30 s")
        time.sleep(options.warmup)
        cost = Cost(f"{load} (before)" if source else load)
        cost.cpu_percent, cost.bytes_per_second = measure_steady(terminal, options.seconds)
        viewer_keys(terminal, options.keys, rng, cost)
        return cost
    finally:
        if terminal is not None:
            terminal.close()
        if feeder is not None:
            stop(feeder)
        stop(collector)


def simulate(url: str, *, agents: int, rate: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentwatch", "simulate", "--url", url, "--agents", str(agents),
         "--rate", str(rate)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run_top(options: argparse.Namespace, rng: random.Random) -> Cost | None:
    top = shutil.which("top")
    if top is None:
        return None
    terminal = Terminal([top, "-d", "1"])
    try:
        if not terminal.wait_for(b"PID", 10):
            return None
        time.sleep(options.warmup)
        cost = Cost("top -d 1")
        cost.cpu_percent, cost.bytes_per_second = measure_steady(terminal, options.seconds)
        opened, closed = cost.keys.setdefault("h open help", []), cost.keys.setdefault("close help", [])
        for _ in range(options.keys):
            pause(rng)
            took = terminal.press(b"h", b"Help for")
            opened.extend([took] if took is not None else [])
            pause(rng)
            took = terminal.press(b"\r", b"PID")
            closed.extend([took] if took is not None else [])
        return cost
    finally:
        terminal.close()


def role_bare() -> None:
    """A bare Textual app: a clock label updated once a second; ``?`` toggles a modal screen."""
    from textual.app import App, ComposeResult
    from textual.screen import ModalScreen
    from textual.widgets import Static

    class Help(ModalScreen[None]):
        BINDINGS = [("question_mark", "app.pop_screen", "Close")]  # noqa: RUF012

        def compose(self) -> ComposeResult:
            yield Static("bare — keys")

    class Bare(App[None]):
        BINDINGS = [("question_mark", "help", "Help")]  # noqa: RUF012

        def compose(self) -> ComposeResult:
            yield Static("", id="clock")
            yield Static("sort: none")

        def on_mount(self) -> None:
            self.set_interval(1, self.tick)
            self.tick()

        def tick(self) -> None:
            self.query_one("#clock", Static).update(f"{time.time():.0f} s")

        def action_help(self) -> None:
            self.push_screen(Help())

    Bare().run()


def run_bare(options: argparse.Namespace, rng: random.Random) -> Cost:
    terminal = Terminal([sys.executable, str(HERE), "--role", "bare"])
    try:
        if not terminal.wait_for(b"sort: ", 30):
            raise RuntimeError("the bare Textual app drew nothing within 30 s")
        time.sleep(options.warmup)
        cost = Cost("bare Textual app")
        cost.cpu_percent, cost.bytes_per_second = measure_steady(terminal, options.seconds)
        opened, closed = cost.keys.setdefault("? open", []), cost.keys.setdefault("? close", [])
        for _ in range(options.keys):
            pause(rng)
            took = terminal.press(b"?", HELP_TITLE)
            opened.extend([took] if took is not None else [])
            pause(rng)
            took = terminal.press(b"?", b"sort: ")
            closed.extend([took] if took is not None else [])
        return cost
    finally:
        terminal.close()


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def print_table(costs: list[Cost], top: Cost | None, bares: list[Cost]) -> None:
    bare = bares[0]
    reference = top or bare
    header = ("run", "CPU %", "target", "bytes/s", "target", "key p50 ms", "key p95 ms", "target",
              f"CPU ×{reference.name}", f"bytes ×{reference.name}", "key p95 ×bare")  # fmt: skip
    rows: list[tuple[str, ...]] = []
    bare_p95 = bare.key_percentile(0.95) or 0.0
    for cost in [*costs, *([top] if top else []), *bares]:
        cpu_target, bytes_target = TARGETS.get(cost.name, (None, None))
        p95 = cost.key_percentile(0.95)
        is_viewer = cost.name in TARGETS
        rows.append((
            cost.name + (f" ({cost.missed_keys} keys unseen)" if cost.missed_keys else ""),
            f"{cost.cpu_percent:.2f}",
            "" if cpu_target is None else (f"≤ {cpu_target:g} " + ("ok" if cost.cpu_percent <= cpu_target else "MISS")),
            f"{cost.bytes_per_second:,.0f}",
            "" if bytes_target is None else (f"≤ {bytes_target:,} " + ("ok" if cost.bytes_per_second <= bytes_target else "MISS")),
            ms(cost.key_percentile(0.5)),
            ms(p95),
            "" if not is_viewer else (f"≤ {KEY_P95_TARGET_MS:.0f} " + ("ok" if p95 is not None and p95 <= KEY_P95_TARGET_MS else "MISS")),
            f"{cost.cpu_percent / max(reference.cpu_percent, 0.01):.1f}",
            f"{cost.bytes_per_second / max(reference.bytes_per_second, 1):.1f}",
            "" if p95 is None or not bare_p95 else f"{p95 / bare_p95:.1f}",
        ))  # fmt: skip
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    runs: dict[str, list[Cost]] = {}
    for cost in [*costs, *bares]:
        runs.setdefault(cost.name, []).append(cost)
    if any(len(same) > 1 for same in runs.values()):
        print("\nranges over the runs (CPU % of a core; bytes/s):")
        for name, same in runs.items():
            cpu = sorted(cost.cpu_percent for cost in same)
            sent = sorted(cost.bytes_per_second for cost in same)
            print(f"  {name}: CPU {cpu[0]:.2f} – {cpu[-1]:.2f} ({', '.join(f'{c:.2f}' for c in cpu)}); "
                  f"bytes/s {sent[0]:,.0f} – {sent[-1]:,.0f}")  # fmt: skip
    print("\nkey press → screen, per key (p50 / p95 / max ms):")
    for cost in [*costs, *([top] if top else []), *bares]:
        parts = []
        for key, samples in cost.keys.items():
            ordered = sorted(samples)
            if ordered:
                p50 = ordered[len(ordered) // 2] * 1000
                p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000
                parts.append(f"{key} {p50:.0f}/{p95:.0f}/{ordered[-1] * 1000:.0f}")
        print(f"  {cost.name}: " + ", ".join(parts))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", default=",".join(LOADS), help=f"comma-separated, of {', '.join(LOADS)}")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of CPU and bytes per load")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    parser.add_argument("--keys", type=int, default=15, help="rounds of key presses per load (3 keys each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the loads and the bare app, in turn (each run printed)",
    )
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="an agentwatch source tree (e.g. `git worktree add DIR COMMIT`) whose viewer is measured too, "
        "just before this one on each load: rows 'LOAD (before)'",
    )
    parser.add_argument("--role", choices=("bare",), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if options.role == "bare":
        role_bare()
        return 0
    loads = [load for load in options.loads.split(",") if load]
    unknown = set(loads) - set(LOADS)
    if unknown:
        raise SystemExit(f"unknown loads: {', '.join(sorted(unknown))}")
    rng = random.Random(options.seed)
    print(f"viewer at 120×36, 10 fps; {options.warmup:g} s warm-up, {options.seconds:g} s measured, "
          f"{options.keys * 3} key presses per load …", flush=True)  # fmt: skip
    costs: list[Cost] = []
    bares: list[Cost] = []
    top: Cost | None = None
    for round_ in range(max(1, options.repeat)):
        for load in loads:
            if options.before:
                costs.append(run_viewer(load, options, rng, source=options.before))
            costs.append(run_viewer(load, options, rng))
            print(f"  {load}: done", flush=True)
        bares.append(run_bare(options, rng))
        if round_ == 0:
            top = run_top(options, rng)
    print()
    print_table(costs, top, bares)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
