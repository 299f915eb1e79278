"""OTLP/gRPC: the trace, logs and metrics ``Export`` services, on grpcio's asyncio server.

The second edge of the collector beside :mod:`agentwatch.collector.app`, in the same event loop,
under the same rules as OTLP/HTTP: the same bearer token (``authorization`` metadata), the same
body bound (``max_body``, after gzip decompression too) and time to send it (``body_timeout``),
the same decoders and the same answers. Each service is registered with raw-bytes handlers: the
request bytes go straight to :func:`~agentwatch.collector.otlp.decode_traces`,
:func:`~agentwatch.collector.otlp.decode_logs` and :func:`~agentwatch.collector.otlp.decode_metrics`
as ``application/x-protobuf``, the results are ingested as the OTLP/HTTP route does, and the response
bytes come from :func:`~agentwatch.collector.otlp.success_response`, ``partialSuccess`` included.

Failures are gRPC status codes with a message saying what is wrong: UNAUTHENTICATED (token),
RESOURCE_EXHAUSTED (body over the limit, or too many calls at once), INVALID_ARGUMENT
(undecodable protobuf, no request message), DEADLINE_EXCEEDED (body not sent in time).

Needs ``grpcio`` and ``opentelemetry-proto`` (the ``agentwatch[otlp]`` extra); the app imports
this module only when a gRPC port is set.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Any, Final

import grpc

from agentwatch.collector import otlp
from agentwatch.collector.ingest import OFFLOAD_DECODE_BYTES
from agentwatch.collector.otlp import OtlpError, OtlpResult
from agentwatch.collector.service import Collector

TRACE_SERVICE: Final = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE: Final = "opentelemetry.proto.collector.logs.v1.LogsService"
METRICS_SERVICE: Final = "opentelemetry.proto.collector.metrics.v1.MetricsService"
EXPORT: Final = "Export"

#: Calls served at once over every connection; one more is answered RESOURCE_EXHAUSTED at once.
#: Each holds at most ``max_body`` bytes, so this bounds the memory gRPC requests can take.
MAX_CONCURRENT_CALLS: Final = 32
#: Streams one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
MAX_STREAMS_PER_CONNECTION: Final = 16
#: Connections open at once; further ones are closed as they arrive.
MAX_CONNECTIONS: Final = 64
#: A connection idle this long (ms) is closed; exporters reconnect when they next send.
MAX_IDLE_MS: Final = 300_000
#: Seconds a new connection gets to complete its HTTP/2 handshake (preface and settings); a silent
#: or half-open one is closed then (gRPC's own default waits 120 s).
HANDSHAKE_TIMEOUT: Final = 10.0
#: Largest metadata (HTTP/2 headers) of one call, in bytes; a call over it is refused.
MAX_METADATA_BYTES: Final = 16 * 1024
#: Seconds calls under way get to finish when the collector stops.
SHUTDOWN_GRACE: Final = 2.0

Decode = Callable[[bytes, str | None], OtlpResult]
Context = grpc.aio.ServicerContext[bytes, bytes]

#: An OtlpError's HTTP status → the gRPC code OTLP/gRPC answers with.
_STATUS_CODES: Final = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.UNIMPLEMENTED,
}


class OtlpGrpcError(Exception):
    """The gRPC listener cannot start (its address cannot be bound)."""


#: Service name → the decoder its Export calls (the same ones the OTLP/HTTP routes use).
DECODERS: Final[dict[str, Decode]] = {
    TRACE_SERVICE: otlp.decode_traces,
    LOGS_SERVICE: otlp.decode_logs,
    METRICS_SERVICE: otlp.decode_metrics,
}


class OtlpGrpcListener:
    """The OTLP/gRPC server of one collector: ``await start()`` binds and serves, ``await stop()``.

    Binds ``settings.otlp_grpc_host`` : ``settings.otlp_grpc_port`` (0: any free port; the bound
    one is :attr:`port` once started). Bounded like the HTTP edge: connections at once
    (:data:`MAX_CONNECTIONS`), time to finish a connection's handshake (``handshake_timeout``),
    idle time (:data:`MAX_IDLE_MS`), metadata size (:data:`MAX_METADATA_BYTES`), streams per
    connection and calls at once.
    """

    def __init__(self, collector: Collector, *, handshake_timeout: float = HANDSHAKE_TIMEOUT) -> None:
        self.collector = collector
        self.handshake_timeout = handshake_timeout
        settings = collector.settings
        self.host = settings.otlp_grpc_host
        self.requested_port = settings.otlp_grpc_port or 0
        self.port: int | None = None
        self._token = settings.token.encode() if settings.token else None
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Bind and start serving; returns the bound port. Raises :class:`OtlpGrpcError`."""
        settings = self.collector.settings
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", settings.max_body),
                ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
                ("grpc.max_allowed_incoming_connections", MAX_CONNECTIONS),
                ("grpc.max_connection_idle_ms", MAX_IDLE_MS),
                ("grpc.server_handshake_timeout_ms", round(self.handshake_timeout * 1000)),
                ("grpc.max_metadata_size", MAX_METADATA_BYTES),
                ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
                ("grpc.so_reuseport", 0),  # a second collector on the same port fails, never shares it
            ],
            maximum_concurrent_rpcs=MAX_CONCURRENT_CALLS,
        )
        for service, decode in DECODERS.items():
            # Stream-unary on the server side (the wire is the same as unary): the handler reads the
            # one request message itself, so it can bound the time the client takes to send it.
            handler: grpc.RpcMethodHandler[bytes, bytes] = grpc.stream_unary_rpc_method_handler(
                self._export_handler(decode)
            )
            server.add_generic_rpc_handlers(
                [grpc.method_handlers_generic_handler(service, {EXPORT: handler})]
            )
        address = f"[{self.host}]" if ":" in self.host else self.host
        try:
            port = server.add_insecure_port(f"{address}:{self.requested_port}")
        except RuntimeError:
            raise OtlpGrpcError(f"cannot listen on {address}:{self.requested_port} for OTLP/gRPC") from None
        await server.start()
        self._server, self.port = server, port
        return port

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Refuse new calls, give those under way ``grace`` seconds, then cancel the rest."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def _export_handler(self, decode: Decode) -> Callable[[Any, Context], Any]:
        async def export(requests: Any, context: Context) -> bytes:
            return await self.export(decode, context)

        return export

    async def export(self, decode: Decode, context: Context) -> bytes:
        """One Export call: token, body within its bounds, decode, ingest, answer."""
        if self._token is not None and not self._authorized(context):
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong bearer token: send 'authorization: Bearer <token>' metadata",
            )
        settings = self.collector.settings
        try:
            body = await asyncio.wait_for(context.read(), settings.body_timeout)
        except TimeoutError:
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"request not received in time: send it within {settings.body_timeout:g} s",
            )
        if not isinstance(body, bytes):  # grpc.aio.EOF: the client closed without a message
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")
        if len(body) > settings.max_body:  # grpc checks this too, before and after gzip
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"body too large: the limit is {settings.max_body} bytes"
            )
        try:
            if len(body) >= OFFLOAD_DECODE_BYTES:
                result = await asyncio.to_thread(decode, body, otlp.PROTOBUF)
            else:
                result = decode(body, otlp.PROTOBUF)
        except OtlpError as exc:
            code = _STATUS_CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
            await context.abort(code, exc.message)
        if result.signal == otlp.SIGNAL_METRICS:
            self.collector.ingest_metrics(result.points, result.rejected)
        else:
            self.collector.ingest(result.events)
            self.collector.ignore_otlp_items(result.ignored)
        payload, _ = otlp.success_response(result, otlp.PROTOBUF)
        return payload

    def _authorized(self, context: Context) -> bool:
        """Constant-time bearer token check, as on HTTP; the token is never logged or echoed."""
        assert self._token is not None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                text = value.decode("latin-1") if isinstance(value, bytes) else value
                scheme, _, offered = text.partition(" ")
                return scheme.lower() == "bearer" and hmac.compare_digest(
                    offered.strip().encode(), self._token
                )
        return False
