"""Index the frozen corpus into project 04's own stack and search it the way the API does.

Each concept file goes through the ingestion's Markdown parser and the chunker ingestion
uses (``Chunker.for_minilm()``), is embedded by the real MiniLM, and is written with
``rag.service.store_document_chunks`` into a throw-away SQLite database (whose FTS5
index follows by trigger) and an embedded Qdrant in a temporary folder, under a
throw-away owner. Questions are then answered by ``rag.service.search``, the function
behind ``POST /search``, with retrieval options built from the project's ``Settings`` as
the route builds them: the numbers describe the product, not a re-implementation.

Embedding the corpus is the slow part (about a thousand chunks), so chunk vectors are
cached on disk, keyed by the model and the exact chunk texts and offsets: any change to
the corpus, the chunker or the model makes a new key. Question vectors are cached too.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import agentic_rag.main  # noqa: F401 - registers every table on Base.metadata
from agentic_rag.core.config import Settings
from agentic_rag.core.database import Base
from agentic_rag.rag import keyword, service
from agentic_rag.rag.models import Collection, Document, DocumentStatus
from agentic_rag.rag.retrieval import Rerank, RetrievalOptions, SearchMode
from agentic_rag.rag.schemas import SearchRequest
from agentic_rag.users.models import User
from genai_shared.db.session import Database
from genai_shared.ingest.parsers import parse_markdown
from genai_shared.rag.chunking import Chunk, Chunker
from genai_shared.rag.embeddings import Embedder, Vector
from genai_shared.rag.stores.qdrant import QdrantStore
from rag_eval import metrics
from rag_eval.labels import EVAL_DIR, Question, Span, answer_spans

DEFAULT_CACHE_DIR = EVAL_DIR / ".cache"
RECALL_K = 5
NDCG_K = 10
MRR_K = 10
RESULTS_PER_QUERY = max(RECALL_K, NDCG_K, MRR_K)


@dataclass(frozen=True, slots=True)
class EvalMode:
    """A way of searching: the API's ``mode`` and ``rerank`` fields."""

    name: str
    mode: SearchMode
    rerank: Rerank | None = None


MODES: tuple[EvalMode, ...] = (
    EvalMode("semantic", SearchMode.SEMANTIC),
    EvalMode("keyword", SearchMode.KEYWORD),
    EvalMode("hybrid", SearchMode.HYBRID),
    EvalMode("hybrid+mmr", SearchMode.HYBRID, Rerank.MMR),
)


@dataclass(frozen=True, slots=True)
class CorpusIndex:
    """The corpus cut into chunks, with one vector per chunk (same order)."""

    chunks: dict[str, list[Chunk]]  # file name -> its chunks, in order
    vectors: dict[str, list[Vector]]

    @property
    def spans(self) -> list[Span]:
        return [
            Span(name, chunk.char_start, chunk.char_end)
            for name, chunks in self.chunks.items()
            for chunk in chunks
        ]


def chunk_corpus(corpus: dict[str, str], chunker: Chunker) -> dict[str, list[Chunk]]:
    """Each file parsed as ingestion parses Markdown, then cut by ``chunker``."""
    chunks = {}
    for name, text in corpus.items():
        document = parse_markdown(text.encode("utf-8"), document_id=name)
        if document.text != text:
            # Offsets of chunks are offsets into the parsed text: they must be the file's.
            raise ValueError(f"the Markdown parser changed the text of {name}")
        chunks[name] = chunker.chunk(document)
    return chunks


def cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()[:32]


