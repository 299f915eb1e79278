"""The viewer's entry points: configuration errors are reported, not raised."""

from __future__ import annotations

import argparse

from agentwatch.config import ViewerConfig
from agentwatch.tui.run import main, run_viewer


def test_bad_configuration_prints_the_reason_and_returns_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AGENTWATCH_FPS", "999")
    namespace = argparse.Namespace(
        url=None, token=None, config=str(tmp_path / "none.toml"), fps=None, max_lines=None, agent=None,
        level=None, no_bell=None,
    )  # fmt: skip
    (tmp_path / "none.toml").write_text("")
    assert main(namespace) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentwatch: ") and "AGENTWATCH_FPS" in err


def test_unknown_theme_is_refused_before_the_screen_starts(capsys):
    assert run_viewer(ViewerConfig(theme="no-such-theme")) == 2
    assert "unknown theme 'no-such-theme'" in capsys.readouterr().err
