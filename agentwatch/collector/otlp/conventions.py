"""Which mapper reads a resource's items: the generic GenAI one, or a program's own.

Programs that do not follow the GenAI conventions (Claude Code, Codex, Gemini CLI)
each have a module with ``map_log`` / ``map_span`` of the generic mappers' signatures, and say
which items are theirs by ``SERVICE_NAMES`` (the resource's ``service.name``) and
``LOG_SCOPES`` / ``SPAN_SCOPES`` (instrumentation scope names). The front ends ask once per
resource and scope (:func:`log_mapper`, :func:`span_mapper`); items of any other program keep
the generic mappers, at the cost of a dict lookup or two per scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Final

from agentwatch.collector.otlp import claude_code, codex, gemini_cli, sessions
from agentwatch.collector.otlp.mapping import ATTR_SERVICE_NAME, Fallback, RawLog, map_log, map_span
from agentwatch.protocol import Event

LogMapper = Callable[[RawLog, Fallback, float], Event]
SpanMapper = Callable[..., Event]  # map_span's eleven arguments

#: The programs with mappers of their own.
PROGRAMS: Final[tuple[ModuleType, ...]] = (claude_code, codex, gemini_cli)

_LOGS_BY_SERVICE: Final[dict[str, LogMapper]] = {
    name: program.map_log for program in PROGRAMS for name in program.SERVICE_NAMES
}
_LOGS_BY_SCOPE: Final[dict[str, LogMapper]] = {
    name: program.map_log for program in PROGRAMS for name in program.LOG_SCOPES
}
_SPANS_BY_SERVICE: Final[dict[str, SpanMapper]] = {
    name: program.map_span for program in PROGRAMS for name in program.SERVICE_NAMES
}
#: ``service.name`` of the programs whose agent ids name the session, and their program name.
_PER_SESSION: Final[dict[str, str]] = {
    name: program.PROGRAM for program in PROGRAMS for name in program.SERVICE_NAMES
}
_SPANS_BY_SCOPE: Final[dict[str, SpanMapper]] = {
    name: program.map_span for program in PROGRAMS for name in program.SPAN_SCOPES
}


def log_mapper(resource: Mapping[str, Any], scope_name: str = "") -> LogMapper:
    """The mapper of these log records: by the resource's ``service.name``, else by scope, else generic."""
    service = resource.get(ATTR_SERVICE_NAME)
    mapper = _LOGS_BY_SERVICE.get(service) if service.__class__ is str else None
    return mapper or _LOGS_BY_SCOPE.get(scope_name, map_log)


def span_mapper(resource: Mapping[str, Any], scope_name: str = "") -> SpanMapper:
    """The mapper of these spans, chosen as :func:`log_mapper` chooses."""
    service = resource.get(ATTR_SERVICE_NAME)
    mapper = _SPANS_BY_SERVICE.get(service) if service.__class__ is str else None
    return mapper or _SPANS_BY_SCOPE.get(scope_name, map_span)


def metric_agent(agent: str, resource: Mapping[str, Any], attributes: Mapping[str, Any]) -> str:
    """The agent of a metric point, named as that program's events name theirs (one per session),
    so that :mod:`agentwatch.collector.precedence` matches a program's metrics to its events."""
    service = resource.get(ATTR_SERVICE_NAME)
    program = _PER_SESSION.get(service) if service.__class__ is str else None
    if program is None:
        return agent
    if agent == service:
        agent = program
    named = sessions.session_agent(agent, attributes)
    return named if named != agent else sessions.session_agent(agent, resource)
