"""The collector's TOML config file (``agentwatch serve --config FILE``): alert rules, window, prices.

Every key is optional; a missing key keeps its default. Unknown sections or keys, values of
the wrong type and out-of-range numbers are refused with :class:`ConfigError`, whose
message names the key and says what is expected (``agentwatch serve`` prints it and exits 2).

Example::

    [window]
    seconds = 60

    [alerts]
    interval = 10
    baseline_seconds = 900
    disabled = ["token_efficiency"]

    [alerts.error_rate]
    z = 2.0
    min_increase = 0.02

    [prices]    # USD per million tokens: [input, output] or [input, output, cache read, cache write]
    "my-model" = [1.0, 4.0]
    "my-cached-model" = [3.0, 15.0, 0.3, 3.75]

    [budgets]   # USD; crossing one raises a ``budget`` alert
    session_usd = 5.0          # each agent (each coding-agent session is one)
    [budgets.daily_usd]        # each program (the part of an agent id before "·"), per UTC day
    claude-code = 20.0

Defaults (``[alerts]`` unless another section is named):

=====================================  ========  ===========================================================
key                                    default   meaning
=====================================  ========  ===========================================================
``[window] seconds``                   60        the dashboard window (s)
``interval``                           10        seconds between evaluations; one baseline sample each
``baseline_seconds``                   900       rolling baseline span (s)
``min_samples``                        30        baseline samples needed before a baseline rule may fire
``fire_after``                         2         consecutive evaluations above threshold to fire
``resolve_after``                      2         consecutive evaluations below threshold to resolve
``disabled``                           []        rules switched off (names as in ``/api/alerts``)
``error_rate.window``                  10        span (s) of the error rate compared with the baseline
``error_rate.z``                       2.0       fire above baseline mean + z·σ …
``error_rate.min_increase``            0.02      … and at least this much above the mean (absolute)
``error_rate.min_events``              20        events needed in the span to judge a scope
``error_rate.min_errors``              3         errors needed in the span to fire
``cost.window``                        120       span (s) of the cost per inference
``cost.ratio``                         1.2       fire above ratio × baseline mean …
``cost.z``                             3.0       … and above mean + z·noise (baseline σ or window s.e.)
``cost.min_inferences``                30        priced LLM calls needed in the span
``latency.window``                     120       span (s) of the p99 latency
``latency.z``                          3.0       upper bound = max(mean + z·σ, floor_ratio × mean) of
``latency.floor_ratio``                1.5       … the baseline's p99 samples
``latency.min_count``                  50        successful timed calls needed in the span
``token_efficiency.window``            120       span (s) of output tokens per successful LLM call
``token_efficiency.min``               10.0      fire below this many output tokens per call
``token_efficiency.min_calls``         20        successful LLM calls needed in the span
``silent.after``                       60        an agent silent this long (s) after being active fires
``silent.min_events``                  10        events an agent must have sent to count as active
``stuck.floor``                        60        a step in flight longer than max(factor × its usual p99,
``stuck.factor``                       3.0       … floor) seconds is stuck
``stuck.thinking_floor``               600       a coding agent's turn with no tool running (``thinking``): its
                                                 model may answer for minutes; stuck past this many seconds
``new_decision.min_history``           200       decisions an agent must have made before a new one alerts
``new_decision.hold``                  300       seconds a new-decision alert stays firing
``max_scopes``                         500       agents + models tracked for alerts and analysis
``fold_limit``                         5000      events analysed per tick at most (the rest sampled out)
``forget_after``                       3600      a scope silent this long (s) is forgotten
=====================================  ========  ===========================================================
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from agentwatch.collector.budgets import Budgets
from agentwatch.protocol import ALERT_RULES


class ConfigError(Exception):
    """A config file the collector refuses; the message names the file, key and expectation."""


@dataclass
class AlertSettings:
    """Thresholds and windows of the alert rules (seconds, ratios, counts); see module table."""

    interval: float = 10.0
    baseline_seconds: float = 900.0
    min_samples: int = 30
    fire_after: int = 2
    resolve_after: int = 2
    disabled: frozenset[str] = frozenset()
    error_rate_window: float = 10.0
    error_rate_z: float = 2.0
    error_rate_min_increase: float = 0.02
    error_rate_min_events: int = 20
    error_rate_min_errors: int = 3
    cost_window: float = 120.0
    cost_ratio: float = 1.2
    cost_z: float = 3.0
    cost_min_inferences: int = 30
    latency_window: float = 120.0
    latency_z: float = 3.0
    latency_floor_ratio: float = 1.5
    latency_min_count: int = 50
    token_efficiency_window: float = 120.0
    token_efficiency_min: float = 10.0
    token_efficiency_min_calls: int = 20
    silent_after: float = 60.0
    silent_min_events: int = 10
    new_decision_min_history: int = 200
    new_decision_hold: float = 300.0
    stuck_floor: float = 60.0
    stuck_factor: float = 3.0
    stuck_thinking_floor: float = 600.0
    max_scopes: int = 500
    fold_limit: int = 5000
    forget_after: float = 3600.0

    def enabled(self, rule: str) -> bool:
        return rule not in self.disabled


@dataclass
class FileConfig:
    """What a config file sets: ``window_seconds`` (None = keep) and the alert settings."""

    window_seconds: int | None = None
    alerts: AlertSettings = field(default_factory=AlertSettings)
    #: ``[prices]``: model (or prefix) → (input, output) USD per million tokens, added to the table.
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: … and (cache read, cache write) for the models that give them.
    cache_prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: ``[budgets]``: USD per agent (session) and per program per UTC day.
    budgets: Budgets = field(default_factory=Budgets)


# TOML key (section-relative) → AlertSettings field
_SUBSECTIONS = {
    "error_rate": ("window", "z", "min_increase", "min_events", "min_errors"),
    "cost": ("window", "ratio", "z", "min_inferences"),
    "latency": ("window", "z", "floor_ratio", "min_count"),
    "token_efficiency": ("window", "min", "min_calls"),
    "silent": ("after", "min_events"),
    "new_decision": ("min_history", "hold"),
    "stuck": ("floor", "factor", "thinking_floor"),
}
_TOP_KEYS = (
    "interval",
    "baseline_seconds",
    "min_samples",
    "fire_after",
    "resolve_after",
    "max_scopes",
    "fold_limit",
    "forget_after",
)
# Field name → its annotation, "int" or "float" for the numbers (a string: annotations are postponed).
_FIELD_TYPES: dict[str, str] = {f.name: f.type for f in fields(AlertSettings) if isinstance(f.type, str)}


def _number(where: str, value: Any, kind: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {type(value).__name__}")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        if value < 1:
            raise ConfigError(f"{where}: must be at least 1, got {value!r}")
        return int(value)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: must be a finite number >= 0, got {value!r}")
    return float(value)


def _table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table ([{where}])")
    return value


def _price(config: FileConfig, where: str, model: str, rates: Any) -> None:
    if not model.strip() or len(model) > 128 or not model.isprintable():
        raise ConfigError(f"{where}: a model name is 1 to 128 printable characters")
    if not isinstance(rates, list) or len(rates) not in (2, 4):
        raise ConfigError(f"{where}: expected [input, output] or [input, output, cache read, cache write]")
    numbers = [float(_number(where, rate, "float")) for rate in rates]
    config.prices[model] = (numbers[0], numbers[1])
    if len(numbers) == 4:
        config.cache_prices[model] = (numbers[2], numbers[3])


def _budgets(source: str, body: dict[str, Any]) -> Budgets:
    budgets = Budgets()
    for key, value in body.items():
        where = f"{source}: [budgets] {key}"
        if key == "session_usd":
            budgets.session_usd = float(_number(where, value, "float"))
        elif key == "daily_usd":
            for program, limit in _table("budgets.daily_usd", value).items():
                if not program.strip() or len(program) > 128 or not program.isprintable():
                    raise ConfigError(f"{where}: a program name is 1 to 128 printable characters")
                budgets.daily_usd[program] = float(_number(f"{where}.{program}", limit, "float"))
        else:
            raise ConfigError(f"{where}: unknown key (known: session_usd, daily_usd)")
    return budgets


def parse_config(data: dict[str, Any], *, source: str = "config") -> FileConfig:
    """Validate a decoded TOML document into :class:`FileConfig`; raises :class:`ConfigError`."""
    config = FileConfig()
    values: dict[str, Any] = {}
    for section, body in data.items():
        if section == "window":
            for key, value in _table("window", body).items():
                if key != "seconds":
                    raise ConfigError(f"{source}: [window] {key}: unknown key (known: seconds)")
                config.window_seconds = int(_number(f"{source}: [window] seconds", value, "int"))
        elif section == "alerts":
            for key, value in _table("alerts", body).items():
                where = f"{source}: [alerts] {key}"
                if key == "disabled":
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        raise ConfigError(f"{where}: expected a list of rule names")
                    unknown = sorted(set(value) - set(ALERT_RULES))
                    if unknown:
                        raise ConfigError(
                            f"{where}: unknown rule {unknown[0]!r} (rules: {', '.join(ALERT_RULES)})"
                        )
                    values["disabled"] = frozenset(value)
                elif key in _SUBSECTIONS:
                    for sub, sub_value in _table(f"alerts.{key}", value).items():
                        if sub not in _SUBSECTIONS[key]:
                            known = ", ".join(_SUBSECTIONS[key])
                            raise ConfigError(f"{source}: [alerts.{key}] {sub}: unknown key (known: {known})")
                        name = f"{key}_{sub}"
                        values[name] = _number(
                            f"{source}: [alerts.{key}] {sub}", sub_value, _FIELD_TYPES[name]
                        )
                elif key in _TOP_KEYS:
                    values[key] = _number(where, value, _FIELD_TYPES[key])
                else:
                    raise ConfigError(f"{where}: unknown key")
        elif section == "prices":
            for model, rates in _table("prices", body).items():
                _price(config, f"{source}: [prices] {model!r}", model, rates)
        elif section == "budgets":
            config.budgets = _budgets(source, _table("budgets", body))
        else:
            raise ConfigError(
                f"{source}: [{section}]: unknown section (known: window, alerts, prices, budgets)"
            )
    config.alerts = AlertSettings(**values)
    if config.alerts.interval < 0.5:
        raise ConfigError(f"{source}: [alerts] interval: must be at least 0.5 s")
    return config


def load_config(path: str | Path) -> FileConfig:
    """Read and validate a TOML config file; every problem is a :class:`ConfigError`."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, source=str(path))
