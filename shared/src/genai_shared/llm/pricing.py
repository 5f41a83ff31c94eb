"""List prices and cost of a call.

USD per 1M tokens, the providers' public list prices for standard (non-batch) usage,
checked against litellm's bundled price map (model_prices_and_context_window_backup.json
of litellm 1.109.3; a test compares every row). Prices change: update the table, not the
callers.

Prompt-cache tokens have their own rates (see `Usage` for how they are counted). Anthropic
bills cache reads at 0.1x the input rate, writes to the default 5-minute cache at 1.25x
and writes to the 1-hour cache at 2x, for every Claude model. OpenAI bills cached input at
a per-model discount (0.5x for gpt-4o, 0.25x for gpt-4.1, 0.1x for gpt-5) and charges
nothing extra to write the cache. litellm's map lists these rates as
`cache_read_input_token_cost`, `cache_creation_input_token_cost` and
`cache_creation_input_token_cost_above_1hr`; a Claude model without them gets Anthropic's
multipliers, any other model bills cache tokens at its input rate (never less than due).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from genai_shared.llm.types import Usage

_PER_TOKEN_DIVISOR = Decimal(1_000_000)
_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")

ANTHROPIC_CACHE_READ = Decimal("0.1")
ANTHROPIC_CACHE_WRITE = Decimal("1.25")
ANTHROPIC_CACHE_WRITE_1H = Decimal(2)


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens; a cache rate left None bills those tokens at the input rate."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    cache_write_1h_per_mtok: Decimal | None = None

    def cost(self, usage: Usage) -> Decimal:
        """USD for `usage`, exact (Decimal, no rounding)."""
        read = _or(self.cache_read_per_mtok, self.input_per_mtok)
        write = _or(self.cache_write_per_mtok, self.input_per_mtok)
        write_1h = _or(self.cache_write_1h_per_mtok, write)
        write_5m_tokens = usage.cache_write_tokens - usage.cache_write_1h_tokens
        return (
            usage.input_tokens * self.input_per_mtok
            + usage.cache_read_tokens * read
            + write_5m_tokens * write
            + usage.cache_write_1h_tokens * write_1h
            + usage.output_tokens * self.output_per_mtok
        ) / _PER_TOKEN_DIVISOR


def anthropic_price(input_per_mtok: Decimal, output_per_mtok: Decimal) -> Price:
    """A Claude model's price: its cache rates follow from the input rate."""
    return Price(
        input_per_mtok,
        output_per_mtok,
        cache_read_per_mtok=input_per_mtok * ANTHROPIC_CACHE_READ,
        cache_write_per_mtok=input_per_mtok * ANTHROPIC_CACHE_WRITE,
        cache_write_1h_per_mtok=input_per_mtok * ANTHROPIC_CACHE_WRITE_1H,
    )


def _openai(input_per_mtok: str, output_per_mtok: str, cached_input_per_mtok: str) -> Price:
    return Price(
        Decimal(input_per_mtok),
        Decimal(output_per_mtok),
        cache_read_per_mtok=Decimal(cached_input_per_mtok),
    )


def _claude(input_per_mtok: str, output_per_mtok: str) -> Price:
    return anthropic_price(Decimal(input_per_mtok), Decimal(output_per_mtok))


PRICES: dict[str, Price] = {
    "gpt-4o": _openai("2.50", "10.00", "1.25"),
    "gpt-4o-mini": _openai("0.15", "0.60", "0.075"),
    "gpt-4.1": _openai("2.00", "8.00", "0.50"),
    "gpt-4.1-mini": _openai("0.40", "1.60", "0.10"),
    "gpt-4.1-nano": _openai("0.10", "0.40", "0.025"),
    "gpt-5": _openai("1.25", "10.00", "0.125"),
    "gpt-5-mini": _openai("0.25", "2.00", "0.025"),
    "gpt-5-nano": _openai("0.05", "0.40", "0.005"),
    "o4-mini": _openai("1.10", "4.40", "0.275"),
    "claude-haiku-4-5": _claude("1.00", "5.00"),
    "claude-sonnet-4-5": _claude("3.00", "15.00"),
    "claude-sonnet-4-6": _claude("3.00", "15.00"),
    "claude-opus-4-5": _claude("5.00", "25.00"),
    "claude-opus-4-6": _claude("5.00", "25.00"),
}
FREE = Price(Decimal(0), Decimal(0))


