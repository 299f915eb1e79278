"""The analysis fetch (client/analysis.py) answers every status with the analysis or a typed
failure, and the analysis screen words each failure safely. Real HTTP on 127.0.0.1: a scripted
server gives each answer, a closed port gives none."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import msgspec
import pytest

from agentwatch.client.analysis import AnalysisFailure, FetchResult, analysis_client, fetch_analysis
from agentwatch.protocol import PATH_ANALYSIS, VIEW_COSTS, VIEW_FAILURES, Analysis, ErrorResponse
from agentwatch.tui.analysis import UNAVAILABLE, failure_text
from tests.helpers import NOW
from tests.sseserver import SSEServer, Status

JSON = "application/json"
#: What httpx says when nothing listens on the port.
REFUSED = "All connection attempts failed"


def json_body(value: Analysis | ErrorResponse) -> str:
    return msgspec.json.encode(value).decode()


@pytest.fixture(scope="module")
def running() -> Iterator[SSEServer]:
    with SSEServer(otherwise=Status(599, "unscripted request")) as server:
        yield server


@pytest.fixture
def collector(running: SSEServer) -> SSEServer:
    """The module's server with no request recorded yet; each test scripts its own answer."""
    running.requests.clear()
    return running


async def fetch(url: str, view: str = VIEW_COSTS, **kwargs: str) -> FetchResult:
    async with analysis_client() as http:
        return await fetch_analysis(http, url, view, **kwargs)


async def test_a_good_answer_is_the_analysis_and_the_request_carries_view_agent_attribute_and_token(
    collector: SSEServer,
):
    analysis = Analysis(view=VIEW_FAILURES, timestamp=NOW, attribute="region")
    collector.play(Status(200, json_body(analysis), JSON))
    result = await fetch(
        collector.url, view=VIEW_FAILURES, agent="planner-01", attribute="region", token="s3cret"
    )
    assert result.failure is None
    assert result.analysis == Analysis(view=VIEW_FAILURES, timestamp=NOW, attribute="region")
    (request,) = collector.requests
    assert request.path == PATH_ANALYSIS
    assert request.query == {"view": VIEW_FAILURES, "agent": "planner-01", "attribute": "region"}
    assert request.authorization == "Bearer s3cret"


async def test_without_agent_attribute_or_token_only_the_view_is_sent(collector: SSEServer):
    collector.play(Status(404))
    await fetch(collector.url)
    assert collector.requests[0].query == {"view": VIEW_COSTS}
    assert collector.requests[0].authorization is None


@pytest.mark.parametrize(
    ("answer", "failure", "text"),
    [
        (Status(404), AnalysisFailure("unavailable"), UNAVAILABLE),
        (Status(405), AnalysisFailure("unavailable"), UNAVAILABLE),
        (Status(401), AnalysisFailure("unauthorized"), "unauthorized — check the token"),
        (Status(403), AnalysisFailure("unauthorized"), "unauthorized — check the token"),
        (
            Status(400, json_body(ErrorResponse(error="unknown view", detail="try costs")), JSON),
            AnalysisFailure("refused", "unknown view (try costs)"),
            "collector refused: unknown view (try costs)",
        ),
        (
            Status(500, json_body(ErrorResponse(error="overloaded")), JSON),
            AnalysisFailure("refused", "overloaded"),
            "collector refused: overloaded",
        ),
        (
            Status(502, "<html>bad gateway</html>", "text/html"),
            AnalysisFailure("refused", "HTTP 502"),
            "collector refused: HTTP 502",
        ),
    ],
)
async def test_each_refusal_is_a_typed_failure_with_its_status_line(
    collector: SSEServer, answer: Status, failure: AnalysisFailure, text: str
):
    collector.play(answer)
    result = await fetch(collector.url)
    assert result == FetchResult(failure=failure)
    assert failure_text(result.failure, collector.url) == text


async def test_a_200_that_is_not_an_analysis_is_undecodable(collector: SSEServer):
    collector.play(Status(200, '{"view": 3}', JSON))
    result = await fetch(collector.url)
    assert result.analysis is None
    assert result.failure is not None and result.failure.kind == "undecodable"
    assert failure_text(result.failure, collector.url).startswith("undecodable answer: Expected `str`")


async def test_no_answer_is_unreachable_naming_the_url_and_the_error():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    result = await fetch(url)
    assert result == FetchResult(failure=AnalysisFailure("unreachable", REFUSED))
    assert failure_text(result.failure, url) == f"cannot reach {url}: {REFUSED}"


def test_failure_text_makes_collector_text_safe_and_short():
    hostile = "\x1b]0;title\x07\x1b[31m" + "x" * 300
    for kind in ("unreachable", "refused", "undecodable"):
        text = failure_text(AnalysisFailure(kind, hostile), "http://h/" + "p" * 100)
        assert "\x1b" not in text and "\x07" not in text
        assert len(text) < 250
    assert failure_text(None, "http://127.0.0.1:8787") == "unexpected answer"
