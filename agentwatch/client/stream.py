"""A Server-Sent Events subscription that survives anything the network does to it.

:func:`follow` loops: connect, check the status and the content type, parse the body with
:class:`~agentwatch.client.sse.SSEDecoder` and hand the events of each network read to a
callback as one batch, remember the last ``id:``, and on any failure wait (exponential
backoff with full jitter, :class:`~agentwatch.retry.Backoff`) and reconnect with
``Last-Event-ID`` — which is how the collector's log stream resumes with nothing lost and
nothing repeated. The id is sent back exactly as it came (the log stream's read
``<sequence>:<n>``): a collector that restarted without those ids can tell, and answers with
``event: reset`` instead of resuming elsewhere. The caller sees where the subscription stands
through :class:`ConnectionState` values; nothing but cancellation ever escapes.

:func:`decode_snapshot` and :func:`decode_log_entry` read what the stream carries
leniently, so a viewer works against a collector that speaks only the minimal protocol
(:func:`decode_log_entries` reads a whole batch in one C-level pass when it can);
:func:`fetch_snapshot` reads one snapshot (``agentwatch status``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import httpx
import msgspec

from agentwatch.client.sse import ServerSentEvent, SSEDecoder
from agentwatch.protocol import (
    LEVEL_RANK,
    MAX_AGENT_ID_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_FIELD_LENGTH,
    PATH_DASHBOARD_STREAM,
    SSE_METRICS,
    AgentRow,
    LogEntry,
    Snapshot,
    normalize_level,
)
from agentwatch.retry import Backoff

__all__ = [
    "Backoff",
    "CollectorUnreachable",
    "ConnectionState",
    "DecodeError",
    "ServerSentEvent",
    "Unauthorized",
    "decode_log_entries",
    "decode_log_entry",
    "decode_snapshot",
    "fetch_snapshot",
    "follow",
]

log = logging.getLogger(__name__)

Phase = Literal["connecting", "live", "reconnecting", "unauthorized"]
CONNECT_TIMEOUT: Final = 5.0
EVENT_STREAM: Final = "text/event-stream"
#: Events a collector answering with only the default SSE event name may use for metrics.
_SNAPSHOT_EVENT_NAMES: Final = frozenset({SSE_METRICS, "message"})


@dataclass(frozen=True)
class ConnectionState:
    """Where a subscription stands; a new value is reported on every change.

    ``since`` and ``retry_at`` are on the ``clock`` given to :func:`follow`. ``attempts``
    counts consecutive failures (0 once live). ``error`` is short text for a status line.
    """

    phase: Phase
    since: float
    retry_at: float | None = None
    error: str | None = None
    attempts: int = 0


class CollectorUnreachable(Exception):
    """No snapshot could be read; the message is one line fit for a terminal."""


class Unauthorized(CollectorUnreachable):
    """The collector refused the token (HTTP 401/403)."""


class DecodeError(ValueError):
    """A stream payload could not be read at all (not JSON, not an object, hopeless types)."""


class _Failure(Exception):
    """One connection attempt ended; ``text`` is what the user is told."""

    def __init__(self, text: str, *, unauthorized: bool = False) -> None:
        super().__init__(text)
        self.text = text
        self.unauthorized = unauthorized


# ------------------------------------------------------------------------ follow


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _headers(token: str | None, last_event_id: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    return headers


def _check_response(response: httpx.Response) -> None:
    """Raise :class:`_Failure` unless this is a 200 ``text/event-stream`` response."""
    if response.status_code in (401, 403):
        raise _Failure(f"HTTP {response.status_code}", unauthorized=True)
    if response.status_code != 200:
        raise _Failure(f"HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "").partition(";")[0].strip()
    if content_type != EVENT_STREAM:
        raise _Failure(f"not an event stream ({content_type or 'no content type'})")


def _describe(exc: BaseException, read_timeout: float) -> str:
    """Short human text for a transport failure."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx.ReadTimeout):
        return f"no data for {read_timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "refused" in text.lower() or "all connection attempts failed" in text.lower():
            return "connection refused"
        return f"cannot connect ({text})" if text else "cannot connect"
    if isinstance(exc, (httpx.ReadError, httpx.RemoteProtocolError)):
        return "connection lost"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@asynccontextmanager
