"""Reading a full log ring back: ``/api/logs`` and the collector's memory, against a real collector.

    python benchmarks/bench_ring_read.py
    python benchmarks/bench_ring_read.py --before DIR    # the same against another checkout first

Starts ``agentwatch serve --no-store`` (of this checkout and, with ``--before``, of another one),
fills its log ring (``--events``, the simulator's fleet in batches of ``--batch``), then prints
its RSS and the wall time of ``GET /api/logs?limit=1000`` over the last half hour: the first read, a
second one, and one filtered by an agent (each best of ``--repeats`` after the first).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).parent))

from _procs import rss_mb, start_collector, stop
from bench_ingest_bare import fleet_batch

from agentwatch.protocol import PATH_EVENTS, PATH_LOGS


def measure(source: Path | None, events: int, batch: int, repeats: int) -> dict[str, float]:
    process, url = start_collector(source)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            sample = fleet_batch(batch)
            body = msgspec.json.encode(sample)
            for _ in range(events // batch):
                client.post(PATH_EVENTS, content=body, headers={"content-type": "application/json"})
            rss = rss_mb(process.pid)
            start = time.time() - 1800
            agent = sample[0].agent_id

            def read(**params: str) -> float:
                at = time.perf_counter()
                answer = client.get(PATH_LOGS, params={"from": f"{start:.0f}", "limit": "1000", **params})
                answer.raise_for_status()
                return (time.perf_counter() - at) * 1000

            first = read()
            again = min(read() for _ in range(repeats))
            by_agent = min(read(agent=agent) for _ in range(repeats))
            return {"rss_mb": rss, "first_ms": first, "again_ms": again, "agent_ms": by_agent}
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, default=None, help="another checkout, measured first")
    options = parser.parse_args()
    runs: list[tuple[str, Path | None]] = [("this checkout", None)]
    if options.before is not None:
        runs.insert(0, ("--before checkout", options.before))
    print(f"{'collector':<18} {'RSS MiB':>8} {'first ms':>9} {'again ms':>9} {'agent ms':>9}")
    for name, source in runs:
        got = measure(source, options.events, options.batch, options.repeats)
        print(
            f"{name:<18} {got['rss_mb']:8.1f} {got['first_ms']:9.1f} {got['again_ms']:9.1f} {got['agent_ms']:9.1f}"
        )


if __name__ == "__main__":
    main()
