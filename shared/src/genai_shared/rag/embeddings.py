"""Embedders: one async interface over the local MiniLM model and OpenAI's API.

`MiniLMEmbedder` is the offline default (no key, no network, no torch): its CPU-heavy
batches run in a worker thread so the event loop keeps serving requests. `OpenAIEmbedder`
calls `text-embedding-3-small` through the official SDK when a key is configured.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

import anyio.to_thread
import httpx2
import openai

from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.openai_provider import map_openai_error
from genai_shared.llm.tokens import count_text
from genai_shared.rag.minilm import MODEL_NAME, MiniLM, process_minilm

Vector = list[float]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of a fixed size, in batches."""

    @property
    def name(self) -> str:
        """The model, as stored next to the vectors it made (vectors of two models never mix)."""
        ...

    @property
    def dimensions(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The longest input, in the model's own tokens, that is embedded without being cut."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in the order given."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 run in-process with numpy (see `genai_shared.rag.minilm`).

    Texts are sorted by length before batching, so a batch pads little, then put back in
    order. Each batch is one call to a worker thread. Inputs longer than `max_tokens` are
    cut there, as sentence-transformers does; the chunker never produces such inputs.
    """

    def __init__(self, *, model: MiniLM | None = None, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._model = model or process_minilm()
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dimensions(self) -> int:
        return self._model.dimensions

    @property
    def max_tokens(self) -> int:
        return self._model.max_seq_length

    @property
    def model(self) -> MiniLM:
        return self._model

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        vectors: list[Vector] = [[] for _ in texts]
        for batch in _batches_by_count(order, self.batch_size):
            encoded = await anyio.to_thread.run_sync(
                self._model.encode, [texts[index] for index in batch]
            )
            for index, row in zip(batch, encoded.tolist(), strict=True):
                vectors[index] = row
        return vectors


def _batches_by_count(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


OPENAI_MODEL = "text-embedding-3-small"
# Native sizes; a text-embedding-3 model can return fewer dimensions when asked.
OPENAI_DIMENSIONS: Mapping[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# OpenAI's limits: 8192 tokens per input, 2048 inputs and 300,000 tokens per request.
OPENAI_MAX_INPUT_TOKENS = 8191
OPENAI_MAX_BATCH_SIZE = 2048
OPENAI_MAX_BATCH_TOKENS = 300_000


class OpenAIEmbedder:
    """OpenAI embeddings through the official `AsyncOpenAI` client.

    Requests are batched by count and by tokens (counted with tiktoken, the model's own
    tokenizer) to stay inside the API's per-request limits, and sent one after another.
    The SDK keeps its default retries (there is no fallback chain here to retry instead);
    the timeout is bounded. Failures surface as `genai_shared` provider errors, scrubbed of
    the key. An input longer than `max_tokens` is refused before anything is sent: the API
    would refuse it too, and cutting it silently would lose text.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = OPENAI_MODEL,
        dimensions: int | None = None,
        batch_size: int = 512,
        batch_tokens: int = 100_000,
        timeout_seconds: float = 30.0,
        connect_timeout_seconds: float = 5.0,
        max_retries: int = openai.DEFAULT_MAX_RETRIES,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        native = OPENAI_DIMENSIONS.get(model)
        if dimensions is None and native is None:
            raise ValueError(f"give the dimensions of {model!r}: it is not a known model")
        if not 1 <= batch_size <= OPENAI_MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {OPENAI_MAX_BATCH_SIZE}")
        if not OPENAI_MAX_INPUT_TOKENS <= batch_tokens <= OPENAI_MAX_BATCH_TOKENS:
            raise ValueError(
                f"batch_tokens must be between {OPENAI_MAX_INPUT_TOKENS} "
                f"and {OPENAI_MAX_BATCH_TOKENS}"
            )
        self._model = model
        self._dimensions = dimensions or native or 0
        # Sent only when it shortens the vectors: older models refuse the parameter.
        self._dimensions_param = dimensions if dimensions not in (None, native) else None
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self._api_key = api_key
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=httpx2.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            http_client=http_client,
        )

    @property
    def name(self) -> str:
        return self._model

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return OPENAI_MAX_INPUT_TOKENS

    def count_tokens(self, text: str) -> int:
        return count_text(text, self._model)

    async def aclose(self) -> None:
        await self._client.close()

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        if not texts:
            return []
        # Counting tokens of a large upload is CPU work too: off the event loop.
        batches = await anyio.to_thread.run_sync(self.plan_batches, texts)
        vectors: list[Vector] = []
        for batch in batches:
            vectors.extend(await self._embed_batch([texts[index] for index in batch]))
        return vectors

    def plan_batches(self, texts: Sequence[str]) -> list[list[int]]:
        """Indexes of `texts`, in order, grouped under both the count and token caps."""
        batches: list[list[int]] = []
        current: list[int] = []
        current_tokens = 0
        for index, text in enumerate(texts):
            if not text:
                raise ValueError(f"text {index} is empty: the API refuses empty inputs")
            tokens = self.count_tokens(text)
            if tokens > self.max_tokens:
                raise ValueError(
                    f"text {index} has {tokens} tokens, more than the {self.max_tokens} "
                    f"{self._model} takes: chunk it first"
                )
            if current and (
                len(current) == self.batch_size or current_tokens + tokens > self.batch_tokens
            ):
                batches.append(current)
                current, current_tokens = [], 0
            current.append(index)
            current_tokens += tokens
        if current:
            batches.append(current)
        return batches

    async def _embed_batch(self, texts: list[str]) -> list[Vector]:
        try:
            if self._dimensions_param is None:
                response = await self._client.embeddings.create(model=self._model, input=texts)
            else:
                response = await self._client.embeddings.create(
                    model=self._model, input=texts, dimensions=self._dimensions_param
                )
        except (openai.OpenAIError, ValueError) as exc:
            # `from None`: the SDK exception's text can carry the upstream body.
            raise map_openai_error(exc, provider="openai", secrets=(self._api_key,)) from None
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(texts))) or any(
            len(item.embedding) != self._dimensions for item in data
        ):
            raise ProviderUnavailable(
                "the provider sent embeddings that do not match the inputs", provider="openai"
            )
        return [list(item.embedding) for item in data]
