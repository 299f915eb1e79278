"""The viewer under a flood: CPU, frame rate, memory, event-to-screen latency and start-up time.

    python benchmarks/bench_tui.py                    # 1 000 000 lines at 10 000/s: ~2 minutes
    python benchmarks/bench_tui.py --lines 200000     # a quicker look (~30 s)

Four processes, as in real use: a collector (``python -m agentwatch serve --port 0 --no-store``),
a feeder posting ``--rate`` log events per second from ``--agents`` agents in batches of 1/20 s
(each event's ``timestamp`` and message carry its send time), and the viewer — the real
:class:`~agentwatch.tui.app.AgentWatchApp` with Textual's real terminal driver, writing to a
pseudo-terminal of 120×36 whose output this process reads and discards, as a terminal would.

The viewer runs inside this file (``--role viewer``) as a subclass that only observes:

* frames: ``frame()`` calls, and those that found something to move (dirty state or pending
  lines); compositor refreshes = screen updates actually written to the terminal;
* latency: for each log line, the time from its send timestamp to the first screen update
  written after the frame that put it in the Log widget (a 1 ms histogram, so measuring costs
  no memory); lines replayed from before the viewer started are left out;
* CPU: utime+stime from ``/proc/PID/stat`` between the first and the ``--lines``-th line
  received; RSS (``VmRSS``) when the ``--lines``-th line is received.

Baselines in the same run: a minimal Textual app's start to first paint (same pseudo-terminal
harness), and a Log fed with ``write_lines`` once per frame against a RichLog fed with ``write``
per line, at the same rate, for a few seconds each (CPU per line, as a ratio).

Start-up is measured as an installed viewer starts: with its modules' bytecode cached. Child
processes use a private bytecode cache (``PYTHONPYCACHEPREFIX`` in the temporary directory, so
the source tree is left alone), warmed by one import before anything is measured; with
``PYTHONDONTWRITEBYTECODE`` set and no cache, every start would compile agentwatch from source
(≈ 0.1 s). ``--no-bytecode-cache`` measures that case.

Targets (the issue): CPU ≤ 25 % of one core at 10 fps; frame rate never above --fps; RSS ≤ 150 MB
after 1 000 000 lines; latency median ≤ 150 ms, p99 ≤ 300 ms; start to first frame ≤ 0.6 s.
The machine is shared: figures move by a few per cent from run to run.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import random
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _procs import cpu_seconds, rss_mb, start_collector, stop

HERE = Path(__file__).resolve()
SIZE = (120, 36)
LATENCY_BINS = 10_000  # 1 ms bins; the last one holds everything ≥ 10 s


# ----------------------------------------------------------------------------- /proc


def percentile_from_histogram(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0..1) of a 1 ms histogram, in milliseconds (upper edge of the bin)."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * (total - 1)
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen > rank:
            return float(index + 1)
    return float(len(counts))


def max_per_second(times: Sequence[float]) -> int:
    """Most events in any 1-second sliding window of sorted timestamps."""
    return busiest_second(times)[0]


def busiest_second(times: Sequence[float]) -> tuple[int, float | None]:
    """(most events in any 1-second sliding window of sorted timestamps, when that window began)."""
    best = 0
    began: float | None = None
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        if end - start + 1 > best:
            best, began = end - start + 1, times[start]
    return best, began


# ------------------------------------------------------------------ pseudo-terminal harness


def spawn_in_pty(
    argv: list[str], size: tuple[int, int] = SIZE
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """Start ``argv`` on a fresh pseudo-terminal of ``size``; a thread drains and counts its output."""
    master, slave = pty.openpty()
    columns, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor")
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True
    )
    os.close(slave)
    written = {"bytes": 0}

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child side is closed
                break
            if not chunk:
                break
            written["bytes"] += len(chunk)
        os.close(master)

    threading.Thread(target=drain, daemon=True).start()
    return process, written


def wait_for_file(path: Path, process: subprocess.Popen[Any], timeout: float) -> dict[str, Any]:
    """Wait for ``process`` to write its JSON report to ``path`` (fails after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass  # being written
        if process.poll() is not None and not path.exists():
            raise RuntimeError(f"{process.args} exited with {process.returncode} without a report")
        time.sleep(0.05)
    raise RuntimeError(f"no report from {process.args} within {timeout:.0f} s")


# --------------------------------------------------------------------------- roles: feeder


def role_feed(url: str, rate: float, agents: int, seconds: float) -> None:
    """Post ``rate`` log events per second from ``agents`` agents, 20 batches a second, for ``seconds``."""
    import httpx

    from agentwatch.protocol import PATH_EVENTS, SPAN_LOG, Event, json_encoder

    rng = random.Random(7)
    levels = ["info"] * 80 + ["debug"] * 10 + ["warning"] * 7 + ["error"] * 3
    tools = ["search", "fetch_docs", "run_tests", "vector_search", "summarize"]
    batches_per_second = 20
    per_batch = max(1, round(rate / batches_per_second))
    sequence = 0
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            now = time.time()
            batch = []
            for _ in range(per_batch):
                sequence += 1
                batch.append(
                    Event(
                        agent_id=f"agent-{sequence % agents:03d}",
                        timestamp=now,
                        span_type=SPAN_LOG,
                        level=rng.choice(levels),
                        message=f"step {sequence} tool={rng.choice(tools)} sent={now:.6f} "
                        f"took {rng.randint(5, 900)} ms",
                    )
                )
            client.post(url + PATH_EVENTS, content=json_encoder.encode(batch),
                        headers={"content-type": "application/json"})  # fmt: skip
            next_at += 1 / batches_per_second
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)


