"""Bounds of the HTTP layer, enforced before a request reaches a route (so before the token check).

A request's headers have a size cap and a time limit, a keep-alive connection an idle limit, and
the server a cap on connections open at once. The cap is also held below the process's limit on
open files (``RLIMIT_NOFILE``), so a flood of connections is refused with an answer instead of
leaving the process unable to accept or open anything. The protocol that enforces them is
:mod:`agentwatch.collector.httpguard`; this module holds the numbers, the ``serve`` options that
set them and the open-files arithmetic, and imports no server code (``agentwatch status`` builds
the same parser).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from typing import Final

#: Largest request line + headers accepted; one byte more is answered 431.
DEFAULT_HEADER_BYTES: Final = 64 * 1024
#: Seconds from a connection's start, or from the read that began a later request, to the end of
#: its headers; a request still sending its headers then is answered 408 (a silent one is closed).
DEFAULT_HEADER_TIMEOUT: Final = 10.0
#: Seconds a keep-alive connection may sit between requests before it is closed.
DEFAULT_IDLE_TIMEOUT: Final = 15.0
#: Connections (viewers' streams included) served at once; further ones are answered 503.
DEFAULT_MAX_CONNECTIONS: Final = 1000
#: Open files kept beside the HTTP connections: the store's files, the OTLP/gRPC listener and its
#: connections, connections being refused, logging, the interpreter's own.
RESERVED_FILES: Final = 128
#: Fewest connections the open-files limit may leave to HTTP before the collector refuses to start.
MIN_CONNECTIONS: Final = 16


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP connection and the server as a whole may hold. Units: bytes, seconds, count."""

    header_bytes: int = DEFAULT_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __post_init__(self) -> None:
        if self.header_bytes < 1024:
            raise ValueError("header_bytes must be at least 1024")
        if not (self.header_timeout > 0 and self.idle_timeout > 0):
            raise ValueError("header_timeout and idle_timeout must be greater than 0")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")


@dataclass
class ConnectionCounts:
    """What one server's HTTP connections did: ``open`` and ``lingering`` (closing with an answer)
    are now, the rest totals since start. ``/healthz`` shows them."""

    open: int = 0
    lingering: int = 0
    refused: int = 0
    refused_unanswered: int = 0
    headers_too_large: int = 0
    header_timeouts: int = 0
    last_warning: float = 0.0


class LimitError(Exception):
    """The open-files limit leaves too few connections to serve; the message says what to do."""


def open_files_limit() -> tuple[int, int] | None:
    """(soft, hard) ``RLIMIT_NOFILE`` of this process; None where there is none (Windows).

    An unlimited value is returned as ``sys.maxsize``.
    """
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinity = resource.RLIM_INFINITY
    return (sys.maxsize if soft == infinity else soft, sys.maxsize if hard == infinity else hard)


def raise_open_files_limit(wanted: int) -> None:
    """Raise the soft ``RLIMIT_NOFILE`` toward ``wanted`` (never above the hard limit, never down)."""
    limit = open_files_limit()
    if limit is None or limit[0] >= wanted:
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass  # the clamp below then holds the connection cap under the soft limit


def fit_open_files(limits: HttpLimits, reserved: int = RESERVED_FILES) -> tuple[HttpLimits, str | None]:
    """``limits`` with ``max_connections`` held under the open-files limit, and a note when lowered.

    The soft limit is first raised as far as the hard one allows (``max_connections + reserved``);
    what it still lacks lowers the cap to ``soft - reserved``. Raises :class:`LimitError` when that
    leaves fewer than :data:`MIN_CONNECTIONS`.
    """
    raise_open_files_limit(limits.max_connections + reserved)
    limit = open_files_limit()
    if limit is None or limit[0] - reserved >= limits.max_connections:
        return limits, None
    soft = limit[0]
    room = soft - reserved
    if room < MIN_CONNECTIONS:
        raise LimitError(
            f"the open-files limit ({soft}) leaves {max(room, 0)} connections once {reserved} files are "
            f"kept for the store, OTLP/gRPC and logging; raise it (ulimit -n) to at least "
            f"{reserved + MIN_CONNECTIONS}"
        )
    note = (
        f"serving at most {room} connections, not {limits.max_connections}: the open-files limit is "
        f"{soft} (ulimit -n) and {reserved} are kept for the store, OTLP/gRPC and logging"
    )
    return replace(limits, max_connections=room), note


def _size(text: str) -> int:
    value = int(text)
    if value < 1024:
        raise argparse.ArgumentTypeError("must be at least 1024")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` options for :class:`HttpLimits`."""
    parser.add_argument(
        "--max-header-bytes",
        type=_size,
        default=DEFAULT_HEADER_BYTES,
        help=f"largest request line + headers in bytes, 431 above (default {DEFAULT_HEADER_BYTES})",
    )
    parser.add_argument(
        "--header-timeout",
        type=_seconds,
        default=DEFAULT_HEADER_TIMEOUT,
        help=f"seconds to send a request's headers, 408 after (default {DEFAULT_HEADER_TIMEOUT:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=DEFAULT_IDLE_TIMEOUT,
        help=f"seconds a keep-alive connection may wait between requests (default {DEFAULT_IDLE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-connections",
        type=_count,
        default=DEFAULT_MAX_CONNECTIONS,
        help=f"connections served at once, 503 above; kept under ulimit -n (default {DEFAULT_MAX_CONNECTIONS})",
    )


def from_arguments(namespace: argparse.Namespace) -> HttpLimits:
    """The limits the ``serve`` options ask for (defaults for any the namespace lacks)."""
    return HttpLimits(
        header_bytes=getattr(namespace, "max_header_bytes", DEFAULT_HEADER_BYTES),
        header_timeout=getattr(namespace, "header_timeout", DEFAULT_HEADER_TIMEOUT),
        idle_timeout=getattr(namespace, "idle_timeout", DEFAULT_IDLE_TIMEOUT),
        max_connections=getattr(namespace, "max_connections", DEFAULT_MAX_CONNECTIONS),
    )
