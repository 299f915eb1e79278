"""Model prices used to estimate ``cost_usd`` when an event does not carry one.

Prices are USD per million tokens (input, output) and are *estimates*: list prices change,
discounts and caching are not modelled. Anything computed from this table is flagged
``cost_estimated`` and labelled "est." on screen. Override or extend it with
:func:`set_prices` (the SDK and the collector both read it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

#: model name (or prefix) → (USD per 1M input tokens, USD per 1M output tokens)
DEFAULT_PRICES: Final[Mapping[str, tuple[float, float]]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    "llama-3.1-70b": (0.88, 0.88),
    "mistral-large": (2.00, 6.00),
}

_prices: dict[str, tuple[float, float]] = dict(DEFAULT_PRICES)
_prefixes: list[str] = sorted(_prices, key=len, reverse=True)


def set_prices(prices: Mapping[str, tuple[float, float]], *, replace: bool = False) -> None:
    """Add or override prices (USD per 1M tokens); ``replace=True`` drops the defaults."""
    global _prefixes
    if replace:
        _prices.clear()
    _prices.update({name: (float(i), float(o)) for name, (i, o) in prices.items()})
    _prefixes = sorted(_prices, key=len, reverse=True)


def price_for(model: str | None) -> tuple[float, float] | None:
    """Exact match first, then the longest known prefix (``gpt-4o-2024-08-06`` → ``gpt-4o``)."""
    if not model:
        return None
    exact = _prices.get(model)
    if exact is not None:
        return exact
    for prefix in _prefixes:
        if model.startswith(prefix):
            return _prices[prefix]
    return None


def estimate_cost(model: str | None, tokens_input: int | None, tokens_output: int | None) -> float | None:
    """Estimated USD for one call, or None when the model is unknown or no tokens are given."""
    if tokens_input is None and tokens_output is None:
        return None
    price = price_for(model)
    if price is None:
        return None
    return ((tokens_input or 0) * price[0] + (tokens_output or 0) * price[1]) / 1_000_000
