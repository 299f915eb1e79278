"""What looking back costs: ``GET /api/traces/<id>`` and ``GET /api/logs?from=&to=`` at a full store
and a full log ring, beside a ``/healthz`` probe, against ``/healthz`` and ``/api/snapshot`` alone;
then beside ingest and a live viewer's streams, against each alone.

    python benchmarks/bench_history.py               # the store at its bound, 2 000 000 rows (~6 min)
    python benchmarks/bench_history.py --rows 200000 --requests 100 --seconds 5
    python benchmarks/bench_history.py --writer      # only: what the time index costs the store's writer

The store is written first (``bench_http.make_events`` rows, 60 % of them spans of a trace of
their own, plus traces of 20 spans placed among them, stamped over the last two hours), then
``agentwatch serve --store`` starts over it as its own process: it restores the newest 50 000 rows
into its ring, so the ring is full. Each request kind is sent ``--requests`` times, one at a time,
while another connection sends ``/healthz`` as fast as it is answered; the table gives each
kind's latency (p50/p99) and the probe's beside it. The first two rows are the baseline; "first
lookup" is the one request that brings the ring's trace index up to date over the whole ring.

Then, in ``--rounds`` rounds of five phases of ``--seconds`` each: lookups alone, back to back (a
second of lines ending 3 s before the newest data, at most 200, then the trace of the first of
them that has one, 20 spans); and, paced at ``--rate`` and then as fast as the collector takes
it, ingest (batches of 1 000 events in traces of 20 spans, from another process over two
keep-alive connections; counted by ``/healthz``) with a viewer's two streams open (metrics and
log, read by a third process, lines counted), first alone and then with the lookups (following
the data as it arrives). The last tables give the lookups' latency with ingest and the viewer
against alone, and the ingest rate and the lines the viewer read with the lookups against
without, as ratios of the same round. Ingest past the bound makes the store delete its oldest
rows as it writes, as a full store does.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
from _load import drive  # noqa: E402
from bench_http import make_events, request_bytes  # noqa: E402

from agentwatch.collector import ingest, storedb  # noqa: E402
from agentwatch.collector.store import Store  # noqa: E402
from agentwatch.protocol import PATH_DASHBOARD_STREAM, PATH_LOGS_STREAM  # noqa: E402

SPAN_TRACES = 20  # spans in each of the known traces
HOURS = 2.0
#: The store's bound on log rows (retention deletes beyond it): a full store holds this many.
STORE_BOUND: int = inspect.signature(Store).parameters["max_log_rows"].default
INGEST_BATCH = 1000
TRACE_MARK = b"@@@@@@@@"
LOOKUP_LOGS = "1 s of lines (200)"
LOOKUP_TRACE = "its trace (20 spans)"
LOOKUP_LINES = 200
LOOKUP_LAG = 3.0


def build_store(path: Path, rows: int, now: float) -> tuple[str, str]:
    """``rows`` rows stamped over the last two hours; returns a trace key held by the ring and one
    only the store holds."""
    conn = storedb.connect(path, 5.0)
    storedb.create_schema(conn)
    body = json.dumps(make_events(1000, 200)).encode()
    first = now - HOURS * 3600
    step = HOURS * 3600 / rows
    old_key, new_key = "", ""
    row_id = 1
    while row_id <= rows:
        events, _ = ingest.decode_events(body, "application/json", now=now)
        count = min(len(events), rows - row_id + 1)
        events = events[:count]
        for index, event in enumerate(events):
            event.timestamp = first + (row_id + index) * step
            if event.trace_id is not None:
                event.trace_id = f"{row_id + index:032x}"
            if index % 50 == 0:  # every 50th row is a span of a trace of SPAN_TRACES spans
                key = f"{(row_id + index) // (50 * SPAN_TRACES):016x}-trace"
                event.trace_id = key
                if row_id + index < rows // 2:
                    old_key = old_key or key
                new_key = key
        conn.execute("BEGIN")
        conn.executemany(storedb.INSERT_LOG, storedb.log_rows(events, row_id, now))
        conn.execute("COMMIT")
        row_id += count
    conn.execute("UPDATE meta SET value = ? WHERE key = 'last_log_id'", (rows,))
    conn.close()
    return new_key, old_key


def writer_cost(rows: int, runs: int = 3) -> None:
    """CPU per row of the store's writer inserting ``rows`` rows in batches of 1 000 (as ingest's
    arrive: in time order, 60 % of them spans), with and without the time index, alternating runs;
    best of ``runs``."""
    now = time.time()
    body = json.dumps(make_events(1000, 200)).encode()
    events, _ = ingest.decode_events(body, "application/json", now=now)
    batches = []
    for first in range(1, rows + 1, 1000):
        for index, event in enumerate(events):
            event.timestamp = now + (first + index) * 0.0001
        batches.append(storedb.log_rows(events, first, now))
    best: dict[bool, float] = {}
    for _ in range(runs):
        for indexed in (False, True):
            with tempfile.TemporaryDirectory() as directory:
                conn = storedb.connect(Path(directory) / "agentwatch.db", 5.0)
                storedb.create_schema(conn)
                if not indexed:
                    conn.execute("DROP INDEX logs_time")
                started = time.thread_time()
                for batch in batches:
                    conn.execute("BEGIN")
                    conn.executemany(storedb.INSERT_LOG, batch)
                    conn.execute("COMMIT")
                spent = (time.thread_time() - started) / rows * 1e6
                conn.close()
            best[indexed] = min(best.get(indexed, math.inf), spent)
    print(f"store writer, {rows:,} rows in batches of 1 000, CPU per row (best of {runs}, alternating runs)")
    print(f"{'time index':<12} {'µs/row':>8} {'×':>6}")
    for indexed in (False, True):
        print(f"{'yes' if indexed else 'no':<12} {best[indexed]:>8.2f} {best[indexed] / best[False]:>6.2f}")


def serve(path: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentwatch",
            "serve",
            "--port",
            "0",
            "--otlp-grpc-port",
            "0",
            "--store",
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    url = next((word for word in line.split() if word.startswith("http://")), None)
    if url is None:
        process.kill()
        raise RuntimeError(f"collector did not print its URL: {line!r}")
    for _ in range(1200):  # it restores the store first (≤ 60 s)
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return process, url


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    url: str, path: str, params: dict[str, Any], requests: int, probe: bool, warm: bool = True
) -> dict[str, Any]:
    """Latencies (ms) of ``requests`` GETs, and of the /healthz probe running beside them; ``warm``:
    one untimed GET first."""
    probes: list[float] = []
    stop = threading.Event()

    ready = threading.Event()

    def probing() -> None:
        with httpx.Client(timeout=30) as client:
            client.get(url + "/healthz")  # connected before timing
            ready.set()
            while not stop.is_set():
                started = time.perf_counter()
                client.get(url + "/healthz")
                probes.append((time.perf_counter() - started) * 1000)

    thread = threading.Thread(target=probing, daemon=True)
    if probe:
        thread.start()
        ready.wait(30)
    times: list[float] = []
    status = 0
    size = 0
    with httpx.Client(timeout=30) as client:
        if warm:
            client.get(url + path, params=params)
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(url + path, params=params)
            times.append((time.perf_counter() - started) * 1000)
            status, size = response.status_code, len(response.content)
    stop.set()
    if probe:
        thread.join()
    return {"times": times, "probes": probes, "status": status, "bytes": size}


def viewer_process(url: str, seconds: float, out: Any) -> None:
    """A viewer's two streams read for ``seconds``: the metrics frames and log lines received."""

    def read(path: str, counts: dict[str, int]) -> None:
        deadline = time.monotonic() + seconds
        try:
            with httpx.Client(timeout=5) as client, client.stream("GET", url + path) as response:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        counts[path] += 1
                    if time.monotonic() > deadline:
                        break
        except httpx.TransportError:
            counts["errors"] += 1

    counts = {PATH_DASHBOARD_STREAM: 0, PATH_LOGS_STREAM: 0, "errors": 0}
    paths = (PATH_DASHBOARD_STREAM, PATH_LOGS_STREAM)
    threads = [threading.Thread(target=read, args=(path, counts)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(counts)


async def _send(port: int, template: bytes, connections: int, seconds: float, pace: float | None) -> int:
    """Post ``template`` over keep-alive connections until ``seconds`` pass, each request's
    ``@@@@@@@@`` replaced by its number (every batch its own traces); returns the responses."""
    return await drive(
        port, lambda n: template.replace(TRACE_MARK, f"{n:08x}".encode()), connections, seconds, pace
    )


def ingest_process(port: int, template: bytes, seconds: float, pace: float | None, out: Any) -> None:
    out.put(asyncio.run(_send(port, template, 2, seconds, pace)))


def ingest_template(port: int) -> bytes:
    """A request of :data:`INGEST_BATCH` events in traces of :data:`SPAN_TRACES` spans, as the
    store's own rows are; their trace ids carry the request's number."""
    events = make_events(INGEST_BATCH, 200, seed=7)
    for index, event in enumerate(events):
        event["trace_id"] = f"{TRACE_MARK.decode()}-{index // SPAN_TRACES:03d}"
    return request_bytes(port, json.dumps(events).encode())


def events_total(url: str) -> int:
    return int(httpx.get(url + "/healthz", timeout=60).json()["events_total"])


def phase(url: str, seconds: float, load: float | None, look: bool, anchor: float | None) -> dict[str, Any]:
    """One phase: lookups back to back (``look``) and/or ingest with a viewer (``load``: events/s,
    0 for as fast as the collector takes them, None for none).

    The lookups follow the data: each round asks for a second of lines (at most
    :data:`LOOKUP_LINES`) ending ``LOOKUP_LAG`` s ago (before ``anchor`` when there is no ingest),
    then for the trace of the first of them that has one: the same work whether it was stored
    before the run or is being ingested now.
    """
    port = int(url.rsplit(":", 1)[1])
    queue: Any = multiprocessing.Queue()
    workers: list[multiprocessing.Process] = []
    if load is not None:
        pace = 2 * INGEST_BATCH / load if load else None  # seconds between batches on each connection
        template = ingest_template(port)
        workers.append(
            multiprocessing.Process(target=ingest_process, args=(port, template, seconds, pace, queue))
        )
        workers.append(multiprocessing.Process(target=viewer_process, args=(url, seconds, queue)))
    before = events_total(url)
    started = time.monotonic()
    for worker in workers:
        worker.start()
    times: dict[str, list[float]] = {LOOKUP_LOGS: [], LOOKUP_TRACE: []}
    misses = 0
    with httpx.Client(timeout=60) as client:
        deadline = started + seconds
        while look and time.monotonic() < deadline:
            end = (time.time() if anchor is None else anchor) - LOOKUP_LAG
            params = {"from": end - 1, "to": end, "limit": LOOKUP_LINES}
            began = time.perf_counter()
            response = client.get(url + "/api/logs", params=params)
            times[LOOKUP_LOGS].append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.text
            key = next((e["trace_id"] for e in response.json()["entries"] if e.get("trace_id")), None)
            if key is None:
                misses += 1
                continue
            began = time.perf_counter()
            response = client.get(f"{url}/api/traces/{key}")
            times[LOOKUP_TRACE].append((time.perf_counter() - began) * 1000)
            misses += response.status_code != 200
        if not look:
            time.sleep(max(deadline - time.monotonic(), 0))
    viewer: dict[str, int] = {}
    for _ in workers:
        answer = queue.get(timeout=seconds + 60)
        if isinstance(answer, dict):
            viewer = answer
    for worker in workers:
        worker.join(timeout=30)
    elapsed = time.monotonic() - started
    return {
        "times": times,
        "misses": misses,
        "ingest": (events_total(url) - before) / elapsed,
        "lines": viewer.get(PATH_LOGS_STREAM, 0) / elapsed,
        "frames": viewer.get(PATH_DASHBOARD_STREAM, 0) / elapsed,
    }


def mixed_round(url: str, seconds: float, loads: list[float], anchor: float) -> tuple[dict[Any, Any], float]:
    """Lookups alone (over the newest data before ``anchor``), then for each load: ingest and a
    viewer alone, and with the lookups. Returns the results and the next round's anchor."""
    result: dict[Any, Any] = {"quiet": phase(url, seconds, None, True, anchor)}
    for load in loads:
        loaded = phase(url, seconds, load, False, None)
        both = phase(url, seconds, load, True, None)
        anchor = time.time()
        result[load] = (loaded, both)
        print(
            f"  {load_name(load)}: ingest {loaded['ingest']:,.0f} → {both['ingest']:,.0f} events/s with lookups;"
            f" viewer {loaded['lines']:,.0f} → {both['lines']:,.0f} lines/s",
            flush=True,
        )
    return result, anchor


def load_name(load: float) -> str:
    return f"ingest at {load:,.0f}/s" if load else "ingest unpaced"


def print_mixed(rounds: list[dict[Any, Any]], seconds: float, loads: list[float]) -> None:
    print(
        f"\nlookups beside ingest ({INGEST_BATCH}-event batches, 2 connections) and a viewer's metrics and"
        f" log streams; {len(rounds)} rounds of {1 + 2 * len(loads)} phases × {seconds:g} s"
    )
    print(
        f"{'lookup':<26} {'load':<20} {'round':>5} {'n alone':>7} {'p50 alone':>9} {'p99 alone':>9}"
        f" {'n mixed':>7} {'p50 mixed':>9} {'p99 mixed':>9} {'p50 ×':>6} {'p99 ×':>6} {'misses':>7}"
    )
    for load in loads:
        for number, result in enumerate(rounds, 1):
            for name, alone in result["quiet"]["times"].items():
                mixed = result[load][1]["times"][name]
                if not alone or not mixed:
                    continue
                a50, a99 = statistics.median(alone), percentile(alone, 0.99)
                m50, m99 = statistics.median(mixed), percentile(mixed, 0.99)
                print(
                    f"{name:<26} {load_name(load):<20} {number:>5} {len(alone):>7} {a50:>9.2f} {a99:>9.2f}"
                    f" {len(mixed):>7} {m50:>9.2f} {m99:>9.2f} {m50 / a50:>6.1f} {m99 / a99:>6.1f}"
                    f" {result['quiet']['misses']:>3}/{result[load][1]['misses']:<3}"
                )
    print(
        f"\n{'load':<20} {'round':>5} {'ingest alone/s':>15} {'with lookups/s':>15} {'×':>5}"
        f" {'viewer lines/s':>15} {'with lookups':>13} {'×':>5} {'metrics frames/s':>17}"
    )
    for load in loads:
        for number, result in enumerate(rounds, 1):
            loaded, both = result[load]
            print(
                f"{load_name(load):<20} {number:>5} {loaded['ingest']:>15,.0f} {both['ingest']:>15,.0f}"
                f" {both['ingest'] / max(loaded['ingest'], 1):>5.2f} {loaded['lines']:>15,.0f}"
                f" {both['lines']:>13,.0f} {both['lines'] / max(loaded['lines'], 1):>5.2f}"
                f" {loaded['frames']:>8.1f} / {both['frames']:<7.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=STORE_BOUND, help="stored rows (default: the bound)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase of the mixed rounds")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20_000.0, help="events/s of the paced ingest load")
    parser.add_argument("--writer", action="store_true", help="only the writer's cost of the time index")
    options = parser.parse_args()
    if options.writer:
        writer_cost(300_000)
        return
    now = time.time()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "agentwatch.db"
        started = time.perf_counter()
        ring_key, store_key = build_store(path, options.rows, now)
        built = time.perf_counter() - started
        size = os.path.getsize(path) / 2**20
        print(f"store: {options.rows:,} rows, {size:,.0f} MiB, built in {built:.1f} s")
        process, url = serve(path)
        try:
            health = httpx.get(url + "/healthz", timeout=10).json()
            print(
                f"collector: last id {health['last_log_id']:,}, the ring holds the newest 50 000, store {health['store']}"
            )
            time.sleep(10)  # the refilled window's first ticks and ledger folds are over
            first = measure(url, f"/api/traces/{ring_key}", {}, 1, True, warm=False)  # indexes the whole ring
            recent = now - 30
            old = now - HOURS * 3600 * 0.75
            kinds: list[tuple[str, str, dict[str, Any], bool]] = [
                ("/healthz alone (baseline)", "/healthz", {}, False),
                ("/api/snapshot (baseline)", "/api/snapshot", {}, True),
                ("trace, in the ring", f"/api/traces/{ring_key}", {}, True),
                ("trace, in the store only", f"/api/traces/{store_key}", {}, True),
                ("trace, unknown (404)", "/api/traces/0123456789abcdef", {}, True),
                ("logs 10 s, in the ring", "/api/logs", {"from": recent, "to": recent + 10}, True),
                ("logs 10 s, in the store", "/api/logs", {"from": old, "to": old + 10}, True),
                (
                    "logs 60 s, store, one agent",
                    "/api/logs",
                    {"from": old, "to": old + 60, "agent": "agent-7"},
                    True,
                ),
                (
                    "logs 1 h, store, limit 10 000",
                    "/api/logs",
                    {"from": now - 5400, "to": now - 1800, "limit": 10_000},
                    True,
                ),
            ]
            results: list[tuple[str, dict[str, Any]]] = [("trace, first lookup (indexes the ring)", first)]
            for name, route, params, probe in kinds:
                results.append((name, measure(url, route, params, options.requests, probe)))
            loads = [options.rate, 0.0]
            print(f"mixed: {options.rounds} rounds", flush=True)
            rounds: list[dict[Any, Any]] = []
            anchor = now
            for _ in range(options.rounds):
                result, anchor = mixed_round(url, options.seconds, loads, anchor)
                rounds.append(result)
        finally:
            process.terminate()
            process.wait(timeout=30)
    results.insert(0, results.pop(1))  # the baseline first
    base = statistics.median(results[0][1]["times"])
    print(
        f"\n{options.requests} requests each, one at a time; /healthz probe on another connection meanwhile"
    )
    print(
        f"{'request':<32} {'status':>6} {'bytes':>9} {'p50 ms':>8} {'p99 ms':>8} {'× healthz':>9} {'probe p50':>10} {'probe p99':>10}"
    )
    for name, result in results:
        times, probes = result["times"], result["probes"]
        probe50 = f"{statistics.median(probes):.2f}" if probes else "—"
        probe99 = f"{percentile(probes, 0.99):.2f}" if probes else "—"
        print(
            f"{name:<32} {result['status']:>6} {result['bytes']:>9,} {statistics.median(times):>8.2f} "
            f"{percentile(times, 0.99):>8.2f} {statistics.median(times) / base:>9.1f} {probe50:>10} {probe99:>10}"
        )
    print_mixed(rounds, options.seconds, loads)


if __name__ == "__main__":
    main()
