"""HTTP routes of the collector: Starlette on top of :class:`~agentwatch.collector.service.Collector`.

This is the only collector module that knows about HTTP. Its job is the edge: read bodies
within limits, check the token, validate query parameters and headers, and turn every
problem into a precise 4xx with a JSON ``{"error": ..., "detail": ...}`` body.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import urlencode

import anyio
import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from agentwatch.collector import analysis, contentcoding, ingest, otlp, sketchapi
from agentwatch.collector.alertacks import snooze_seconds, viewer_name
from agentwatch.collector.history import BadParameter, History, parse_log_query, parse_trace_id
from agentwatch.collector.httplimits import ConnectionCounts
from agentwatch.collector.loghub import parse_event_id
from agentwatch.collector.metricingest import MetricIngestExporter
from agentwatch.collector.receipts import KeyReused, body_digest, valid_key
from agentwatch.collector.service import Collector, Settings
from agentwatch.collector.sse import bound_stream, current_transport
from agentwatch.collector.store import StoreError
from agentwatch.collector.streamgzip import accepts_gzip
from agentwatch.collector.totals import TotalsExporter
from agentwatch.protocol import (
    ALERT_ACK,
    ALERT_RESOLVED,
    ALERT_SNOOZE,
    ANALYSIS_VIEWS,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_TOTAL_COUNT,
    HOOK_PROGRAMS,
    LEVELS,
    MAX_AGENT_ID_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    PARAM_DELTA,
    PATH_AGENTS,
    PATH_ALERTS,
    PATH_ANALYSIS,
    PATH_DASHBOARD_STREAM,
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_HOOKS,
    PATH_LOGS,
    PATH_LOGS_STREAM,
    PATH_METRICS,
    PATH_OTLP_LOGS,
    PATH_OTLP_METRICS,
    PATH_OTLP_TRACES,
    PATH_SESSIONS,
    PATH_SNAPSHOT,
    PATH_TRACES,
    RULE_LATENCY_REGRESSION,
    VIEW_COSTS,
    VIEW_DECISIONS,
    VIEW_LATENCY,
    Alert,
    AlertAction,
    AlertsResponse,
    ErrorResponse,
    IngestResponse,
    parse_level,
)
from agentwatch.sketchwire import PARAM_AGENTS, PARAM_SINCE, PATH_SKETCH

log = logging.getLogger("agentwatch.collector")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
#: A metrics stream sent gzipped (the viewer's Accept-Encoding took gzip).
GZIP_STREAM = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
#: Sent with a 413: the server then closes the connection instead of reading the rest of the body.
CLOSE = {"Connection": "close"}
#: A large batch is aggregated this many events at a time, yielding to the event loop between
#: steps, so health checks and streams are served while it goes in.
INGEST_STEP = 1000
#: Largest body per accepted event the log ring keeps as the body (larger ones' events are packed).
REDO_BYTES_PER_EVENT = 1024
#: Worker threads inflating large or expensive gzip bodies at once; more wait their turn.
DECODE_THREADS = 2
#: Agent rows in one answer of ``/api/agents`` or ``/api/snapshot`` at most (and by default).
MAX_PAGE_AGENTS = 1000
#: Bytes of an acknowledge or snooze request's body at most.
MAX_ACTION_BODY = 4096
#: A ``/metrics`` scrape within this many seconds of the last render gets that text again, so
#: scraping in a loop costs one render a second.
SCRAPE_REUSE_SECONDS = 1.0
_encode = msgspec.json.Encoder().encode
#: An alert's acknowledgement or snooze: set (POST), undone (DELETE).
ACTIONS = ["POST", "DELETE"]


class HTTPProblem(Exception):
    """A client error to answer with ``status`` and a JSON body naming what is wrong."""

    def __init__(
        self, status: int, error: str, detail: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(payload), status_code=status, media_type="application/json", headers=headers)


def problem_response(problem: HTTPProblem) -> Response:
    return json_response(ErrorResponse(problem.error, problem.detail), problem.status, problem.headers)


Handler = Callable[[Request], Awaitable[Response]]


def create_app(settings: Settings | None = None, collector: Collector | None = None) -> Starlette:
    """Build the ASGI app. The collector starts and stops with the app's lifespan."""
    collector = collector or Collector(settings)
    settings = collector.settings
    token = settings.token.encode() if settings.token else None
    decode_threads = anyio.CapacityLimiter(DECODE_THREADS)
    history = History(collector)  # /api/traces and /api/logs
    scrape_turn = anyio.Lock()  # one /metrics copy and render at a time: memory stays bounded
    last_scrape = (-SCRAPE_REUSE_SECONDS, b"")  # (time.monotonic() of the render, text)

    def guarded(handler: Handler) -> Handler:
        """Token check and error mapping, shared by every route."""

        async def endpoint(request: Request) -> Response:
            try:
                if token is not None:
                    check_token(request, token)
                return await handler(request)
            except HTTPProblem as problem:
                return problem_response(problem)
            except ClientDisconnect:
                return Response(status_code=499)

        return endpoint

    async def read_body(request: Request) -> bytes:
        """The request body, inflated, refused as soon as it passes ``max_body``."""
        limit = settings.max_body
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise HTTPProblem(400, "invalid Content-Length header")
            if int(declared) > limit:
                raise HTTPProblem(413, "body too large", f"the limit is {limit} bytes", headers=CLOSE)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(settings.body_timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise HTTPProblem(413, "body too large", f"the limit is {limit} bytes", headers=CLOSE)
                    chunks.append(chunk)
        except TimeoutError:
            raise HTTPProblem(
                408, "body not received in time", f"send the body within {settings.body_timeout:g} s"
            ) from None
        body = b"".join(chunks)
        encoding = request.headers.get("content-encoding")
        try:
            decoded = contentcoding.decode_content_cheaply(body, encoding, limit=limit)
            if decoded is None:  # large or expensive: inflated in a worker thread
                decode = partial(contentcoding.decode_content, body, encoding, limit=limit)
                decoded = await anyio.to_thread.run_sync(decode, limiter=decode_threads)
            return decoded
        except ingest.IngestError as exc:
            raise HTTPProblem(exc.status, exc.message) from None

    async def post_events(request: Request) -> Response:
        """Ingest a batch; a batch resent with an ``Idempotency-Key`` already answered gets that answer."""
        key = request.headers.get(HEADER_IDEMPOTENCY_KEY)
        if key is not None and not valid_key(key):
            limit = MAX_IDEMPOTENCY_KEY_LENGTH
            raise HTTPProblem(
                400, f"{HEADER_IDEMPOTENCY_KEY}: must be 1 to {limit} printable ASCII characters"
            )
        body = await read_body(request)
        if key is None:
            return await ingest_events(request, body, None)
        digest = body_digest(body)
        try:
            earlier = await collector.receipts.claim(key, digest)
        except KeyReused as exc:
            raise HTTPProblem(
                422, str(exc), "send each batch with a key of its own; a key is remembered 15 minutes"
            ) from None
        if earlier is not None:
            return Response(earlier, status_code=202, media_type="application/json")
        try:
            return await ingest_events(request, body, (key, digest))
        finally:
            collector.receipts.release(key)

    async def ingest_events(request: Request, body: bytes, key: tuple[str, bytes] | None) -> Response:
        """Decode, ingest and answer one batch; ``key``: its idempotency key and body digest."""
        content_type = request.headers.get("content-type")
        now = collector.clock()
        try:
            if len(body) >= ingest.OFFLOAD_DECODE_BYTES:
                events, starts, rejected = await asyncio.to_thread(
                    ingest.decode_batch, body, content_type, now=now
                )
            else:
                events, starts, rejected = ingest.decode_batch(body, content_type, now=now)
        except ingest.IngestError as exc:
            raise HTTPProblem(exc.status, exc.message) from None
        if starts:
            collector.open_steps(starts)
        answer = _encode(IngestResponse(accepted=len(events) + len(starts), rejected=rejected))
        receipt = None if key is None else (key[0], collector.clock(), answer, key[1])
        if settings.sync:  # one commit for the whole batch, then it is counted and shown
            try:
                await collector.ingest_durable(events, receipt, step=INGEST_STEP)
            except StoreError as exc:
                raise HTTPProblem(
                    503,
                    "store cannot write: the events are not durable (--sync)",
                    str(exc),
                    headers={"Retry-After": "5"},
                ) from None
        else:
            # The log ring keeps a batch of one step as its body (decoded again when read), not as
            # events it must pack or free long after: decoding is a function of (body, type, now).
            redo = None
            if len(events) <= INGEST_STEP and len(body) <= REDO_BYTES_PER_EVENT * len(events):
                redo = partial(ingest.events_again, body, content_type, now)
            for start in range(0, max(len(events), 1), INGEST_STEP):
                if start:
                    await asyncio.sleep(0)
                step = events[start : start + INGEST_STEP] if len(events) > INGEST_STEP else events
                last = start + INGEST_STEP >= len(events)
                collector.ingest(step, receipt if last else None, redo)  # the receipt goes with the last rows
        if key is not None:
            collector.receipts.add(key[0], answer, digest=key[1])
        return Response(answer, status_code=202, media_type="application/json")

    def otlp_route(decode: Callable[[bytes, str | None], otlp.OtlpResult]) -> Handler:
        async def post_otlp(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            try:
                body = await read_body(request)
                if len(body) >= ingest.OFFLOAD_DECODE_BYTES:
                    result = await asyncio.to_thread(decode, body, content_type)
                else:
                    result = decode(body, content_type)
            except HTTPProblem as problem:
                payload, media = otlp.error_response(problem.status, problem.error, content_type)
                return Response(payload, problem.status, media_type=media, headers=problem.headers)
            except otlp.OtlpError as exc:
                payload, media = otlp.error_response(exc.status, exc.message, content_type)
                return Response(payload, exc.status, media_type=media)
            if result.signal == otlp.SIGNAL_METRICS:
                collector.ingest_metrics(result.points, result.rejected)
            else:
                collector.ingest(result.events)
                collector.ignore_otlp_items(result.ignored)
            payload, media = otlp.success_response(result, content_type)
            return Response(payload, 200, media_type=media)

        return post_otlp

    async def dashboard_stream(request: Request) -> Response:
        refuse_when_stopping(request)
        agent = agent_param(request)
        delta = delta_param(request)
        gzip = accepts_gzip(request.headers.get("accept-encoding"))
        subscription = collector.subscribe_metrics(agent, delta=delta, gzip=gzip)
        writable = bound_stream(current_transport())  # a slow viewer skips snapshots, never queues them

        async def frames() -> AsyncIterator[bytes]:
            try:
                async for frame in subscription.frames(settings.heartbeat_seconds, writable=writable):
                    yield frame
            finally:
                subscription.close()

        return stream_response(frames(), GZIP_STREAM if gzip else None)

    async def logs_stream(request: Request) -> Response:
        refuse_when_stopping(request)
        agent = agent_param(request)
        level = level_param(request)
        sequence, after = resume_param(request)
        subscription = collector.logs.subscribe(
            agent=agent, min_level=level, after=after, sequence=sequence, hello=True
        )
        writable = bound_stream(current_transport())  # a slow viewer is told it fell behind, soon
        return stream_response(subscription.frames(settings.heartbeat_seconds, writable=writable))

    async def snapshot(request: Request) -> Response:
        """The fleet's snapshot with one page of agent rows (one agent's with its row for ``?agent=``)."""
        agent = agent_param(request)
        offset, limit = page_params(request)
        if agent is not None:
            answer = collector.snapshot(agent)
            return json_response(answer, headers={HEADER_TOTAL_COUNT: str(len(answer.agents))})
        answer = collector.snapshot(offset=offset, limit=limit)
        return json_response(answer, headers=page_headers(request, offset, limit))

    async def agents(request: Request) -> Response:
        """One page of the agent rows, sorted by agent id."""
        offset, limit = page_params(request)
        rows = collector.snapshot(offset=offset, limit=limit).agents
        return json_response(rows, headers=page_headers(request, offset, limit))

    def page_headers(request: Request, offset: int, limit: int) -> dict[str, str]:
        """How many rows there are in all, and a ``Link`` to the next page when there is one."""
        total = collector.window.agent_count()
        headers = {HEADER_TOTAL_COUNT: str(total)}
        if limit and offset + limit < total:
            query = urlencode({"offset": offset + limit, "limit": limit})
            headers["Link"] = f'<{request.url.path}?{query}>; rel="next"'
        return headers

    async def sketch(request: Request) -> Response:
        """The window's latency sketch in its mergeable form (:mod:`agentwatch.sketchwire`): the fleet's
        (``?agent=``: that agent's), and one page of agents' with ``?agents=1``."""
        agent = agent_param(request)
        with_agents = flag_param(request, PARAM_AGENTS)
        offset, limit = page_params(request)
        try:
            since = sketchapi.since_param(request.query_params.get(PARAM_SINCE))
        except ValueError as exc:
            raise HTTPProblem(400, str(exc)) from None
        answer = sketchapi.sketch_response(
            collector.window,
            now=collector.clock(),
            agent=agent,
            with_agents=with_agents,
            offset=offset,
            limit=limit,
            since=since,
        )
        return json_response(answer)

    async def alerts(request: Request) -> Response:
        acks = collector.acks
        return json_response(
            AlertsResponse(
                firing=collector.firing_alerts(),
                history=acks.mark(collector.alerts.recent()),
                marks_dropped=acks.dropped,
            )
        )

    async def alert_action(request: Request) -> Response:
        """Acknowledge or snooze an alert (``POST``, see :mod:`~agentwatch.collector.alertacks`), or
        undo it (``DELETE``); answers the alert as every viewer now sees it."""
        alert_id = request.path_params["alert_id"]
        kind = ALERT_ACK if request.url.path.endswith("/" + ALERT_ACK) else ALERT_SNOOZE
        shown = repr(alert_id[:200])
        firing = collector.find_firing(alert_id)
        known = firing or next((a for a in collector.alerts.recent() if a.id == alert_id), None)
        acks = collector.acks
        if request.method == "DELETE":
            if not (acks.unack(alert_id) if kind == ALERT_ACK else acks.unsnooze(alert_id)):
                what = "acknowledged" if kind == ALERT_ACK else "snoozed"
                raise HTTPProblem(404, f"alert {shown} is not {what}")
        else:
            if known is None or (kind == ALERT_ACK and firing is None):
                raise HTTPProblem(
                    404,
                    f"no {'firing ' if kind == ALERT_ACK else ''}alert {shown}",
                    "an alert is acknowledged while it fires, snoozed once it has fired (GET /api/alerts)",
                )
            body = await read_body(request)
            if len(body) > MAX_ACTION_BODY:
                raise HTTPProblem(413, "body too large", f"the limit is {MAX_ACTION_BODY} bytes")
            try:
                asked = msgspec.json.decode(body or b"{}", type=AlertAction)
                by = viewer_name(asked.by)
                if kind == ALERT_ACK:
                    acks.ack(alert_id, by)
                else:
                    acks.snooze(alert_id, by, snooze_seconds(asked.for_s))
            except (msgspec.DecodeError, ValueError) as exc:
                raise HTTPProblem(400, str(exc).split("\n")[0][:200]) from None
        await collector.save_acks()
        rule, _, scope = alert_id.partition(":")
        return json_response(acks.mark([known or Alert(alert_id, rule, scope, ALERT_RESOLVED)])[0])

    async def analysis_route(request: Request) -> Response:
        view = request.query_params.get("view", "")
        if view not in ANALYSIS_VIEWS:
            raise HTTPProblem(400, "view: unknown analysis view", f"one of {', '.join(ANALYSIS_VIEWS)}")
        agent = agent_param(request)
        attribute = request.query_params.get("attribute") or None
        if attribute is not None and (len(attribute) > 128 or not attribute.isprintable()):
            raise HTTPProblem(400, "attribute: must be a printable key of at most 128 characters")
        ledger, now = collector.ledger, collector.clock()
        if view == VIEW_COSTS:
            result = analysis.costs_view(ledger, now, agent)
        elif view == VIEW_DECISIONS:
            result = analysis.decisions_view(ledger, now, agent, hold=settings.alerts.new_decision_hold)
        elif view == VIEW_LATENCY:
            result = analysis.latency_view(
                ledger,
                now,
                lambda scope: collector.alerts.baseline_of(RULE_LATENCY_REGRESSION, scope),
                agent,
                seconds=settings.alerts.latency_window,
            )
        else:
            result = analysis.failures_view(ledger, now, agent, attribute)
        return json_response(result)

    async def post_hook(request: Request) -> Response:
        """A coding agent's hook, as its program sends it: answered at once with ``{}`` (a hook's
        answer may steer its program; this one never does), unknown events accepted and ignored."""
        program = request.path_params["program"]
        if program not in HOOK_PROGRAMS:
            shown = program[:40].encode("ascii", "replace").decode()
            raise HTTPProblem(404, f"unknown program {shown!r}", f"one of {', '.join(HOOK_PROGRAMS)}")
        body = await read_body(request)
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise HTTPProblem(400, "hook body is not JSON", str(exc)[:200]) from None
        except RecursionError:
            raise HTTPProblem(400, "hook body is nested too deeply") from None
        if not isinstance(payload, dict):
            raise HTTPProblem(400, "hook body must be a JSON object")
        headers = request.headers
        collector.apply_hook(
            program,
            payload,
            {"tmux_pane": headers.get("x-tmux-pane"), "host": headers.get("x-agentwatch-host")},
        )
        return Response(b"{}", 200, media_type="application/json")

    async def list_sessions(request: Request) -> Response:
        return json_response(collector.sessions.sessions())

    async def trace(request: Request) -> Response:
        """One trace's (or prompt's, turn's) events from the log ring and the store; 404 when none."""
        try:
            key = parse_trace_id(request.path_params["trace_id"])
        except BadParameter as exc:
            raise HTTPProblem(400, str(exc), exc.detail) from None
        answer = await history.trace(key)
        if not answer.spans:
            raise HTTPProblem(404, "no events of this trace, prompt or turn id", answer.incomplete)
        return json_response(answer)

    async def logs_range(request: Request) -> Response:
        """The log lines stamped in ``?from=&to=`` (unix seconds) from the log ring and the store."""
        try:
            query = parse_log_query(request.query_params, collector.clock())
        except BadParameter as exc:
            raise HTTPProblem(400, str(exc), exc.detail) from None
        body, after = await history.logs(query)
        headers = {}
        if after is not None:  # the same range (``to`` pinned) from the cursor on
            params = {**request.query_params, "from": repr(query.start), "to": repr(query.end)}
            params["after"] = str(after)
            headers["Link"] = f'<{request.url.path}?{urlencode(params)}>; rel="next"'
        return Response(body, media_type="application/json", headers=headers)

    async def health(request: Request) -> Response:
        report = collector.health()
        report.tasks = len(asyncio.all_tasks())
        connections: ConnectionCounts | None = request.app.state.connections
        if connections is not None:
            report.http_connections = connections.open
            report.http_connections_refused = connections.refused + connections.refused_unanswered
            report.http_headers_refused = connections.headers_too_large + connections.header_timeouts
        return json_response(report)

    async def metrics(request: Request) -> Response:
        """Prometheus text: the counts are copied on the event loop, ranked and rendered in a thread."""
        nonlocal last_scrape
        async with scrape_turn:
            rendered_at, body = last_scrape
            if time.monotonic() - rendered_at >= SCRAPE_REUSE_SECONDS:
                registry = metrics_registry()
                body = await anyio.to_thread.run_sync(generate_latest, registry)
                last_scrape = (time.monotonic(), body)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def metrics_registry() -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        health = collector.health()
        registry.register(
            TotalsExporter(
                collector.totals,
                agents=settings.metrics_agents,
                gauges=[
                    ("agentwatch_agents", "Agents tracked now", health.agents),
                    ("agentwatch_subscribers", "Connected viewers", health.subscribers),
                    ("agentwatch_last_log_id", "Sequence number of the newest log entry", health.last_log_id),
                    (
                        "agentwatch_agents_dropped",
                        "Events refused a per-agent row (cap)",
                        0.0 + collector.window.agents_dropped,
                    ),
                ],
            )
        )
        registry.register(MetricIngestExporter(collector.metric_points))
        return registry

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await collector.start()
        for warning in collector.warnings:
            log.warning("%s", warning)
        grpc_listener = None
        try:
            if settings.otlp_grpc_port is not None:
                from agentwatch.collector.otlp_grpc import OtlpGrpcListener  # grpcio is optional

                grpc_listener = app.state.otlp_grpc = OtlpGrpcListener(collector)
                await grpc_listener.start()
            yield
        finally:
            if grpc_listener is not None:
                await grpc_listener.stop()
            await collector.stop()

    routes = [
        Route(PATH_EVENTS, guarded(post_events), methods=["POST"]),
        Route(PATH_OTLP_TRACES, guarded(otlp_route(otlp.decode_traces)), methods=["POST"]),
        Route(PATH_OTLP_LOGS, guarded(otlp_route(otlp.decode_logs)), methods=["POST"]),
        Route(PATH_OTLP_METRICS, guarded(otlp_route(otlp.decode_metrics)), methods=["POST"]),
        Route(PATH_DASHBOARD_STREAM, guarded(dashboard_stream), methods=["GET"]),
        Route(PATH_LOGS_STREAM, guarded(logs_stream), methods=["GET"]),
        Route(PATH_SNAPSHOT, guarded(snapshot), methods=["GET"]),
        Route(PATH_AGENTS, guarded(agents), methods=["GET"]),
        Route(PATH_HEALTH, guarded(health), methods=["GET"]),
        Route(PATH_ALERTS, guarded(alerts), methods=["GET"]),
        Route(PATH_ALERTS + "/{alert_id:path}/" + ALERT_ACK, guarded(alert_action), methods=ACTIONS),
        Route(PATH_ALERTS + "/{alert_id:path}/" + ALERT_SNOOZE, guarded(alert_action), methods=ACTIONS),
        Route(PATH_SKETCH, guarded(sketch), methods=["GET"]),
        Route(PATH_ANALYSIS, guarded(analysis_route), methods=["GET"]),
        Route(PATH_METRICS, guarded(metrics), methods=["GET"]),
        Route(PATH_HOOKS + "/{program}", guarded(post_hook), methods=["POST"]),
        Route(PATH_SESSIONS, guarded(list_sessions), methods=["GET"]),
        Route(PATH_TRACES + "/{trace_id:path}", guarded(trace), methods=["GET"]),
        Route(PATH_LOGS, guarded(logs_range), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.collector = collector
    app.state.stopping = False
    app.state.connections = None  # the server's ConnectionCounts, when it bounds its connections
    return app


def stop_streams(app: Starlette) -> None:
    """The server is stopping: end every viewer's stream now and answer new ones 503.

    Streams never end by themselves, so a server waiting for its connections to close would wait
    for its whole grace period and then cancel them. Call from the event loop as a stop begins.
    """
    app.state.stopping = True
    collector: Collector = app.state.collector
    collector.logs.close_all()
    collector.metrics.close_all()


def refuse_when_stopping(request: Request) -> None:
    if request.app.state.stopping:
        raise HTTPProblem(
            503, "collector is stopping", "reconnect once it is back", headers={"Retry-After": "1", **CLOSE}
        )


def check_token(request: Request, token: bytes) -> None:
    """Constant-time bearer token check; the token itself is never logged or echoed."""
    header = request.headers.get("authorization", "")
    scheme, _, offered = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(offered.strip().encode(), token):
        raise HTTPProblem(
            401,
            "missing or wrong bearer token",
            "send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def stream_response(frames: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> StreamingResponse:
    return StreamingResponse(
        frames, media_type="text/event-stream", headers={**SSE_HEADERS, **(headers or {})}
    )


def delta_param(request: Request) -> bool:
    """``?delta=1``: the viewer takes ``metrics-delta`` frames; ``0`` or absent: whole snapshots."""
    value = request.query_params.get(PARAM_DELTA, "0")
    if value not in ("0", "1"):
        raise HTTPProblem(400, f"{PARAM_DELTA} must be 0 or 1, not {value[:20]!r}")
    return value == "1"


def flag_param(request: Request, name: str) -> bool:
    """``?name=1`` on, ``0`` or absent off; anything else is a 400."""
    value = request.query_params.get(name, "0")
    if value not in ("0", "1"):
        raise HTTPProblem(400, f"{name} must be 0 or 1, not {value[:20]!r}")
    return value == "1"


def agent_param(request: Request) -> str | None:
    agent = request.query_params.get("agent")
    if agent is None or agent == "":
        return None
    if len(agent) > MAX_AGENT_ID_LENGTH:
        raise HTTPProblem(400, "agent: too long", f"at most {MAX_AGENT_ID_LENGTH} characters")
    return agent


def level_param(request: Request) -> str | None:
    level = request.query_params.get("level")
    if level is None or level == "":
        return None
    name = parse_level(level)
    if name is None:
        raise HTTPProblem(400, "level: unknown level", f"one of {', '.join(LEVELS)}")
    return name


def page_params(request: Request) -> tuple[int, int]:
    """``?offset=N`` (default 0) and ``?limit=N`` (0 to :data:`MAX_PAGE_AGENTS`, the default)."""
    values = []
    for name, default, most in (("offset", 0, 10**9), ("limit", MAX_PAGE_AGENTS, MAX_PAGE_AGENTS)):
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            values.append(default)
            continue
        if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or int(raw) > most:
            raise HTTPProblem(400, f"{name}: must be an integer from 0 to {most}", f"got {raw[:40]!r}")
        values.append(int(raw))
    return values[0], values[1]


def resume_param(request: Request) -> tuple[str | None, int | None]:
    """Where a log stream resumes: ``Last-Event-ID`` header, else ``?after=``; (sequence, id).

    Either ``<sequence>:<n>`` as the stream sends it or a bare ``n`` (sequence None).
    """
    for name, raw in (
        ("Last-Event-ID", request.headers.get("last-event-id")),
        ("after", request.query_params.get("after")),
    ):
        if raw is None or raw.strip() == "":
            continue
        try:
            return parse_event_id(raw)
        except ValueError as exc:
            raise HTTPProblem(400, f"{name}: {exc}", f"got {raw.strip()[:40]!r}") from None
    return None, None
