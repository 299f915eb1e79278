"""Many collectors watched as one fleet: one read of each (``agentwatch status``).

Each collector is named by its URL as given. A collector that cannot be read is reported as down
with the reason; the others still make the fleet (:mod:`agentwatch.client.fleetmerge`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import httpx
import msgspec

from agentwatch.client.fleetmerge import Part
from agentwatch.client.stream import CollectorUnreachable, Unauthorized, fetch_snapshot
from agentwatch.sketchwire import PATH_SKETCH, SketchResponse

__all__ = ["Down", "fetch_fleet", "fetch_sketch"]

#: Most bytes of a sketch answer read (a whole sketch is a few kilobytes).
MAX_SKETCH_BYTES: Final = 256 * 1024
_sketch_decoder: Final = msgspec.json.Decoder(SketchResponse)


@dataclass
class Down:
    """A collector that could not be read, and why (one line)."""

    name: str
    reason: str
    unauthorized: bool = False


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def fetch_sketch(
    http: httpx.AsyncClient, base_url: str, *, token: str | None, timeout: float, agent: str | None = None
) -> SketchResponse | None:
    """The collector's window sketch; None when it serves none (404) or sent an unreadable one.

    Raises :class:`Unauthorized` on 401/403 and :class:`CollectorUnreachable` when it cannot be reached.
    """
    url = base_url.rstrip("/") + PATH_SKETCH
    params = {"agent": agent} if agent else None
    try:
        async with http.stream("GET", url, params=params, headers=_headers(token), timeout=timeout) as answer:
            if answer.status_code in (401, 403):
                raise Unauthorized(f"{url} refused the token (HTTP {answer.status_code})")
            if answer.status_code != 200:
                return None
            body = b""
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_SKETCH_BYTES:
                    return None
    except httpx.HTTPError as exc:
        raise CollectorUnreachable(f"cannot reach {url}: {type(exc).__name__}") from None
    try:
        return _sketch_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def _read_one(http: httpx.AsyncClient, url: str, token: str | None, timeout: float) -> Part | Down:
    try:
        async with asyncio.timeout(timeout):
            snapshot, sketch = await asyncio.gather(
                fetch_snapshot(url, token=token, timeout=timeout, client=http),
                fetch_sketch(http, url, token=token, timeout=timeout),
            )
    except Unauthorized as exc:
        return Down(url, str(exc), unauthorized=True)
    except CollectorUnreachable as exc:
        return Down(url, str(exc))
    except TimeoutError:
        return Down(url, f"no answer from {url} within {timeout:g} s")
    return Part(url, snapshot, sketch.fleet if sketch is not None else None)


async def fetch_fleet(urls: Sequence[str], *, token: str | None, timeout: float) -> list[Part | Down]:
    """One snapshot and sketch of each collector, read at the same time; in the order of ``urls``."""
    async with httpx.AsyncClient() as http:
        return list(await asyncio.gather(*(_read_one(http, url, token, timeout) for url in urls)))
