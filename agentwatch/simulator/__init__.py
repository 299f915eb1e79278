"""A simulated fleet of agents that feeds a collector over real HTTP (``agentwatch simulate``,
``agentwatch demo``).

Three modules, one concept each: :mod:`~agentwatch.simulator.fleet` is the fleet model
(agents, scenarios, deterministic event generation in simulated time),
:mod:`~agentwatch.simulator.sender` posts a fleet's events from the wall clock with a
bounded backlog and backoff, and :mod:`~agentwatch.simulator.command` is the
``agentwatch simulate`` command.
"""

from agentwatch.simulator.command import main
from agentwatch.simulator.fleet import (
    BURST_EVERY,
    BURST_FACTOR,
    BURST_FIRST_AT,
    BURST_SECONDS,
    COST_DRIFT_FACTOR,
    COST_DRIFT_RAMP,
    COST_DRIFT_START,
    ERROR_SPIKE_END,
    ERROR_SPIKE_PROBABILITY,
    ERROR_SPIKE_START,
    LATENCY_DEGRADATION_FACTOR,
    LATENCY_DEGRADATION_RAMP,
    LATENCY_DEGRADATION_START,
    LLM_TIMEOUT_MS,
    NEW_DECISION,
    NEW_DECISION_AT,
    SCENARIOS,
    Fleet,
)
from agentwatch.simulator.sender import RunStats, run, send_forever

__all__ = [
    "BURST_EVERY",
    "BURST_FACTOR",
    "BURST_FIRST_AT",
    "BURST_SECONDS",
    "COST_DRIFT_FACTOR",
    "COST_DRIFT_RAMP",
    "COST_DRIFT_START",
    "ERROR_SPIKE_END",
    "ERROR_SPIKE_PROBABILITY",
    "ERROR_SPIKE_START",
    "LATENCY_DEGRADATION_FACTOR",
    "LATENCY_DEGRADATION_RAMP",
    "LATENCY_DEGRADATION_START",
    "LLM_TIMEOUT_MS",
    "NEW_DECISION",
    "NEW_DECISION_AT",
    "SCENARIOS",
    "Fleet",
    "RunStats",
    "main",
    "run",
    "send_forever",
]
