"""Cost of a call from the list-price table."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from decimal import Decimal
from pathlib import Path
from typing import Any

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


def _bundled_litellm_map() -> dict[str, Any]:
    """litellm's bundled price map, read as a file: `import litellm` would take seconds."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None
    assert spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    data: dict[str, Any] = json.loads(
        (folder / "model_prices_and_context_window_backup.json").read_text()
    )
    return data


LITELLM_MAP = _bundled_litellm_map()


def per_token(model: str, key: str) -> Decimal:
    """One rate from litellm's map, USD per token."""
    return Decimal(str(LITELLM_MAP[model][key]))


CACHED_CALL = Usage(
    input_tokens=1_234,
    cache_read_tokens=50_000,
    cache_write_tokens=7_000,
    cache_write_1h_tokens=2_000,
    output_tokens=567,
)


class TestTableAgreesWithLitellm:
    @pytest.mark.parametrize("model", sorted(PRICES))
    def test_input_output_and_cache_read_rates(self, model: str) -> None:
        price = PRICES[model]
        million = Decimal(1_000_000)

        assert price.input_per_mtok == per_token(model, "input_cost_per_token") * million
        assert price.output_per_mtok == per_token(model, "output_cost_per_token") * million
        assert price.cache_read_per_mtok == (
            per_token(model, "cache_read_input_token_cost") * million
        )

    @pytest.mark.parametrize("model", sorted(m for m in PRICES if m.startswith("claude")))
    def test_claude_cache_write_rates(self, model: str) -> None:
        price = PRICES[model]
        million = Decimal(1_000_000)

        assert price.cache_write_per_mtok == (
            per_token(model, "cache_creation_input_token_cost") * million
        )
        assert price.cache_write_1h_per_mtok == (
            per_token(model, "cache_creation_input_token_cost_above_1hr") * million
        )


class TestPromptCache:
    @pytest.mark.parametrize(
        "model", ["anthropic/claude-sonnet-4-5", "claude-haiku-4-5-20251001", "claude-opus-4-6"]
    )
    def test_claude_bills_reads_and_each_kind_of_write_at_its_rate(self, model: str) -> None:
        name = bare_model_name(model)
        expected = (
            CACHED_CALL.input_tokens * per_token(name, "input_cost_per_token")
            + CACHED_CALL.cache_read_tokens * per_token(name, "cache_read_input_token_cost")
            + (CACHED_CALL.cache_write_tokens - CACHED_CALL.cache_write_1h_tokens)
            * per_token(name, "cache_creation_input_token_cost")
            + CACHED_CALL.cache_write_1h_tokens
            * per_token(name, "cache_creation_input_token_cost_above_1hr")
            + CACHED_CALL.output_tokens * per_token(name, "output_cost_per_token")
        )

        assert cost_usd(model, CACHED_CALL) == expected

    def test_claude_cache_rates_are_anthropics_multipliers(self) -> None:
        price = PRICES["claude-sonnet-4-5"]

        assert price.cache_read_per_mtok == price.input_per_mtok / 10
        assert price.cache_write_per_mtok == price.input_per_mtok * 5 / 4
        assert price.cache_write_1h_per_mtok == price.input_per_mtok * 2

    def test_a_cached_prompt_costs_less_than_the_same_prompt_uncached(self) -> None:
        uncached = Usage(input_tokens=CACHED_CALL.prompt_tokens, output_tokens=567)

        assert cost_usd("claude-haiku-4-5", CACHED_CALL) < cost_usd("claude-haiku-4-5", uncached)

    def test_openai_bills_cached_input_at_its_cached_rate(self) -> None:
        usage = Usage(input_tokens=1_000, cache_read_tokens=3_072, output_tokens=100)
        expected = (
            1_000 * per_token("gpt-4.1", "input_cost_per_token")
            + 3_072 * per_token("gpt-4.1", "cache_read_input_token_cost")
            + 100 * per_token("gpt-4.1", "output_cost_per_token")
        )

        assert cost_usd("openai/gpt-4.1", usage) == expected

    def test_openai_cache_writes_cost_plain_input(self) -> None:
        """OpenRouter may report writes for an OpenAI model; OpenAI charges no premium."""
        written = Usage(input_tokens=100, cache_write_tokens=900)
        plain = Usage(input_tokens=1_000)

        assert cost_usd("gpt-4o", written) == cost_usd("gpt-4o", plain)


class TestLitellmFallback:
    def test_uses_the_maps_cache_rates(self, monkeypatch: pytest.MonkeyPatch) -> None:
        entry = {
            "input_cost_per_token": 2e-6,
            "output_cost_per_token": 8e-6,
            "cache_read_input_token_cost": 5e-7,
            "cache_creation_input_token_cost": 3e-6,
        }
        monkeypatch.setitem(
            sys.modules, "litellm", types.SimpleNamespace(model_cost={"acme-9": entry})
        )
        usage = Usage(
            input_tokens=10, cache_read_tokens=20, cache_write_tokens=30, output_tokens=40
        )

        estimate = estimate_cost("acme/acme-9", usage)

        expected = (
            10 * Decimal("2e-6")
            + 20 * Decimal("5e-7")
            + 30 * Decimal("3e-6")
            + 40 * Decimal("8e-6")
        )
        assert (estimate.usd, estimate.source) == (expected, "litellm")

    def test_claude_without_cache_rates_gets_anthropics_rule(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        entry = {"input_cost_per_token": 4e-6, "output_cost_per_token": 2e-5}
        monkeypatch.setitem(
            sys.modules, "litellm", types.SimpleNamespace(model_cost={"claude-next-9": entry})
        )
        usage = Usage(
            input_tokens=10,
            cache_read_tokens=1_000,
            cache_write_tokens=300,
            cache_write_1h_tokens=100,
            output_tokens=40,
        )
        rate = Decimal("4e-6")

        estimate = estimate_cost("anthropic/claude-next-9", usage)

        expected = (
            10 * rate
            + 1_000 * rate * Decimal("0.1")
            + 200 * rate * Decimal("1.25")
            + 100 * rate * 2
            + 40 * Decimal("2e-5")
        )
        assert estimate.usd == expected

    def test_other_models_without_cache_rates_bill_cache_tokens_as_input(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        entry = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
        monkeypatch.setitem(
            sys.modules, "litellm", types.SimpleNamespace(model_cost={"acme-9": entry})
        )
        cached = Usage(input_tokens=10, cache_read_tokens=20, cache_write_tokens=30)

        assert cost_usd("acme-9", cached) == cost_usd("acme-9", Usage(input_tokens=60))