# --------------------------------------------------------------------------- roles: viewer


def role_viewer(
    url: str, lines: int, fps: int, started: float, report: Path, timeout: float, start_only: bool = False
) -> None:
    """Run the real viewer, observed, until ``lines`` log lines arrived; write a JSON report.

    ``start_only``: leave as soon as a frame with data was painted (start-up measurement).
    """
    from agentwatch.client.sse import DEFAULT_EVENT as SSE_DEFAULT_EVENT
    from agentwatch.protocol import SSE_LOG, LogEntry
    from agentwatch.tui.app import AgentWatchApp

    imported = time.time()
    from agentwatch.tui import app as app_module

    build_times: dict[str, float] = {}
    build_client = app_module._build_client

    def timed_build(url: str) -> Any:
        build_times["client_build_began"] = time.time() - started
        cpu = time.thread_time()
        client = build_client(url)
        build_times["client_build_ended"] = time.time() - started
        build_times["client_build_cpu"] = time.thread_time() - cpu
        return client

    app_module._build_client = timed_build  # type: ignore[assignment]  # wrapped to time the first connect

    class ObservedViewer(AgentWatchApp):
        def __init__(self) -> None:
            super().__init__(url=url, fps=fps, bell=False)
            self.received = 0
            self.frames_with_changes = 0
            self.frame_times: list[float] = []  # when a frame moved something
            self.frame_cost = [0] * 1000  # 0.1 ms bins of frame() duration
            self.display_times: list[float] = []
            self.latency = [0] * LATENCY_BINS
            self.awaiting_screen: list[float] = []
            self.first_paint: float | None = None
            self.first_data_paint: float | None = None
            self.data_shown = False
            self.first_line_at: float | None = None
            self.cpu_at_first_line = 0.0
            self.at_target: dict[str, float] | None = None
            self.observe_after = started
            self.batches = 0
            self.trace: dict[str, float] = {}  # start-up milestones, seconds after start
            self.last_frame_perf: float | None = None
            self.frame_gaps = [0] * 1000  # 10 ms bins of the time between two frame() calls

        def mark(self, name: str) -> None:
            self.trace.setdefault(name, time.time() - started)

        def on_mount(self) -> None:
            self.mark("mount")
            super().on_mount()

        def _client(self) -> Any:
            self.mark("worker_start")
            client = super()._client()
            self.mark("client_ready")
            return client

        def on_metrics_events(self, events: Sequence[Any]) -> None:
            self.mark("first_metrics")
            super().on_metrics_events(events)

        def on_log_events(self, events: Sequence[Any]) -> None:
            self.mark("first_logs")
            super().on_log_events(events)
            # gaps and drops are counted by the state (lines_missed)
            self.received += sum(1 for sse in events if sse.event in (SSE_LOG, SSE_DEFAULT_EVENT))
            self.batches += 1
            if self.first_line_at is None:
                self.first_line_at = time.time()
                self.cpu_at_first_line = cpu_seconds()
            if self.at_target is None and self.received + self.state.lines_missed >= lines:
                now = time.time()
                self.at_target = {
                    "time": now,
                    "cpu": cpu_seconds(),
                    "rss_mb": rss_mb(),
                    "received": self.received,
                    "missed": self.state.lines_missed,
                }
                self.call_later(self.exit)

        def frame(self, *, timed: bool = False) -> None:
            state = self.state
            pending: list[Any] = []
            original = state.take_pending_lines

            def take() -> list[Any]:
                taken = original()
                pending.extend(taken)
                return taken

            state.take_pending_lines = take  # type: ignore[method-assign]  # wrapped to time each frame's lines
            changed = bool(state.dirty) or bool(state._pending)
            began_at = time.time()
            begin = time.perf_counter()
            if self.last_frame_perf is not None and self.first_line_at is not None and self.at_target is None:
                self.frame_gaps[min(999, int((begin - self.last_frame_perf) * 100))] += 1
            self.last_frame_perf = begin
            try:
                super().frame(timed=timed)
            finally:
                del state.take_pending_lines
            cost = time.perf_counter() - begin
            self.frame_cost[min(999, int(cost * 10_000))] += 1
            if changed:
                self.frames_with_changes += 1
                self.frame_times.append(began_at)
            if pending or (state.fleet is not None and state.fleet.agents):
                self.data_shown = True
            observe_after = self.observe_after
            self.awaiting_screen.extend(
                line.timestamp
                for line in pending
                if isinstance(line, LogEntry) and line.timestamp > observe_after
            )

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is None:
                return
            now = time.time()
            self.display_times.append(now)
            if self.first_paint is None:
                self.mark("first_paint")
                self.first_paint = now
                self.observe_after = now
            if self.data_shown and self.first_data_paint is None:
                self.first_data_paint = now
                if start_only:
                    self.call_later(self.exit)
            if self.awaiting_screen:
                bins = self.latency
                last = LATENCY_BINS - 1
                for sent in self.awaiting_screen:
                    bins[min(last, int((now - sent) * 1000))] += 1
                self.awaiting_screen.clear()

    app = ObservedViewer()
    watchdog = threading.Timer(timeout, lambda: app.call_from_thread(app.exit))
    watchdog.daemon = True
    watchdog.start()
    if os.environ.get("BENCH_TUI_PROFILE"):
        import cProfile

        cProfile.runctx("app.run()", globals(), {"app": app}, os.environ["BENCH_TUI_PROFILE"])
    else:
        app.run()
    end = app.at_target or {"time": time.time(), "cpu": cpu_seconds(), "rss_mb": rss_mb(),
                            "received": app.received, "missed": app.state.lines_missed}  # fmt: skip
    first_line = app.first_line_at or end["time"]
    elapsed = max(1e-9, end["time"] - first_line)
    during = [t for t in app.display_times if first_line <= t <= end["time"]]
    changed = [t for t in app.frame_times if first_line <= t <= end["time"]]
    result = {
        "reached_target": app.at_target is not None,
        "received": end["received"],
        "missed": end["missed"],
        "seconds": elapsed,
        "lines_per_second": end["received"] / elapsed,
        "cpu_percent": 100 * (end["cpu"] - app.cpu_at_first_line) / elapsed,
        "rss_mb": end["rss_mb"],
        "frames_total": app.frames,
        "frames_with_changes": app.frames_with_changes,
        "frames_per_second": len(changed) / elapsed,
        "max_frames_in_1s": max_per_second(changed),
        "refreshes_per_second": len(during) / elapsed,
        "max_refreshes_in_1s": max_per_second(during),
        "busiest_refresh_second_at_s": (busiest_second(during)[1] or first_line) - first_line,
        "latency_p50_ms": percentile_from_histogram(app.latency, 0.50),
        "latency_p99_ms": percentile_from_histogram(app.latency, 0.99),
        "latency_max_ms": percentile_from_histogram(app.latency, 1.0),
        "latency_samples": sum(app.latency),
        "batches_per_second": app.batches / elapsed,
        "frame_gap_p99_ms": (percentile_from_histogram(app.frame_gaps, 0.99) or 0) * 10,
        "frame_gap_max_ms": (percentile_from_histogram(app.frame_gaps, 1.0) or 0) * 10,
        "frame_cost_p50_ms": (percentile_from_histogram(app.frame_cost, 0.5) or 0) / 10,
        "frame_cost_p99_ms": (percentile_from_histogram(app.frame_cost, 0.99) or 0) / 10,
        "import_s": imported - started,
        "first_paint_s": (app.first_paint or 0) - started,
        "first_data_paint_s": (app.first_data_paint or 0) - started,
        "start_trace": {**app.trace, **build_times},
    }
    report.write_text(json.dumps(result))


