"""The providers the app reports: the shared contract (configured ones, never their keys),
then project 02's model aliases."""

from __future__ import annotations

from genai_shared.testing.contracts.providers import ProvidersContract
from genai_shared.testing.contracts.support import (
    CONVERSATIONS,
    AppFactory,
    RegisterOwner,
    new_conversation,
    serve_with_tables,
)
from multi_provider_chat.core.config import Settings
from multi_provider_chat.core.database import Base


class TestProviders(ProvidersContract):
    settings_class = Settings
    metadata = Base.metadata


async def test_an_alias_is_listed_and_answers_as_the_model_it_names(
    app_factory: AppFactory, register_owner: RegisterOwner, sqlite_url: str
) -> None:
    """``LLM_MODEL_ALIASES`` gives a routed name a short one callers can use."""
    app = app_factory(database_url=sqlite_url, llm_model_aliases={"quick": "mock/echo-1"})
    async with serve_with_tables(app, Base.metadata) as client:
        models = (await client.get("/v1/models")).json()["data"]
        owner = await register_owner(client)
        path = f"{CONVERSATIONS}/{(await new_conversation(client, owner))['id']}/chat"
        turn = await client.post(path, json={"content": "hi", "model": "quick"})
    assert "quick" in {model["id"] for model in models}
    assert turn.status_code == 201, turn.text
    reply = turn.json()["assistant_message"]
    assert (reply["provider"], reply["model"]) == ("mock", "echo-1")
