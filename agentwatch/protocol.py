"""The wire contract between agents, the collector and viewers — defined once, here.

Everything that crosses a socket is one of these msgspec Structs. The collector decodes
ingest bodies into :class:`Event`, streams :class:`Snapshot` and :class:`LogEntry` over
Server-Sent Events, and the SDK, simulator and TUI build and read the same types.

Compatibility rules (see README, "Protocol"):

* Viewers ignore fields they do not know and show "—" for fields that are missing, so
  every field a viewer reads has a default.
* The snapshot keeps the field names of the minimal form (``timestamp``,
  ``tokens_per_second``, ``tool_calls_total``, ``error_rate``, ``completions``,
  ``p50_latency_ms``, ``p99_latency_ms``, ``active_agents``) and only adds to them.
* Log entries keep ``timestamp``, ``agent_id``, ``level``, ``message``, ``metadata``.
"""

from __future__ import annotations

import math
from typing import Any, Final

import msgspec

from agentwatch.alertwire import (  # re-exported: the contract is one import
    ALERT_ACK as ALERT_ACK,
)
from agentwatch.alertwire import (
    ALERT_FIRING as ALERT_FIRING,
)
from agentwatch.alertwire import (
    ALERT_RESOLVED as ALERT_RESOLVED,
)
from agentwatch.alertwire import (
    ALERT_RULES as ALERT_RULES,
)
from agentwatch.alertwire import (
    ALERT_SNOOZE as ALERT_SNOOZE,
)
from agentwatch.alertwire import (
    ANALYSIS_VIEWS as ANALYSIS_VIEWS,
)
from agentwatch.alertwire import (
    MAX_SNOOZE_SECONDS as MAX_SNOOZE_SECONDS,
)
from agentwatch.alertwire import (
    MAX_VIEWER_NAME_LENGTH as MAX_VIEWER_NAME_LENGTH,
)
from agentwatch.alertwire import (
    RULE_BUDGET as RULE_BUDGET,
)
from agentwatch.alertwire import (
    RULE_COST_PER_INFERENCE as RULE_COST_PER_INFERENCE,
)
from agentwatch.alertwire import (
    RULE_ERROR_RATE as RULE_ERROR_RATE,
)
from agentwatch.alertwire import (
    RULE_LATENCY_REGRESSION as RULE_LATENCY_REGRESSION,
)
from agentwatch.alertwire import (
    RULE_NEW_DECISION as RULE_NEW_DECISION,
)
from agentwatch.alertwire import (
    RULE_SILENT_AGENT as RULE_SILENT_AGENT,
)
from agentwatch.alertwire import (
    RULE_STUCK as RULE_STUCK,
)
from agentwatch.alertwire import (
    RULE_TOKEN_EFFICIENCY as RULE_TOKEN_EFFICIENCY,
)
from agentwatch.alertwire import (
    SCOPE_AGENT_PREFIX as SCOPE_AGENT_PREFIX,
)
from agentwatch.alertwire import (
    SCOPE_FLEET as SCOPE_FLEET,
)
from agentwatch.alertwire import (
    SCOPE_MODEL_PREFIX as SCOPE_MODEL_PREFIX,
)
from agentwatch.alertwire import (
    SCOPE_PROGRAM_PREFIX as SCOPE_PROGRAM_PREFIX,
)
from agentwatch.alertwire import (
    VIEW_COSTS as VIEW_COSTS,
)
from agentwatch.alertwire import (
    VIEW_DECISIONS as VIEW_DECISIONS,
)
from agentwatch.alertwire import (
    VIEW_FAILURES as VIEW_FAILURES,
)
from agentwatch.alertwire import (
    VIEW_LATENCY as VIEW_LATENCY,
)
from agentwatch.alertwire import (
    Alert as Alert,
)
from agentwatch.alertwire import (
    AlertAction as AlertAction,
)
from agentwatch.alertwire import (
    AlertsResponse as AlertsResponse,
)
from agentwatch.alertwire import (
    Analysis as Analysis,
)
from agentwatch.alertwire import (
    AnalysisRow as AnalysisRow,
)
from agentwatch.alertwire import (
    AnalysisSection as AnalysisSection,
)
from agentwatch.alertwire import (
    CostPoint as CostPoint,
)

