"""Measure MiniLM embedding throughput, in chunks per second, for batches of 32.

The chunks are real: a generated prose corpus cut by the MiniLM chunker (about 190 tokens
each, the size ingestion produces). The weights load before timing starts.

    .tools/bin/uv run --frozen python projects/04_agentic_rag/scripts/bench_embeddings.py

On a shared machine, run it when nothing else is busy: numpy's BLAS threads slow down
badly when they compete with other processes for the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

from genai_shared.rag.chunking import Chunker
from genai_shared.rag.documents import ParsedDocument
from genai_shared.rag.embeddings import MiniLMEmbedder

WORDS = [
    *["retrieval", "index", "vector", "chunk", "model", "query", "answer", "source", "page"],
    *["heading", "section", "embedding", "token", "overlap", "sentence", "paragraph"],
    *["document", "search", "rank", "fusion", "latency", "throughput", "batch"],
]


def corpus(*, chunks_wanted: int, chunker: Chunker, seed: int = 0) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 (benchmark text, not a secret)
    texts: list[str] = []
    while len(texts) < chunks_wanted:
        sentences = (
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24))).capitalize() + "."
            for _ in range(200)
        )
        document = ParsedDocument(document_id="bench", text=" ".join(sentences))
        texts.extend(chunk.text for chunk in chunker.chunk(document))
    return texts[:chunks_wanted]


async def measure(*, chunks: int, batch_size: int, rounds: int) -> None:
    chunker = Chunker.for_minilm()
    texts = corpus(chunks_wanted=chunks, chunker=chunker)
    tokens = sum(chunker.count_tokens(text) for text in texts) / len(texts)
    embedder = MiniLMEmbedder(batch_size=batch_size)
    await embedder.embed(texts[:2])  # loads the weights
    print(f"{len(texts)} chunks of {tokens:.0f} tokens on average, batches of {batch_size}")
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}")
    for _ in range(rounds):
        started = time.perf_counter()
        await embedder.embed(texts)
        elapsed = time.perf_counter() - started
        print(f"{len(texts) / elapsed:.1f} chunks/s ({elapsed:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description="MiniLM embedding throughput")
    parser.add_argument("--chunks", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(chunks=args.chunks, batch_size=args.batch_size, rounds=args.rounds))


if __name__ == "__main__":
    main()
