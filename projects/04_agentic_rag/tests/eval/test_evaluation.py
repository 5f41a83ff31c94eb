"""A small slice of the evaluation, end to end, through project 04's own search service.

The corpus here is the start of one concept file (a few chunks, so the real MiniLM
embeds it in seconds), with the questions whose passages lie in it. Only statuses and
shapes are asserted: scores are checked to be scores, never to reach a threshold.
"""

from __future__ import annotations

from pathlib import Path

import evaluate
import pytest
from rag_eval.harness import MODES, EvalMode, QueryResult, VectorCache
from rag_eval.labels import Question, load_questions, read_corpus
from rag_eval.run import Report, aggregate, restrict_to_corpus, run_evaluation, spread_slice

from agentic_rag.core.config import Settings
from agentic_rag.rag.retrieval import SearchMode
from genai_shared.rag.chunking import Chunker
from genai_shared.rag.embeddings import Embedder, MiniLMEmbedder
from genai_shared.rag.minilm import process_minilm

FILE = "04_Middleware.md"
PREFIX_CHARS = 2800


@pytest.fixture(scope="module")
def small_corpus() -> dict[str, str]:
    """The start of one file, cut at a paragraph break."""
    text = read_corpus()[FILE]
    return {FILE: text[: text.index("\n\n", PREFIX_CHARS) + 1]}


@pytest.fixture(scope="module")
def questions(small_corpus: dict[str, str]) -> list[Question]:
    kept = restrict_to_corpus(load_questions(), small_corpus)
    assert len(kept) >= 2, "the slice needs questions answered in the corpus prefix"
    return kept


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    """The process's one MiniLM (the app shares it the same way)."""
    return MiniLMEmbedder(model=process_minilm())


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vectors")


async def _run(
    questions: list[Question], corpus: dict[str, str], embedder: Embedder, cache_dir: Path
) -> Report:
    return await run_evaluation(
        questions=questions,
        corpus=corpus,
        embedder=embedder,
        chunker=Chunker.for_minilm(),
        cache_dir=cache_dir,
        settings=Settings(_env_file=None),
    )


async def test_a_slice_runs_every_mode_and_scores_every_question(
    questions: list[Question], small_corpus: dict[str, str], embedder: Embedder, cache_dir: Path
) -> None:
    report = await _run(questions, small_corpus, embedder, cache_dir)

    assert (report.questions, report.files) == (len(questions), 1)
    assert report.chunks > 1
    assert [s.mode for s in report.scores] == [mode.name for mode in MODES]
    for scores in report.scores:
        assert scores.questions == len(questions)
        for value in (scores.recall_at_5, scores.ndcg_at_10, scores.mrr_at_10):
            assert 0.0 <= value <= 1.0
        assert scores.ndcg_at_10_stderr >= 0.0
    assert report.best().mode in {mode.name for mode in MODES}

    assert len(report.results) == len(questions) * len(MODES)
    text_length = len(small_corpus[FILE])
    for result in report.results:
        assert 1 <= len(result.ranking) <= 10
        assert len(set(result.ranking)) == len(result.ranking)
        assert all(s.file == FILE and 0 <= s.start < s.end <= text_length for s in result.ranking)


def _cached_kinds(cache_dir: Path) -> list[str]:
    return sorted(path.name.split("-")[0] for path in cache_dir.glob("*.npy"))


async def test_a_second_run_reads_the_cached_vectors_and_agrees(
    questions: list[Question], small_corpus: dict[str, str], embedder: Embedder, cache_dir: Path
) -> None:
    first = await _run(questions, small_corpus, embedder, cache_dir)
    assert _cached_kinds(cache_dir) == ["chunks", "questions"]

    class NoEmbedding:
        """Fails if asked to embed: everything must come from the cache."""

        name, dimensions, max_tokens = embedder.name, embedder.dimensions, embedder.max_tokens

        async def embed(self, texts: list[str]) -> list[list[float]]:
            raise AssertionError(f"embedded {len(texts)} texts instead of reading the cache")

    second = await _run(questions, small_corpus, NoEmbedding(), cache_dir)
    assert second.scores == first.scores
    assert [r.ranking for r in second.results] == [r.ranking for r in first.results]


def test_a_corrupt_cache_file_is_not_used(tmp_path: Path) -> None:
    cache = VectorCache(tmp_path)
    cache.save("chunks", "k", [[0.5, 0.25], [1.0, 0.0]])
    assert cache.load("chunks", "k", 2) == [[0.5, 0.25], [1.0, 0.0]]
    assert cache.load("chunks", "k", 3) is None  # another number of texts: not this list
    assert cache.load("chunks", "other", 2) is None


def test_paired_differences_and_means_by_hand() -> None:
    def result(question: str, mode: str, ndcg: float) -> QueryResult:
        return QueryResult(question, "01", mode, [], 1.0, ndcg, 0.5)

    results = [result("q1", "a", 0.5), result("q1", "b", 0.25)]
    results += [result("q2", "a", 1.0), result("q2", "b", 0.5)]
    scores = aggregate(results, [MODES[0], MODES[1]])  # no result has these modes' names
    assert scores == []
    modes = [EvalMode("a", SearchMode.SEMANTIC), EvalMode("b", SearchMode.KEYWORD)]
    report = Report(2, 10, 1, aggregate(results, modes), results)
    assert [(s.mode, s.ndcg_at_10) for s in report.scores] == [("a", 0.75), ("b", 0.375)]
    assert report.best().mode == "a"
    # Differences a - b: 0.25 and 0.5; mean 0.375, sample s.d. 0.1768, s.e. 0.1768 / sqrt(2).
    mean, stderr = report.paired_difference("a", "b")
    assert mean == pytest.approx(0.375)
    assert stderr == pytest.approx(0.125)
    assert report.paired_difference("a", "a") == (0.0, 0.0)


def test_the_slice_is_spread_over_topics() -> None:
    picked = spread_slice(load_questions(), 12)
    assert sorted(q.topic for q in picked) == [f"{n:02d}" for n in range(1, 13)]
    assert spread_slice(load_questions(), 3) == spread_slice(load_questions(), 3)


async def test_the_command_prints_the_table(
    small_corpus: dict[str, str],
    cache_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / FILE).write_text(small_corpus[FILE], encoding="utf-8")
    common = ["--corpus-dir", str(corpus_dir), "--cache-dir", str(cache_dir)]

    status = await evaluate.main([*common, "--slice", "2", "--modes", "semantic,keyword"])
    out = capsys.readouterr().out
    assert status == 0
    assert "2 questions, 1 files" in out
    rows = [line.split()[0] for line in out.splitlines() if line[:1].isalpha()]
    assert {"semantic", "keyword"} <= set(rows)
    assert "hybrid" not in rows
    assert "SciFact 0.674" in out
    assert "Caveat" in out

    assert await evaluate.main([*common, "--modes", "psychic"]) == 2
    assert await evaluate.main([*common, "--topics", "13"]) == 2
