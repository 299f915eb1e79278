"""``[prices]`` in the collector's config file: a model the price table does not know gets a price."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from agentwatch.collector.config import ConfigError, parse_config
from agentwatch.protocol import PATH_EVENTS, PATH_SNAPSHOT


def test_prices_with_and_without_cache_rates_are_read() -> None:
    config = parse_config({"prices": {"house-model": [1.0, 4.0], "house-cached": [3, 15, 0.3, 3.75]}})
    assert config.prices == {"house-model": (1.0, 4.0), "house-cached": (3.0, 15.0)}
    assert config.cache_prices == {"house-cached": (0.3, 3.75)}


@pytest.mark.parametrize(
    ("rates", "complaint"),
    [
        ([1.0], "expected [input, output]"),
        ([1.0, 2.0, 3.0], "expected [input, output]"),
        ("cheap", "expected [input, output]"),
        ([1.0, -2.0], "must be a finite number >= 0"),
        ([1.0, "2"], "expected a number"),
    ],
)
def test_a_bad_price_names_the_model_and_what_is_expected(rates: Any, complaint: str) -> None:
    with pytest.raises(
        ConfigError, match=r"\[prices\] 'm'.*" + complaint.replace("[", r"\[").replace("]", r"\]")
    ):
        parse_config({"prices": {"m": rates}})


def test_a_blank_model_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="1 to 128 printable characters"):
        parse_config({"prices": {" ": [1.0, 2.0]}})


def test_serve_estimates_a_configured_model_from_its_price(
    tmp_path: Path, start_collector_process: Any
) -> None:
    config = tmp_path / "agentwatch.toml"
    config.write_text('[prices]\n"house-model" = [2.0, 8.0]\n')
    collector = start_collector_process("--no-store", "--config", str(config))
    events = [
        {"agent_id": "priced", "span_type": "llm_call", "model": "house-model-v2", "tokens_input": 1_000_000},
        {"agent_id": "unknown", "span_type": "llm_call", "model": "other-model", "tokens_input": 1_000_000},
    ]
    assert httpx.post(collector.url + PATH_EVENTS, json=events, timeout=10).status_code == 202
    rows = {
        row["agent_id"]: row for row in httpx.get(collector.url + PATH_SNAPSHOT, timeout=10).json()["agents"]
    }
    assert rows["priced"]["cost_usd"] == pytest.approx(2.0) and rows["priced"]["cost_unpriced"] is False
    assert rows["unknown"]["cost_usd"] == 0.0 and rows["unknown"]["cost_unpriced"] is True
