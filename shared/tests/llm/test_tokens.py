"""Offline token counting from the tiktoken files litellm ships."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import tiktoken.registry

from genai_shared.llm import tokens
from genai_shared.llm.types import ChatMessage


def test_bundled_cache_is_found_without_importing_litellm() -> None:
    directory = tokens.bundled_tiktoken_cache_dir()

    assert directory is not None
    assert (directory / "9b5ad71b2ce5302211f9c61530b329a4922fc6a4").is_file()  # cl100k_base


def test_counts_with_the_network_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # forget loaded encodings
    tokens._encoding_by_name.cache_clear()

    assert tokens.count_text("hello world", "gpt-4o") == 2  # o200k_base
    assert tokens.count_text("hello world", "claude-haiku-4-5") == 2  # cl100k_base
    assert Path(os.environ["TIKTOKEN_CACHE_DIR"]) == tokens.bundled_tiktoken_cache_dir()
    tokens._encoding_by_name.cache_clear()


def test_encoding_follows_the_model() -> None:
    assert tokens.encoding_for("openai/gpt-4o").name == "o200k_base"
    assert tokens.encoding_for("gpt-4o-2024-08-06").name == "o200k_base"
    assert tokens.encoding_for("anthropic/claude-sonnet-4-5").name == "cl100k_base"
    assert tokens.encoding_for(None).name == "cl100k_base"


def test_message_overhead_is_documented_and_applied() -> None:
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="hello", name="ada"),
    ]
    enc = tokens.encoding_for("gpt-4o")

    expected = (
        tokens.REPLY_PRIMING_TOKENS
        + 2 * tokens.TOKENS_PER_MESSAGE
        + len(enc.encode("system"))
        + len(enc.encode("Be brief."))
        + len(enc.encode("user"))
        + len(enc.encode("hello"))
        + tokens.TOKENS_PER_NAME
        + len(enc.encode("ada"))
    )
    assert tokens.count_messages(messages, "gpt-4o") == expected


def test_special_tokens_in_text_are_counted_not_rejected() -> None:
    assert tokens.count_text("<|endoftext|>") > 1


def test_truncate_to_tokens() -> None:
    assert tokens.truncate_to_tokens("one two three four", 2) == "one two"
    assert tokens.truncate_to_tokens("short", 10) == "short"


def test_the_suite_refuses_external_hosts(no_external_network: list[str]) -> None:
    with pytest.raises(OSError, match="blocked"):
        socket.create_connection(("api.openai.com", 443), timeout=1)

    assert no_external_network == ["getaddrinfo 'api.openai.com'"]
    no_external_network.clear()  # the guard worked; do not fail this test for it


async def test_the_default_models_tokenizer_is_loaded_when_the_app_starts():
    """Loading a BPE file takes a few hundred milliseconds: the first call must not pay it."""
    from fastapi import FastAPI

    from genai_shared.llm.dependencies import llm_resources
    from genai_shared.llm.settings import ProviderSettings
    from genai_shared.llm.tokens import _encoding_by_name

    _encoding_by_name.cache_clear()
    settings = ProviderSettings(llm_default_model="openai/gpt-4o-mini")
    async with llm_resources(FastAPI(), settings):
        assert _encoding_by_name.cache_info().currsize == 1
        assert _encoding_by_name.cache_info().misses == 1
