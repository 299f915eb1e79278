"""The analysis fetch (client/analysis.py) answers every status with the analysis or a typed
failure, and the analysis screen words each failure safely. No network: a mock transport answers."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import msgspec
import pytest

from agentwatch.client.analysis import AnalysisFailure, FetchResult, fetch_analysis
from agentwatch.protocol import PATH_ANALYSIS, VIEW_COSTS, VIEW_FAILURES, Analysis, ErrorResponse
from agentwatch.tui.analysis import UNAVAILABLE, failure_text
from tests.helpers import NOW

URL = "http://127.0.0.1:8787"


async def fetch(handler: Callable[[httpx.Request], httpx.Response], **kwargs: str) -> FetchResult:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        return await fetch_analysis(http, URL, kwargs.pop("view", VIEW_COSTS), **kwargs)


def answer(status: int, body: bytes = b"") -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, content=body)


async def test_a_good_answer_is_the_analysis_and_the_request_carries_view_agent_attribute_and_token():
    seen: list[httpx.Request] = []
    body = msgspec.json.encode(Analysis(view=VIEW_FAILURES, timestamp=NOW, attribute="region"))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body)

    result = await fetch(handler, view=VIEW_FAILURES, agent="planner-01", attribute="region", token="s3cret")
    assert result.failure is None
    assert result.analysis == Analysis(view=VIEW_FAILURES, timestamp=NOW, attribute="region")
    (request,) = seen
    assert request.url.path == PATH_ANALYSIS
    assert dict(request.url.params) == {"view": VIEW_FAILURES, "agent": "planner-01", "attribute": "region"}
    assert request.headers["authorization"] == "Bearer s3cret"


async def test_without_agent_attribute_or_token_only_the_view_is_sent():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404)

    await fetch(handler)
    assert dict(seen[0].url.params) == {"view": VIEW_COSTS}
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize(
    ("status", "body", "failure", "text"),
    [
        (404, b"", AnalysisFailure("unavailable"), UNAVAILABLE),
        (405, b"", AnalysisFailure("unavailable"), UNAVAILABLE),
        (401, b"", AnalysisFailure("unauthorized"), "unauthorized — check the token"),
        (403, b"", AnalysisFailure("unauthorized"), "unauthorized — check the token"),
        (
            400,
            msgspec.json.encode(ErrorResponse(error="unknown view", detail="try costs")),
            AnalysisFailure("refused", "unknown view (try costs)"),
            "collector refused: unknown view (try costs)",
        ),
        (
            500,
            msgspec.json.encode(ErrorResponse(error="overloaded")),
            AnalysisFailure("refused", "overloaded"),
            "collector refused: overloaded",
        ),
        (
            502,
            b"<html>bad gateway</html>",
            AnalysisFailure("refused", "HTTP 502"),
            "collector refused: HTTP 502",
        ),
    ],
)
async def test_each_refusal_is_a_typed_failure_with_its_status_line(
    status: int, body: bytes, failure: AnalysisFailure, text: str
):
    result = await fetch(answer(status, body))
    assert result == FetchResult(failure=failure)
    assert failure_text(result.failure, URL) == text


async def test_a_200_that_is_not_an_analysis_is_undecodable():
    result = await fetch(answer(200, b'{"view": 3}'))
    assert result.analysis is None
    assert result.failure is not None and result.failure.kind == "undecodable"
    assert failure_text(result.failure, URL).startswith("undecodable answer: Expected `str`")


async def test_no_answer_is_unreachable_naming_the_url_and_the_error():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = await fetch(handler)
    assert result == FetchResult(failure=AnalysisFailure("unreachable", "connection refused"))
    assert failure_text(result.failure, URL) == f"cannot reach {URL}: connection refused"


def test_failure_text_makes_collector_text_safe_and_short():
    hostile = "\x1b]0;title\x07\x1b[31m" + "x" * 300
    for kind in ("unreachable", "refused", "undecodable"):
        text = failure_text(AnalysisFailure(kind, hostile), "http://h/" + "p" * 100)
        assert "\x1b" not in text and "\x07" not in text
        assert len(text) < 250
    assert failure_text(None, URL) == "unexpected answer"
