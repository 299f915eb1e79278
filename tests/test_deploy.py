"""The shipped deployment files: the OpenTelemetry Collector's load_balancing configuration in
front of several collectors, and Prometheus's scrape configuration and recording rules, which may
only name metrics a real collector's /metrics exposes.

PyYAML is no dependency of the project: the files are read with it when it is installed, else
with :func:`load_block_yaml`, which reads the block-style subset they are written in (and is
checked against PyYAML when both are there).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentwatch.protocol import PATH_METRICS
from tests.helpers import RunningCollector

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
FILES = [
    DEPLOY / "otelcol-loadbalancing.yaml",
    DEPLOY / "prometheus" / "prometheus.yml",
    DEPLOY / "prometheus" / "rules.yml",
    DEPLOY / "prometheus" / "rules_test.yml",
]


# ---------------------------------------------------------------- a reader of block-style YAML
def _strip_comment(line: str) -> str:
    for match in re.finditer(r"(^|\s)#", line):
        before = line[: match.start()]
        if before.count('"') % 2 == 0 and before.count("'") % 2 == 0:
            return before.rstrip()
    return line.rstrip()


def _scalar(text: str) -> Any:
    if text.startswith("'") and text.endswith("'") and len(text) > 1:
        return text[1:-1].replace("''", "'")
    if text.startswith('"') and text.endswith('"') and len(text) > 1:
        return json.loads(text)
    if text in ("", "~", "null"):
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


def load_block_yaml(text: str) -> Any:
    """Block mappings, block sequences and one-line scalars: what the deploy files use.

    Raises:
        ValueError: anything else (a flow collection, a multi-line scalar, bad indentation).
    """
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if line.strip():
            lines.append((len(line) - len(line.lstrip(" ")), line.strip()))

    def block(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1].startswith("- ") or lines[i][1] == "-":
            return sequence(i, indent)
        return mapping(i, indent)

    def sequence(i: int, indent: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        while i < len(lines) and lines[i][0] == indent and (lines[i][1] + " ").startswith("- "):
            item = lines[i][1][2:].strip()
            if not item:
                value, i = block(i + 1, lines[i + 1][0])
            elif re.match(r"[^'\"\s][^:]*:(\s|$)", item):  # "- key: value" opens a mapping
                lines[i] = (indent + 2, item)
                value, i = mapping(i, indent + 2)
            else:
                value, i = _scalar(item), i + 1
            items.append(value)
        return items, i

    def mapping(i: int, indent: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("- "):
            key, colon, rest = lines[i][1].partition(":")
            if not colon or (rest and not rest.startswith(" ")):
                raise ValueError(f"not a mapping entry: {lines[i][1]!r}")
            rest = rest.strip()
            if rest.startswith(("{", "[", "|", ">")):
                raise ValueError(f"not block-style YAML: {lines[i][1]!r}")
            i += 1
            if rest:
                result[key] = _scalar(rest)
            elif i < len(lines) and (
                lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("- "))
            ):
                result[key], i = block(i, lines[i][0])
            else:
                result[key] = None
        if i < len(lines) and lines[i][0] > indent:
            raise ValueError(f"bad indentation: {lines[i][1]!r}")
        return result, i

    value, end = block(0, lines[0][0])
    if end != len(lines):
        raise ValueError(f"unread from: {lines[end][1]!r}")
    return value


def load(path: Path) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]  # optional, and without stubs
    except ImportError:
        return load_block_yaml(path.read_text())
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_the_block_yaml_reader_reads_each_file_as_pyyaml_does(path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    assert load_block_yaml(path.read_text()) == yaml.safe_load(path.read_text())


def test_the_block_yaml_reader_refuses_what_it_cannot_read() -> None:
    assert load_block_yaml("a:\n  b: 1 # one\n  c:\n  - x\n  - y: '#2'\n") == {
        "a": {"b": 1, "c": ["x", {"y": "#2"}]}
    }
    for text in ("a: {b: 1}\n", "a: [1, 2]\n", "a: |\n  text\n", "a:\n    b: 1\n  c: 2\n"):
        with pytest.raises(ValueError):
            load_block_yaml(text)


# ---------------------------------------------------------------- OpenTelemetry Collector
def test_otelcol_load_balancing_routes_each_service_to_one_collector_over_otlp_grpc() -> None:
    config = load(DEPLOY / "otelcol-loadbalancing.yaml")
    exporter = config["exporters"]["load_balancing"]
    assert exporter["routing_key"] == "service"
    assert set(exporter["protocol"]) == {"otlp"}  # the one protocol the exporter has
    otlp = exporter["protocol"]["otlp"]
    assert "endpoint" not in otlp  # the exporter sets it per backend
    assert otlp["tls"]["insecure"] is True
    assert otlp["headers"]["authorization"] == "Bearer ${env:AGENTWATCH_TOKEN}"
    assert set(exporter["resolver"]) == {"static"}  # one resolver
    hostnames = exporter["resolver"]["static"]["hostnames"]
    assert len(hostnames) >= 2 and all(re.fullmatch(r"[\w.-]+:4317", host) for host in hostnames)
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "logs", "metrics"}
    for pipeline in pipelines.values():
        assert pipeline == {"receivers": ["otlp"], "exporters": ["load_balancing"]}


# ---------------------------------------------------------------- Prometheus
def exposed_metric_names(collector: RunningCollector) -> set[str]:
    """Every sample name on a real collector's /metrics once it has counted an inference."""
    event = {"agent_id": "a", "span_type": "llm_call", "model": "m", "latency_ms": 120.0}
    assert collector.post([event, {**event, "error": "timeout"}]).status_code == 202
    text = httpx.get(collector.url + PATH_METRICS, timeout=10).text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"}


def test_recording_rules_name_only_metrics_the_collector_exposes(collector: RunningCollector) -> None:
    exposed = exposed_metric_names(collector)
    rules = load(DEPLOY / "prometheus" / "rules.yml")
    (group,) = rules["groups"]
    records = [rule["record"] for rule in group["rules"]]
    assert len(records) == len(set(records))
    named: set[str] = set()
    for rule in group["rules"]:
        assert set(rule) == {"record", "expr"}
        named |= set(re.findall(r"\bagentwatch_[a-z_]+\b", rule["expr"]))
        assert 'job="agentwatch"' in rule["expr"], rule["record"]
    assert named <= exposed, named - exposed
    fleet = {"events", "errors", "input_tokens", "output_tokens", "cost_usd"}  # error rate, tokens, cost
    assert {f"agentwatch_{name}_total" for name in fleet} | {"agentwatch_latency_seconds_bucket"} <= named


def test_scrape_config_scrapes_every_collector_as_the_job_the_rules_select() -> None:
    config = load(DEPLOY / "prometheus" / "prometheus.yml")
    assert config["rule_files"] == ["rules.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "agentwatch" and job["metrics_path"] == PATH_METRICS
    assert set(job["authorization"]) == {"credentials_file"}
    (targets,) = job["static_configs"]
    assert len(targets["targets"]) >= 2


def test_rule_unit_tests_cover_the_merged_latency_and_the_fleet_sums() -> None:
    tests = load(DEPLOY / "prometheus" / "rules_test.yml")
    assert tests["rule_files"] == ["rules.yml"]
    checked = {case["expr"] for test in tests["tests"] for case in test["promql_expr_test"]}
    assert {"agentwatch:latency_seconds:p99_5m", "agentwatch:error_ratio:rate5m"} <= checked
    assert "agentwatch:cost_usd:increase1h" in checked
