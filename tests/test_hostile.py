"""Hostile input over real HTTP: every attack gets a precise 4xx or a bounded outcome, and the
collector keeps answering other clients while it happens.

The in-process decoders already have property tests (tests/test_ingest.py, tests/test_otlp.py);
this file attacks the running server: a corpus of nasty bodies with a health probe measuring
latency alongside, slow-drip bodies, a million distinct agent ids, and hypothesis over request
bodies, query parameters and ``Last-Event-ID``.
"""

from __future__ import annotations

import gzip
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentwatch.protocol import (
    MAX_AGENT_ID_LENGTH,
    PATH_AGENTS,
    PATH_DASHBOARD_STREAM,
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_LOGS_STREAM,
    PATH_OTLP_LOGS,
    PATH_OTLP_TRACES,
    PATH_SNAPSHOT,
    IngestResponse,
)
from tests.helpers import RunningCollector

JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}
PROTOBUF = {"content-type": "application/x-protobuf"}
#: Seconds a health request may take before it counts as a failure: a stalled server, not a slow one.
PROBE_TIMEOUT_S = 10.0


# ------------------------------------------------------------------ health probe


@dataclass
class Probe:
    """Latencies (seconds) of ``/healthz`` requests sent back to back from another thread."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    def p99(self) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98]


@contextmanager
def health_probe(collector: RunningCollector, max_requests: int = 20_000) -> Iterator[Probe]:
    """Probe ``/healthz`` continuously (new connection every 50 requests) while the body runs."""
    probe = Probe()
    stop = threading.Event()

    def run() -> None:
        client: httpx.Client | None = None
        for i in range(max_requests):
            if stop.is_set():
                break
            if i % 50 == 0:
                if client is not None:
                    client.close()
                client = httpx.Client(timeout=PROBE_TIMEOUT_S, headers=collector.headers())
            assert client is not None
            started = time.perf_counter()
            try:
                ok = client.get(collector.url + PATH_HEALTH).status_code == 200
            except httpx.HTTPError:
                ok = False
            probe.latencies.append(time.perf_counter() - started)
            if not ok:
                probe.failures += 1
            stop.wait(0.005)
        if client is not None:
            client.close()

    thread = threading.Thread(target=run, name="health-probe", daemon=True)
    thread.start()
    try:
        yield probe
    finally:
        stop.set()
        thread.join(timeout=15)


def assert_responsive(probe: Probe) -> None:
    """Health kept answering during the attack: every request got 200 within the probe's timeout.
    (How fast is a measurement, not a check: the latencies are in the failure message.)"""
    assert len(probe.latencies) >= 20, "the probe barely ran"
    assert probe.failures == 0, f"{probe.failures} failed; health p99 {probe.p99() * 1000:.0f} ms"


# ------------------------------------------------------------------------ corpus


def nested(depth: int) -> bytes:
    return b'{"agent_id":"a","attributes":' + b'{"k":' * depth + b"1" + b"}" * (depth + 1)


@dataclass
class Attack:
    name: str
    body: bytes
    headers: dict[str, str]
    status: int
    #: A word the error message must contain (4xx), or a check on the IngestResponse (2xx).
    says: str | Callable[[IngestResponse], bool] = ""
    path: str = PATH_EVENTS


#: 64 MB of zeros (16 × the default body limit) in about 64 KB.
BOMB = gzip.compress(bytes(64 * 1024 * 1024), 1)

CORPUS = [
    Attack("deeply nested array", b"[" * 100_000 + b"]" * 100_000, JSON, 400, "nested too deeply"),
    Attack("deeply nested attributes", nested(50_000), JSON, 400, "nested too deeply"),
    Attack(
        "huge integer",
        b'{"agent_id":"a","tokens_input":' + b"9" * 5000 + b"}",
        JSON,
        202,
        lambda r: r.accepted == 0 and "tokens_input" in r.rejected[0].error,
    ),
    Attack(
        "huge float",
        b'{"agent_id":"a","latency_ms":1e400}',
        JSON,
        202,
        lambda r: r.accepted == 0 and "latency_ms" in r.rejected[0].error,
    ),
    # Not JSON, but Python's json.dumps writes them: the item is refused, not the batch.
    Attack(
        "NaN literal",
        b'[{"agent_id":"a","latency_ms":NaN},{"agent_id":"b"}]',
        JSON,
        202,
        lambda r: r.accepted == 1 and r.rejected[0].index == 0 and "NaN" in r.rejected[0].error,
    ),
    Attack(
        "Infinity literal",
        b'{"agent_id":"a","latency_ms":-Infinity}',
        JSON,
        202,
        lambda r: r.accepted == 0 and r.rejected[0].error.startswith("latency_ms: -Infinity"),
    ),
    Attack(
        "cost that breaks totals",
        b'{"agent_id":"a","cost_usd":1e308}',
        JSON,
        202,
        lambda r: r.accepted == 0 and r.rejected[0].error.startswith("cost_usd"),
    ),
    Attack("invalid UTF-8", b'{"agent_id":"\xff\xfe"}', JSON, 400, "UTF-8"),
    Attack(
        "invalid UTF-8 in NDJSON line 2",
        b'{"agent_id":"a"}\n{"agent_id":"\xc3\x28"}\n',
        NDJSON,
        400,
        "line 2",
    ),
    Attack("lone surrogate escape", b'{"agent_id":"\\ud800"}', JSON, 400, "invalid JSON"),
    Attack(
        "1 MB message",
        msgspec.json.encode({"agent_id": "a", "message": "x" * 1_000_000}),
        JSON,
        202,
        lambda r: r.accepted == 0 and "message" in r.rejected[0].error,
    ),
    Attack(
        "1 MB agent id",
        msgspec.json.encode({"agent_id": "a" * 1_000_000}),
        JSON,
        202,
        lambda r: r.accepted == 0 and "agent_id" in r.rejected[0].error,
    ),
    Attack(
        "1 MB attribute key",
        msgspec.json.encode({"agent_id": "a", "attributes": {"k" * 1_000_000: 1}}),
        JSON,
        202,
        lambda r: r.accepted == 0,
    ),
    Attack(
        "100 000 events",
        msgspec.json.encode([{"agent_id": "a"}] * 100_000),
        JSON,
        202,
        lambda r: r.accepted == 100_000,
    ),
    Attack(
        "100 000 non-objects",
        msgspec.json.encode(list(range(100_000))),
        JSON,
        202,
        lambda r: r.accepted == 0 and len(r.rejected) == 100_000,
    ),
    Attack("body over the limit", b"[" + b'{"agent_id":"a"},' * 300_000 + b"{}]", JSON, 413, "too large"),
    Attack("gzip bomb (64 MB of zeros)", BOMB, {**JSON, "content-encoding": "gzip"}, 413, "limit"),
    Attack(
        "gzip bomb inside gzip",
        gzip.compress(BOMB, 9),
        {**JSON, "content-encoding": "gzip, gzip"},
        413,
        "limit",
    ),
    Attack("corrupt gzip", b"\x1f\x8b" + b"x" * 100, {**JSON, "content-encoding": "gzip"}, 400, "gzip"),
    Attack("unknown encoding", b"{}", {**JSON, "content-encoding": "br"}, 415, "Content-Encoding"),
    Attack("empty body", b"", JSON, 400, "empty body"),
    Attack("OTLP protobuf garbage", b"\x0a\xff\xff\xff\xff\x0f", PROTOBUF, 400, "", PATH_OTLP_TRACES),
    Attack(
        "OTLP JSON nested arrays",
        b'{"resourceLogs":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        JSON,
        400,
        "",
        PATH_OTLP_LOGS,
    ),
    Attack("OTLP gzip bomb", BOMB, {**PROTOBUF, "content-encoding": "gzip"}, 413, "", PATH_OTLP_TRACES),
]


def send(collector: RunningCollector, attack: Attack) -> httpx.Response:
    with httpx.Client(timeout=30, headers=collector.headers()) as client:
        return client.post(collector.url + attack.path, content=attack.body, headers=attack.headers)


def test_attack_corpus_gets_precise_answers_while_health_keeps_answering(collector: RunningCollector) -> None:
    with health_probe(collector) as probe:
        for attack in CORPUS:
            response = send(collector, attack)
            assert response.status_code == attack.status, (
                attack.name,
                response.status_code,
                response.text[:200],
            )
            # Bounded outcome: an answer is never much larger than the body that caused it.
            assert len(response.content) <= 16 * max(len(attack.body), 1024), attack.name
            if attack.status >= 400 and attack.path == PATH_EVENTS:
                error = response.json()["error"]
                assert isinstance(error, str) and error
                assert attack.says in error, (attack.name, error)
            elif callable(attack.says):
                answer = msgspec.json.decode(response.content, type=IngestResponse)
                assert attack.says(answer), (attack.name, response.text[:200])
    assert_responsive(probe)
    assert httpx.get(collector.url + PATH_HEALTH).status_code == 200


# ---------------------------------------------------------------------- slowloris


def drip(url: str, head: bytes, deadline: float, every: float = 0.05) -> tuple[bytes, float]:
    """Send ``head``, then one body byte every ``every`` s until an answer arrives or ``deadline``.

    Returns (first bytes of the answer, seconds from the end of the headers to the answer).
    """
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head)
        started = time.monotonic()
        sock.settimeout(every)
        while time.monotonic() < deadline:
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                try:
                    sock.sendall(b"[")
                except OSError:  # the server closed its side: read what it said
                    sock.settimeout(1)
                    return read_rest(sock, sock.recv(4096)), time.monotonic() - started
                continue
            return read_rest(sock, answer), time.monotonic() - started
    raise AssertionError("the slow body was never answered")


def read_rest(sock: socket.socket, answer: bytes) -> bytes:
    """Read until the JSON body of the answer is complete, the peer closes, or 2 s pass."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + 2
    while not answer.endswith(b"}") and time.monotonic() < deadline:
        try:
            more = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not more:
            break
        answer += more
    return answer


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 100000\r\n", b"Transfer-Encoding: chunked\r\n"],
    ids=["content-length", "chunked"],
)
def test_slow_drip_body_gets_408_within_the_body_timeout_while_others_are_served(
    start_collector: Any, framing: bytes
) -> None:
    body_timeout = 1.0
    slow = start_collector(body_timeout=body_timeout)
    host = slow.url.removeprefix("http://")
    head = b"POST " + PATH_EVENTS.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
    head += b"Content-Type: application/json\r\n" + framing + b"\r\n"
    if b"chunked" in framing:
        head += b"100000\r\n"  # one huge chunk, then a byte at a time
    with health_probe(slow) as probe:
        answers = []
        threads = [
            threading.Thread(target=lambda: answers.append(drip(slow.url, head, time.monotonic() + 10)))
            for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
        assert slow.post({"agent_id": "patient", "message": "served"}).status_code == 202
    assert len(answers) == 5
    for answer, elapsed in answers:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
        assert b"body not received in time" in answer
        assert elapsed >= body_timeout * 0.9  # not cut before its timeout; drip() fails if never cut
    assert_responsive(probe)


def test_clients_dripping_headers_do_not_starve_other_clients(start_collector: Any) -> None:
    """uvicorn has no time limit on receiving headers, so such a connection stays open until the
    client goes; what must hold is that 50 of them cost other clients nothing."""
    slow = start_collector()
    host, port = slow.url.removeprefix("http://").split(":")
    sockets = [socket.create_connection((host, int(port)), timeout=5) for _ in range(50)]
    try:
        with health_probe(slow) as probe:
            for step in range(40):
                for sock in sockets:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\n" if step == 0 else b"X-Drip: y\r\n")
                time.sleep(0.05)  # the drip's pace is the attack, not a wait for something
            assert slow.post({"agent_id": "patient", "message": "served"}).status_code == 202
        assert_responsive(probe)
    finally:
        for sock in sockets:
            sock.close()


# ------------------------------------------------------------- agent cardinality


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_million_distinct_agent_ids_hold_the_cap_and_bounded_memory(start_collector: Any) -> None:
    """1 000 000 events, each from a new agent, in 20 batches over HTTP (≈ 10 s on 2 cores)."""
    cap = 2_000
    fleet = start_collector(max_agents=cap, log_history=10_000)
    encoder = msgspec.json.Encoder()
    batch = 50_000
    rss_start = rss_bytes()
    rss_after_first_fifth = 0
    with httpx.Client(timeout=60) as client:
        for start in range(0, 1_000_000, batch):
            body = encoder.encode([{"agent_id": f"a{i}"} for i in range(start, start + batch)])
            response = client.post(fleet.url + PATH_EVENTS, content=body, headers=JSON)
            assert response.status_code == 202
            assert response.json()["accepted"] == batch
            if start + batch == 200_000:
                rss_after_first_fifth = rss_bytes()
        snapshot = client.get(fleet.url + PATH_SNAPSHOT).json()
        agents = client.get(fleet.url + PATH_AGENTS).json()
        health = client.get(fleet.url + PATH_HEALTH).json()
    window = fleet.service.window
    assert len(window.agent_ids()) <= cap
    assert len(agents) <= cap and health["agents"] <= cap
    assert window.agents_dropped == 1_000_000 - cap
    assert snapshot["agents_dropped"] == 1_000_000 - cap
    assert snapshot["events"] == 1_000_000  # the fleet still counts every event
    # Memory: the last 800 000 agents cost (almost) nothing more than the first 200 000.
    growth_late = rss_bytes() - rss_after_first_fifth
    assert growth_late < 64 * 1024 * 1024, f"RSS grew {growth_late / 2**20:.0f} MiB after the cap held"
    assert rss_bytes() - rss_start < 400 * 1024 * 1024


# ------------------------------------------------------------ hypothesis over HTTP

QUERY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40) | st.sampled_from(
    [
        "",
        "0",
        "-1",
        "1e3",
        "99999999999999999999",
        "+5",
        " 7",
        "٣",
        "debug",
        "WARN",
        "a" * (MAX_AGENT_ID_LENGTH + 1),
    ]
)
# Header values as a client can send them (no leading or trailing blanks: HTTP strips them).
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
).map(lambda text: text.strip(" \t"))


