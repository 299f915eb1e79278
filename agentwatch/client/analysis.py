"""Read one analysis view from the collector: ``GET /api/analysis?view=…[&agent=…][&attribute=…]``.

:func:`fetch_analysis` never raises for network or protocol trouble: it answers with the
decoded :class:`~agentwatch.protocol.Analysis` or an :class:`AnalysisFailure` saying what went
wrong, so a screen polling it keeps its last data and shows one status line. The failure's
``detail`` is the raw text (an exception's, or the collector's error body): whoever shows it
makes it safe for a terminal.

httpx is imported on first use, so a viewer that imports this module does not wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from agentwatch.protocol import PATH_ANALYSIS, Analysis, ErrorResponse

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FETCH_TIMEOUT",
    "AnalysisFailure",
    "FailureKind",
    "FetchResult",
    "analysis_client",
    "fetch_analysis",
]

#: Seconds one analysis request may take before it counts as unreachable.
FETCH_TIMEOUT: Final = 5.0

#: ``unreachable``: no answer (``detail``: the error); ``unavailable``: the collector has no such
#: route (404/405, the minimal protocol); ``unauthorized``: 401/403; ``refused``: any other
#: status (``detail``: the collector's error and detail, or "HTTP <status>"); ``undecodable``:
#: a 200 whose body is not an analysis (``detail``: the decoder's message).
FailureKind = Literal["unreachable", "unavailable", "unauthorized", "refused", "undecodable"]


@dataclass(frozen=True, slots=True)
class AnalysisFailure:
    """Why a fetch brought no analysis."""

    kind: FailureKind
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One answer of the analysis route: the analysis, or why there is none."""

    analysis: Analysis | None = None
    failure: AnalysisFailure | None = None


def analysis_client(timeout: float = FETCH_TIMEOUT) -> httpx.AsyncClient:
    """An HTTP client for :func:`fetch_analysis` whose requests give up after ``timeout`` seconds."""
    import httpx

    return httpx.AsyncClient(timeout=httpx.Timeout(timeout))


async def fetch_analysis(
    http: httpx.AsyncClient,
    url: str,
    view: str,
    *,
    token: str | None = None,
    agent: str | None = None,
    attribute: str | None = None,
) -> FetchResult:
    """GET the analysis ``view`` (for one ``agent``, grouped by ``attribute`` too, when given)."""
    import httpx

    params = {"view": view}
    if agent:
        params["agent"] = agent
    if attribute:
        params["attribute"] = attribute
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = await http.get(url.rstrip("/") + PATH_ANALYSIS, params=params, headers=headers)
    except httpx.HTTPError as exc:
        return FetchResult(failure=AnalysisFailure("unreachable", str(exc) or type(exc).__name__))
    status = response.status_code
    if status in (404, 405):
        return FetchResult(failure=AnalysisFailure("unavailable"))
    if status in (401, 403):
        return FetchResult(failure=AnalysisFailure("unauthorized"))
    if status != 200:
        try:
            problem = msgspec.json.decode(response.content, type=ErrorResponse)
            detail = f"{problem.error}" + (f" ({problem.detail})" if problem.detail else "")
        except (msgspec.DecodeError, msgspec.ValidationError):
            detail = f"HTTP {status}"
        return FetchResult(failure=AnalysisFailure("refused", detail))
    try:
        return FetchResult(analysis=msgspec.json.decode(response.content, type=Analysis))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return FetchResult(failure=AnalysisFailure("undecodable", str(exc)))