# --------------------------------------------------------------------------- paths
PATH_EVENTS: Final = "/api/events"
PATH_DASHBOARD_STREAM: Final = "/api/dashboard/stream"
PATH_LOGS_STREAM: Final = "/api/logs/stream"
PATH_AGENTS: Final = "/api/agents"
PATH_SNAPSHOT: Final = "/api/snapshot"
PATH_HEALTH: Final = "/healthz"
PATH_METRICS: Final = "/metrics"
PATH_OTLP_TRACES: Final = "/v1/traces"
PATH_OTLP_LOGS: Final = "/v1/logs"
PATH_OTLP_METRICS: Final = "/v1/metrics"
PATH_ALERTS: Final = "/api/alerts"
PATH_ANALYSIS: Final = "/api/analysis"
#: Coding agents' hooks: ``POST /api/hooks/<program>`` (one of :data:`HOOK_PROGRAMS`).
PATH_HOOKS: Final = "/api/hooks"
PATH_SESSIONS: Final = "/api/sessions"
#: One trace's spans: ``GET /api/traces/<id>`` (a trace id, or a prompt/turn id, see :class:`Trace`).
PATH_TRACES: Final = "/api/traces"
#: Past log lines by time: ``GET /api/logs?from=&to=&agent=&level=&limit=&after=`` (see :class:`LogRange`).
PATH_LOGS: Final = "/api/logs"

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8787
DEFAULT_URL: Final = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
#: OTLP/gRPC's well-known port, where exporters send by default.
DEFAULT_OTLP_GRPC_PORT: Final = 4317

# ---------------------------------------------------------------------- SSE names
SSE_METRICS: Final = "metrics"
SSE_LOG: Final = "log"
SSE_GAP: Final = "gap"
SSE_DROPPED: Final = "dropped"
SSE_ALERT: Final = "alert"
#: First message of every log stream: which collector run and which id sequence it speaks for.
SSE_HELLO: Final = "hello"
#: Sent instead of resuming when the client's last id belongs to another id sequence.
SSE_RESET: Final = "reset"
#: What changed since the metrics stream's frame before (see :class:`SnapshotDelta`).
SSE_METRICS_DELTA: Final = "metrics-delta"
#: Query parameter of the metrics stream: ``delta=1`` asks for :data:`SSE_METRICS_DELTA` frames.
PARAM_DELTA: Final = "delta"

# ---------------------------------------------------------------------- span types
SPAN_LLM_CALL: Final = "llm_call"
SPAN_TOOL_CALL: Final = "tool_call"
SPAN_DECISION: Final = "decision"
SPAN_COMPLETION: Final = "completion"
SPAN_ERROR: Final = "error"
SPAN_LOG: Final = "log"
SPAN_HEARTBEAT: Final = "heartbeat"
#: An event made from OTLP metric data points (tokens a program counted in its metrics).
SPAN_METRIC: Final = "metric"
#: A call that turns text into vectors: its tokens and cost count, its latency and output
#: tokens say nothing about inference (never in the latency percentiles or token efficiency).
SPAN_EMBEDDING: Final = "embedding"
KNOWN_SPAN_TYPES: Final = frozenset(
    {
        SPAN_LLM_CALL,
        SPAN_TOOL_CALL,
        SPAN_DECISION,
        SPAN_COMPLETION,
        SPAN_ERROR,
        SPAN_LOG,
        SPAN_HEARTBEAT,
        SPAN_METRIC,
        SPAN_EMBEDDING,
    }
)
#: span_type given to an event that has neither a span type, an error nor a message.
DEFAULT_SPAN_TYPE: Final = "event"
#: ``event_type`` of a span's start: the span is running (its type in ``payload["span_type"]``,
#: its ids, ``model``/``tool_name`` when known, ``timestamp`` when it began). Not an event of its
#: own: it opens an in-flight step that the span's end (same ``span_id``) closes.
EVENT_SPAN_START: Final = "span_start"
#: Key of ``payload`` naming the started span's type.
START_SPAN_TYPE_KEY: Final = "span_type"
#: Span types whose ``latency_ms`` feeds the latency percentiles (inference latency).
LATENCY_SPAN_TYPES: Final = frozenset({SPAN_LLM_CALL, SPAN_COMPLETION})

