"""Viewer configuration: defaults < file < environment < flags, and precise errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from agentwatch.cli import _with_default_command, build_parser
from agentwatch.config import ConfigError, ViewerConfig, config_path, load_config
from agentwatch.protocol import DEFAULT_URL


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def flags(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(_with_default_command(list(argv)))


@pytest.fixture(autouse=True)
def isolated_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default config file lives under a fresh, empty directory for every test."""
    config_home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    return config_home


def test_defaults_when_nothing_is_given() -> None:
    config = load_config(environ={})
    assert config == ViewerConfig()
    assert config.url == DEFAULT_URL and config.fps == 10 and config.max_lines == 10_000


def test_default_file_is_read_when_present() -> None:
    config_path().parent.mkdir(parents=True)
    config_path().write_text("max_lines = 42\n", encoding="utf-8")
    assert load_config(environ={}).max_lines == 42


def test_default_path_is_in_the_platform_config_dir(isolated_config_dir: Path) -> None:
    assert config_path() == isolated_config_dir / "agentwatch" / "config.toml"


def test_file_values_are_used(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'url = "http://10.0.0.5:9000/"\nfps = 20\nmax-lines = 500\nlevel = "warn"\n'
        'bell = false\nwrap = true\ntheme = "nord"\nagent = "planner"\n',
    )
    config = load_config(environ={}, path=path)
    assert config == ViewerConfig(
        url="http://10.0.0.5:9000",
        fps=20,
        max_lines=500,
        level="warning",
        bell=False,
        wrap=True,
        theme="nord",
        agent="planner",
    )


def test_environment_beats_file_and_flags_beat_environment(tmp_path: Path) -> None:
    path = write(tmp_path, 'url = "http://file:1"\ntoken = "from-file"\nfps = 5\n')
    environ = {"AGENTWATCH_URL": "http://env:2", "AGENTWATCH_TOKEN": "from-env", "AGENTWATCH_FPS": "15"}

    assert load_config(environ={}, path=path).url == "http://file:1"

    from_env = load_config(environ=environ, path=path)
    assert (from_env.url, from_env.token, from_env.fps) == ("http://env:2", "from-env", 15)

    namespace = flags("http://flag:3", "--token", "from-flag", "--fps", "25", "--no-bell")
    from_flags = load_config(namespace, environ=environ, path=path)
    assert (from_flags.url, from_flags.token, from_flags.fps) == ("http://flag:3", "from-flag", 25)
    assert from_flags.bell is False


def test_flags_left_unset_do_not_override(tmp_path: Path) -> None:
    path = write(tmp_path, "fps = 7\nbell = false\n")
    config = load_config(flags(), environ={}, path=path)
    assert config.fps == 7 and config.bell is False and config.url == DEFAULT_URL


def test_config_flag_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "fps = 12\n")
    assert load_config(flags("--config", str(path)), environ={}).fps == 12


def test_bare_host_port_gets_http_scheme() -> None:
    namespace = argparse.Namespace(url="127.0.0.1:9999/")
    assert load_config(namespace, environ={}, path=None).url == "http://127.0.0.1:9999"


def test_bad_toml_raises_config_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "fps = = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(environ={}, path=path)
    assert str(path) in str(caught.value)
    assert "invalid TOML" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("fps = 0\n", "fps", "between 1 and 30"),
        ("fps = 31\n", "fps", "between 1 and 30"),
        ('fps = "fast"\n', "fps", "whole number"),
        ("max_lines = -1\n", "max_lines", "between"),
        ('bell = "yes"\n', "bell", "true or false"),
        ('level = "loud"\n', "level", "unknown level"),
        ('url = "ftp://x"\n', "url", "scheme"),
        ("fsp = 10\n", "fsp", "unknown setting"),
    ],
)
def test_bad_value_names_file_key_and_reason(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(environ={}, path=path)
    assert caught.value.source == str(path)
    assert caught.value.key == key
    assert reason in caught.value.reason


def test_missing_explicit_file_is_an_error_but_missing_default_is_not(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(environ={}, path=tmp_path / "nope.toml")


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'url = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(environ={}, path=path)


@pytest.mark.parametrize("value", ["fast", "0", "99"])
def test_bad_fps_in_environment_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"AGENTWATCH_FPS": value}, path=None)
    assert caught.value.source == "AGENTWATCH_FPS"


def test_empty_environment_variables_count_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, 'token = "file-token"\n')
    config = load_config(environ={"AGENTWATCH_TOKEN": "", "AGENTWATCH_URL": "  "}, path=path)
    assert config.token == "file-token" and config.url == DEFAULT_URL


def test_status_namespace_supplies_url_and_token() -> None:
    namespace = flags("status", "http://127.0.0.1:1234", "--token", "t")
    config = load_config(namespace, environ={"AGENTWATCH_TOKEN": "env"}, path=None)
    assert config.url == "http://127.0.0.1:1234" and config.token == "t"