@dataclass(frozen=True)
class CostEstimate:
    usd: Decimal
    priced: bool
    source: Literal["table", "litellm", "unknown"]


def bare_model_name(model: str) -> str:
    """`openrouter/anthropic/claude-haiku-4-5-20251001` -> `claude-haiku-4-5`."""
    name = model.split("@", 1)[0].rsplit("/", 1)[-1]
    return _DATE_SUFFIX.sub("", name)


def price_for(model: str) -> Price | None:
    if model.startswith("mock/"):
        return FREE
    return PRICES.get(bare_model_name(model))


def _litellm_price(model: str) -> Price | None:
    """litellm's price map, only if something else already paid for `import litellm`."""
    litellm = sys.modules.get("litellm")
    model_cost = getattr(litellm, "model_cost", None)
    if not isinstance(model_cost, dict):
        return None
    name = model.split("@", 1)[0]
    for key in (name, name.split("/", 1)[-1], name.rsplit("/", 1)[-1], bare_model_name(name)):
        entry = model_cost.get(key)
        if isinstance(entry, dict) and "input_cost_per_token" in entry:
            return price_from_litellm_entry(
                entry, claude=bare_model_name(name).startswith("claude")
            )
    return None


def price_from_litellm_entry(entry: dict[str, Any], *, claude: bool) -> Price:
    """A `Price` from one row of litellm's map; a Claude row missing cache rates gets
    Anthropic's multipliers."""
    price = Price(
        _per_mtok(entry["input_cost_per_token"]),
        _per_mtok(entry.get("output_cost_per_token", 0)),
        cache_read_per_mtok=_optional_per_mtok(entry.get("cache_read_input_token_cost")),
        cache_write_per_mtok=_optional_per_mtok(entry.get("cache_creation_input_token_cost")),
        cache_write_1h_per_mtok=_optional_per_mtok(
            entry.get("cache_creation_input_token_cost_above_1hr")
        ),
    )
    if not claude:
        return price
    return Price(
        price.input_per_mtok,
        price.output_per_mtok,
        cache_read_per_mtok=_or(
            price.cache_read_per_mtok, price.input_per_mtok * ANTHROPIC_CACHE_READ
        ),
        cache_write_per_mtok=_or(
            price.cache_write_per_mtok, price.input_per_mtok * ANTHROPIC_CACHE_WRITE
        ),
        cache_write_1h_per_mtok=_or(
            price.cache_write_1h_per_mtok, price.input_per_mtok * ANTHROPIC_CACHE_WRITE_1H
        ),
    )


def estimate_cost(model: str, usage: Usage) -> CostEstimate:
    """Cost of a call; an unknown model costs 0 with `priced=False` so callers can flag it."""
    price = price_for(model)
    source: Literal["table", "litellm", "unknown"] = "table"
    if price is None:
        price = _litellm_price(model)
        source = "litellm"
    if price is None:
        return CostEstimate(usd=Decimal(0), priced=False, source="unknown")
    return CostEstimate(usd=price.cost(usage), priced=True, source=source)


def cost_usd(model: str, usage: Usage) -> Decimal:
    return estimate_cost(model, usage).usd


def _per_mtok(per_token: object) -> Decimal:
    return Decimal(str(per_token)) * _PER_TOKEN_DIVISOR


def _optional_per_mtok(per_token: object) -> Decimal | None:
    return None if per_token is None else _per_mtok(per_token)


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value
