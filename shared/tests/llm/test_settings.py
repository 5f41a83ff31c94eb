"""ProviderSettings: conventional env names, JSON aliases/fallbacks, secrets hidden."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from genai_shared.llm.settings import OPENROUTER_DEFAULT_BASE_URL, ProviderSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ProviderSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults() -> None:
    settings = ProviderSettings(_env_file=None)

    assert settings.llm_default_model == "mock/echo-1"
    assert settings.openrouter_base_url == OPENROUTER_DEFAULT_BASE_URL
    assert settings.llm_model_aliases == {}
    assert settings.llm_fallbacks == []
    assert not (settings.openai_configured())
    assert not (settings.anthropic_configured())
    assert not (settings.openrouter_configured())


def test_reads_conventional_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-openai-123456")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "12.5")
    monkeypatch.setenv("LLM_MODEL_ALIASES", '{"fast": "openai/gpt-4o-mini"}')
    monkeypatch.setenv("LLM_FALLBACKS", '["anthropic/claude-haiku-4-5", "mock/echo-1"]')

    settings = ProviderSettings(_env_file=None)

    assert settings.openai_api_key == SecretStr("sk-env-openai-123456")
    assert settings.anthropic_configured()
    assert settings.llm_timeout_seconds == 12.5
    assert settings.llm_model_aliases == {"fast": "openai/gpt-4o-mini"}
    assert settings.llm_fallbacks == ["anthropic/claude-haiku-4-5", "mock/echo-1"]


def test_keys_are_hidden() -> None:
    settings = ProviderSettings(
        _env_file=None, openai_api_key="sk-hidden-openai-123456", anthropic_api_key="sk-ant-hidden"
    )

    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hidden" not in text


def test_openrouter_needs_a_key_or_its_own_url() -> None:
    assert ProviderSettings(_env_file=None, openrouter_api_key="sk-or-1").openrouter_configured()
    assert ProviderSettings(
        _env_file=None, openrouter_base_url="http://127.0.0.1:9/api/v1"
    ).openrouter_configured()


def test_reads_an_env_file_when_given_one(tmp_path: pytest.TempPathFactory) -> None:
    env_file = tmp_path / ".env"  # type: ignore[operator]
    env_file.write_text("OPENAI_BASE_URL=http://127.0.0.1:9/v1\n")

    assert ProviderSettings(_env_file=env_file).openai_base_url == "http://127.0.0.1:9/v1"


def test_rejects_a_non_positive_timeout() -> None:
    with pytest.raises(ValueError, match="llm_timeout_seconds"):
        ProviderSettings(_env_file=None, llm_timeout_seconds=0)