async def _open_stream(
    http: httpx.AsyncClient,
    url: str,
    *,
    params: dict[str, str] | None,
    headers: dict[str, str],
    timeout: httpx.Timeout,
) -> AsyncIterator[httpx.Response]:
    """GET ``url`` as an event stream; raises :class:`_Failure` unless 200 ``text/event-stream``."""
    headers = {"Accept": EVENT_STREAM, "Cache-Control": "no-store", **headers}
    async with http.stream("GET", url, params=params, headers=headers, timeout=timeout) as response:
        _check_response(response)
        yield response


async def follow(
    base_url: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    token: str | None = None,
    on_event: Callable[[ServerSentEvent], None] | None = None,
    on_events: Callable[[list[ServerSentEvent]], None] | None = None,
    on_state: Callable[[ConnectionState], None],
    last_event_id: str | None = None,
    backoff: Backoff | None = None,
    read_timeout: float = 45.0,
    clock: Callable[[], float] = time.monotonic,
    client: httpx.AsyncClient | None = None,
) -> None:
    """Subscribe to ``base_url + path`` and keep the subscription alive until cancelled.

    Events go out in order, either one by one to ``on_event`` or — cheaper at high rates —
    as one list per network read to ``on_events`` (give exactly one of the two). Blocks
    without ``data`` never become events. The last ``id`` seen (an id-only block counts) is
    sent as ``Last-Event-ID`` on every reconnect, starting from ``last_event_id``.
    Phases go to ``on_state``: ``connecting`` before each attempt, ``live`` once a 200
    ``text/event-stream`` answer arrives, ``reconnecting`` (with ``retry_at``) after a
    clean end of stream, a dropped connection, a read timeout (``read_timeout`` seconds
    without a byte — keep it well above the server's 15 s heartbeat), a refused
    connection, any non-200 status or a wrong content type, and ``unauthorized`` after
    401/403, which is retried slowly (``Backoff.slow_delay``) in case the token is fixed.
    The backoff resets once a connection delivers an event or stays up for ``backoff.cap``
    seconds.

    Never raises except :class:`asyncio.CancelledError` (and :class:`TypeError` at once when
    neither or both callbacks are given): an exception raised by the event callback is
    reported like a dropped connection (and logged at debug level); one raised by
    ``on_state`` is logged and ignored. ``client`` is used as given and left open; otherwise
    one is created and closed here.
    """
    if (on_event is None) == (on_events is None):
        raise TypeError("give exactly one of on_event and on_events")
    deliver: Callable[[list[ServerSentEvent]], None]
    if on_events is not None:
        deliver = on_events
    else:
        single = on_event
        assert single is not None

        def deliver(events: list[ServerSentEvent]) -> None:
            for sse in events:
                single(sse)

    backoff = backoff or Backoff(base=0.5, factor=2.0, cap=15.0, jitter=(0.0, 1.0))
    own_client = client is None
    http = client or httpx.AsyncClient()
    timeout = httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT)
    url = _url(base_url, path)
    resume_id = last_event_id or None
    attempts = 0
    last_error: str | None = None

    def report(state: ConnectionState) -> None:
        try:
            on_state(state)
        except Exception:
            log.debug("on_state callback failed", exc_info=True)

    try:
        while True:
            report(ConnectionState("connecting", clock(), None, last_error, attempts))
            unauthorized = False
            live_since: float | None = None
            decoder = SSEDecoder(last_event_id=resume_id or "")
            try:
                async with _open_stream(
                    http, url, params=params, headers=_headers(token, resume_id), timeout=timeout
                ) as response:
                    live_since = clock()
                    report(ConnectionState("live", live_since, None, None, 0))
                    delivered = False
                    async for chunk in response.aiter_bytes():
                        events = decoder.feed(chunk)
                        resume_id = decoder.last_event_id or None  # an empty id: resets it
                        if not events:
                            continue
                        if not delivered:
                            delivered = True
                            attempts = 0
                            backoff.reset()
                        deliver(events)
                raise _Failure("stream ended")
            except asyncio.CancelledError:
                raise
            except _Failure as failure:
                last_error = failure.text
                unauthorized = failure.unauthorized
            except httpx.HTTPError as exc:
                last_error = _describe(exc, read_timeout)
            except Exception as exc:  # a failing event callback, an endless event, a library error
                log.debug("subscription attempt failed", exc_info=True)
                last_error = _describe(exc, read_timeout)
            if live_since is not None and clock() - live_since >= backoff.cap:
                attempts = 0  # a long quiet connection was a success, not a failure
                backoff.reset()
            attempts += 1
            delay = backoff.slow_delay() if unauthorized else backoff.next_delay()
            now = clock()
            phase: Phase = "unauthorized" if unauthorized else "reconnecting"
            report(ConnectionState(phase, now, now + delay, last_error, attempts))
            await asyncio.sleep(delay)
    finally:
        if own_client:
            await asyncio.shield(http.aclose())