# ---------------------------------------------------------------- attribute keys
#: Prompt-cache tokens of a call, kept in ``Event.attributes`` under the OpenTelemetry GenAI
#: names (integers, part of ``tokens_input``): priced at cache rates and shown in log lines.
ATTR_TOKENS_CACHE_READ: Final = "gen_ai.usage.cache_read.input_tokens"
ATTR_TOKENS_CACHE_WRITE: Final = "gen_ai.usage.cache_creation.input_tokens"

# -------------------------------------------------------------------------- levels
LEVELS: Final = ("debug", "info", "warning", "error", "critical")
LEVEL_RANK: Final = {name: rank for rank, name in enumerate(LEVELS)}
_LEVEL_ALIASES: Final = {
    "trace": "debug",
    "warn": "warning",
    "err": "error",
    "fatal": "critical",
    "crit": "critical",
}

# ------------------------------------------------------------------------- statuses
STATUS_OK: Final = "ok"
STATUS_DEGRADED: Final = "degraded"
STATUS_FAILING: Final = "failing"
STATUS_IDLE: Final = "idle"
STATUS_OFFLINE: Final = "offline"
STATUSES: Final = (STATUS_OK, STATUS_DEGRADED, STATUS_FAILING, STATUS_IDLE, STATUS_OFFLINE)

# --------------------------------------------------------------------------- limits
MAX_AGENT_ID_LENGTH: Final = 128
MAX_SHORT_FIELD_LENGTH: Final = 256  # model, tool_name, decision_made, ids, level
MAX_MESSAGE_LENGTH: Final = 16_384  # message and error text
MAX_ATTRIBUTES_BYTES: Final = 16_384  # attributes once re-encoded as JSON
#: How many containers (objects/arrays) deep a value inside ``attributes``/``payload`` may go.
MAX_NESTING_DEPTH: Final = 8
#: Exclusive upper bound of token counts: integers stay exact as JSON numbers below 2**53.
MAX_TOKENS: Final = 2**53
#: Exclusive upper bound of a normalised timestamp (unix seconds, year 5138): every viewer can
#: format it, and larger numbers are read as milli-, micro- or nanoseconds first.
MAX_TIMESTAMP: Final = 1e11
#: Largest cost of one event (USD): a larger one is refused at ingest on every path (native,
#: OTLP, metrics), an estimate above it is no estimate, and every aggregate ignores it.
MAX_EVENT_COST_USD: Final = 1e6
#: Largest latency of one event (ms, about 31 years): a larger one is refused like a cost.
MAX_LATENCY_MS: Final = 1e12

# ------------------------------------------------------------------------- headers
#: Request header naming one ingest batch; a batch resent with the same key is answered with the
#: original answer and not ingested again (keys are remembered for a bounded time, see README).
HEADER_IDEMPOTENCY_KEY: Final = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH: Final = 128  # printable ASCII characters
#: Response header of a paged listing (``/api/agents``, ``/api/snapshot``): rows there are in all.
HEADER_TOTAL_COUNT: Final = "X-Total-Count"

# ------------------------------------------------------------------------- history
#: Attributes naming the prompt or turn an event belongs to (Claude Code's ``prompt.id``, Gemini
#: CLI's ``prompt_id``, Codex's ``turn.id``), read in this order for an event with no ``trace_id``.
PROMPT_ID_ATTRIBUTES: Final = ("prompt.id", "prompt_id", "turn.id")
#: Spans in one ``/api/traces`` answer at most (the newest; ``spans_dropped`` counts the others).
MAX_TRACE_SPANS: Final = 2000
#: ``/api/traces`` looks at events that arrived within this many seconds.
MAX_TRACE_AGE_SECONDS: Final = 86_400.0
#: ``/api/logs``: lines in one answer by default and at most, and the longest time range (seconds).
DEFAULT_LOG_RANGE_LIMIT: Final = 1000
MAX_LOG_RANGE_LIMIT: Final = 10_000
MAX_LOG_RANGE_SECONDS: Final = 3600.0


