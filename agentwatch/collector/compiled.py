"""The collector's optional compiled passes: which were built, and whether they are wanted.

``pip install`` builds ``_windowscan`` (the window's aggregation), ``_ingestscan`` (ingest's checks
and the log ring's columns) and ``_ledgerscan`` (the alert ledger fold's second pass) where it finds a
C compiler; each module that has one keeps the same pass in Python and uses it when the compiled one is
missing or not wanted. Both give the same results.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Final

#: Environment variable that, set to anything but "", keeps the collector on its Python passes.
PURE_PYTHON_ENV: Final = "AGENTWATCH_PURE_PYTHON"


def wanted() -> bool:
    """Whether compiled passes may be used (:data:`PURE_PYTHON_ENV` is not set)."""
    return not os.environ.get(PURE_PYTHON_ENV)


def load(name: str) -> ModuleType | None:
    """``agentwatch.collector.<name>``, or None where it was not built."""
    try:
        return importlib.import_module(f"agentwatch.collector.{name}")
    except ImportError:  # built only where a C compiler was found at install
        return None


def load_wanted(name: str) -> ModuleType | None:
    """:func:`load`, or None while :data:`PURE_PYTHON_ENV` is set."""
    return load(name) if wanted() else None


#: The compiled modules, for :func:`note`.
MODULES: Final = ("_windowscan", "_ingestscan", "_ledgerscan")


def note() -> str | None:
    """Why the collector runs its Python passes (said at start-up); None when it runs the compiled ones."""
    missing = [name for name in MODULES if load(name) is None]
    if missing:
        return (
            f"running the Python passes: {', '.join(missing)} not built (no C compiler at install); "
            "the same results, more CPU per event"
        )
    if not wanted():
        return f"running the Python passes ({PURE_PYTHON_ENV} is set)"
    return None