# -------------------------------------------------------------------- decoding

_json_decoder: Final = msgspec.json.Decoder()
_snapshot_decoder: Final = msgspec.json.Decoder(Snapshot)
_log_entry_decoder: Final = msgspec.json.Decoder(LogEntry)
_log_entries_decoder: Final = msgspec.json.Decoder(list[LogEntry])
_MAX_REPAIRS: Final = 64


def _load_object(data: str | bytes) -> dict[str, Any]:
    try:
        value = _json_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise DecodeError(f"expected a JSON object, got {type(value).__name__}")
    return value


_PATH_PART: Final = re.compile(r"\.([^.\[`]+)|\[(\d+)\]")


def _error_path(message: str) -> list[str | int]:
    """Parse the ``$.a[3].b`` path ending a msgspec ValidationError message ([] if none)."""
    marker = message.rfind(" - at `$")
    if marker < 0:
        return []
    parts: list[str | int] = []
    for match in _PATH_PART.finditer(message, marker + len(" - at `$")):
        key, index = match.groups()
        parts.append(key if key is not None else int(index))
    return parts


def _remove(container: Any, path: list[str | int]) -> bool:
    """Delete the element at ``path`` (a key or a list index); False if it is not there."""
    if not path:
        return False
    for part in path[:-1]:
        try:
            container = container[part]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1]
    try:
        del container[last]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def decode_snapshot(data: str | bytes, *, clock: Callable[[], float] = time.time) -> Snapshot:
    """Read a snapshot leniently: unknown fields are ignored, missing ones take defaults.

    A value of the wrong type (``"tokens_per_second": "fast"``, ``null`` for a number, an
    agent row without ``agent_id``) is dropped — its field falls back to the default, a
    bad list element is left out — rather than failing the whole snapshot. Numbers given
    as strings are accepted, but never NaN or infinities (→ default). A missing or
    unreadable ``timestamp`` is ``clock()`` (RFC 3339 strings are accepted). Raises
    :class:`DecodeError` only when the payload is not a JSON object or cannot be repaired.
    """
    try:
        return _snapshot_decoder.decode(data)  # the well-formed case: one C-level pass
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    document = _load_object(data)
    document["timestamp"] = _timestamp(document.get("timestamp"), clock)
    for _ in range(_MAX_REPAIRS):
        try:
            return _finite(msgspec.convert(document, Snapshot, strict=False))
        except msgspec.ValidationError as exc:
            path = _error_path(str(exc))
            if not _remove(document, path):
                raise DecodeError(f"unusable snapshot: {exc}") from None
    raise DecodeError("unusable snapshot: too many bad fields")


def _finite_fields(struct: Any, defaults: Any) -> None:
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if isinstance(value, float) and not math.isfinite(value):
            setattr(struct, name, getattr(defaults, name))


def _finite(snapshot: Snapshot) -> Snapshot:
    """Replace NaN and infinities (only reachable through numeric strings) by defaults."""
    _finite_fields(snapshot, Snapshot(timestamp=0.0))
    for row in snapshot.agents:
        _finite_fields(row, AgentRow(agent_id=""))
    history = snapshot.history
    for name in history.__struct_fields__:
        series = getattr(history, name)
        if isinstance(series, list):
            empty = None if name == "p99_latency_ms" else 0.0
            setattr(history, name, [v if v is None or math.isfinite(v) else empty for v in series])
        elif isinstance(series, float) and not math.isfinite(series):
            history.end = 0.0
    return snapshot


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return text[:limit]


def _timestamp(value: Any, clock: Callable[[], float]) -> float:
    if isinstance(value, bool):
        return clock()
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else clock()
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            return number if math.isfinite(number) else clock()
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError):
            return clock()
    return clock()


