"""Viewer settings: command-line flags beat the environment, which beats the config file.

The file is TOML at :func:`config_path` (or ``--config``); its keys are the field names of
:class:`ViewerConfig` (``max_lines`` may also be spelled ``max-lines``)::

    url = "http://collector.internal:8787"
    # urls = ["http://c1:8787", "http://c2:8787"]   # several collectors, one fleet
    token = "s3cret"
    fps = 10
    max_lines = 10000
    level = "warning"
    bell = false
    notify = ["bell", "osc9"]          # or "bell,osc9": bell, osc9, osc777, tmux
    notify_command = "notify-me --from agentwatch"

    [viewer]
    name = "ana@laptop"     # who acknowledges and snoozes alerts (default: login@host)

Environment: ``AGENTWATCH_URL``, ``AGENTWATCH_TOKEN``, ``AGENTWATCH_FPS`` (empty = unset).
Flags come from an argparse namespace; an attribute that is ``None`` (or missing) means
"not given". Anything invalid raises :class:`ConfigError` naming where it came from (file
path or variable name), the key and the reason; the CLI prints it and exits 2.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import platformdirs

from agentwatch.protocol import (
    DEFAULT_URL,
    LEVEL_RANK,
    MAX_VIEWER_NAME_LENGTH,
    normalize_level,
    normalize_token,
    token_problem,
)
from agentwatch.tui.notify import parse_channels, parse_command

__all__ = ["ConfigError", "ViewerConfig", "config_path", "load_config", "normalize_url"]

FPS_RANGE: Final = (1, 30)
MAX_LINES_RANGE: Final = (1, 1_000_000)
ENV_URL: Final = "AGENTWATCH_URL"
ENV_TOKEN: Final = "AGENTWATCH_TOKEN"
ENV_FPS: Final = "AGENTWATCH_FPS"
#: Most collectors one viewer watches as one fleet.
MAX_URLS: Final = 32


class ConfigError(Exception):
    """A setting could not be used. ``source`` is a file path, an env variable or ``"--flag"``."""

    def __init__(self, source: str, key: str | None, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


@dataclass
class ViewerConfig:
    """What a viewer needs to know; every field has a working default."""

    url: str = DEFAULT_URL
    #: Several collectors watched as one fleet (``urls = [...]`` in the file, or several URLs on the
    #: command line); empty: the one at ``url``. When given, ``url`` is the first of them.
    urls: tuple[str, ...] = ()
    token: str | None = None
    fps: int = 10
    max_lines: int = 10_000
    agent: str | None = None
    level: str | None = None
    bell: bool = True
    timestamps: bool = True
    wrap: bool = False
    theme: str | None = None
    #: Notification channels (see :mod:`agentwatch.tui.notify`); none unless asked for.
    notify: tuple[str, ...] = ()
    #: A command run with each notification as JSON on standard input (split like a shell, run without one).
    notify_command: str | None = None
    #: Who acknowledges and snoozes alerts from this viewer (``[viewer] name``); None: login@host.
    name: str | None = None


_FIELDS: Final = {field.name for field in dataclasses.fields(ViewerConfig)}


def config_path() -> Path:
    """The default config file: ``<platform config dir>/agentwatch/config.toml``."""
    return platformdirs.user_config_path("agentwatch") / "config.toml"


def normalize_url(url: str) -> str:
    """``host:port`` → ``http://host:port``; trailing slashes dropped. Raises ValueError if unusable."""
    text = url.strip()
    if not text:
        raise ValueError("empty URL")
    if "://" not in text:
        text = f"http://{text}"
    scheme = text.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {scheme!r} (use http:// or https://)")
    if not text.split("://", 1)[1].strip("/"):
        raise ValueError("URL has no host")
    return text.rstrip("/")


def _check_value(key: str, value: Any) -> Any:
    """Validate one setting (already typed); return the stored form or raise ValueError."""
    if key == "url":
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return normalize_url(value)
    if key == "urls":
        return _urls(value)
    if key == "fps":
        return _int_in_range(value, FPS_RANGE)
    if key == "max_lines":
        return _int_in_range(value, MAX_LINES_RANGE)
    if key == "level":
        if not isinstance(value, str):
            raise ValueError("must be a string")
        name = normalize_level(value)
        if name == "info" and value.strip().lower() != "info":  # normalize_level's "unknown"
            raise ValueError(f"unknown level {value!r} (one of {', '.join(LEVEL_RANK)})")
        return name
    if key in ("bell", "timestamps", "wrap"):
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if key == "notify":
        if not isinstance(value, str | list | tuple):
            raise ValueError('must be a list of channels or a string ("bell,osc9")')
        return parse_channels(value)
    if key == "notify_command":
        if not isinstance(value, str):
            raise ValueError("must be a string")
        parse_command(value)
        return value.strip() or None
    # token, agent, theme, name: free text
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if key == "name" and (len(value.strip()) > MAX_VIEWER_NAME_LENGTH or not value.isprintable()):
        raise ValueError(f"must be at most {MAX_VIEWER_NAME_LENGTH} printable characters")
    if key == "name":
        return value.strip() or None
    if key == "token":  # trimmed as the collector trims its own (a newline from $(cat file))
        token = normalize_token(value)
        problem = token_problem(token) if token is not None else None
        if problem is not None:
            raise ValueError(problem)
        return token
    return value or None


def _urls(value: Any) -> tuple[str, ...]:
    """A list of collector URLs: each normalized, none twice, at most :data:`MAX_URLS`."""
    if not isinstance(value, list | tuple) or not all(isinstance(url, str) for url in value):
        raise ValueError("must be a list of URLs")
    if len(value) > MAX_URLS:
        raise ValueError(f"at most {MAX_URLS} collectors, got {len(value)}")
    urls = tuple(normalize_url(url) for url in value)
    for index, url in enumerate(urls):
        if url in urls[:index]:
            raise ValueError(f"{url} is listed twice")
    return urls


def _int_in_range(value: Any, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}, got {value}")
    return value


def _read_file(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(str(path), None, "file not found") from None
        return {}
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), None, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"invalid TOML: {exc}") from None
    settings: dict[str, Any] = {}
    viewer = document.pop("viewer", {})
    if not isinstance(viewer, dict) or set(viewer) - {"name"}:
        raise ConfigError(str(path), "viewer", "must be a table of name only ([viewer] name = ...)")
    document.update(viewer)
    for raw_key, value in document.items():
        key = raw_key.replace("-", "_")
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(str(path), raw_key, f"unknown setting (known: {known})")
        try:
            settings[key] = _check_value(key, value)
        except ValueError as exc:
            raise ConfigError(str(path), raw_key, str(exc)) from None
    return settings


