"""Offline token counting with tiktoken.

tiktoken downloads its BPE files on first use unless they are in `TIKTOKEN_CACHE_DIR`.
litellm ships those files (cl100k_base, o200k_base, p50k_base) in its package, so we
point the cache at them. We find the directory with `importlib.util.find_spec`, which
locates the package without executing it: `import litellm` costs seconds.

Counts for non-OpenAI models (Claude, mock) use cl100k_base as an approximation.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import tiktoken

from genai_shared.llm.types import ChatMessage

DEFAULT_ENCODING = "cl100k_base"
# OpenAI's documented accounting for chat models (gpt-3.5-turbo-0613 and later, gpt-4*):
# every message costs 3 tokens of framing plus its content and role, a `name` costs one
# more, and every reply is primed with 3 tokens (<|start|>assistant<|message|>).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


def bundled_tiktoken_cache_dir() -> Path | None:
    """The directory of tiktoken files inside the installed litellm package, if any."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "litellm_core_utils" / "tokenizers"
        if candidate.is_dir():
            return candidate
    return None


def use_bundled_tiktoken_cache() -> Path | None:
    """Point TIKTOKEN_CACHE_DIR at litellm's bundled files (as `import litellm` itself does)."""
    directory = bundled_tiktoken_cache_dir()
    if directory is not None:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
    return directory


def _bare_model_name(model: str) -> str:
    """`openai/gpt-4o`, `openrouter/openai/gpt-4o` -> `gpt-4o`."""
    return model.rsplit("/", 1)[-1].split("@", 1)[0]


@lru_cache(maxsize=16)
def _encoding_by_name(name: str) -> tiktoken.Encoding:
    use_bundled_tiktoken_cache()
    return tiktoken.get_encoding(name)


def encoding_for(model: str | None = None) -> tiktoken.Encoding:
    """The encoding OpenAI uses for `model`, or cl100k_base for any other model."""
    name = DEFAULT_ENCODING
    if model:
        try:
            name = tiktoken.encoding_name_for_model(_bare_model_name(model))
        except KeyError:
            name = DEFAULT_ENCODING
    return _encoding_by_name(name)


def count_text(text: str, model: str | None = None) -> int:
    return len(encoding_for(model).encode(text, disallowed_special=()))


def count_messages(messages: Iterable[ChatMessage], model: str | None = None) -> int:
    """Prompt tokens of a chat, with the per-message overhead documented above."""
    encoding = encoding_for(model)
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE + _role_tokens(encoding.name, message.role)
        if message.content:
            total += len(encoding.encode(message.content, disallowed_special=()))
        if message.name:
            total += TOKENS_PER_NAME + len(encoding.encode(message.name, disallowed_special=()))
        for call in message.tool_calls or ():
            total += len(encoding.encode(call.name + call.arguments, disallowed_special=()))
    return total


@lru_cache(maxsize=64)
def _role_tokens(encoding_name: str, role: str) -> int:
    """A role's tokens: a handful of roles, counted once per encoding, not per message."""
    return len(_encoding_by_name(encoding_name).encode(role, disallowed_special=()))


def truncate_to_tokens(text: str, max_tokens: int, model: str | None = None) -> str:
    """The longest prefix of `text` that fits in `max_tokens` tokens."""
    encoding = encoding_for(model)
    tokens = encoding.encode(text, disallowed_special=())
    if len(tokens) <= max_tokens:
        return text
    return encoding.decode(tokens[:max_tokens])
