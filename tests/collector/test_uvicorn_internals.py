"""What :mod:`agentwatch.collector.httpguard` takes from uvicorn beyond its documented API is still
there, with the same shape: a uvicorn upgrade that moves any of it fails here, naming it, before the
HTTP limits silently stop holding (``tests/collector/test_http_limits.py`` checks that they hold)."""

from __future__ import annotations

import asyncio
import inspect

import pytest
import uvicorn
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agentwatch.collector.httpguard import GuardedHttpProtocol, guarded_protocol
from agentwatch.collector.httplimits import HttpLimits

#: Methods of uvicorn's httptools protocol the guard overrides or calls → their parameters.
METHODS = {
    "connection_made": ["self", "transport"],
    "connection_lost": ["self", "exc"],
    "data_received": ["self", "data"],
    "shutdown": ["self"],
    "on_message_begin": ["self"],
    "on_headers_complete": ["self"],
    "on_message_complete": ["self"],
    "on_response_complete": ["self"],
    "_unset_keepalive_if_required": ["self"],
}

#: Attributes a protocol instance has once made → what the guard relies on them being.
ATTRIBUTES = ("transport", "flow", "loop", "cycle", "timeout_keep_alive", "timeout_keep_alive_task")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_the_httptools_protocol_still_has_each_method_the_guard_overrides(name: str) -> None:
    method = getattr(HttpToolsProtocol, name, None)
    assert method is not None, f"uvicorn's HttpToolsProtocol.{name} is gone: GuardedHttpProtocol overrides it"
    parameters = list(inspect.signature(method).parameters)
    assert parameters == METHODS[name], (
        f"HttpToolsProtocol.{name}{parameters}: GuardedHttpProtocol expects {METHODS[name]}"
    )


def test_a_protocol_instance_has_the_attributes_the_guard_uses() -> None:
    config = uvicorn.Config(app=lambda scope, receive, send: None, http=guarded_protocol(HttpLimits()))
    config.load()
    loop = asyncio.new_event_loop()
    try:
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=uvicorn.server.ServerState(), app_state={}, _loop=loop
        )
    finally:
        loop.close()
    assert isinstance(protocol, GuardedHttpProtocol)
    for name in ATTRIBUTES:
        assert hasattr(protocol, name), f"uvicorn's protocol no longer has .{name}: the guard uses it"
    assert protocol.timeout_keep_alive == HttpLimits().idle_timeout, (
        "the idle timeout is not uvicorn's keep-alive"
    )


def test_status_lines_and_the_server_stop_hook_are_where_the_guard_finds_them() -> None:
    assert httptools_impl.STATUS_LINE[431] == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    shutdown = uvicorn.Server.shutdown
    assert inspect.iscoroutinefunction(shutdown), "uvicorn.Server.shutdown is no longer a coroutine"
    assert list(inspect.signature(shutdown).parameters) == ["self", "sockets"]
    assert "self.shutdown(sockets=sockets)" in inspect.getsource(uvicorn.Server._serve), (
        "uvicorn.Server._serve no longer calls shutdown(): CollectorServer's on_stopping would never run"
    )
