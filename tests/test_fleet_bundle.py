"""An incident bundle of several collectors: each collector's bundle in a folder named after it, and a
summary over all of them (real collectors on 127.0.0.1, real HTTP)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentwatch.client.fleetbundle import collector_folder, write_fleet_bundle
from tests.helpers import RunningCollector, wait_until


def call(agent: str, cost: float, error: str | None = None) -> dict[str, Any]:
    return {
        "agent_id": agent,
        "span_type": "llm_call",
        "cost_usd": cost,
        "message": f"{agent} called",
        "error": error,
    }


def closed_url() -> str:
    return "http://127.0.0.1:9"


async def test_each_collector_gets_its_folder_and_the_summary_covers_them_all(
    start_collector: Callable[..., RunningCollector], tmp_path: Path
) -> None:
    first, second = start_collector(), start_collector()
    assert first.post([call("alpha", 0.5)] * 2).status_code == 202
    assert second.post([call("beta", 2.0, error="Timeout: slow")] * 3).status_code == 202
    for running, events in ((first, 2), (second, 3)):
        wait_until(lambda r=running, n=events: r.service.window.events_total == n)
    down = closed_url()
    bundle = await write_fleet_bundle(
        [first.url, second.url, down], output=tmp_path / "fleet", extra={"screen.svg": b"<svg/>"}
    )
    root = tmp_path / "fleet"
    assert bundle.path == root
    folders = [collector_folder(url) for url in (first.url, second.url, down)]
    assert {p.name for p in root.iterdir()} == {*folders, "summary.md", "screen.svg"}
    assert "alpha called" in (root / folders[0] / "logs.ndjson").read_text()
    assert "beta" not in (root / folders[0] / "logs.ndjson").read_text()
    assert len((root / folders[1] / "logs.ndjson").read_text().splitlines()) == 3
    assert bundle.lines == 5
    text = (root / "summary.md").read_text()
    assert f"3 collectors: {first.url}, {second.url}, {down}" in text
    assert "- Log lines: 5" in text
    by_cost = text.split("## Top agents by cost")[1].split("##")[0]
    assert by_cost.index("beta: $6.0000") < by_cost.index("alpha: $1.0000")  # both collectors' rows
    assert "- beta: 3 error lines in the range" in text
    assert f"- {folders[2]}/snapshot.json:" in text  # the one down is named, with its folder
    assert f"{folders[2]}/snapshot.json" in bundle.problems
    assert not any(name.startswith(folders[0]) for name in bundle.problems)


async def test_as_a_tar_the_folders_are_inside_one_archive(
    start_collector: Callable[..., RunningCollector], tmp_path: Path
) -> None:
    first, second = start_collector(), start_collector()
    bundle = await write_fleet_bundle([first.url, second.url], output=tmp_path / "fleet", tar=True)
    assert bundle.path == tmp_path / "fleet.tar.gz" and not (tmp_path / "fleet").exists()
    with tarfile.open(bundle.path) as archive:
        names = set(archive.getnames())
    for url in (first.url, second.url):
        assert f"fleet/{collector_folder(url)}/summary.md" in names
    assert "fleet/summary.md" in names


def test_agentwatch_bundle_given_several_urls_writes_a_folder_for_each(
    start_collector: Callable[..., RunningCollector], tmp_path: Path
) -> None:
    first, second = start_collector(), start_collector()
    assert second.post([call("beta", 1.0)]).status_code == 202
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "bundle", first.url, second.url, "-o", str(tmp_path / "both")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "both")
    names = {p.name for p in (tmp_path / "both").iterdir()}
    assert names == {collector_folder(first.url), collector_folder(second.url), "summary.md"}
    assert "beta called" in (tmp_path / "both" / collector_folder(second.url) / "logs.ndjson").read_text()
