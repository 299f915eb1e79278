"""What the HTTP limits cost the ingest path: ``agentwatch serve`` as shipped (the bounded protocol of
collector/httpguard.py) against the same server on uvicorn's stock httptools protocol, in one run.

    python benchmarks/bench_http_guard.py               # ~1 minute
    python benchmarks/bench_http_guard.py --rounds 5 --seconds 4

Each server runs in its own process on 127.0.0.1 (``--no-store``); the load is bench_http.py's: plain
HTTP/1.1 keep-alive over raw sockets from a separate process, events/s counted by the server. Batches
of 1 event show the per-request cost (where a protocol's work is), batches of 100 the usual SDK batch.
Rounds alternate between the two servers; the best round of each is compared, as events/s and as
events per CPU-second of the server process (steadier on a busy machine: it leaves out time the
server waited for the CPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _procs import cpu_seconds, start_server
from bench_http import measure

#: Runs ``agentwatch serve`` with uvicorn's own httptools protocol in place of the bounded one.
STOCK = (
    "import sys\n"
    "from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol\n"
    "import agentwatch.collector.server as server\n"
    "from agentwatch.collector.httpguard import ConnectionCounts\n"
    "class Stock(HttpToolsProtocol):\n"
    "    counts = ConnectionCounts()  # what the collector's /healthz reads; stays at zero here\n"
    "server.guarded_protocol = lambda limits: Stock\n"
    "from agentwatch.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server and batch")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections of the load")
    options = parser.parse_args()
    serve = ["serve", "--port", "0", "--otlp-grpc-port", "0", "--no-store"]
    servers = {
        "uvicorn httptools (stock)": [sys.executable, "-c", STOCK, *serve],
        "agentwatch serve (bounded)": [sys.executable, "-m", "agentwatch", *serve],
    }
    batches = (1, 100)
    best: dict[tuple[str, int], float] = {}
    best_cpu: dict[tuple[str, int], float] = {}
    running = {name: start_server(command) for name, command in servers.items()}
    try:
        for round_number in range(1, options.rounds + 1):
            for batch in batches:
                for name, (process, url) in running.items():
                    cpu = cpu_seconds(process.pid)
                    rate = measure(url, batch, options.seconds, connections=options.connections)
                    per_cpu = rate * options.seconds / max(cpu_seconds(process.pid) - cpu, 1e-9)
                    best[name, batch] = max(best.get((name, batch), 0.0), rate)
                    best_cpu[name, batch] = max(best_cpu.get((name, batch), 0.0), per_cpu)
                    print(
                        f"  round {round_number}  {name:<27} batch {batch:>4}: {rate:>10,.0f} events/s"
                        f"  {per_cpu:>10,.0f} events/CPU-s",
                        flush=True,
                    )
    finally:
        for process, _ in running.values():
            process.terminate()
            process.wait()

    stock, bounded = servers
    print()
    print(f"{'batch':>5} {'measure':<14} {'stock':>10} {'bounded':>10} {'bounded/stock':>14}")
    for batch in batches:
        for label, table in (("events/s", best), ("events/CPU-s", best_cpu)):
            ratio = table[bounded, batch] / table[stock, batch]
            print(
                f"{batch:>5} {label:<14} {table[stock, batch]:>10,.0f} {table[bounded, batch]:>10,.0f} {ratio:>14.2f}"
            )


if __name__ == "__main__":
    main()