def stream_status(client: httpx.Client, url: str, **kwargs: Any) -> int:
    with client.stream("GET", url, **kwargs) as response:
        return response.status_code


def test_query_parameters_and_last_event_id_are_200_or_400_never_500(collector: RunningCollector) -> None:
    with httpx.Client(timeout=10) as client:
        collector.post([{"agent_id": f"q{i}", "message": "x"} for i in range(5)])

        @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            path=st.sampled_from([PATH_LOGS_STREAM, PATH_DASHBOARD_STREAM, PATH_SNAPSHOT, PATH_AGENTS]),
            params=st.dictionaries(
                st.sampled_from(["agent", "level", "after", "x", "agent[]"]), QUERY_TEXT, max_size=4
            ),
            last_event_id=st.none() | HEADER_TEXT,
        )
        def check(path: str, params: dict[str, str], last_event_id: str | None) -> None:
            headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id.encode("latin-1")}
            status = stream_status(client, collector.url + path, params=params, headers=headers)
            assert status in (200, 400), (path, params, last_event_id, status)

        check()

        raw_queries = [
            "agent=%ff%fe",
            "level=%00",
            "after=%F0%9F%92%A9",
            "agent=" + "%41" * 500,
            "&&&=&=",
            "after",
        ]
        for query in raw_queries:
            status = stream_status(client, f"{collector.url}{PATH_LOGS_STREAM}?{query}")
            assert status in (200, 400), (query, status)
    assert httpx.get(collector.url + PATH_HEALTH).status_code == 200


JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
EVENT_KEYS = st.sampled_from(
    [
        "agent_id",
        "span_type",
        "tokens_input",
        "latency_ms",
        "message",
        "timestamp",
        "attributes",
        "level",
        "event_type",
        "payload",
        "resourceSpans",
        "resourceLogs",
    ]
)
EVENT_LIKE = st.dictionaries(EVENT_KEYS, JSON_VALUE, max_size=6)


def body_strategy() -> st.SearchStrategy[bytes]:
    structured = (EVENT_LIKE | st.lists(EVENT_LIKE, max_size=4) | JSON_VALUE).map(
        lambda value: msgspec.json.encode(value, enc_hook=str) if _encodable(value) else b"{}"
    )
    ndjson = st.lists(EVENT_LIKE, max_size=4).map(
        lambda items: b"\n".join(msgspec.json.encode(item) for item in items if _encodable(item))
    )
    return structured | ndjson | st.binary(max_size=200)


def _encodable(value: Any) -> bool:
    try:
        msgspec.json.encode(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def test_any_body_on_any_ingest_route_is_answered_without_a_server_error(collector: RunningCollector) -> None:
    with httpx.Client(timeout=10) as client:

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            path=st.sampled_from([PATH_EVENTS, PATH_OTLP_TRACES, PATH_OTLP_LOGS]),
            body=body_strategy(),
            content_type=st.sampled_from(
                [
                    "application/json",
                    "application/x-ndjson",
                    "application/x-protobuf",
                    "text/plain",
                    "",
                    "json;;=",
                ]
            ),
            gzipped=st.booleans(),
        )
        def check(path: str, body: bytes, content_type: str, gzipped: bool) -> None:
            headers = {"content-type": content_type}
            if gzipped:
                body = gzip.compress(body)
                headers["content-encoding"] = "gzip"
            response = client.post(collector.url + path, content=body, headers=headers)
            assert response.status_code in (200, 202, 400, 413, 415), (path, body[:80], response.text[:200])

        check()
    assert httpx.get(collector.url + PATH_HEALTH).status_code == 200