def _read_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for variable, key in ((ENV_URL, "url"), (ENV_TOKEN, "token"), (ENV_FPS, "fps")):
        text = environ.get(variable, "").strip()
        if not text:
            continue
        value: Any = text
        if key == "fps":
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(variable, None, f"must be a whole number, got {text!r}") from None
        try:
            settings[key] = _check_value(key, value)
        except ValueError as exc:
            raise ConfigError(variable, None, str(exc)) from None
    return settings


def _read_flags(namespace: object) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key in _FIELDS:
        value = getattr(namespace, key, None)
        if value is None:
            continue
        try:
            settings[key] = _check_value(key, value)
        except ValueError as exc:
            raise ConfigError(f"--{key.replace('_', '-')}", None, str(exc)) from None
    for key in ("bell", "timestamps", "wrap"):
        if getattr(namespace, f"no_{key}", None):
            settings[key] = False
    return settings


def load_config(
    namespace: object | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    path: Path | None = None,
) -> ViewerConfig:
    """Merge defaults < file < environment < flags into a :class:`ViewerConfig`.

    The file is ``path`` if given, else ``namespace.config`` if set, else
    :func:`config_path`; only the default file may be absent. Raises :class:`ConfigError`.
    """
    explicit = path
    if explicit is None and getattr(namespace, "config", None):
        explicit = Path(getattr(namespace, "config"))  # noqa: B009 - namespace is untyped
    file_path = explicit if explicit is not None else config_path()
    settings = _read_file(file_path, required=explicit is not None)
    for layer in (_read_environ(environ), _read_flags(namespace) if namespace is not None else {}):
        if "url" in layer and "urls" not in layer:
            settings.pop("urls", None)  # one URL given later beats a list given earlier
        settings.update(layer)
    if settings.get("urls"):
        settings["url"] = settings["urls"][0]
    return ViewerConfig(**settings)