def normalize_token(token: str | None) -> str | None:
    """A bearer token as every side sends and compares it: surrounding whitespace (the newline
    of ``$(cat file)``, a stray space) removed; None when nothing is left."""
    if token is None:
        return None
    return token.strip() or None


def token_problem(token: str) -> str | None:
    """Why ``token`` (already normalised) cannot be a bearer token, or None when it can: an HTTP
    header carries printable ASCII only."""
    if not (token.isascii() and token.isprintable()):
        return "must be printable ASCII (letters, digits, punctuation)"
    return None


def parse_level(level: str) -> str | None:
    """The :data:`LEVELS` name for a level in any common vocabulary, or None if unknown."""
    name = level.strip().lower()
    name = _LEVEL_ALIASES.get(name, name)
    return name if name in LEVEL_RANK else None


def normalize_level(level: str | None) -> str:
    """Map a level name from any common logging vocabulary onto :data:`LEVELS`.

    Unknown names become ``"info"`` so an odd level never hides a line from a filter.
    """
    return (parse_level(level) if level else None) or "info"


def level_rank(level: str | None) -> int:
    """Rank of a level for "at least this level" filters (unknown → info)."""
    return LEVEL_RANK[normalize_level(level)]


class Event(msgspec.Struct, omit_defaults=True, gc=False):
    """One thing an agent did — the telemetry article's schema.

    ``timestamp`` is unix seconds (float) once decoded; an RFC 3339 string is accepted on
    the wire and converted by the ingest layer. ``None`` means "time of receipt".

    The first article's form (``event_type`` ∈ token / tool_call / error / completion with a
    ``payload``) decodes into the same struct; the ingest layer maps it onto span fields.

    ``gc=False``: events never form reference cycles, so the garbage collector need not
    track the many thousands held in queues and rings (shorter GC pauses in agents and
    in the collector).
    """

    agent_id: str
    timestamp: float | str | None = None
    span_type: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    model: str | None = None
    tokens_input: int | None = None
    tokens_output: int | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    cost_estimated: bool | None = None
    decision_made: str | None = None
    confidence: float | None = None
    error: str | None = None
    tool_name: str | None = None
    level: str | None = None
    message: str | None = None
    attributes: dict[str, Any] | None = None
    # The first article's minimal form.
    event_type: str | None = None
    payload: dict[str, Any] | None = None


class LogEntry(msgspec.Struct, omit_defaults=True, gc=False):
    """One line of the log stream. ``id`` is the collector's sequence number (0 = none)."""

    timestamp: float
    agent_id: str
    level: str
    message: str
    metadata: dict[str, Any] = {}
    id: int = 0
    span_type: str | None = None
    trace_id: str | None = None


class TraceSpan(msgspec.Struct, omit_defaults=True):
    """One event of a trace, as ``GET /api/traces/<id>`` lists it.

    ``id`` is its log line's id; ``start`` (unix seconds) is its time less its latency (an event is
    stamped when its span ends); ``name`` is its log line's text. Fields the event did not set are
    left out.
    """

    id: int
    agent_id: str
    start: float
    span_type: str
    name: str
    level: str
    duration_ms: float | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    model: str | None = None
    tool_name: str | None = None
    tokens_input: int | None = None
    tokens_output: int | None = None
    cost_usd: float | None = None
    cost_estimated: bool | None = None
    error: str | None = None
    decision_made: str | None = None
    attributes: dict[str, Any] | None = None


