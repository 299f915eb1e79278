"""The wire contract's alerts and analysis views: alert states, rules and scopes, the alert itself,
what a viewer sends to acknowledge or snooze one, and the analysis screens' tables.

Part of the contract :mod:`agentwatch.protocol` defines (and re-exports, so either import works).
"""

from __future__ import annotations

from typing import Final

import msgspec

# -------------------------------------------------------------------------- alerts
ALERT_FIRING: Final = "firing"
ALERT_RESOLVED: Final = "resolved"
RULE_ERROR_RATE: Final = "error_rate"
RULE_COST_PER_INFERENCE: Final = "cost_per_inference"
RULE_NEW_DECISION: Final = "new_decision"
RULE_TOKEN_EFFICIENCY: Final = "token_efficiency"
RULE_LATENCY_REGRESSION: Final = "latency_regression"
RULE_SILENT_AGENT: Final = "silent_agent"
#: A cost budget of the config file crossed: an agent's (a session's) or a program's for the day.
RULE_BUDGET: Final = "budget"
#: A step (span or session tool) running longer than max(3 × its usual p99, a floor).
RULE_STUCK: Final = "stuck"
ALERT_RULES: Final = (
    RULE_ERROR_RATE,
    RULE_COST_PER_INFERENCE,
    RULE_NEW_DECISION,
    RULE_TOKEN_EFFICIENCY,
    RULE_LATENCY_REGRESSION,
    RULE_SILENT_AGENT,
    RULE_BUDGET,
    RULE_STUCK,
)
SCOPE_FLEET: Final = "fleet"
SCOPE_AGENT_PREFIX: Final = "agent:"
SCOPE_MODEL_PREFIX: Final = "model:"
SCOPE_PROGRAM_PREFIX: Final = "program:"

# ------------------------------------------------------------------------ analysis
VIEW_COSTS: Final = "costs"
VIEW_DECISIONS: Final = "decisions"
VIEW_LATENCY: Final = "latency"
VIEW_FAILURES: Final = "failures"
ANALYSIS_VIEWS: Final = (VIEW_COSTS, VIEW_DECISIONS, VIEW_LATENCY, VIEW_FAILURES)


class Alert(msgspec.Struct, omit_defaults=False):
    """One alert, sent as ``event: alert`` on every state change (never again while unchanged).

    ``id`` is ``rule:scope`` and stays the same from firing to resolved. ``scope`` is
    ``fleet``, ``agent:<id>``, ``model:<name>`` or, for new decisions,
    ``agent:<id>/decision:<name>``. ``value`` and ``threshold`` are in the rule's unit
    (error rate 0–1, USD per inference, ms, output tokens per call, seconds silent,
    times seen); ``None`` where a rule has no number.
    """

    id: str
    rule: str
    scope: str
    state: str = ALERT_FIRING
    started_at: float = 0.0
    resolved_at: float | None = None
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    severity: str = "warning"
    #: Acknowledged (quiet until it resolves): by whom (a viewer's name) and when; None: not.
    acked_by: str | None = None
    acked_at: float | None = None
    #: Snoozed (quiet until ``snoozed_until``, unix seconds, even through a new firing): by whom.
    snoozed_by: str | None = None
    snoozed_until: float | None = None


#: ``POST /api/alerts/<id>/ack`` and ``/snooze`` (a body of :class:`AlertAction`); ``DELETE`` undoes.
ALERT_ACK: Final = "ack"
ALERT_SNOOZE: Final = "snooze"
#: Characters of a viewer's name in an acknowledgement at most.
MAX_VIEWER_NAME_LENGTH: Final = 64
#: Seconds an alert may be snoozed for at most (and at least 1).
MAX_SNOOZE_SECONDS: Final = 86_400.0


class AlertAction(msgspec.Struct):
    """Body of ``POST /api/alerts/<id>/ack`` or ``/snooze``: who acts (the viewer's configured name)
    and, to snooze, for how many seconds (1 to :data:`MAX_SNOOZE_SECONDS`)."""

    by: str | None = None
    for_s: float | None = None


class AlertsResponse(msgspec.Struct):
    """``GET /api/alerts``: what fires now and the latest state changes, newest first."""

    firing: list[Alert] = []
    history: list[Alert] = []
    #: Acknowledgements and snoozes forgotten beyond the collector's bound (oldest first).
    marks_dropped: int = 0


class AnalysisRow(msgspec.Struct, omit_defaults=True):
    """One line of an analysis table. Fields a view does not fill are left out (viewers show "—").

    Units: costs USD, latencies ms, rates 0–1. ``share`` is this row's part of the section's
    total (errors for failures, cost for costs). ``new`` marks a decision first seen
    recently; ``regression`` a latency above its baseline's upper bound (alert firing).
    """

    key: str
    events: float | None = None
    errors: float | None = None
    error_rate: float | None = None
    share: float | None = None
    inferences: float | None = None
    cost_window_usd: float | None = None
    cost_total_usd: float | None = None
    cost_per_inference_usd: float | None = None
    count: float | None = None
    mean_confidence: float | None = None
    first_seen: float | None = None
    new: bool | None = None
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    baseline_p99_ms: float | None = None
    upper_bound_ms: float | None = None
    regression: bool | None = None


class AnalysisSection(msgspec.Struct, omit_defaults=False):
    """A titled table: ``name`` says what the rows are grouped by (``model``, ``agent`` …)."""

    name: str
    rows: list[AnalysisRow] = []
    rows_dropped: int = 0


class CostPoint(msgspec.Struct, array_like=True):
    """One point of cost per inference over time: ``[end of interval, USD per inference]``."""

    end: float
    usd_per_inference: float


class Analysis(msgspec.Struct, omit_defaults=False):
    """``GET /api/analysis?view=…``: the data behind one analysis screen.

    ``window_seconds`` is the span the "window" columns cover; ``sampled`` is True when the
    collector analysed a sample of the events (very high rates) and counts are scaled.
    """

    view: str
    timestamp: float
    window_seconds: float = 60.0
    agent: str | None = None
    attribute: str | None = None
    sections: list[AnalysisSection] = []
    cost_per_inference: list[CostPoint] = []
    sampled: bool = False
