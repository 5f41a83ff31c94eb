"""The Embedder interface: MiniLM in a worker thread, OpenAI against the fake upstream."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence

import anyio
import anyio.lowlevel
import numpy as np
import numpy.typing as npt
import pytest

from genai_shared.llm.errors import (
    AuthenticationFailed,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from genai_shared.llm.tokens import count_text
from genai_shared.rag.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder, Vector
from genai_shared.rag.minilm import MiniLM
from genai_shared.testing.fake_upstream import (
    EMBEDDING_MAX_REQUEST_TOKENS,
    FAKE_OPENAI_KEY,
    RecordedRequest,
    RunningFakeUpstream,
    fake_embedding,
)

MODEL = "text-embedding-3-small"


class TestMiniLMEmbedder:
    def test_describes_itself(self, minilm: MiniLM) -> None:
        embedder = MiniLMEmbedder(model=minilm)
        assert isinstance(embedder, Embedder)
        assert embedder.name == "sentence-transformers/all-MiniLM-L6-v2"
        assert (embedder.dimensions, embedder.max_tokens) == (384, 256)

    async def test_batches_keep_the_callers_order(self, minilm: MiniLM) -> None:
        texts = ["a much longer sentence about embeddings and batching", "b", "medium text", ""]
        texts += [f"text number {i} " * (i % 4 + 1) for i in range(7)]
        embedder = MiniLMEmbedder(model=minilm, batch_size=3)

        vectors = await embedder.embed(texts)

        assert len(vectors) == len(texts)
        assert all(len(vector) == 384 and isinstance(vector[0], float) for vector in vectors)
        alone = np.stack([minilm.encode([text])[0] for text in texts])
        assert np.allclose(np.asarray(vectors), alone, atol=1e-5)

    async def test_no_texts(self, minilm: MiniLM) -> None:
        assert await MiniLMEmbedder(model=minilm).embed([]) == []

    async def test_runs_off_the_event_loop(
        self, minilm: MiniLM, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Batches are computed in worker threads while the event loop runs other tasks."""
        seen_threads: set[int] = set()
        real_encode = minilm.encode

        def spy(texts: Sequence[str]) -> npt.NDArray[np.float32]:
            seen_threads.add(threading.get_ident())
            return real_encode(texts)

        monkeypatch.setattr(minilm, "encode", spy)
        embedder = MiniLMEmbedder(model=minilm, batch_size=2)
        ticks = 0
        done = anyio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            await embedder.embed(["one text " * 30, "another " * 30, "a third " * 30])
            done.set()
        assert seen_threads
        assert threading.get_ident() not in seen_threads
        assert ticks > 1

    def test_rejects_a_silly_batch_size(self, minilm: MiniLM) -> None:
        with pytest.raises(ValueError, match="batch_size"):
            MiniLMEmbedder(model=minilm, batch_size=0)


@pytest.fixture
async def openai_embedder(fake_upstream: RunningFakeUpstream) -> AsyncIterator[OpenAIEmbedder]:
    embedder = OpenAIEmbedder(
        api_key=FAKE_OPENAI_KEY, base_url=fake_upstream.openai_base_url, max_retries=0
    )
    yield embedder
    await embedder.aclose()


def inputs_of(requests: list[RecordedRequest]) -> list[list[str]]:
    return [list(request.body["input"]) for request in requests]


