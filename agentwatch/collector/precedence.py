"""Spans and log records win over metrics: a program's tokens are counted once, from one source.

Programs such as Claude Code and Gemini CLI report the same model calls several ways at once:
as log records or spans carrying token counts, and as metrics summing them. The rule, in one
place (:meth:`TokenSources.metrics_superseded`):

    Tokens from OTLP metrics (``gen_ai.client.token.usage``, and the calls counted by
    ``gen_ai.client.operation.duration``) count only for a source that has sent no span or
    log record carrying token counts. A source is one running program: its agent (as for
    spans: ``gen_ai.agent.name``, else the ``service.name`` resource attribute) and its session
    (``session.id``, ``gen_ai.conversation.id``, ``conversation.id``, else the
    ``service.instance.id`` resource attribute). When both arrive, the spans and log records
    are counted and the metric's data points are counted as superseded
    (``metric_points_superseded``). Metric points wait a short hold (10 s by default) before
    they count, so spans and log records sent at the same moment win whichever export arrives
    first. A metric point that names no session is superseded as soon as any session of its
    agent sends token counts in spans or log records, and so is every metric of an agent whose
    spans name no session. Programs whose events name one agent per session (Claude Code:
    ``claude-code·d0615065``) have their metric points named the same way
    (:func:`~agentwatch.collector.otlp.conventions.metric_agent`); their points that name no
    session are superseded as soon as any session of the program sends token counts.

Nothing counted is taken back: tokens a metric-only source already counted stay counted if it
starts sending them in spans later. Sources are remembered up to a cap, least recently seen
forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from agentwatch.collector.compiled import load_wanted
from agentwatch.collector.otlp.sessions import SEPARATOR
from agentwatch.protocol import SPAN_METRIC, Event

#: Attributes naming a program's session, most specific first (point or span, then resource).
SESSION_KEYS: Final = ("session.id", "gen_ai.conversation.id", "conversation.id", "service.instance.id")
_SESSION_KEYSET: Final = frozenset(SESSION_KEYS)
#: Sources remembered by default.
DEFAULT_MAX_SOURCES: Final = 10_000

#: (agent, session or None)
Source = tuple[str, str | None]


def session_of(*attribute_sets: Mapping[str, Any] | None) -> str | None:
    """The first session key found, looking through ``attribute_sets`` in order."""
    for attributes in attribute_sets:
        if attributes:
            for key in SESSION_KEYS:
                value = attributes.get(key)
                if value is not None and value != "":
                    return str(value)
    return None


class TokenSources:
    """The sources that have sent spans or log records carrying token counts.

    Fed every accepted event (:meth:`note`, an aggregator of the collector); asked about each
    metric point (:meth:`metrics_superseded`). Events made from metrics
    (:data:`~agentwatch.protocol.SPAN_METRIC`) are not sources of their own.
    """

    def __init__(self, max_sources: int = DEFAULT_MAX_SOURCES) -> None:
        self.max_sources = max(1, max_sources)
        self._sources: OrderedDict[Source, None] = OrderedDict()
        self._sessions_per_agent: dict[str, int] = {}
        #: Sources forgotten to stay within ``max_sources``.
        self.evicted = 0

    def note(self, events: Iterable[Event]) -> None:
        """Remember the source of each event that carries token counts. O(1) per event.

        Where built, ``_ingestscan.token_sources`` finds a list's sources (the loop below, compiled)."""
        if _compiled_sources is not None and isinstance(events, list):
            found = _compiled_sources(events, SPAN_METRIC, SESSION_KEYS)
            if found is not None:
                for source in found:
                    self._add(source)
                return
        metric, keys, keyset = SPAN_METRIC, SESSION_KEYS, _SESSION_KEYSET
        agents: set[str] = set()  # sources of this batch already remembered: without a session,
        sources: set[Source] = set()  # and with one
        for event in events:
            if (event.tokens_input is None and event.tokens_output is None) or event.span_type == metric:
                continue
            attributes = event.attributes
            if not attributes or keyset.isdisjoint(attributes):
                agent = event.agent_id
                if agent not in agents:
                    agents.add(agent)
                    self._add((agent, None))
                continue
            session = None
            for key in keys:  # session_of, inline: this runs for every event with tokens
                value = attributes.get(key)
                if value is not None and value != "":
                    session = value if value.__class__ is str else str(value)
                    break
            source = (event.agent_id, session)
            if source not in sources:
                sources.add(source)
                self._add(source)

    def metrics_superseded(self, agent: str, session: str | None) -> bool:
        """THE rule: whether a metric point of this source must not count (see the module docstring)."""
        if session is None:
            return agent in self._sessions_per_agent
        sources = self._sources
        return (agent, session) in sources or (agent, None) in sources

    def _add(self, source: Source) -> None:
        sources = self._sources
        if source in sources:
            sources.move_to_end(source)
            return
        counts = self._sessions_per_agent
        if len(sources) >= self.max_sources:
            (agent, _), _ = sources.popitem(last=False)
            self.evicted += 1
            for name in _counted_as(agent):
                left = counts[name] - 1
                if left:
                    counts[name] = left
                else:
                    del counts[name]
        sources[source] = None
        for name in _counted_as(source[0]):
            counts[name] = counts.get(name, 0) + 1


def _counted_as(agent: str) -> tuple[str, ...]:
    """An agent, and for a per-session agent id (``claude-code·d0615065``) its program too: a
    metric point of the program that names no session may be any of its sessions'."""
    program, separator, _ = agent.partition(SEPARATOR)
    return (agent, program) if separator and program else (agent,)


def _load_sources() -> Callable[[list[Event], str, tuple[str, ...]], list[Source] | None] | None:
    """``_ingestscan.token_sources`` where built and wanted, else None."""
    scan = load_wanted("_ingestscan")
    if scan is None:
        return None
    scan.setup_event(Event)
    sources: Callable[[list[Event], str, tuple[str, ...]], list[Source] | None] = scan.token_sources
    return sources


_compiled_sources = _load_sources()