class Trace(msgspec.Struct, omit_defaults=False):
    """``GET /api/traces/<id>``: the events of one trace, oldest start first.

    An event belongs to the trace its ``trace_id`` names or, when it has none, to the prompt or turn
    its :data:`PROMPT_ID_ATTRIBUTES` name, so ``<id>`` is either. At most :data:`MAX_TRACE_SPANS`
    spans (the newest), of events that arrived within :data:`MAX_TRACE_AGE_SECONDS`:
    ``spans_total`` counts every match, ``spans_dropped`` those left out. ``duration_ms`` is the wall
    time from the first start to the last end; tokens, cost and errors are summed over the spans
    sent. ``incomplete`` says why older spans may be missing (the store still indexing rows of an
    earlier version, or failing to read); None when nothing is.
    """

    trace_id: str
    spans: list[TraceSpan] = []
    spans_total: int = 0
    spans_dropped: int = 0
    start: float | None = None
    duration_ms: float | None = None
    tokens_input: int = 0
    tokens_output: int = 0
    cost_usd: float = 0.0
    errors: int = 0
    incomplete: str | None = None


class LogRange(msgspec.Struct, omit_defaults=False):
    """``GET /api/logs?from=&to=``: the log lines stamped in [``start``, ``end``) (unix seconds).

    Oldest first (by time, then id), with their ids. At most ``limit`` lines, the first to arrive;
    ``truncated`` says some were left out (the limit, or the bound on the rows one answer reads);
    then ``next_after`` is the cursor: the same query with ``after=<next_after>`` goes on from there
    (the answer's ``Link: rel="next"`` header names that URL). ``incomplete`` says why lines the
    store holds may be missing (it failed to read); None otherwise.
    """

    start: float
    end: float
    entries: list[LogEntry] = []
    truncated: bool = False
    incomplete: str | None = None
    next_after: int | None = None


class Work(msgspec.Struct, omit_defaults=True):
    """What a coding-agent session says it did, from its own metrics (lines of code changed,
    active time, sessions, commits, pull requests), since the collector started."""

    lines_added: int = 0
    lines_removed: int = 0
    active_seconds: float = 0.0
    sessions: int = 0
    commits: int = 0
    pull_requests: int = 0


class InFlight(msgspec.Struct, omit_defaults=False):
    """What an agent is doing now: a step begun ``since`` (unix seconds, collector's clock for a
    session's tool, the agent's own for an SDK span) and not yet ended.

    ``what`` reads like an activity (``llm_call gpt-4o``, ``tool_call Bash``). ``stuck`` is set
    once it has run longer than the stuck rule's limit (``limit_seconds``).
    """

    what: str
    since: float
    span_id: str | None = None
    stuck: bool = False
    limit_seconds: float | None = None


class AgentRow(msgspec.Struct, omit_defaults=False):
    """One agent's line in a snapshot: its own rates over the window and its health."""

    agent_id: str
    status: str = STATUS_OK
    events_per_second: float = 0.0
    tokens_per_second: float = 0.0
    p50_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    error_rate: float = 0.0
    errors: int = 0
    events: int = 0
    cost_usd: float = 0.0
    last_seen: float | None = None
    last_activity: str | None = None
    model: str | None = None
    telemetry_dropped: int = 0
    #: Coding-agent work from the program's metrics; None when it sends none.
    work: Work | None = None
    #: Some of its calls had tokens but no cost and a model the price table does not know:
    #: ``cost_usd`` leaves them out.
    cost_unpriced: bool = False
    #: A step running now (an SDK span started and not ended, or a session's tool): a stuck one,
    #: else the newest; None when nothing is known to be running.
    in_flight: InFlight | None = None


class History(msgspec.Struct, omit_defaults=False):
    """Per-second series, oldest first, one value per second ending at ``end``.

    A second with no latency sample has ``None`` in ``p99_latency_ms``.
    """

    end: float = 0.0
    tokens_per_second: list[float] = []
    p99_latency_ms: list[float | None] = []
    error_rate: list[float] = []
    events_per_second: list[float] = []
    cost_per_second: list[float] = []