# ----------------------------------------------------------------------- roles: baselines


def role_minimal(started: float, report: Path) -> None:
    """A minimal Textual app: write the time of its first paint and leave."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Minimal(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("hello")

        def _display(self, screen: Any, renderable: Any) -> None:
            super()._display(screen, renderable)
            if renderable is not None and not report.exists():
                report.write_text(json.dumps({"first_paint_s": time.time() - started}))
                self.call_later(self.exit)

    Minimal().run()


def role_log_widget(widget: str, rate: int, fps: int, seconds: float, report: Path) -> None:
    """Feed one log widget ``rate`` lines/s at ``fps`` for ``seconds``; report CPU per line."""
    from textual.app import App, ComposeResult
    from textual.widgets import Log, RichLog

    from agentwatch.tui.widgets import LogPane

    per_frame = rate // fps
    sample = [
        f"12:00:{i % 60:02d} agent-{i % 200:03d}      INFO  step {i} tool=search sent=1768478400.{i:06d} took 42 ms"
        for i in range(per_frame)
    ]

    class Feed(App[None]):
        def compose(self) -> ComposeResult:
            if widget == "richlog":
                yield RichLog(max_lines=10_000, markup=False, highlight=False)
            elif widget == "logpane":
                yield LogPane(max_lines=10_000)
            else:
                yield Log(max_lines=10_000)

        def on_mount(self) -> None:
            self.written = 0
            self.begin_cpu = cpu_seconds()
            self.begin = time.time()
            self.set_interval(1 / fps, self.feed)

        def feed(self) -> None:
            target = self.query_one("*")
            if isinstance(target, RichLog):
                for line in sample:
                    target.write(line)
            else:
                assert isinstance(target, Log)
                target.write_lines(sample)
            self.written += len(sample)
            elapsed = time.time() - self.begin
            if elapsed >= seconds:
                cpu = cpu_seconds() - self.begin_cpu
                report.write_text(json.dumps({
                    "lines_per_second": self.written / elapsed,
                    "cpu_percent": 100 * cpu / elapsed,
                    "cpu_us_per_line": 1e6 * cpu / self.written,
                }))  # fmt: skip
                self.exit()

    Feed().run()


# ------------------------------------------------------------------------------ orchestra


def run_role_in_pty(args: list[str], report: Path, timeout: float) -> dict[str, Any]:
    started = time.time()
    process, _ = spawn_in_pty(
        [sys.executable, str(HERE), *args, "--started", repr(started), "--report", str(report)]
    )
    try:
        return wait_for_file(report, process, timeout)
    finally:
        stop(process)


def warm_bytecode_cache(cache: Path) -> None:
    """Make child processes read (and write) bytecode in ``cache``, and fill it once."""
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-c", "import agentwatch.cli, agentwatch.tui.app, agentwatch.client.stream, httpx"],
        check=True,
    )


def start_times(work: Path, url: str, runs: int = 3) -> dict[str, Any]:
    """Start-up on an otherwise idle machine: the viewer (against a collector holding data) and a
    minimal Textual app, ``runs`` times each in turn; medians."""
    import httpx

    from agentwatch.protocol import PATH_EVENTS, SPAN_LOG, Event, json_encoder

    events = [Event(agent_id=f"agent-{i:03d}", span_type=SPAN_LOG, message="hello") for i in range(200)]
    httpx.post(
        url + PATH_EVENTS, content=json_encoder.encode(events), headers={"content-type": "application/json"}
    )
    viewer: list[dict[str, Any]] = []
    minimal: list[float] = []
    for i in range(runs):
        viewer.append(run_role_in_pty(["--role", "viewer", "--url", url, "--lines", "1000000000", "--start-only",
                                       "--seconds", "20"], work / f"start-{i}.json", 30))  # fmt: skip
        minimal.append(
            run_role_in_pty(["--role", "minimal"], work / f"minimal-{i}.json", 30)["first_paint_s"]
        )
    middle = runs // 2
    return {
        "viewer_first_paint_s": sorted(v["first_paint_s"] for v in viewer)[middle],
        "viewer_first_data_paint_s": sorted(v["first_data_paint_s"] for v in viewer)[middle],
        "viewer_import_s": sorted(v["import_s"] for v in viewer)[middle],
        "viewer_start_traces": [v["start_trace"] for v in viewer],
        "minimal_first_paint_s": sorted(minimal)[middle],
    }


def baselines(work: Path, rate: int, fps: int, seconds: float) -> dict[str, Any]:
    widgets = {}
    for widget in ("log", "logpane", "richlog"):
        widgets[widget] = run_role_in_pty(
            ["--role", "widget", "--widget", widget, "--rate", str(rate), "--fps", str(fps),
             "--seconds", str(seconds)],
            work / f"widget-{widget}.json",
            seconds + 60,
        )  # fmt: skip
    return {"widgets": widgets}


def main_run(options: argparse.Namespace, work: Path, url: str) -> dict[str, Any]:
    feed_seconds = options.lines / options.rate * 1.5 + 30
    feeder = subprocess.Popen(
        [sys.executable, str(HERE), "--role", "feed", "--url", url, "--rate", str(options.rate),
         "--agents", str(options.agents), "--seconds", str(feed_seconds)]
    )  # fmt: skip
    viewer: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(1.0)  # the viewer joins a fleet that is already talking
        report = work / "viewer.json"
        started = time.time()
        viewer, written = spawn_in_pty(
            [sys.executable, str(HERE), "--role", "viewer", "--url", url, "--lines", str(options.lines),
             "--fps", str(options.fps), "--started", repr(started), "--report", str(report),
             "--seconds", str(feed_seconds)]
        )  # fmt: skip
        peak_rss = 0.0
        cpu_samples: list[tuple[float, float]] = []
        deadline = time.monotonic() + feed_seconds + 30
        while viewer.poll() is None and time.monotonic() < deadline:
            try:
                cpu_samples.append((time.time(), cpu_seconds(viewer.pid)))
                peak_rss = max(peak_rss, rss_mb(viewer.pid))
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                break  # the viewer just exited
            time.sleep(0.5)
        result = wait_for_file(report, viewer, 30)
        result["peak_rss_mb"] = peak_rss
        result["terminal_kb_per_second"] = written["bytes"] / 1024 / max(1e-9, time.time() - started)
        windows = [
            (c2 - c1) / (t2 - t1) * 100
            for (t1, c1), (t2, c2) in zip(cpu_samples, cpu_samples[20:], strict=False)
        ]
        result["max_cpu_percent_10s"] = max(windows, default=0.0)
        return result
    finally:
        if viewer is not None:
            stop(viewer)
        stop(feeder)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def print_table(options: argparse.Namespace, run: dict[str, Any], base: dict[str, Any]) -> None:
    widgets = base["widgets"]
    log_cpu = widgets["log"]["cpu_us_per_line"]
    rows = [
        ("lines received", f"{run['received']:,} (+{run['missed']:,} missed)", f"{options.lines:,}",
         verdict(run["reached_target"] and run["missed"] == 0)),
        ("lines/s received", f"{run['lines_per_second']:,.0f}", f"{options.rate:,}", ""),
        ("viewer CPU, % of one core", f"{run['cpu_percent']:.1f} (worst 10 s: {run['max_cpu_percent_10s']:.1f})",
         "≤ 25", verdict(run["cpu_percent"] <= 25)),
        ("frames that moved data /s", f"{run['frames_per_second']:.1f} (max in 1 s: {run['max_frames_in_1s']})",
         f"≤ {options.fps}", verdict(run["max_frames_in_1s"] <= options.fps)),
        ("screen updates /s", f"{run['refreshes_per_second']:.1f} (max in 1 s: {run['max_refreshes_in_1s']})",
         f"≤ {options.fps}", verdict(run["max_refreshes_in_1s"] <= options.fps)),
        ("frame() cost p50 / p99", f"{run['frame_cost_p50_ms']:.1f} / {run['frame_cost_p99_ms']:.1f} ms", "", ""),
        ("time between frames p99 / max", f"{run['frame_gap_p99_ms']:.0f} / {run['frame_gap_max_ms']:.0f} ms",
         f"{1000 / options.fps:.0f} ms", ""),
        (f"RSS after {options.lines:,} lines", f"{run['rss_mb']:.0f} MB (peak {run['peak_rss_mb']:.0f})",
         "≤ 150 MB", verdict(run["rss_mb"] <= 150)),
        ("event → screen p50", f"{run['latency_p50_ms']:.0f} ms", "≤ 150 ms",
         verdict((run["latency_p50_ms"] or 1e9) <= 150)),
        ("event → screen p99", f"{run['latency_p99_ms']:.0f} ms (max {run['latency_max_ms']:.0f})", "≤ 300 ms",
         verdict((run["latency_p99_ms"] or 1e9) <= 300)),
        ("start → first paint (idle machine)",
         f"{base['viewer_first_paint_s']:.2f} s (imports {base['viewer_import_s']:.2f} s)", "≤ 0.6 s",
         verdict(0 < base["viewer_first_paint_s"] <= 0.6)),
        ("start → first frame with data (idle)", f"{base['viewer_first_data_paint_s']:.2f} s", "≤ 0.6 s",
         verdict(0 < base["viewer_first_data_paint_s"] <= 0.6)),
        ("minimal Textual app → first paint", f"{base['minimal_first_paint_s']:.2f} s", "baseline", ""),
        ("start → first frame with data (flood)", f"{run['first_data_paint_s']:.2f} s", "", ""),
        ("terminal output", f"{run['terminal_kb_per_second']:.0f} KiB/s", "", ""),
    ]  # fmt: skip
    for name, figures in widgets.items():
        rows.append((
            f"{name} at {options.rate:,}/s", f"{figures['cpu_percent']:.1f} % CPU, "
            f"{figures['cpu_us_per_line']:.1f} µs/line, {figures['lines_per_second']:,.0f} lines/s",
            f"× {figures['cpu_us_per_line'] / log_cpu:.1f} Log", "",
        ))  # fmt: skip
    width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    print(f"\n{'measure':<{width}}  {'measured':<{value_width}}  {'target':<12} verdict")
    for name, value, target, mark in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {target:<12} {mark}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000, help="log lines the viewer must receive")
    parser.add_argument("--rate", type=int, default=10_000, help="log lines per second fed (default 10 000)")
    parser.add_argument("--agents", type=int, default=200, help="agents the lines come from (default 200)")
    parser.add_argument("--fps", type=int, default=10, help="viewer frames per second (default 10)")
    parser.add_argument("--widget-seconds", type=float, default=4.0, help="seconds per log-widget baseline")
    parser.add_argument("--skip-baselines", action="store_true", help="only the main run")
    parser.add_argument("--json", action="store_true", help="also print every figure as JSON")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="leave the environment's bytecode settings as they are",
    )
    # Internal: what one child process does.
    parser.add_argument("--role", choices=("feed", "viewer", "minimal", "widget"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--widget", default="log", help=argparse.SUPPRESS)
    parser.add_argument("--start-only", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if options.role == "feed":
        role_feed(options.url, options.rate, options.agents, options.seconds)
        return 0
    if options.role == "viewer":
        role_viewer(options.url, options.lines, options.fps, options.started, options.report, options.seconds,
                    options.start_only)  # fmt: skip
        return 0
    if options.role == "minimal":
        role_minimal(options.started, options.report)
        return 0
    if options.role == "widget":
        role_log_widget(options.widget, options.rate, options.fps, options.seconds, options.report)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as directory:
        work = Path(directory)
        if not options.no_bytecode_cache:
            warm_bytecode_cache(work / "pycache")
        print(f"viewer: {options.lines:,} lines at {options.rate:,}/s from {options.agents} agents, "
              f"--fps {options.fps}, terminal {SIZE[0]}×{SIZE[1]} …", flush=True)  # fmt: skip
        collector, url = start_collector(stderr=subprocess.STDOUT)
        try:
            starts = start_times(work, url)
            run = main_run(options, work, url)
        finally:
            stop(collector)
        if options.skip_baselines:
            base: dict[str, Any] = {"widgets": {}}
        else:
            print("baselines: Log vs RichLog …", flush=True)
            base = baselines(work, options.rate, options.fps, options.widget_seconds)
        base.update(starts)
        if base["widgets"]:
            print_table(options, run, base)
        else:
            print(json.dumps({**run, **base}, indent=1))
        if options.json:
            print(json.dumps({"viewer": run, "baselines": base}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