# ------------------------------------------------------- structured OTLP protobuf


def any_value(draw: st.DrawFn, depth: int = 0) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    value = AnyValue()
    kind = draw(st.sampled_from(["s", "i", "d", "b", "bytes", "array", "kv"] if depth < 12 else ["s", "i"]))
    if kind == "s":
        value.string_value = draw(st.text(max_size=30))
    elif kind == "i":
        value.int_value = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    elif kind == "d":
        value.double_value = draw(st.floats())
    elif kind == "b":
        value.bool_value = draw(st.booleans())
    elif kind == "bytes":
        value.bytes_value = draw(st.binary(max_size=20))
    elif kind == "array":
        for _ in range(draw(st.integers(0, 3))):
            value.array_value.values.append(any_value(draw, depth + 1))
    else:
        for _ in range(draw(st.integers(0, 3))):
            entry = value.kvlist_value.values.add()
            entry.key = draw(st.text(max_size=10))
            entry.value.CopyFrom(any_value(draw, depth + 1))
    return value


GENAI_KEYS = [
    "gen_ai.agent.id",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.tool.name",
    "service.name",
    "error.type",
    "agentwatch.cost_usd",
    "agentwatch.confidence",
]


@st.composite
def otlp_protobuf(draw: st.DrawFn) -> tuple[str, bytes]:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    times = st.integers(min_value=0, max_value=2**64 - 1)
    keys = st.sampled_from(GENAI_KEYS) | st.text(max_size=12)
    if draw(st.booleans()):
        request = ExportTraceServiceRequest()
        resource = request.resource_spans.add()
        for _ in range(draw(st.integers(0, 3))):
            attribute = resource.resource.attributes.add()
            attribute.key = draw(keys)
            attribute.value.CopyFrom(any_value(draw))
        scope = resource.scope_spans.add()
        for _ in range(draw(st.integers(0, 3))):
            span = scope.spans.add()
            span.trace_id = draw(st.binary(max_size=20))
            span.span_id = draw(st.binary(max_size=10))
            span.name = draw(st.text(max_size=30))
            span.start_time_unix_nano = draw(times)
            span.end_time_unix_nano = draw(times)
            span.status.code = draw(st.integers(0, 2))
            span.status.message = draw(st.text(max_size=30))
            for _ in range(draw(st.integers(0, 4))):
                attribute = span.attributes.add()
                attribute.key = draw(keys)
                attribute.value.CopyFrom(any_value(draw))
        return PATH_OTLP_TRACES, request.SerializeToString()
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for _ in range(draw(st.integers(0, 3))):
        record = scope.log_records.add()
        record.time_unix_nano = draw(times)
        record.severity_number = draw(st.integers(0, 24))
        record.severity_text = draw(st.text(max_size=10))
        record.body.CopyFrom(any_value(draw))
        for _ in range(draw(st.integers(0, 3))):
            attribute = record.attributes.add()
            attribute.key = draw(keys)
            attribute.value.CopyFrom(any_value(draw))
    return PATH_OTLP_LOGS, request.SerializeToString()


def test_structured_otlp_protobuf_with_any_values_is_never_a_server_error(
    collector: RunningCollector,
) -> None:
    with httpx.Client(timeout=10) as client:

        @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(otlp_protobuf())
        def check(case: tuple[str, bytes]) -> None:
            path, body = case
            response = client.post(collector.url + path, content=body, headers=PROTOBUF)
            assert response.status_code in (200, 400), (path, response.status_code, response.content[:200])
            assert response.headers["content-type"].startswith("application/x-protobuf")

        check()
    assert httpx.get(collector.url + PATH_HEALTH).status_code == 200