# ------------------------------------------------------------- coding-agent sessions
#: Programs whose hooks ``POST /api/hooks/<program>`` takes, named as their telemetry names them.
HOOK_PROGRAMS: Final = ("claude-code", "codex", "gemini-cli")
SESSION_NEEDS_YOU: Final = "needs_you"
SESSION_WORKING: Final = "working"
SESSION_WAITING: Final = "waiting"
SESSION_FAILED: Final = "failed"
SESSION_ENDED: Final = "ended"
#: Session states, the most urgent first (the order sessions are listed in).
SESSION_STATES: Final = (SESSION_NEEDS_YOU, SESSION_FAILED, SESSION_WORKING, SESSION_WAITING, SESSION_ENDED)


class Session(msgspec.Struct, omit_defaults=True):
    """One coding-agent session as its program's hooks tell it: what it is doing, since when.

    ``agent_id`` is the agent its telemetry reports under (``claude-code·d0615065``), so a viewer
    joins the two. ``asks`` says what a session that needs its user asks for; ``tool`` is the tool
    running now (since ``tool_since``). Times are unix seconds of the collector's clock.
    """

    session_id: str
    program: str
    agent_id: str
    state: str
    since: float
    updated: float
    tool: str | None = None
    tool_since: float | None = None
    asks: str | None = None
    detail: str | None = None
    cwd: str | None = None
    host: str | None = None
    tmux_pane: str | None = None


class Snapshot(msgspec.Struct, omit_defaults=False):
    """Aggregates over the last ``window_seconds``, sent as ``event: metrics``.

    Latency percentiles come from a log-bucket sketch with ≤ 1 % relative error, and
    ``*_cost_*`` fields include prices estimated from the price table where an event
    carried no ``cost_usd`` (``cost_estimated`` says so): viewers label both as estimates.
    """

    timestamp: float
    tokens_per_second: float = 0.0
    tool_calls_total: int = 0
    error_rate: float = 0.0
    completions: int = 0
    p50_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    active_agents: int = 0
    window_seconds: float = 60.0
    events_per_second: float = 0.0
    events: int = 0
    errors: int = 0
    p95_latency_ms: float | None = None
    input_tokens_per_second: float = 0.0
    output_tokens_per_second: float = 0.0
    window_cost_usd: float = 0.0
    cost_per_minute: float = 0.0
    total_cost_usd: float = 0.0
    cost_estimated: bool = False
    latency_relative_error: float = 0.01
    agent: str | None = None
    agents: list[AgentRow] = []
    agents_dropped: int = 0
    history: History = msgspec.field(default_factory=History)
    alerts: list[Alert] = []
    #: Coding-agent sessions known from their hooks, most urgent first (in every snapshot, so a
    #: viewer narrowed to one agent still sees every session that needs its user).
    sessions: list[Session] = []


class SnapshotDelta(Snapshot, omit_defaults=True):
    """``event: metrics-delta``: one scope's snapshot as a change to the frame before it.

    Sent on a metrics stream opened with ``?delta=1``, whose frames carry ``id: <n>`` (``n`` one
    more per frame of the scope); a delta applies to the frame whose id is one less, else the
    viewer has missed one and reconnects (the first frame of a stream is a whole snapshot).
    The snapshot's own fields are whole (one left out has its default), except:

    * ``agents``: only the rows new or changed since that frame; ``removed``: ids of rows gone;
      the rows stay sorted by agent id.
    * ``history``: only the newest values of each series (the last ``len`` seconds up to
      ``end``); the earlier ones are the values the viewer holds for those seconds.
    * ``alerts`` and ``sessions``: None (left out) while unchanged, else the whole list.
    """

    removed: list[str] = []
    alerts: list[Alert] | None = None  # type: ignore[assignment]  # None: unchanged
    sessions: list[Session] | None = None  # type: ignore[assignment]


#: The snapshot fields a delta sends whole, every time (all but the lists it sends in part).
SNAPSHOT_SCALARS: Final = tuple(
    name for name in Snapshot.__struct_fields__ if name not in ("agents", "history", "alerts", "sessions")
)


