"""Read one trace from the collector: ``GET /api/traces/<id>``.

:func:`fetch_trace` never raises for network or protocol trouble: it answers with the decoded
:class:`~agentwatch.protocol.Trace` or a :class:`TraceFailure` saying what went wrong, so the
waterfall screen shows one status line. ``detail`` is raw text (an exception's, or the collector's
error body): whoever shows it makes it safe for a terminal.

httpx is imported on first use, so a viewer that imports this module does not wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import quote

import msgspec

from agentwatch.protocol import PATH_TRACES, ErrorResponse, Trace

if TYPE_CHECKING:
    import httpx

__all__ = ["FETCH_TIMEOUT", "TraceFailure", "TraceResult", "fetch_trace", "trace_client"]

#: Seconds one trace request may take before it counts as unreachable (a store lookup may read).
FETCH_TIMEOUT: Final = 10.0

#: ``unreachable``: no answer; ``not_found``: the collector holds no event of that id (404 with an
#: error body); ``unavailable``: the collector has no such route (404 without one, 405);
#: ``unauthorized``: 401/403; ``refused``: any other status; ``undecodable``: a 200 that is no trace.
TraceFailureKind = Literal[
    "unreachable", "not_found", "unavailable", "unauthorized", "refused", "undecodable"
]


@dataclass(frozen=True, slots=True)
class TraceFailure:
    """Why a fetch brought no trace."""

    kind: TraceFailureKind
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TraceResult:
    """One answer of the trace route: the trace, or why there is none."""

    trace: Trace | None = None
    failure: TraceFailure | None = None


def trace_client(timeout: float = FETCH_TIMEOUT) -> httpx.AsyncClient:
    """An HTTP client for :func:`fetch_trace` whose requests give up after ``timeout`` seconds."""
    import httpx

    return httpx.AsyncClient(timeout=httpx.Timeout(timeout))


def _problem(content: bytes) -> ErrorResponse | None:
    try:
        return msgspec.json.decode(content, type=ErrorResponse)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def fetch_trace(
    http: httpx.AsyncClient, url: str, trace_id: str, *, token: str | None = None
) -> TraceResult:
    """GET the trace (or prompt, turn) ``trace_id``."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    target = f"{url.rstrip('/')}{PATH_TRACES}/{quote(trace_id, safe='')}"
    try:
        response = await http.get(target, headers=headers)
    except httpx.HTTPError as exc:
        return TraceResult(failure=TraceFailure("unreachable", str(exc) or type(exc).__name__))
    status = response.status_code
    if status == 200:
        try:
            return TraceResult(trace=msgspec.json.decode(response.content, type=Trace))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return TraceResult(failure=TraceFailure("undecodable", str(exc)))
    problem = _problem(response.content)
    detail = (
        f"{problem.error}" + (f" ({problem.detail})" if problem.detail else "")
        if problem
        else f"HTTP {status}"
    )
    if status == 404 and problem is not None:
        return TraceResult(failure=TraceFailure("not_found", detail))
    if status in (404, 405):
        return TraceResult(failure=TraceFailure("unavailable"))
    if status in (401, 403):
        return TraceResult(failure=TraceFailure("unauthorized"))
    return TraceResult(failure=TraceFailure("refused", detail))