class VectorCache:
    """Vectors of texts, on disk under ``directory``, one file per (model, list of texts)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, kind: str, key: str) -> Path:
        return self.directory / f"{kind}-{key}.npy"

    def load(self, kind: str, key: str, count: int) -> list[Vector] | None:
        path = self.path(kind, key)
        if not path.is_file():
            return None
        array = np.load(path, allow_pickle=False)
        if array.ndim != 2 or array.shape[0] != count:
            return None
        rows: list[Vector] = array.astype(np.float64).tolist()
        return rows

    def save(self, kind: str, key: str, vectors: Sequence[Vector]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name first: an interrupted run leaves no half file.
        target = self.path(kind, key)
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as handle:
            np.save(handle, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
        partial.replace(target)


async def embed_cached(
    texts: Sequence[str], *, embedder: Embedder, cache: VectorCache, kind: str, key: str
) -> list[Vector]:
    """``embedder.embed(texts)``, or the vectors saved under ``key`` by an earlier run."""
    cached = cache.load(kind, key, len(texts))
    if cached is not None:
        return cached
    cache.save(kind, key, await embedder.embed(list(texts)))
    # Read back, so that a first run sees the same (float32) vectors as every later one.
    vectors = cache.load(kind, key, len(texts))
    if vectors is None:
        raise RuntimeError(f"the vector cache in {cache.directory} did not keep what was saved")
    return vectors


async def build_index(
    corpus: dict[str, str], *, chunker: Chunker, embedder: Embedder, cache: VectorCache
) -> CorpusIndex:
    chunks = chunk_corpus(corpus, chunker)
    flat = [(name, chunk) for name, items in chunks.items() for chunk in items]
    key = cache_key(
        embedder.name,
        embedder.dimensions,
        [(name, c.char_start, c.char_end, c.text) for name, c in flat],
    )
    vectors = await embed_cached(
        [chunk.text for _, chunk in flat], embedder=embedder, cache=cache, kind="chunks", key=key
    )
    by_file: dict[str, list[Vector]] = {name: [] for name in chunks}
    for (name, _), vector in zip(flat, vectors, strict=True):
        by_file[name].append(vector)
    return CorpusIndex(chunks=chunks, vectors=by_file)


class MemoEmbedder:
    """An :class:`Embedder` that remembers the vectors it was given or has made.

    Searching embeds each question once per mode; the evaluation embeds every question up
    front in batches (and caches them on disk), then this hands the same vectors back.
    """

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._known: dict[str, Vector] = {}

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    @property
    def max_tokens(self) -> int:
        return self._inner.max_tokens

    def remember(self, texts: Sequence[str], vectors: Sequence[Vector]) -> None:
        self._known.update(zip(texts, vectors, strict=True))

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        missing = [text for text in dict.fromkeys(texts) if text not in self._known]
        if missing:
            self.remember(missing, await self._inner.embed(missing))
        return [self._known[text] for text in texts]


@dataclass
class Product:
    """The indexed corpus inside project 04's database and vector store, for one owner."""

    db: Database
    store: QdrantStore
    embedder: Embedder
    settings: Settings
    owner_id: uuid.UUID
    file_of: dict[uuid.UUID, str] = field(default_factory=dict)  # document id -> file name

    def options(self, mode: EvalMode) -> RetrievalOptions:
        """What ``POST /search`` builds from the settings for a request of this mode."""
        return RetrievalOptions(
            limit=min(RESULTS_PER_QUERY, self.settings.search_max_limit),
            candidates=self.settings.search_candidates,
            rrf_k=self.settings.rrf_k,
            rerank=mode.rerank,
            mmr_lambda=self.settings.mmr_lambda,
        )

    async def search(self, query: str, mode: EvalMode) -> list[Span]:
        """The ranked chunks ``POST /search`` would return, as spans of corpus files."""
        request = SearchRequest(
            query=query, mode=mode.mode, limit=RESULTS_PER_QUERY, rerank=mode.rerank
        )
        async with self.db.sessionmaker() as session:
            response = await service.search(
                session=session,
                store=self.store,
                embedder=self.embedder,
                owner_id=self.owner_id,
                request=request,
                options=self.options(mode),
            )
        return [
            Span(
                self.file_of[result.citation.document_id],
                result.citation.char_start,
                result.citation.char_end,
            )
            for result in response.results
        ]


@asynccontextmanager
async def open_product(
    index: CorpusIndex, *, embedder: Embedder, settings: Settings, workdir: Path | None = None
) -> AsyncIterator[Product]:
    """Write the index into a fresh SQLite database and embedded Qdrant, under a new owner."""
    with tempfile.TemporaryDirectory(prefix="rag-eval-", dir=workdir) as folder:
        db = Database(f"sqlite+aiosqlite:///{Path(folder) / 'eval.db'}")
        store = QdrantStore(
            dimensions=embedder.dimensions, collection="eval", path=str(Path(folder) / "qdrant")
        )
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            await keyword.ensure_index(db.engine)
            await store.open()
            product = Product(
                db=db, store=store, embedder=embedder, settings=settings, owner_id=uuid.uuid4()
            )
            await _store_corpus(product, index)
            yield product
        finally:
            await store.close()
            await db.dispose()


async def _store_corpus(product: Product, index: CorpusIndex) -> None:
    async with product.db.transaction() as session:
        session.add(
            User(
                id=product.owner_id,
                email=f"eval-{product.owner_id.hex[:12]}@example.invalid",
                display_name="retrieval evaluation",
                password_hash="!",  # noqa: S106 - matches no password: nobody logs in as this owner
                monthly_budget_micro_usd=0,
            )
        )
        await session.flush()  # the collection's foreign key needs the user row first
        collection = Collection(owner_id=product.owner_id, name="concepts (frozen snapshot)")
        session.add(collection)
        await session.flush()
        for name, chunks in index.chunks.items():
            document = Document(
                owner_id=product.owner_id,
                collection_id=collection.id,
                title=name,
                source=name,
                content_type="text/markdown",
                content_hash=hashlib.sha256(name.encode()).hexdigest(),
                status=DocumentStatus.READY.value,
                progress_done=len(chunks),
                progress_total=len(chunks),
            )
            session.add(document)
            await session.flush()
            product.file_of[document.id] = name
            await service.store_document_chunks(
                session=session,
                store=product.store,
                document=document,
                chunks=chunks,
                vectors=index.vectors[name],
            )


@dataclass(frozen=True, slots=True)
class QueryResult:
    question_id: str
    topic: str
    mode: str
    ranking: list[Span]
    recall_at_5: float
    ndcg_at_10: float
    rr_at_10: float


async def evaluate_questions(
    product: Product,
    questions: Sequence[Question],
    *,
    corpus: dict[str, str],
    corpus_spans: Sequence[Span],
    modes: Sequence[EvalMode] = MODES,
) -> list[QueryResult]:
    """Every question searched in every mode, with its metrics."""
    results = []
    for question in questions:
        answers = answer_spans(question, corpus)
        for mode in modes:
            ranking = await product.search(question.question, mode)
            results.append(
                QueryResult(
                    question_id=question.id,
                    topic=question.topic,
                    mode=mode.name,
                    ranking=ranking,
                    recall_at_5=metrics.recall_at_k(ranking, answers, RECALL_K),
                    ndcg_at_10=metrics.ndcg_at_k(ranking, answers, corpus_spans, NDCG_K),
                    rr_at_10=metrics.reciprocal_rank(ranking, answers, MRR_K),
                )
            )
    return results
