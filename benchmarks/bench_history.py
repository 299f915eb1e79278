"""What looking back costs: ``GET /api/traces/<id>`` and ``GET /api/logs?from=&to=`` at a full store
and a full log ring, beside a ``/healthz`` probe, against ``/healthz`` and ``/api/snapshot`` alone.

    python benchmarks/bench_history.py               # 1 000 000 stored rows (~2 min with the build)
    python benchmarks/bench_history.py --rows 200000 --requests 100

The store is written first (``bench_http.make_events`` rows, 60 % of them spans of a trace of
their own, plus traces of 20 spans placed among them, stamped over the last two hours), then
``agentwatch serve --store`` starts over it as its own process: it restores the newest 50 000 rows
into its ring, so the ring is full. Each request kind is sent ``--requests`` times, one at a time,
while another connection sends ``/healthz`` as fast as it is answered; the table gives each
kind's latency (p50/p99) and the probe's beside it. The first two rows are the baseline; "first
lookup" is the one request that brings the ring's trace index up to date over the whole ring.
"""

from __future__ import annotations

import argparse
import json
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
from bench_http import make_events  # noqa: E402

from agentwatch.collector import ingest, storedb  # noqa: E402

SPAN_TRACES = 20  # spans in each of the known traces
HOURS = 2.0


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    options = parser.parse_args()
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


if __name__ == "__main__":
    main()
