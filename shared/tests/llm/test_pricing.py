"""Cost of a call from the list-price table."""

from __future__ import annotations

import sys
import types
from decimal import Decimal

import pytest

from genai_shared.llm.pricing import PRICES, bare_model_name, cost_usd, estimate_cost
from genai_shared.llm.types import Usage

MILLION = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", Decimal("12.50")),
        ("openai/gpt-4o-mini", Decimal("0.75")),
        ("anthropic/claude-sonnet-4-5", Decimal("18.00")),
        ("anthropic/claude-haiku-4-5-20251001", Decimal("6.00")),
        ("openrouter/anthropic/claude-haiku-4-5", Decimal("6.00")),
        ("litellm/openai/gpt-4o", Decimal("12.50")),
        ("mock/echo-1", Decimal("0")),
    ],
)
def test_cost_of_a_million_each_way(model: str, expected: Decimal) -> None:
    assert cost_usd(model, MILLION) == expected


def test_small_calls_are_exact_decimals() -> None:
    usage = Usage(input_tokens=1234, output_tokens=567)

    assert cost_usd("gpt-4o", usage) == Decimal("0.008755")


def test_unknown_model_costs_zero_and_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "litellm", raising=False)

    estimate = estimate_cost("acme/unknown-9", MILLION)

    assert (estimate.usd, estimate.priced, estimate.source) == (Decimal(0), False, "unknown")


def test_falls_back_to_litellm_price_map_when_already_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.SimpleNamespace(
        model_cost={"acme-9": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}
    )
    monkeypatch.setitem(sys.modules, "litellm", fake)

    estimate = estimate_cost("litellm/acme/acme-9", MILLION)

    assert (estimate.usd, estimate.priced, estimate.source) == (Decimal("3"), True, "litellm")


def test_table_names_are_bare_model_names() -> None:
    assert all(bare_model_name(name) == name for name in PRICES)
