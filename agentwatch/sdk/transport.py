"""One kept-alive HTTP/1.1 connection from the sender thread to the collector.

Built on :mod:`http.client` rather than a full-featured client on purpose: the sender thread
shares the interpreter lock with the agent, and every stretch of Python it runs between two
system calls is a stretch the agent's thread may wait for. A POST through :mod:`http.client`
runs little interpreter code, in short stretches; the same POST through httpx runs several
times as much, in stretches long enough to hold the agent up.

What it keeps of a general client: TLS with the same trust store as httpx (``SSL_CERT_FILE``,
``SSL_CERT_DIR``, else certifi's bundle when installed), HTTP proxies from the environment
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``; https through a CONNECT tunnel),
keep-alive with a check that the server has not closed the idle connection, and one
immediate resend on a fresh connection when a reused one turns out to be dead.
"""

from __future__ import annotations

import base64
import codecs
import http.client
import os
import select
import socket
import ssl
import urllib.parse
import urllib.request

#: Bytes of an answer read at most; a longer one is cut and its connection closed.
MAX_RESPONSE_BYTES = 1 << 20


class TransportError(Exception):
    """The request got no complete answer: refused, reset, timed out, or a malformed reply."""


def _environment_proxy(scheme: str, host: str) -> urllib.parse.SplitResult | None:
    """The proxy the environment names for ``scheme://host``, or None (as httpx reads it)."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]  # public in CPython, missing from typeshed
        return None
    return urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")


def _ssl_context() -> ssl.SSLContext:
    """The trust store httpx would use: ``SSL_CERT_FILE``, ``SSL_CERT_DIR``, else certifi's."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _peer_closed(sock: socket.socket) -> bool:
    """True when an idle kept-alive socket is readable: the server closed it (or sent junk)."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class Transport:
    """POSTs bodies to one URL. Not thread-safe: the sender thread alone uses it.

    Raises:
        ValueError: at construction, for a URL that is not ``http://`` or ``https://`` with a host.
    """

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"collector URL must be http:// or https:// with a host: {url!r}")
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        self._headers = dict(headers)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # The TLS trust store and the proxy settings are read here, in the constructing
        # thread: loading certificates is work holding the interpreter lock, and the first
        # name lookup in a process imports the idna codec.
        codecs.lookup("idna")
        context = _ssl_context() if parts.scheme == "https" else None
        proxy = _environment_proxy(parts.scheme, host)
        proxy_headers: dict[str, str] = {}
        if proxy is not None and proxy.username:
            credentials = (
                f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
            )
            proxy_headers["proxy-authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        self._connection: http.client.HTTPConnection
        if proxy is None:
            if context is None:
                self._connection = http.client.HTTPConnection(host, port, timeout=timeout)
            else:
                self._connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        elif context is None:  # plain HTTP through the proxy: absolute-form request target
            self._connection = http.client.HTTPConnection(
                proxy.hostname or "", proxy.port or 80, timeout=timeout
            )
            self._target = urllib.parse.urlunsplit(parts._replace(fragment=""))
            self._headers.update(proxy_headers)
        else:  # HTTPS through a CONNECT tunnel
            self._connection = http.client.HTTPSConnection(
                proxy.hostname or "", proxy.port or 80, timeout=timeout, context=context
            )
            self._connection.set_tunnel(host, port, headers=proxy_headers or None)

    def connect(self) -> bool:
        """Make sure a connection is open (a kept-alive one the server has closed is replaced).

        Cheap when one is open; while the collector is down this is the whole cost of an
        attempt, so the sender calls it before it spends any work on a batch. Returns True
        when it opened a new connection.

        Raises:
            TransportError: the connection could not be made.
        """
        connection = self._connection
        if connection.sock is not None and not _peer_closed(connection.sock):
            return False
        connection.close()
        try:
            connection.connect()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return True

    def post(
        self, body: bytes, headers: dict[str, str], *, fresh: bool | None = None
    ) -> tuple[int, str | None, bytes]:
        """Send one POST; returns ``(status, Retry-After header or None, body)``.

        ``fresh`` is what :meth:`connect` returned right before, when the caller called it
        (the connection is not checked twice); None connects here.

        Raises:
            TransportError: no complete answer (the connection is closed and reopened next time).
        """
        connection = self._connection
        if fresh is None:
            fresh = self.connect()
        all_headers = {**self._headers, **headers}
        try:
            return self._exchange(body, all_headers)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if fresh or not isinstance(exc, ConnectionError):
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        # A reused connection the server dropped in the meantime: once more on a fresh one
        # (the batch's idempotency key makes a resend safe).
        self.connect()
        try:
            return self._exchange(body, all_headers)
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    def _exchange(self, body: bytes, headers: dict[str, str]) -> tuple[int, str | None, bytes]:
        connection = self._connection
        connection.request("POST", self._target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(MAX_RESPONSE_BYTES)
        if not response.isclosed():  # an answer longer than we read: do not reuse the connection
            connection.close()
        return response.status, response.getheader("retry-after"), data

    def close(self) -> None:
        self._connection.close()
