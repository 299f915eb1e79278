"""``agentwatch simulate``: check the collector answers, run the sender until the duration
ends or Ctrl-C, and print one summary line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

import httpx

from agentwatch.protocol import DEFAULT_URL, PATH_HEALTH, normalize_token
from agentwatch.simulator.sender import RunStats, run


def _check_reachable(url: str, token: str | None) -> str | None:
    """None when something answers HTTP at ``url``; otherwise why not, in words."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        httpx.get(url.rstrip("/") + PATH_HEALTH, headers=headers, timeout=3.0)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None


async def _run_until_interrupted(namespace: Any, url: str, token: str | None) -> RunStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # no signal handlers here (not the main thread, or Windows): Ctrl-C raises instead
    limit = getattr(namespace, "backlog", 50_000)

    def tell_drops(stats: RunStats, backlog: int) -> None:
        print(
            f"agentwatch simulate: dropping events: {stats.dropped} dropped so far, {backlog} waiting "
            f"(the backlog holds {limit}; last error: {stats.last_error or 'none'})",
            file=sys.stderr,
            flush=True,
        )

    return await run(
        url,
        token=token,
        agents=namespace.agents,
        rate=namespace.rate,
        seed=namespace.seed,
        duration=namespace.duration,
        scenario=namespace.scenario,
        stop=stop,
        backlog_limit=limit,
        on_drop=tell_drops,
    )


def main(namespace: Any) -> int:
    """``agentwatch simulate``: exit 0 after the run, 1 when the collector is unreachable at
    start or refuses the token. Prints one summary line to stdout at the end."""
    url = namespace.url or os.environ.get("AGENTWATCH_URL") or DEFAULT_URL
    token = normalize_token(namespace.token or os.environ.get("AGENTWATCH_TOKEN"))
    problem = _check_reachable(url, token)
    if problem is not None:
        print(
            f"agentwatch simulate: cannot reach the collector at {url} ({problem}).\n"
            "Start one with 'agentwatch serve', or pass --url.",
            file=sys.stderr,
        )
        return 1
    length = "until Ctrl-C" if namespace.duration is None else f"for {namespace.duration:g} s"
    print(
        f"simulating {namespace.agents} agents at ~{namespace.rate:g} events/s ({namespace.scenario}, "
        f"seed {namespace.seed}) → {url} {length}",
        file=sys.stderr,
    )
    started = time.monotonic()
    try:
        stats = asyncio.run(_run_until_interrupted(namespace, url, token))
    except KeyboardInterrupt:
        print("agentwatch simulate: interrupted", file=sys.stderr)
        return 130
    elapsed = time.monotonic() - started
    print(
        f"sent {stats.sent} events in {elapsed:.1f} s: accepted {stats.accepted}, rejected {stats.rejected}, "
        f"dropped {stats.dropped}, failed requests {stats.failed_requests}"
    )
    if stats.fatal:
        print(
            f"agentwatch simulate: the collector refused the events ({stats.fatal}); check --token.",
            file=sys.stderr,
        )
        return 1
    if stats.last_error and stats.sent == 0:
        print(f"agentwatch simulate: nothing was delivered (last error: {stats.last_error})", file=sys.stderr)
    return 0
