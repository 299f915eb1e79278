"""Model prices used to estimate ``cost_usd`` when an event does not carry one.

Prices are USD per million tokens (input, output) and are *estimates*: list prices change and
discounts are not modelled. Prompt-cache reads and writes have their own rates where the
provider publishes them (:data:`DEFAULT_CACHE_PRICES`); without one, cached tokens cost the
input rate. Anything computed from these tables is flagged ``cost_estimated`` and labelled
"est." on screen. Override or extend them with :func:`set_prices` (the SDK and the collector
both read them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from agentwatch.protocol import MAX_EVENT_COST_USD

#: model name (or prefix) → (USD per 1M input tokens, USD per 1M output tokens)
DEFAULT_PRICES: Final[Mapping[str, tuple[float, float]]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-codex": (1.25, 10.00),
    "gpt-5.1": (1.25, 10.00),
    "gpt-5.1-codex": (1.25, 10.00),
    "gpt-5.1-codex-mini": (0.25, 2.00),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-5": (5.00, 25.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-3-pro": (2.00, 12.00),
    "llama-3.1-70b": (0.88, 0.88),
    "mistral-large": (2.00, 6.00),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}

#: model name (or prefix) → (USD per 1M cache-read tokens, USD per 1M cache-write tokens).
#: Anthropic's pricing page: a cache read costs 0.1x the input rate, a 5-minute cache write
#: 1.25x. OpenAI's pricing page: its "cached input" rate (0.5x the input rate for gpt-4o and
#: o3-mini, 0.25x for gpt-4.1 and o3, 0.1x for the gpt-5 family); it charges no premium to write
#: the cache (the write column is the input rate). Google's
#: Gemini pricing page: the context-caching rate for reads (storage is not modelled).
DEFAULT_CACHE_PRICES: Final[Mapping[str, tuple[float, float]]] = {
    "gpt-4o-mini": (0.075, 0.15),
    "gpt-4o": (1.25, 2.50),
    "gpt-4.1-mini": (0.10, 0.40),
    "gpt-4.1": (0.50, 2.00),
    "gpt-5": (0.125, 1.25),
    "gpt-5-mini": (0.025, 0.25),
    "gpt-5-nano": (0.005, 0.05),
    "gpt-5-codex": (0.125, 1.25),
    "gpt-5.1": (0.125, 1.25),
    "gpt-5.1-codex": (0.125, 1.25),
    "gpt-5.1-codex-mini": (0.025, 0.25),
    "o3-mini": (0.55, 1.10),
    "o3": (0.50, 2.00),
    "claude-3-5-haiku": (0.08, 1.00),
    "claude-3-5-sonnet": (0.30, 3.75),
    "claude-haiku-4-5": (0.10, 1.25),
    "claude-sonnet-4": (0.30, 3.75),
    "claude-opus-4": (1.50, 18.75),
    "claude-opus-4-5": (0.50, 6.25),
    "gemini-2.0-flash": (0.025, 0.10),
    "gemini-2.5-flash": (0.075, 0.30),
    "gemini-2.5-flash-lite": (0.025, 0.10),
    "gemini-2.5-pro": (0.31, 1.25),
    "gemini-3-pro": (0.20, 2.00),
}

_prices: dict[str, tuple[float, float]] = dict(DEFAULT_PRICES)
_prefixes: list[str] = sorted(_prices, key=len, reverse=True)
_cache_prices: dict[str, tuple[float, float]] = dict(DEFAULT_CACHE_PRICES)
#: model name → its entry in the price table (None: unknown), so a model's prefix is looked
#: for once; cleared when the table changes or when full.
_entries: dict[str, str | None] = {}
_ENTRIES_MAX: Final = 1024


def set_prices(
    prices: Mapping[str, tuple[float, float]],
    *,
    replace: bool = False,
    cache_prices: Mapping[str, tuple[float, float]] | None = None,
) -> None:
    """Add or override prices (USD per 1M tokens); ``replace=True`` drops the defaults.

    ``cache_prices`` gives (cache read, cache write) rates per model the same way; a model
    replaced without one has its cached tokens priced at its input rate.
    """
    global _prefixes
    if replace:
        _prices.clear()
        _cache_prices.clear()
    _prices.update({name: (float(i), float(o)) for name, (i, o) in prices.items()})
    for name in prices:
        _cache_prices.pop(name, None)  # a new input rate: the old cache rates no longer apply
    if cache_prices:
        _cache_prices.update({name: (float(r), float(w)) for name, (r, w) in cache_prices.items()})
    _prefixes = sorted(_prices, key=len, reverse=True)
    _entries.clear()


def exact_prices() -> dict[str, tuple[float, float]]:
    """The price table itself (model → USD per 1M input and output tokens), as :func:`estimate_cost`
    looks a model up first: the same dict for the life of the process (:func:`set_prices` changes
    it in place). Read it, never change it; for ingest's compiled pass, which prices those models."""
    return _prices


def price_for(model: str | None) -> tuple[float, float] | None:
    """Exact match first, then the longest known prefix (``gpt-4o-2024-08-06`` → ``gpt-4o``)."""
    if not model:
        return None
    exact = _prices.get(model)
    if exact is not None:
        return exact
    entry = _matching(model)
    return None if entry is None else _prices[entry]


def _matching(model: str) -> str | None:
    """The price table's entry for ``model``: itself, else its longest known prefix."""
    try:
        return _entries[model]
    except KeyError:
        pass
    entry: str | None = None
    if model in _prices:
        entry = model
    else:
        for prefix in _prefixes:
            if model.startswith(prefix):
                entry = prefix
                break
    if len(_entries) >= _ENTRIES_MAX:
        _entries.clear()
    _entries[model] = entry
    return entry


def estimate_cost(
    model: str | None,
    tokens_input: int | None,
    tokens_output: int | None,
    tokens_cache_read: int | None = None,
    tokens_cache_write: int | None = None,
) -> float | None:
    """Estimated USD for one call, or None when the model is unknown or no tokens are given.

    Cache tokens are part of ``tokens_input``, as the OpenTelemetry GenAI and OpenInference
    conventions count them: only the rest is priced at the input rate. When ``tokens_input``
    is smaller than the cache tokens, it counted the uncached tokens alone (Anthropic's
    usage does) and is priced whole. An estimate above
    :data:`~agentwatch.protocol.MAX_EVENT_COST_USD` is None: no call costs that much, the
    token counts are wrong, and such a cost would break every total it is added to.
    """
    if tokens_input is None and tokens_output is None:
        return None
    price = price_for(model)
    if price is None:
        return None
    cost = (tokens_input or 0) * price[0] + (tokens_output or 0) * price[1]
    if tokens_cache_read or tokens_cache_write:
        read, write = tokens_cache_read or 0, tokens_cache_write or 0
        entry = _matching(model) if model else None
        rates = _cache_prices.get(entry, (price[0], price[0])) if entry else (price[0], price[0])
        if (tokens_input or 0) >= read + write:
            cost -= (read + write) * price[0]
        cost += read * rates[0] + write * rates[1]
    cost /= 1_000_000
    return cost if cost <= MAX_EVENT_COST_USD else None
