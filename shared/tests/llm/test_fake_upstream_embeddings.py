"""The fake upstream's POST /v1/embeddings, checked by the real SDK and raw."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from genai_shared.llm.tokens import count_text
from genai_shared.testing.fake_upstream import (
    EMBEDDING_MAX_INPUT_TOKENS,
    EMBEDDING_MAX_INPUTS,
    EMBEDDING_MAX_REQUEST_TOKENS,
    FAKE_OPENAI_KEY,
    RecordedRequest,
    RunningFakeUpstream,
    fake_embedding,
)

MODEL = "text-embedding-3-small"


@pytest.fixture
async def openai_client(fake_upstream: RunningFakeUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    """A client as production builds it.

    Not in strict mode: the SDK validates a response against its declared types before it
    decodes base64, so strict validation always refuses the default (base64) encoding.
    """
    client = openai.AsyncOpenAI(
        api_key=FAKE_OPENAI_KEY, base_url=fake_upstream.openai_base_url, max_retries=0
    )
    yield client
    await client.close()


@pytest.fixture
async def raw_client(fake_upstream: RunningFakeUpstream) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"authorization": f"Bearer {FAKE_OPENAI_KEY}"}
    async with httpx.AsyncClient(
        base_url=fake_upstream.base_url, timeout=10, headers=headers
    ) as client:
        yield client


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


class TestSdk:
    async def test_default_base64_request_decodes_to_the_fake_vectors(
        self, openai_client: openai.AsyncOpenAI, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        texts = ["first text", "second, longer text about cats", "é ü 東京"]
        response = await openai_client.embeddings.create(model=MODEL, input=texts)

        assert fake_upstream_requests[0].path == "/v1/embeddings"
        assert fake_upstream_requests[0].body["encoding_format"] == "base64"  # the SDK's default
        assert response.object == "list"
        assert response.model == MODEL
        assert [item.index for item in response.data] == [0, 1, 2]
        for item, text in zip(response.data, texts, strict=True):
            assert item.object == "embedding"
            assert len(item.embedding) == 1536
            assert item.embedding == fake_embedding(text, model=MODEL)
            assert math.isclose(math.fsum(x * x for x in item.embedding), 1.0, rel_tol=1e-5)
        expected_tokens = sum(count_text(text, MODEL) for text in texts)
        assert response.usage.prompt_tokens == expected_tokens
        assert response.usage.total_tokens == expected_tokens

    async def test_strict_sdk_accepts_the_float_format(
        self, fake_upstream: RunningFakeUpstream
    ) -> None:
        async with openai.AsyncOpenAI(
            api_key=FAKE_OPENAI_KEY,
            base_url=fake_upstream.openai_base_url,
            max_retries=0,
            _strict_response_validation=True,
        ) as client:
            response = await client.embeddings.create(
                model=MODEL, input=["strict"], encoding_format="float"
            )
        assert response.data[0].embedding == fake_embedding("strict", model=MODEL)

    async def test_a_single_string_is_one_input(self, openai_client: openai.AsyncOpenAI) -> None:
        response = await openai_client.embeddings.create(model=MODEL, input="only one")
        assert len(response.data) == 1
        assert response.data[0].embedding == fake_embedding("only one", model=MODEL)

    async def test_token_arrays_are_accepted(self, openai_client: openai.AsyncOpenAI) -> None:
        response = await openai_client.embeddings.create(model=MODEL, input=[[1, 2, 3], [4]])
        assert [len(item.embedding) for item in response.data] == [1536, 1536]
        assert response.usage.prompt_tokens == 4

    async def test_dimensions_shorten_and_renormalise(
        self, openai_client: openai.AsyncOpenAI
    ) -> None:
        text = "shorten me"
        response = await openai_client.embeddings.create(model=MODEL, input=text, dimensions=256)
        short = response.data[0].embedding
        full = fake_embedding(text, model=MODEL)
        assert len(short) == 256
        assert math.isclose(math.fsum(x * x for x in short), 1.0, rel_tol=1e-5)
        assert cosine(short, full[:256]) == pytest.approx(1.0, abs=1e-6)


class TestVectors:
    def test_deterministic_and_distinct(self) -> None:
        assert fake_embedding("same", model=MODEL) == fake_embedding("same", model=MODEL)
        assert fake_embedding("same", model=MODEL) != fake_embedding("other", model=MODEL)
        large = fake_embedding("same", model="text-embedding-3-large")
        assert len(large) == 3072

    def test_shared_words_make_texts_closer(self) -> None:
        query = fake_embedding("how do cats purr", model=MODEL)
        related = fake_embedding("Cats purr when they are content", model=MODEL)
        unrelated = fake_embedding("quarterly revenue grew in Europe", model=MODEL)
        assert cosine(query, related) > cosine(query, unrelated) + 0.2

    def test_punctuation_only_text_is_still_a_unit_vector(self) -> None:
        vector = fake_embedding("?!", model=MODEL)
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-5)


class TestRawWireFormat:
    async def test_float_and_base64_carry_the_same_numbers(
        self, raw_client: httpx.AsyncClient
    ) -> None:
        body = {"model": MODEL, "input": ["wire format"]}
        as_float = await raw_client.post(
            "/v1/embeddings", json={**body, "encoding_format": "float"}
        )
        as_b64 = await raw_client.post("/v1/embeddings", json={**body, "encoding_format": "base64"})
        default = await raw_client.post("/v1/embeddings", json=body)

        floats = as_float.json()["data"][0]["embedding"]
        raw = base64.b64decode(as_b64.json()["data"][0]["embedding"])
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == floats
        assert default.json()["data"][0]["embedding"] == floats  # the API's default is float
        assert as_float.headers["x-request-id"].startswith("req_")

    @pytest.mark.parametrize(
        ("body", "status", "fragment"),
        [
            ({"model": MODEL, "input": ""}, 400, "'$.input' is invalid"),
            ({"model": MODEL, "input": []}, 400, "'$.input' is invalid"),
            ({"model": MODEL, "input": ["ok", 3.5]}, 400, "'$.input' is invalid"),
            ({"model": MODEL}, 400, "required"),
            ({"model": "gpt-4o", "input": "x"}, 404, "does not exist"),
            ({"model": "text-embedding-ada-002", "input": "x", "dimensions": 8}, 400, "dimensions"),
            ({"model": MODEL, "input": "x", "dimensions": 1537}, 400, "dimensions"),
            ({"model": MODEL, "input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
        ],
    )
    async def test_invalid_requests(
        self, raw_client: httpx.AsyncClient, body: dict[str, object], status: int, fragment: str
    ) -> None:
        response = await raw_client.post("/v1/embeddings", json=body)
        assert response.status_code == status
        assert fragment in response.json()["error"]["message"]

    async def test_input_count_limit(self, raw_client: httpx.AsyncClient) -> None:
        inputs = ["x"] * EMBEDDING_MAX_INPUTS
        small = {"model": MODEL, "dimensions": 4}  # keeps 2048 vectors cheap to send
        accepted = await raw_client.post("/v1/embeddings", json=small | {"input": inputs})
        assert accepted.status_code == 200
        assert len(accepted.json()["data"]) == EMBEDDING_MAX_INPUTS
        refused = await raw_client.post("/v1/embeddings", json=small | {"input": [*inputs, "x"]})
        assert refused.status_code == 400

    async def test_per_input_token_limit(self, raw_client: httpx.AsyncClient) -> None:
        too_long = " word" * (EMBEDDING_MAX_INPUT_TOKENS + 1)
        response = await raw_client.post("/v1/embeddings", json={"model": MODEL, "input": too_long})
        assert response.status_code == 400
        assert "maximum context length" in response.json()["error"]["message"]

    async def test_per_request_token_limit(self, raw_client: httpx.AsyncClient) -> None:
        per_input = EMBEDDING_MAX_INPUT_TOKENS - 10
        count = EMBEDDING_MAX_REQUEST_TOKENS // per_input + 1
        inputs = [" word" * per_input] * count
        response = await raw_client.post("/v1/embeddings", json={"model": MODEL, "input": inputs})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "max_tokens_per_request"


class TestFaults:
    async def test_rate_limit_by_model_suffix(
        self, openai_client: openai.AsyncOpenAI, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        with pytest.raises(openai.RateLimitError) as caught:
            await openai_client.embeddings.create(model=f"{MODEL}@fault=rate_limit=3", input="x")
        assert caught.value.response.headers["retry-after"] == "3"
        assert fake_upstream_requests[0].fault == "rate_limit=3"

    async def test_auth_error_by_header(self, openai_client: openai.AsyncOpenAI) -> None:
        with pytest.raises(openai.AuthenticationError):
            await openai_client.embeddings.create(
                model=MODEL, input="x", extra_headers={"X-Fake-Fault": "auth_error"}
            )

    async def test_server_error_echoes_the_credential(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/embeddings", json={"model": f"{MODEL}@fault=server_error", "input": "x"}
        )
        assert response.status_code == 500
        assert FAKE_OPENAI_KEY in response.json()["error"]["message"]

    async def test_malformed_json(self, openai_client: openai.AsyncOpenAI) -> None:
        with pytest.raises((openai.APIError, ValueError)):
            await openai_client.embeddings.create(model=f"{MODEL}@fault=malformed_json", input="x")

    async def test_a_bad_request_is_refused_before_any_fault(
        self, raw_client: httpx.AsyncClient
    ) -> None:
        response = await raw_client.post(
            "/v1/embeddings", json={"model": f"{MODEL}@fault=rate_limit", "input": ""}
        )
        assert response.status_code == 400