class TestOpenAIEmbedder:
    def test_describes_itself(self, openai_embedder: OpenAIEmbedder) -> None:
        assert isinstance(openai_embedder, Embedder)
        assert openai_embedder.name == MODEL
        assert (openai_embedder.dimensions, openai_embedder.max_tokens) == (1536, 8191)

    async def test_vectors_come_back_in_order(
        self, openai_embedder: OpenAIEmbedder, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        texts = ["first", "second text", "third, with ünïcödé"]
        vectors = await openai_embedder.embed(texts)
        assert vectors == [fake_embedding(text, model=MODEL) for text in texts]
        assert len(fake_upstream_requests) == 1
        body = fake_upstream_requests[0].body
        assert body["model"] == MODEL
        assert body["encoding_format"] == "base64"  # the SDK's default, decoded by the SDK
        assert "dimensions" not in body

    async def test_batches_by_count(
        self, fake_upstream: RunningFakeUpstream, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        embedder = OpenAIEmbedder(
            api_key=FAKE_OPENAI_KEY,
            base_url=fake_upstream.openai_base_url,
            batch_size=3,
            max_retries=0,
        )
        texts = [f"text {i}" for i in range(7)]
        vectors = await embedder.embed(texts)
        await embedder.aclose()
        assert inputs_of(fake_upstream_requests) == [texts[0:3], texts[3:6], texts[6:7]]
        assert vectors == [fake_embedding(text, model=MODEL) for text in texts]

    async def test_batches_by_tokens(
        self, fake_upstream: RunningFakeUpstream, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        embedder = OpenAIEmbedder(
            api_key=FAKE_OPENAI_KEY,
            base_url=fake_upstream.openai_base_url,
            batch_tokens=8191,
            max_retries=0,
        )
        texts = [f"{i} " + "lorem ipsum " * 1000 for i in range(5)]  # about 2,000 tokens each
        vectors = await embedder.embed(texts)
        await embedder.aclose()
        sent = inputs_of(fake_upstream_requests)
        assert [text for batch in sent for text in batch] == texts
        assert len(sent) > 1
        for batch in sent:
            assert sum(count_text(text, MODEL) for text in batch) <= 8191
        assert vectors == [fake_embedding(text, model=MODEL) for text in texts]

    async def test_a_large_upload_stays_under_the_request_token_limit(
        self, openai_embedder: OpenAIEmbedder, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        """More tokens than one request may carry: the fake refuses such a request with 400."""
        texts = [f"{i} " + "word " * 7900 for i in range(40)]
        assert sum(count_text(text, MODEL) for text in texts) > EMBEDDING_MAX_REQUEST_TOKENS
        vectors = await openai_embedder.embed(texts)
        assert len(vectors) == 40
        assert len(fake_upstream_requests) > 1

    async def test_shortened_dimensions(
        self, fake_upstream: RunningFakeUpstream, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        embedder = OpenAIEmbedder(
            api_key=FAKE_OPENAI_KEY,
            base_url=fake_upstream.openai_base_url,
            dimensions=256,
            max_retries=0,
        )
        vectors = await embedder.embed(["short"])
        await embedder.aclose()
        assert embedder.dimensions == 256
        assert fake_upstream_requests[0].body["dimensions"] == 256
        assert vectors == [fake_embedding("short", model=MODEL, dimensions=256)]

    async def test_refuses_inputs_the_api_would_refuse_before_sending(
        self, openai_embedder: OpenAIEmbedder, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        with pytest.raises(ValueError, match="empty"):
            await openai_embedder.embed(["fine", ""])
        with pytest.raises(ValueError, match="chunk it first"):
            await openai_embedder.embed(["word " * 9000])
        assert fake_upstream_requests == []

    async def test_no_texts_no_request(
        self, openai_embedder: OpenAIEmbedder, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        assert await openai_embedder.embed([]) == []
        assert fake_upstream_requests == []


class TestOpenAIEmbedderFailures:
    async def make(
        self,
        upstream: RunningFakeUpstream,
        model: str,
        *,
        max_retries: int = 2,
        timeout_seconds: float = 5.0,
    ) -> list[Vector]:
        """Embed one text through a model name that carries a fake-upstream fault."""
        embedder = OpenAIEmbedder(
            api_key=FAKE_OPENAI_KEY,
            base_url=upstream.openai_base_url,
            model=model,
            dimensions=1536,  # a model name with a fault suffix is not a known model
            max_retries=max_retries,
            timeout_seconds=timeout_seconds,
        )
        try:
            return await embedder.embed(["x"])
        finally:
            await embedder.aclose()

    async def test_bad_key(self, fake_upstream: RunningFakeUpstream) -> None:
        with pytest.raises(AuthenticationFailed) as caught:
            await self.make(fake_upstream, f"{MODEL}@fault=auth_error", max_retries=0)
        assert FAKE_OPENAI_KEY not in str(caught.value)

    async def test_server_error_does_not_leak_the_key(
        self, fake_upstream: RunningFakeUpstream
    ) -> None:
        with pytest.raises(ProviderUnavailable) as caught:
            await self.make(fake_upstream, f"{MODEL}@fault=server_error", max_retries=0)
        assert FAKE_OPENAI_KEY not in str(caught.value)
        assert FAKE_OPENAI_KEY not in repr(caught.value)

    async def test_rate_limit_carries_retry_after(self, fake_upstream: RunningFakeUpstream) -> None:
        with pytest.raises(RateLimited) as caught:
            await self.make(fake_upstream, f"{MODEL}@fault=rate_limit=7", max_retries=0)
        assert caught.value.retry_after == pytest.approx(7.0)

    async def test_malformed_response(self, fake_upstream: RunningFakeUpstream) -> None:
        with pytest.raises(ProviderUnavailable):
            await self.make(fake_upstream, f"{MODEL}@fault=malformed_json", max_retries=0)

    async def test_bounded_timeout(self, fake_upstream: RunningFakeUpstream) -> None:
        with pytest.raises(ProviderTimeout):
            await self.make(
                fake_upstream, f"{MODEL}@fault=hang=10", max_retries=0, timeout_seconds=0.3
            )

    async def test_the_sdk_retries_by_default(
        self, fake_upstream: RunningFakeUpstream, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        with pytest.raises(ProviderUnavailable):
            await self.make(fake_upstream, f"{MODEL}@fault=overloaded")
        assert len(fake_upstream_requests) == 3  # the first try and the SDK's two retries
