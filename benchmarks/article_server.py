"""The first article's collector, re-implemented as the benchmark baseline (not part of agentwatch).

Stdlib ``json``, one ``record()`` per event, and an aggregator that prunes, rescans and sorts
the whole window on every event, as in the article "Building a Real-Time AI
Dashboard: Live Metrics, Streaming Logs, and Agent Status". Served by the same uvicorn as agentwatch.
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class MetricsAggregator:
    def __init__(self, window_seconds: int = 60):
        self.window = window_seconds
        self.events: deque = deque()
        self.recorded = 0

    def record(self, event: dict) -> None:
        self.events.append(event)
        self.recorded += 1
        cutoff = time.time() - self.window
        while self.events and self.events[0]["timestamp"] < cutoff:
            self.events.popleft()
        self._compute_snapshot()

    def _compute_snapshot(self) -> dict:
        now = time.time()
        recent = [e for e in self.events if e["timestamp"] > now - self.window]
        tokens = [e for e in recent if e["event_type"] == "token"]
        tool_calls = [e for e in recent if e["event_type"] == "tool_call"]
        errors = [e for e in recent if e["event_type"] == "error"]
        completions = [e for e in recent if e["event_type"] == "completion"]
        latencies = sorted(e["payload"].get("latency_ms", 0) for e in completions)
        return {
            "timestamp": now,
            "tokens_per_second": len(tokens) / max(self.window, 1),
            "tool_calls_total": len(tool_calls),
            "error_rate": len(errors) / max(len(recent), 1),
            "completions": len(completions),
            "p50_latency_ms": latencies[len(latencies) // 2] if latencies else 0,
            "p99_latency_ms": latencies[int(len(latencies) * 0.99)] if latencies else 0,
            "active_agents": len({e["agent_id"] for e in recent}),
        }


aggregator = MetricsAggregator()
_KIND = {"llm_call": "completion", "tool_call": "tool_call", "log": "token"}


async def events(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    items = body if isinstance(body, list) else [body]
    for item in items:
        aggregator.record(
            {
                "agent_id": item["agent_id"],
                "event_type": _KIND.get(item.get("span_type"), "token"),
                "timestamp": time.time(),
                "payload": item,
            }
        )
    return JSONResponse({"accepted": len(items)}, status_code=202)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"events_total": aggregator.recorded})


app = Starlette(routes=[Route("/api/events", events, methods=["POST"]), Route("/healthz", health)])

if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"article server on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