def _entry_id(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def _optional_text(value: Any) -> str | None:
    return value[:MAX_SHORT_FIELD_LENGTH] if isinstance(value, str) and value else None


def _well_formed(entry: LogEntry) -> bool:
    """True when a typed decode already meets the protocol's bounds (else the lenient path)."""
    return (
        entry.level in LEVEL_RANK
        and len(entry.message) <= MAX_MESSAGE_LENGTH
        and len(entry.agent_id) <= MAX_AGENT_ID_LENGTH
        and entry.id >= 0
        and (entry.span_type is None or len(entry.span_type) <= MAX_SHORT_FIELD_LENGTH)
        and (entry.trace_id is None or len(entry.trace_id) <= MAX_SHORT_FIELD_LENGTH)
    )


def decode_log_entries(
    payloads: Sequence[str], *, clock: Callable[[], float] = time.time
) -> tuple[list[LogEntry], int]:
    """Read many log entries at once: (entries in order, how many payloads were unreadable).

    The common case — every payload a well-formed entry — is one typed msgspec pass over
    ``[p1,p2,…]``. If that fails, yields another count than ``len(payloads)``, or any entry
    is out of bounds, each payload goes through :func:`decode_log_entry` on its own, so the
    result is never worse than decoding one by one; a payload that is not a JSON object
    is counted and left out.
    """
    if not payloads:
        return [], 0
    if len(payloads) > 1:
        try:
            entries = _log_entries_decoder.decode("[" + ",".join(payloads) + "]")
        except (msgspec.DecodeError, UnicodeDecodeError):
            pass
        else:
            if len(entries) == len(payloads) and all(map(_well_formed, entries)):
                return entries, 0
    out: list[LogEntry] = []
    unreadable = 0
    for payload in payloads:
        try:
            out.append(decode_log_entry(payload, clock=clock))
        except DecodeError:
            unreadable += 1
    return out, unreadable


def decode_log_entry(data: str | bytes, *, clock: Callable[[], float] = time.time) -> LogEntry:
    """Read a log entry leniently; raises :class:`DecodeError` only for a non-object payload.

    A minimal collector's entries have no ``id`` (→ 0), maybe no ``level`` (→ ``"info"``;
    other vocabularies are normalized: ``warn`` → ``warning``) and maybe no ``timestamp``
    (→ ``clock()``; RFC 3339 strings are accepted). A non-string message is shown as its
    JSON text; text is cut to the protocol's length limits; non-object ``metadata`` is
    kept under ``{"value": ...}``.
    """
    try:
        entry = _log_entry_decoder.decode(data)  # the well-formed case: one C-level pass
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    else:
        if _well_formed(entry):
            return entry
    document = _load_object(data)
    metadata = document.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        metadata = {"value": metadata}
    level = document.get("level")
    return LogEntry(
        timestamp=_timestamp(document.get("timestamp"), clock),
        agent_id=_text(document.get("agent_id"), MAX_AGENT_ID_LENGTH),
        level=normalize_level(level if isinstance(level, str) else None),
        message=_text(document.get("message"), MAX_MESSAGE_LENGTH),
        metadata=metadata,
        id=_entry_id(document.get("id")),
        span_type=_optional_text(document.get("span_type")),
        trace_id=_optional_text(document.get("trace_id")),
    )


# ------------------------------------------------------------------ one snapshot


async def fetch_snapshot(
    base_url: str,
    *,
    token: str | None = None,
    timeout: float = 3.0,
    client: httpx.AsyncClient | None = None,
) -> Snapshot:
    """Read the first metrics event from the dashboard stream, within ``timeout`` seconds.

    Raises :class:`Unauthorized` on 401/403 and :class:`CollectorUnreachable` (one-line
    message naming the URL) on anything else that prevents reading a snapshot.
    """
    url = _url(base_url, PATH_DASHBOARD_STREAM)
    own_client = client is None
    http = client or httpx.AsyncClient()
    try:
        async with asyncio.timeout(timeout):
            async with _open_stream(
                http, url, params=None, headers=_headers(token, None), timeout=httpx.Timeout(timeout)
            ) as response:
                decoder = SSEDecoder()
                async for chunk in response.aiter_bytes():
                    for sse in decoder.feed(chunk):
                        if sse.event in _SNAPSHOT_EVENT_NAMES:
                            try:
                                return decode_snapshot(sse.data)
                            except DecodeError as exc:
                                raise CollectorUnreachable(
                                    f"{url} sent an unreadable snapshot: {exc}"
                                ) from None
        raise CollectorUnreachable(f"{url} closed the stream before sending a snapshot")
    except _Failure as failure:
        if failure.unauthorized:
            raise Unauthorized(f"{url} refused the token ({failure.text})") from None
        raise CollectorUnreachable(f"{url} answered {failure.text}") from None
    except TimeoutError:
        raise CollectorUnreachable(f"no snapshot from {url} within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise CollectorUnreachable(f"cannot reach {url}: {_describe(exc, timeout)}") from None
    except ValueError as exc:  # an event that never ends (SSEDecoder.max_buffer)
        raise CollectorUnreachable(f"{url} sent an unreadable stream: {exc}") from None
    finally:
        if own_client:
            await http.aclose()
