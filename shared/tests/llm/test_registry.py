"""Building providers from settings and routing model names to them."""

from __future__ import annotations

import pytest

from genai_shared.llm.errors import InvalidRequest
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import ChatMessage, ChatRequest, StreamEnd
from genai_shared.testing.fake_upstream import FAKE_KEYS, RecordedRequest

PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENROUTER_API_KEY",
    "OPENROUTER_BASE_URL",
    "LLM_MODEL_ALIASES",
    "LLM_FALLBACKS",
    "LLM_DEFAULT_MODEL",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


def ask(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=[ChatMessage(role="user", content="hi")])


class TestBuild:
    @pytest.mark.usefixtures("clean_env")
    async def test_no_keys_means_mock_only(self) -> None:
        registry = ProviderRegistry.from_settings(ProviderSettings(_env_file=None))

        assert sorted(registry.providers) == ["mock"]
        assert registry.default_model == "mock/echo-1"
        response = await registry.complete(ask("mock/echo-1"))
        assert response.content == "Echo: hi"
        await registry.aclose()

    async def test_every_configured_provider(self, settings: ProviderSettings) -> None:
        registry = ProviderRegistry.from_settings(settings)

        assert sorted(registry.providers) == [
            "anthropic",
            "litellm",
            "mock",
            "openai",
            "openrouter",
        ]
        await registry.aclose()

    @pytest.mark.usefixtures("clean_env")
    def test_a_base_url_alone_configures_a_provider(self) -> None:
        settings = ProviderSettings(_env_file=None, openai_base_url="http://127.0.0.1:1/v1")

        registry = ProviderRegistry.from_settings(settings)

        assert "openai" in registry.providers
        assert "anthropic" not in registry.providers
        assert "openrouter" not in registry.providers  # its default public URL does not count

    def test_repr_never_shows_keys(self, settings: ProviderSettings) -> None:
        registry = ProviderRegistry.from_settings(settings)

        for text in (repr(registry), str(registry), repr(settings), str(settings)):
            assert not any(key in text for key in FAKE_KEYS)


class TestRouting:
    @pytest.mark.parametrize(
        ("name", "provider", "model"),
        [
            ("openai/gpt-4o", "openai", "gpt-4o"),
            ("anthropic/claude-haiku-4-5", "anthropic", "claude-haiku-4-5"),
            ("openrouter/openai/gpt-4o", "openrouter", "openai/gpt-4o"),
            ("litellm/anthropic/claude-haiku-4-5", "litellm", "anthropic/claude-haiku-4-5"),
            ("mock/echo-1", "mock", "echo-1"),
        ],
    )
    def test_prefixes(
        self, settings: ProviderSettings, name: str, provider: str, model: str
    ) -> None:
        target = ProviderRegistry.from_settings(settings).resolve(name)

        assert (target.provider.name, target.model) == (provider, model)

    def test_alias_and_default(self, settings: ProviderSettings) -> None:
        registry = ProviderRegistry.from_settings(
            settings.model_copy(
                update={
                    "llm_model_aliases": {"fast": "openai/gpt-4o-mini"},
                    "llm_default_model": "fast",
                }
            )
        )

        assert registry.resolve("fast").model == "gpt-4o-mini"
        assert registry.resolve(None).model == "gpt-4o-mini"

    @pytest.mark.parametrize(
        "name", ["gpt-4o", "acme/model", "openrouter/gpt-4o", "openai/", "litellm/x"]
    )
    def test_bad_names_are_invalid_requests(self, settings: ProviderSettings, name: str) -> None:
        with pytest.raises(InvalidRequest):
            ProviderRegistry.from_settings(settings).resolve(name)

    @pytest.mark.usefixtures("clean_env")
    def test_unconfigured_provider_is_an_invalid_request(self) -> None:
        registry = ProviderRegistry.from_settings(ProviderSettings(_env_file=None))

        with pytest.raises(InvalidRequest, match="not configured"):
            registry.resolve("anthropic/claude-haiku-4-5")

    async def test_complete_and_stream_strip_the_prefix(
        self, settings: ProviderSettings, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        registry = ProviderRegistry.from_settings(settings)

        response = await registry.complete(ask("anthropic/claude-haiku-4-5"))
        events = [event async for event in registry.stream(ask("openai/gpt-4o"))]

        assert response.provider == "anthropic"
        assert isinstance(events[-1], StreamEnd)
        assert [r.body["model"] for r in fake_upstream_requests] == ["claude-haiku-4-5", "gpt-4o"]
        await registry.aclose()


class TestFallbackChain:
    def test_chain_is_model_then_configured_fallbacks(self) -> None:
        registry = ProviderRegistry(
            {"mock": MockProvider()},
            fallbacks=["mock/echo-2", "anthropic/claude-haiku-4-5"],  # anthropic: not configured
        )

        chain = registry.fallback_chain("mock/echo-1")

        assert [t.label for t in chain.targets] == ["mock/echo-1", "mock/echo-2"]

    async def test_chain_runs(self) -> None:
        failing = MockProvider(MockScript(error_after_chunks=0))
        registry = ProviderRegistry(
            {"mock": failing, "openai": MockProvider()}, fallbacks=["openai/x"]
        )

        result = await registry.fallback_chain("mock/echo-1", sleep=_no_sleep).complete(
            ask("ignored")
        )

        assert result.succeeded_index == 1


async def _no_sleep(_: float) -> None:
    return None


class TestListModels:
    def test_lists_configured_providers_and_aliases(self, settings: ProviderSettings) -> None:
        registry = ProviderRegistry.from_settings(
            settings.model_copy(update={"llm_model_aliases": {"fast": "openai/gpt-4o-mini"}})
        )

        ids = {m.id: m for m in registry.list_models()}

        assert "mock/echo-1" in ids
        assert "openai/gpt-4o" in ids
        assert "anthropic/claude-sonnet-4-5" in ids
        assert "openrouter/anthropic/claude-haiku-4-5" in ids
        assert "litellm/openai/gpt-4o" in ids
        assert ids["fast"].alias_for == "openai/gpt-4o-mini"

    @pytest.mark.usefixtures("clean_env")
    def test_mock_only(self) -> None:
        registry = ProviderRegistry.from_settings(ProviderSettings(_env_file=None))

        assert [m.id for m in registry.list_models()] == ["mock/echo-1"]
