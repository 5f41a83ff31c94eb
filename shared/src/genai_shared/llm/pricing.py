"""List prices and cost of a call.

USD per 1M tokens, the providers' public list prices for standard (non-batch, uncached)
usage, checked against litellm's bundled price map (model_prices_and_context_window_backup.json
of litellm 1.109.3). Prices change: update the table, not the callers.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from genai_shared.llm.types import Usage

_PER_TOKEN_DIVISOR = Decimal(1_000_000)
_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Price:
    input_per_mtok: Decimal
    output_per_mtok: Decimal


PRICES: dict[str, Price] = {
    "gpt-4o": Price(Decimal("2.50"), Decimal("10.00")),
    "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.60")),
    "gpt-4.1": Price(Decimal("2.00"), Decimal("8.00")),
    "gpt-4.1-mini": Price(Decimal("0.40"), Decimal("1.60")),
    "gpt-4.1-nano": Price(Decimal("0.10"), Decimal("0.40")),
    "gpt-5": Price(Decimal("1.25"), Decimal("10.00")),
    "gpt-5-mini": Price(Decimal("0.25"), Decimal("2.00")),
    "gpt-5-nano": Price(Decimal("0.05"), Decimal("0.40")),
    "o4-mini": Price(Decimal("1.10"), Decimal("4.40")),
    "claude-haiku-4-5": Price(Decimal("1.00"), Decimal("5.00")),
    "claude-sonnet-4-5": Price(Decimal("3.00"), Decimal("15.00")),
    "claude-sonnet-4-6": Price(Decimal("3.00"), Decimal("15.00")),
    "claude-opus-4-5": Price(Decimal("5.00"), Decimal("25.00")),
    "claude-opus-4-6": Price(Decimal("5.00"), Decimal("25.00")),
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
            return Price(
                Decimal(str(entry["input_cost_per_token"])) * _PER_TOKEN_DIVISOR,
                Decimal(str(entry.get("output_cost_per_token", 0))) * _PER_TOKEN_DIVISOR,
            )
    return None


def estimate_cost(model: str, usage: Usage) -> CostEstimate:
    """Cost of a call; an unknown model costs 0 with `priced=False` so callers can flag it."""
    price = price_for(model)
    source: Literal["table", "litellm", "unknown"] = "table"
    if price is None:
        price = _litellm_price(model)
        source = "litellm"
    if price is None:
        return CostEstimate(usd=Decimal(0), priced=False, source="unknown")
    usd = (
        Decimal(usage.input_tokens) * price.input_per_mtok
        + Decimal(usage.output_tokens) * price.output_per_mtok
    ) / _PER_TOKEN_DIVISOR
    return CostEstimate(usd=usd, priced=True, source=source)


def cost_usd(model: str, usage: Usage) -> Decimal:
    return estimate_cost(model, usage).usd
