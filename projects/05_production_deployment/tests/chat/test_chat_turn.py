"""POST /conversations/{id}/chat without streaming, from the shared contracts, and metered.

The owner is the signed-in user; idempotency keys on a turn are tested in
``test_idempotency.py``.

Project 05's own lesson here: a turn is charged to the caller, and only when it is theirs
to take. Another user's conversation answers 404 before anything is reserved, sent or
stored; a turn's reply says what it cost, and the ledger (GET /usage) says the same.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

import pytest

from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.testing.contracts import chat_turn
from genai_shared.testing.contracts.chat_turn import RecordingProvider


class TestReply(chat_turn.ChatReplyContract):
    """Storage, history and generation options, on both backends."""


@pytest.mark.sqlite_only
class TestInput(chat_turn.ChatInputContract):
    """Refused before the provider is asked: the PostgreSQL run would add nothing."""


class TestProviderFailure(chat_turn.ProviderFailureContract):
    """A failing provider leaves the user's message and an ``error`` reply."""


class TestFallback(chat_turn.FallbackContract):
    """The configured fallback answers a retriable failure."""


PRICED = "openai/gpt-4o-mini"  # priced by genai_shared.llm.pricing; the mock is free
MICRO_USD = Decimal("0.000001")


class PricedRecorder(RecordingProvider):
    """The recording mock behind a priced model's name."""

    name = "openai"


async def _usage(client, headers=None) -> dict:
    response = await client.get("/api/v1/usage", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


class TestMetering:
    @pytest.fixture
    def recorder(self) -> PricedRecorder:
        return PricedRecorder(MockProvider(MockScript(reply="a priced reply of some words")))

    @pytest.fixture
    def llm_registry(self, recorder: PricedRecorder) -> ProviderRegistry:
        return ProviderRegistry({"openai": recorder})

    async def test_another_users_conversation_is_404_and_costs_nothing(
        self, client, make_conversation, make_user, recorder, expect_error
    ) -> None:
        """An ownership check after the reservation or the call would charge or store."""
        conversation = await make_conversation()
        path = f"/api/v1/conversations/{conversation['id']}"
        bob = await make_user()

        response = await client.post(
            f"{path}/chat",
            json={"content": "on alice's dime", "model": PRICED, "max_tokens": 50},
            headers=bob.headers,
        )
        expect_error(response, 404, "ConversationNotFound")
        assert "on alice" not in response.text
        assert recorder.requests == []
        assert (await client.get(f"{path}/messages")).json()["items"] == []
        for headers in (bob.headers, None):  # neither the caller nor the owner is charged
            usage = await _usage(client, headers)
            assert usage["days"] == []
            assert Decimal(usage["budget"]["spent_usd"]) == 0
            assert Decimal(usage["budget"]["reserved_usd"]) == 0

    async def test_the_reply_and_the_ledger_agree_on_the_cost(
        self, client, make_conversation, make_user
    ) -> None:
        """The reply records provider, model and cost; GET /usage charges that cost."""
        conversation = await make_conversation()
        response = await client.post(
            f"/api/v1/conversations/{conversation['id']}/chat",
            json={"content": "what does this cost", "model": PRICED, "max_tokens": 40},
        )
        assert response.status_code == 201, response.text
        reply = response.json()["assistant_message"]
        assert (reply["provider"], reply["model"], reply["status"]) == (
            "openai",
            "gpt-4o-mini",
            "complete",
        )
        cost = Decimal(reply["cost_usd"])
        assert cost > 0

        usage = await _usage(client)
        (line,) = usage["days"]
        assert (line["provider"], line["model"], line["calls"]) == ("openai", "gpt-4o-mini", 1)
        assert (line["input_tokens"], line["output_tokens"]) == (
            reply["input_tokens"],
            reply["output_tokens"],
        )
        # The ledger keeps whole micro-dollars, rounded up (README, "Budgets"): the reply's
        # exact cost, never the reserved worst case, never rounded down.
        charged = cost.quantize(MICRO_USD, rounding=ROUND_CEILING)
        assert Decimal(line["cost_usd"]) == charged
        budget = usage["budget"]
        assert Decimal(budget["spent_usd"]) == charged
        assert Decimal(budget["reserved_usd"]) == 0  # the worst case was released
        assert Decimal(budget["remaining_usd"]) == Decimal(budget["budget_usd"]) - charged

        # The call is charged to its caller only.
        assert (await _usage(client, (await make_user()).headers))["days"] == []
