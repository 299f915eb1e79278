"""The HTTP layer's bounds, on a real ``agentwatch serve`` process over raw sockets: header size (431),
time to send headers (408), idle keep-alive, connections at once (503) and the open-files limit; and the
OTLP/gRPC listener's handshake bound. Each holds before the token check."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest

from agentwatch.collector.httpguard import header_part
from agentwatch.collector.httplimits import RESERVED_FILES
from agentwatch.protocol import PATH_HEALTH
from tests.helpers import CollectorProcess, wait_until

TOKEN = "limits-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AUTH_LINE = f"Authorization: Bearer {TOKEN}\r\n".encode()
StartProcess = Callable[..., CollectorProcess]


def connect(process: CollectorProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", process.port), timeout=10)


def request(path: str = PATH_HEALTH, extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"\r\n"


def read_until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open after
    ``timeout`` seconds."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"the server kept the connection open; it sent {b''.join(chunks)[:200]!r}")
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One response with a Content-Length on a connection that stays open: (status, body)."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"closed before a response: {data!r}"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        more = sock.recv(65536)
        assert more, "closed inside a response body"
        body += more
    return int(head.split(b" ", 2)[1]), body


def answer_of(raw: bytes) -> tuple[int, dict[str, str], dict[str, str]]:
    """(status, lower-cased headers, JSON body) of a whole response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(
        (name.strip().lower(), value.strip()) for name, value in (line.split(":", 1) for line in lines[1:])
    )
    return int(lines[0].split(" ", 2)[1]), headers, msgspec.json.decode(body)


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """Send, or say False once the server has closed its side (after answering)."""
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# ---------------------------------------------------------------------------------- header size
@pytest.mark.parametrize(
    ("tail", "data", "counted"),
    [
        (b"", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n{body}", 27),  # up to the end of the headers, not the body
        (b"", b"GET / HTTP/1.1\r\nHost: a", 23),  # no end yet: all of it
        (b"st: a\r", b"\n\r\nbody", 3),  # the end split across two reads
        (b"a\r\n", b"\r\nbody", 2),
        (b"\r\n\r", b"\nX", 1),
        (b"abc", b"x\r\n\r\n", 5),
    ],
)
def test_header_bytes_are_counted_up_to_the_end_of_the_headers(
    tail: bytes, data: bytes, counted: int
) -> None:
    assert header_part(tail, data) == counted


def test_headers_over_the_cap_are_answered_431_before_the_token_and_the_server_stays_up(
    start_collector_process: StartProcess,
) -> None:
    process = start_collector_process("--no-store", "--token", TOKEN, "--max-header-bytes", "8192")
    with connect(process) as sock:
        sock.sendall(request(extra=b"X-Big: " + b"a" * 20_000 + b"\r\n"))
        status, headers, body = answer_of(read_until_closed(sock))
    assert status == 431
    assert headers["connection"] == "close"
    assert body["error"] == "request headers too large"
    assert "8192 bytes" in body["detail"] and "--max-header-bytes" in body["detail"]

    with connect(process) as sock:  # just under the cap: it reaches the app (and its token check)
        sock.sendall(request(extra=b"X-Big: " + b"a" * 7000 + b"\r\n"))
        assert read_response(sock)[0] == 401

    with connect(process) as sock:  # headers that never end are cut at the cap, not at their end
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        for _ in range(64):
            if not send_quietly(sock, b"b" * 1024):
                break
        assert answer_of(read_until_closed(sock))[0] == 431

    health = httpx.get(process.url + PATH_HEALTH, headers=AUTH)
    assert health.status_code == 200
    assert health.json()["http_headers_refused"] == 2  # counted, and shown


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_unfinished_huge_headers_hold_bounded_memory(start_collector_process: StartProcess) -> None:
    """Eight clients each send 4 MiB of one header that never ends: the server keeps at most the cap of
    each (64 KiB by default), not the 32 MiB."""
    process = start_collector_process("--no-store")
    before = rss_kib(process.process.pid)
    sockets = [connect(process) for _ in range(8)]
    try:
        for sock in sockets:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")

        def flood(sock: socket.socket) -> None:
            for _ in range(64):
                if not send_quietly(sock, b"c" * 65536):
                    return

        threads = [threading.Thread(target=flood, args=(sock,)) for sock in sockets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        grown = rss_kib(process.process.pid) - before
        for sock in sockets:
            status = answer_of(read_until_closed(sock))[0]
            assert status == 431
    finally:
        for sock in sockets:
            sock.close()
    assert grown < 12 * 1024, f"RSS grew by {grown} KiB"
    assert httpx.get(process.url + PATH_HEALTH).status_code == 200


# ---------------------------------------------------------------------------------- time limits
def test_headers_still_arriving_after_the_header_timeout_are_answered_408(
    start_collector_process: StartProcess,
) -> None:
    process = start_collector_process("--no-store", "--token", TOKEN, "--header-timeout", "0.5")
    with connect(process) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        sock.settimeout(0.1)
        answer = b""
        for _ in range(100):  # one header line every 0.1 s: bytes keep coming, the clock does not restart
            if not send_quietly(sock, b"X-Drip: y\r\n"):
                break
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            break
        answer += read_until_closed(sock)
        waited = time.monotonic() - started
    status, _, body = answer_of(answer)
    assert status == 408
    assert body["error"] == "request headers not received in time"
    assert "0.5 s" in body["detail"]
    assert waited >= 0.45  # not cut before its time; the loop above fails if it is never cut

    with connect(process) as sock:  # a connection that never sends anything is closed, unanswered
        assert read_until_closed(sock) == b""
    assert httpx.get(process.url + PATH_HEALTH, headers=AUTH).json()["http_headers_refused"] == 2


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    start_collector_process: StartProcess,
) -> None:
    process = start_collector_process("--no-store", "--idle-timeout", "0.5", "--header-timeout", "30")
    with connect(process) as sock:
        sock.sendall(request())
        assert read_response(sock)[0] == 200
        sock.sendall(request())  # kept alive between requests
        assert read_response(sock)[0] == 200
        started = time.monotonic()
        assert read_until_closed(sock, timeout=4) == b""  # uvicorn's own default would take 5 s
        assert time.monotonic() - started >= 0.45


# --------------------------------------------------------------------------------- connection cap
def hold_served_connections(process: CollectorProcess, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections, each having had one request served (so each is counted)."""
    held: list[socket.socket] = []

    def one_more() -> bool:
        sock = connect(process)
        sock.sendall(request(extra=AUTH_LINE))
        status, _ = read_response(sock)
        if status != 200:  # a connection the test closed a moment ago may still be counted
            sock.close()
            return False
        held.append(sock)
        return True

    try:
        for _ in range(count):
            wait_until(one_more)
    except BaseException:
        for sock in held:
            sock.close()
        raise
    return held


def refused_answer(process: CollectorProcess) -> tuple[int, dict[str, str], dict[str, str]]:
    with connect(process) as sock:
        sock.sendall(request())
        return answer_of(read_until_closed(sock))


def test_connections_over_the_cap_are_refused_503_while_open_ones_are_served(
    start_collector_process: StartProcess,
) -> None:
    process = start_collector_process("--no-store", "--token", TOKEN, "--max-connections", "4")
    with httpx.Client(base_url=process.url, headers=AUTH, timeout=10) as client:
        assert client.get(PATH_HEALTH).status_code == 200  # one kept-alive connection
        held = hold_served_connections(process, 3)
        try:
            for _ in range(3):
                status, headers, body = refused_answer(process)
                assert status == 503
                assert headers["retry-after"] == "1" and headers["connection"] == "close"
                assert body["error"] == "too many connections"
                assert "at most 4 connections" in body["detail"]
            health = client.get(PATH_HEALTH)  # the open client is still served
            assert health.status_code == 200
            assert health.json()["http_connections"] == 4
            assert health.json()["http_connections_refused"] == 3
        finally:
            held.pop().close()
        wait_until(lambda: httpx.get(process.url + PATH_HEALTH, headers=AUTH).status_code == 200)
        for sock in held:
            sock.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sets RLIMIT_NOFILE")
def test_the_connection_cap_is_held_under_the_open_files_limit(start_collector_process: StartProcess) -> None:
    """With ``ulimit -n 200`` the default cap (1000) becomes 200 - the reserve: clients beyond it are
    answered 503 instead of being reset while the process is out of file descriptors."""
    limit = 200
    launcher = (
        "-c",
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))\n"
        "from agentwatch.cli import main\n"
        "sys.exit(main(sys.argv[1:]))",
    )
    process = start_collector_process("--no-store", "--idle-timeout", "60", launcher=launcher)
    cap = limit - RESERVED_FILES
    held = hold_served_connections(process, cap)
    try:
        for _ in range(limit):  # more clients than the process has descriptors, one after another
            assert refused_answer(process)[0] == 503
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: httpx.get(process.url + PATH_HEALTH).status_code == 200)
    process.stop()
    assert process.process.stderr is not None
    assert f"serving at most {cap} connections, not 1000" in process.process.stderr.read()


# ------------------------------------------------------------------------------------ OTLP/gRPC
async def test_a_grpc_connection_that_never_completes_its_handshake_is_closed() -> None:
    pytest.importorskip("grpc")
    from agentwatch.collector.otlp_grpc import OtlpGrpcListener
    from agentwatch.collector.service import Collector, Settings

    listener = OtlpGrpcListener(Collector(Settings(otlp_grpc_port=0)), handshake_timeout=0.5)
    port = await listener.start()
    try:

        def silent_client() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                return read_until_closed(sock, timeout=10)

        await asyncio.to_thread(silent_client)  # fails if still open after 10 s (gRPC's default: 120)
    finally:
        await listener.stop(0)
