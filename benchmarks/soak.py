"""Soak: a collector under steady load for a long time, watched by many viewers.

    python benchmarks/soak.py                                   # 2 minutes, 20 viewers, 20 000 events/s
    python benchmarks/soak.py --minutes 30 --viewers 20 --rate 20000 --tui

What runs, each in its own process:

* the collector (``agentwatch serve`` with a fresh SQLite store in a temporary directory);
* a feeder posting ``--rate`` events per second in batches of ``rate / 20`` (JSON, keep-alive);
* ``--viewers`` log-stream followers using the real client (:func:`agentwatch.client.stream.follow`),
  split over two processes, each counting the entries it received and what the collector told it
  it lost (``event: dropped`` and ``event: gap``);
* with ``--tui``, one real viewer app (Textual, headless) following both streams.

Every ``--interval`` seconds it samples the collector's RSS and open file descriptors
(``/proc/PID``), its asyncio task count, subscriber count and rows waiting for the store's writer
(``/healthz``), and the TUI's RSS, and prints a row. (Where the collector's memory goes, kind by
kind, is ``benchmarks/collector_memory.py``'s job.) At the end it prints a verdict, and exits 1 if any check fails:

* collector RSS (and TUI RSS) after the warm-up stays within ``--rss-tolerance`` (10 %) of its
  minimum;
* no growth in file descriptors or tasks after the warm-up (± ``--slack``);
* every viewer accounts for every entry published while it watched:
  ``received + dropped + missed == published`` — a viewer may fall behind, never silently.

Two more readings, not checks, tell a transient from growth: the collector's median RSS in the
first and the last fifth after the warm-up, and the share of sampling intervals in which the
collector held 95 % of ``--rate`` (on a machine short of CPU, viewers lag and the collector holds
their unsent batches for a while).

Linux only (reads ``/proc``). Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from agentwatch.protocol import PATH_EVENTS, PATH_HEALTH, PATH_LOGS_STREAM, SSE_DROPPED, SSE_GAP, SSE_LOG

ENV = {key: value for key, value in os.environ.items() if not key.startswith("AGENTWATCH_")}
SPAN_TYPES = ("llm_call", "tool_call", "log", "decision")


# ------------------------------------------------------------------ process roles


def event_bodies(per_request: int) -> list[bytes]:
    """16 JSON arrays of ``per_request`` events: 40 agents, LLM and tool calls, decisions, logs."""
    bodies = []
    for variant in range(16):
        events = []
        for i in range(per_request):
            span = SPAN_TYPES[(i + variant) % len(SPAN_TYPES)]
            event: dict[str, Any] = {"agent_id": f"agent-{(i * 7 + variant) % 40}", "span_type": span}
            if span == "llm_call":
                event.update(model="gpt-4o", tokens_input=300, tokens_output=80, latency_ms=200.0 + i % 900)
            elif span == "tool_call":
                event.update(tool_name="search", latency_ms=30.0 + i % 50)
            elif span == "decision":
                event.update(decision_made="route", confidence=0.8)
            else:
                event.update(level="error" if i % 50 == 0 else "info", message=f"step {i} of batch {variant}")
            events.append(event)
        bodies.append(msgspec.json.encode(events))
    return bodies


def feeder(url: str, rate: float, seconds: float) -> None:
    """Post ``rate`` events/s for ``seconds``; print {"accepted": n, "requests": n, "errors": n}."""
    per_request = max(1, int(rate / 20))
    interval = per_request / rate
    bodies = event_bodies(per_request)
    accepted = requests = errors = 0
    started = time.monotonic()
    next_at = started
    with httpx.Client(timeout=10, headers={"content-type": "application/json"}) as client:
        while time.monotonic() - started < seconds:
            try:
                response = client.post(url + PATH_EVENTS, content=bodies[requests % len(bodies)])
                if response.status_code == 202:
                    accepted += response.json()["accepted"]
                else:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            requests += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1.0:  # more than a second behind: do not try to catch up in a burst
                next_at = time.monotonic()
    print(json.dumps({"accepted": accepted, "requests": requests, "errors": errors}), flush=True)


@dataclass
class Tally:
    received: int = 0
    dropped: int = 0
    missed: int = 0
    last_id: int = 0
    reconnects: int = 0
    duplicates: int = 0

    def accounted(self) -> int:
        return self.received + self.dropped + self.missed


def viewers(url: str, count: int, after: int) -> None:
    """Follow the log stream ``count`` times from ``after``; stdin gives the final id to wait for.

    Prints one JSON line per viewer once each has accounted for every entry up to that id (or
    30 s have passed).
    """
    from agentwatch.client.stream import Backoff, ServerSentEvent, follow

    tallies = [Tally() for _ in range(count)]
    target: list[int] = []
    got_target = threading.Event()

    def read_target() -> None:
        line = sys.stdin.readline()
        target.append(int(line.strip() or 0))
        got_target.set()

    threading.Thread(target=read_target, daemon=True).start()

    def handler(tally: Tally) -> Any:
        decode = msgspec.json.Decoder()

        def on_event(sse: ServerSentEvent) -> None:
            if sse.event == SSE_LOG:
                tally.received += 1
                entry_id = int(sse.id.rpartition(":")[2] or 0)  # ids read <sequence>:<n>
                if entry_id <= tally.last_id:
                    tally.duplicates += 1
                tally.last_id = max(tally.last_id, entry_id)
            elif sse.event == SSE_DROPPED:
                tally.dropped += int(decode.decode(sse.data)["dropped"])
            elif sse.event == SSE_GAP:
                tally.missed += int(decode.decode(sse.data)["missed"])

        return on_event

    def on_state(tally: Tally) -> Any:
        def report(state: Any) -> None:
            if state.phase == "reconnecting":
                tally.reconnects += 1

        return report

    async def main() -> None:
        tasks = [
            asyncio.create_task(
                follow(url, PATH_LOGS_STREAM, params={"after": str(after)}, on_event=handler(t),
                       on_state=on_state(t), backoff=Backoff(base=0.2, cap=2.0), read_timeout=60)
            )
            for t in tallies
        ]  # fmt: skip
        while not got_target.is_set():
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(t.accounted() < target[0] - after for t in tallies):
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    for tally in tallies:
        print(json.dumps(tally.__dict__), flush=True)


def tui(url: str) -> None:
    from agentwatch.tui.app import AgentWatchApp

    AgentWatchApp(url=url, bell=False).run(headless=True)


# -------------------------------------------------------------------- sampling


def proc_rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def proc_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


@dataclass
class Sample:
    at: float
    rss: float
    fds: int
    tasks: int
    subscribers: int
    events_total: int
    last_log_id: int
    cpu: float
    store_queued: int = 0
    tui_rss: float | None = None


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)


def spawn(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stdin=stdin, text=True, env=ENV)


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def soak(args: argparse.Namespace) -> int:
    seconds = args.minutes * 60
    # The log ring fills within seconds; the window's per-second buckets take window + history
    # (≈ 180 s by default) to reach their steady size, so short runs measure only their tail.
    warmup = (
        args.warmup
        if args.warmup is not None
        else min(300.0, max(seconds / 4, 0.75 * seconds if seconds < 400 else 0))
    )
    workdir = Path(tempfile.mkdtemp(prefix="agentwatch-soak-"))
    store = ["--no-store"] if args.no_store else ["--store", str(workdir / "soak.db")]
    collector = spawn("-m", "agentwatch", "serve", "--port", "0", *store)
    assert collector.stdout is not None
    url = next(word for word in collector.stdout.readline().split() if word.startswith("http://"))
    http = httpx.Client(timeout=10)
    deadline = time.monotonic() + 20
    while True:
        try:
            health = http.get(url + PATH_HEALTH).json()
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    start_id = health["last_log_id"]
    me = str(Path(__file__).resolve())
    halves = [args.viewers // 2, args.viewers - args.viewers // 2]
    viewer_procs = [
        spawn(me, "--role", "viewers", "--url", url, "--count", str(n), "--after", str(start_id),
              stdin=subprocess.PIPE)
        for n in halves if n
    ]  # fmt: skip
    tui_proc = spawn(me, "--role", "tui", "--url", url) if args.tui else None
    while http.get(url + PATH_HEALTH).json()["subscribers"] < args.viewers:
        time.sleep(0.1)
    feed = spawn(me, "--role", "feeder", "--url", url, "--rate", str(args.rate), "--seconds", str(seconds))
    run = Run()
    began = time.monotonic()
    print(f"soak: {args.minutes:g} min, {args.viewers} viewers, {args.rate:g} events/s, "
          f"warm-up {warmup:g} s, collector pid {collector.pid}, {url}")  # fmt: skip
    print(f"{'t (s)':>6} {'RSS MiB':>8} {'fds':>4} {'tasks':>5} {'subs':>4} {'events':>10} "
          f"{'ev/s':>7} {'CPU %':>6} {'queued':>7} {'TUI MiB':>8}")  # fmt: skip
    previous: Sample | None = None
    try:
        while feed.poll() is None:
            time.sleep(min(args.interval, max(0.1, seconds + 5 - (time.monotonic() - began))))
            try:
                health = http.get(url + PATH_HEALTH).json()
            except httpx.HTTPError as exc:
                print(f"health probe failed: {exc}")
                continue
            sample = Sample(
                at=time.monotonic() - began,
                rss=proc_rss_mib(collector.pid),
                fds=proc_fds(collector.pid),
                tasks=health.get("tasks", 0),
                subscribers=health["subscribers"],
                events_total=health["events_total"],
                last_log_id=health["last_log_id"],
                cpu=proc_cpu_seconds(collector.pid),
                store_queued=health.get("store_queued_rows", 0),
                tui_rss=proc_rss_mib(tui_proc.pid) if tui_proc else None,
            )
            run.samples.append(sample)
            rate = cpu = float("nan")
            if previous is not None:
                span = sample.at - previous.at
                rate = (sample.events_total - previous.events_total) / span
                cpu = 100 * (sample.cpu - previous.cpu) / span
            previous = sample
            tui_text = f"{sample.tui_rss:8.1f}" if sample.tui_rss is not None else f"{'—':>8}"
            print(f"{sample.at:6.0f} {sample.rss:8.1f} {sample.fds:4d} {sample.tasks:5d} {sample.subscribers:4d} "
                  f"{sample.events_total:10d} {rate:7.0f} {cpu:6.1f} {sample.store_queued:7d} {tui_text}", flush=True)  # fmt: skip
        assert feed.stdout is not None
        fed = json.loads(feed.stdout.read().strip().splitlines()[-1])
        final_id = http.get(url + PATH_HEALTH).json()["last_log_id"]
        tallies: list[dict[str, int]] = []
        for proc in viewer_procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(f"{final_id}\n")
            proc.stdin.flush()
        for proc in viewer_procs:
            assert proc.stdout is not None
            out, _ = proc.communicate(timeout=60)
            tallies += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    finally:
        for proc in [feed, *viewer_procs, *([tui_proc] if tui_proc else [])]:
            stop_process(proc)
        stop_process(collector)
        http.close()
        shutil.rmtree(workdir, ignore_errors=True)  # the store: ~500 MB after a few minutes
    return verdict(args, run, warmup, fed, final_id - start_id, tallies)


def spread(values: list[float]) -> float:
    low = min(values)
    return (max(values) - low) / low if low > 0 else float("inf")


def verdict(
    args: argparse.Namespace, run: Run, warmup: float, fed: dict[str, int], published: int,
    tallies: list[dict[str, int]],
) -> int:  # fmt: skip
    after = [s for s in run.samples if s.at >= warmup] or run.samples[-1:]
    checks: list[tuple[str, bool, str]] = []
    rss = [s.rss for s in after]
    checks.append(
        (
            "collector RSS flat",
            spread(rss) <= args.rss_tolerance,
            f"{min(rss):.1f}–{max(rss):.1f} MiB after warm-up ({100 * spread(rss):.1f} %)",
        )
    )
    if args.tui:
        tui_rss = [s.tui_rss for s in after if s.tui_rss is not None]
        checks.append(
            (
                "TUI RSS flat",
                bool(tui_rss) and spread(tui_rss) <= args.rss_tolerance,
                f"{min(tui_rss):.1f}–{max(tui_rss):.1f} MiB ({100 * spread(tui_rss):.1f} %)",
            )
        )
    fds = [s.fds for s in after]
    checks.append(("no fd growth", fds[-1] - fds[0] <= args.slack, f"{fds[0]} → {fds[-1]} (max {max(fds)})"))
    tasks = [s.tasks for s in after]
    checks.append(
        ("no task growth", tasks[-1] - tasks[0] <= args.slack, f"{tasks[0]} → {tasks[-1]} (max {max(tasks)})")
    )
    checks.append(
        (
            "feeder not refused",
            fed["errors"] == 0,
            f"{fed['accepted']} accepted in {fed['requests']} requests, {fed['errors']} errors",
        )
    )
    checks.append(
        (
            "every accepted event logged",
            published == fed["accepted"],
            f"{published} log entries for {fed['accepted']} accepted events",
        )
    )
    silent = [
        t for t in tallies if t["received"] + t["dropped"] + t["missed"] != published or t["duplicates"]
    ]
    received = sum(t["received"] for t in tallies)
    dropped = sum(t["dropped"] for t in tallies)
    checks.append(("no viewer falls behind silently", len(tallies) == args.viewers and not silent,
                   f"{len(tallies)} viewers: received {received}, told dropped {dropped}, "
                   f"missed {sum(t['missed'] for t in tallies)}; {len(silent)} unaccounted"))  # fmt: skip
    print()
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name:32} {detail}")
    per_viewer = ", ".join(f"{t['received']}+{t['dropped']}" for t in tallies[:6])
    print(f"      per viewer received+dropped (first 6): {per_viewer} of {published}")
    # Two readings to tell a transient (a busy machine) from growth; neither is a check.
    fifth = max(1, len(rss) // 5)
    first, last = statistics.median(rss[:fifth]), statistics.median(rss[-fifth:])
    print(f"      collector RSS median, first → last fifth after warm-up: {first:.1f} → {last:.1f} MiB "
          f"({100 * (last - first) / first:+.1f} %)")  # fmt: skip
    rates = [(b.events_total - a.events_total) / (b.at - a.at) for a, b in itertools.pairwise(after)]
    rates = rates[:-1] or rates  # the last interval holds the feeder's end
    if rates:
        held = sum(rate >= 0.95 * args.rate for rate in rates) / len(rates)
        print(f"      load held: {100 * held:.0f} % of sampling intervals at ≥ 95 % of {args.rate:g} events/s "
              f"(slowest {min(rates):.0f}/s)")  # fmt: skip
    passed = all(ok for _, ok, _ in checks)
    print("verdict:", "PASS" if passed else "FAIL")
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20_000.0, help="events per second")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds (default: 3/4 of a short run, else a quarter, ≤ 300)",
    )
    parser.add_argument("--tui", action="store_true", help="also run one headless TUI")
    parser.add_argument("--no-store", action="store_true", help="run the collector without a store")
    parser.add_argument("--rss-tolerance", type=float, default=0.10)
    parser.add_argument("--slack", type=int, default=2, help="allowed fd/task growth")
    parser.add_argument("--role", choices=("soak", "feeder", "viewers", "tui"), default="soak")
    parser.add_argument("--url", default="")
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--after", type=int, default=0)
    args = parser.parse_args()
    if args.role == "feeder":
        feeder(args.url, args.rate, args.seconds)
    elif args.role == "viewers":
        viewers(args.url, args.count, args.after)
    elif args.role == "tui":
        tui(args.url)
    else:
        return soak(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