class Gap(msgspec.Struct):
    """Sent as ``event: gap`` when entries a client asked for are no longer held.

    ``missed`` counts the ids ``first_missing … last_missing`` not held. Every one of them was
    handed out (ids are recorded before use), so it is exact, unless ``exact`` says otherwise.
    """

    missed: int
    first_missing: int
    last_missing: int
    #: False when some of the ids may never have been handed out (reserved ahead by an older
    #: version of the collector before a crash): ``missed`` is then an upper bound.
    exact: bool = True


class Dropped(msgspec.Struct):
    """Sent as ``event: dropped`` when a slow subscriber's queue overflowed."""

    dropped: int
    total_dropped: int


class Hello(msgspec.Struct):
    """Sent as ``event: hello``, first on every log stream: who is speaking.

    ``run``: random, new at every start of the collector. ``sequence``: names the id sequence;
    the stream's ids read ``<sequence>:<n>``. It stays the same while ids continue from a store's
    id mark (``continued``: this run took over an earlier run's ids) and is new whenever ids start
    over. ``last_id``: the newest id handed out when the stream began.
    """

    run: str
    sequence: str
    continued: bool
    last_id: int


class Reset(msgspec.Struct):
    """Sent as ``event: reset`` when the client resumed after an id of another sequence.

    The collector restarted without the ids it had (``--no-store``, a new store): nothing the
    client missed after ``after`` of sequence ``previous`` (``""``: a bare number) can be sent.
    The stream goes on from ``first_id`` of ``sequence``, the first id the collector still holds.
    """

    sequence: str
    previous: str
    after: int
    first_id: int


class Rejected(msgspec.Struct):
    index: int
    error: str


class IngestResponse(msgspec.Struct):
    accepted: int
    rejected: list[Rejected] = []


class ErrorResponse(msgspec.Struct):
    error: str
    detail: str | None = None


class Health(msgspec.Struct):
    status: str
    version: str
    uptime_seconds: float
    events_total: int
    log_entries_total: int
    last_log_id: int
    agents: int
    subscribers: int
    store: str
    #: asyncio tasks alive in the collector's event loop (a leak shows as steady growth).
    tasks: int = 0
    #: Store rows committed, waiting to be written, and dropped (queue full or store failing).
    store_written_rows: int = 0
    store_queued_rows: int = 0
    store_dropped_rows: int = 0
    #: OTLP metrics: export requests taken, data points taken and refused, GenAI points not counted
    #: because the same program's spans or log records carry its tokens, series whose last
    #: cumulative value is kept (and series forgotten to stay within the cap).
    metric_requests_total: int = 0
    metric_points_total: int = 0
    metric_points_rejected: int = 0
    metric_points_superseded: int = 0
    metric_series: int = 0
    metric_series_evicted: int = 0
    #: Values that reached an aggregate unusable (a NaN, infinite or out-of-bounds cost, latency
    #: or time) and were left out of its totals (the ingest paths refuse them first).
    values_refused: int = 0
    #: OTLP spans and log records accepted but shown nowhere (a coding agent's span of no known
    #: session).
    otlp_items_ignored: int = 0
    #: Coding-agent sessions known from their hooks now, and those forgotten to stay within the cap
    #: (the least recently updated first).
    sessions: int = 0
    sessions_evicted: int = 0
    #: HTTP connections open now; since start, connections refused over ``--max-connections`` (503,
    #: or closed unanswered past the refusals under way) and requests whose headers were too large
    #: (431) or not sent in time (408, or a silent connection closed). 0 from a server without the
    #: bounds (an app served in process).
    http_connections: int = 0
    http_connections_refused: int = 0
    http_headers_refused: int = 0
    #: Whole snapshots sent on the metrics stream to delta viewers that had skipped a frame (their
    #: connection was full), since start.
    metrics_resyncs: int = 0
    #: Steps in flight now (span starts and sessions' tools not yet ended), and since start those
    #: forgotten before their end came (over the per-agent bound, or past the expiry).
    steps_in_flight: int = 0
    steps_dropped: int = 0


def finite(value: float | None) -> bool:
    """True for a real, finite number (the ingest layer rejects NaN and infinities)."""
    return value is None or math.isfinite(value)


json_encoder: Final = msgspec.json.Encoder()
