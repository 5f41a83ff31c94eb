"""One evaluation run: pick the questions, index the corpus, search, aggregate, print.

The published reference points are printed beside the table for scale only: they are
BEIR corpora (scientific claims, nutrition articles), not this one, and BEIR counts whole
documents where this set counts chunk spans.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agentic_rag.core.config import Settings
from genai_shared.rag.chunking import Chunker
from genai_shared.rag.embeddings import Embedder
from rag_eval.harness import (
    MODES,
    EvalMode,
    MemoEmbedder,
    QueryResult,
    VectorCache,
    build_index,
    cache_key,
    embed_cached,
    evaluate_questions,
    open_product,
)
from rag_eval.labels import Question

# nDCG@10 published for BEIR (Thakur et al., 2021; the sentence-transformers model card).
REFERENCE_POINTS = (
    ("all-MiniLM-L6-v2 (dense)", "SciFact 0.674", "NFCorpus 0.314"),
    ("BM25", "SciFact ~0.665", "NFCorpus ~0.325"),
)


@dataclass(frozen=True, slots=True)
class ModeScores:
    mode: str
    questions: int
    recall_at_5: float
    ndcg_at_10: float
    ndcg_at_10_stderr: float
    mrr_at_10: float


@dataclass(frozen=True, slots=True)
class Report:
    questions: int
    chunks: int
    files: int
    scores: list[ModeScores]
    results: list[QueryResult]

    def best(self) -> ModeScores:
        """The mode with the highest nDCG@10 (ties: the first listed)."""
        return max(self.scores, key=lambda s: s.ndcg_at_10)

    def paired_difference(self, mode: str, baseline: str) -> tuple[float, float]:
        """Mean and standard error of ``nDCG@10(mode) - nDCG@10(baseline)`` per question.

        Paired, so the spread of question difficulty cancels out: a difference of more
        than about two standard errors is unlikely to be noise.
        """
        ndcg = {(r.mode, r.question_id): r.ndcg_at_10 for r in self.results}
        ids = sorted({r.question_id for r in self.results})
        diffs = [ndcg[mode, i] - ndcg[baseline, i] for i in ids]
        stderr = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
        return statistics.fmean(diffs), stderr

    def by_topic(self, mode: str) -> dict[str, float]:
        """Mean nDCG@10 of one mode, per topic."""
        values: dict[str, list[float]] = defaultdict(list)
        for result in self.results:
            if result.mode == mode:
                values[result.topic].append(result.ndcg_at_10)
        return {topic: statistics.fmean(v) for topic, v in sorted(values.items())}


def spread_slice(questions: Sequence[Question], count: int) -> list[Question]:
    """``count`` questions taken round-robin over the topics, in id order (deterministic)."""
    if count < 1:
        raise ValueError("a slice needs at least one question")
    by_topic: dict[str, list[Question]] = defaultdict(list)
    for question in questions:
        by_topic[question.topic].append(question)
    queues = [by_topic[topic] for topic in sorted(by_topic)]
    picked: list[Question] = []
    depth = 0
    while len(picked) < count and any(depth < len(queue) for queue in queues):
        picked += [queue[depth] for queue in queues if depth < len(queue)][: count - len(picked)]
        depth += 1
    return sorted(picked, key=lambda q: q.id)


def restrict_to_corpus(questions: Sequence[Question], corpus: dict[str, str]) -> list[Question]:
    """Questions with only the answers whose passage is in ``corpus`` (a subset of the
    files, or of their text); questions left with no answer are dropped."""
    kept = []
    for question in questions:
        answers = tuple(
            answer for answer in question.answers if answer.passage in corpus.get(answer.file, "")
        )
        if answers:
            kept.append(
                Question(question.id, question.topic, question.kind, question.question, answers)
            )
    return kept


def aggregate(results: Sequence[QueryResult], modes: Sequence[EvalMode]) -> list[ModeScores]:
    scores = []
    for mode in modes:
        rows = [r for r in results if r.mode == mode.name]
        if not rows:
            continue
        ndcg = [r.ndcg_at_10 for r in rows]
        stderr = statistics.stdev(ndcg) / math.sqrt(len(ndcg)) if len(ndcg) > 1 else 0.0
        scores.append(
            ModeScores(
                mode=mode.name,
                questions=len(rows),
                recall_at_5=statistics.fmean(r.recall_at_5 for r in rows),
                ndcg_at_10=statistics.fmean(ndcg),
                ndcg_at_10_stderr=stderr,
                mrr_at_10=statistics.fmean(r.rr_at_10 for r in rows),
            )
        )
    return scores


async def run_evaluation(
    *,
    questions: Sequence[Question],
    corpus: dict[str, str],
    embedder: Embedder,
    chunker: Chunker,
    cache_dir: Path,
    settings: Settings,
    modes: Sequence[EvalMode] = MODES,
    workdir: Path | None = None,
) -> Report:
    """Index ``corpus`` into the product, search every question in every mode, aggregate."""
    questions = restrict_to_corpus(questions, corpus)
    if not questions:
        raise ValueError("no question has an answer in the chosen corpus files")
    cache = VectorCache(cache_dir)
    index = await build_index(corpus, chunker=chunker, embedder=embedder, cache=cache)
    memo = MemoEmbedder(embedder)
    texts = [q.question for q in questions]
    key = cache_key(embedder.name, embedder.dimensions, texts)
    memo.remember(
        texts, await embed_cached(texts, embedder=embedder, cache=cache, kind="questions", key=key)
    )
    spans = index.spans
    async with open_product(index, embedder=memo, settings=settings, workdir=workdir) as product:
        results = await evaluate_questions(
            product, questions, corpus=corpus, corpus_spans=spans, modes=modes
        )
    return Report(
        questions=len(questions),
        chunks=len(spans),
        files=len(corpus),
        scores=aggregate(results, modes),
        results=results,
    )


def format_report(report: Report, *, by_topic: bool = False) -> str:
    lines = [
        f"Retrieval on the frozen concept files: {report.questions} questions, "
        f"{report.files} files, {report.chunks} chunks",
        "",
        f"{'mode':<12} {'recall@5':>9} {'nDCG@10':>9} {'(± s.e.)':>9} {'MRR@10':>8}"
        "   nDCG@10 vs best, paired",
    ]
    best = report.best().mode
    for s in report.scores:
        diff, stderr = report.paired_difference(s.mode, best)
        versus = "(best)" if s.mode == best else f"{diff:+.3f} ± {stderr:.3f}"
        lines.append(
            f"{s.mode:<12} {s.recall_at_5:>9.3f} {s.ndcg_at_10:>9.3f} "
            f"{'± ' + format(s.ndcg_at_10_stderr, '.3f'):>9} {s.mrr_at_10:>8.3f}   {versus}"
        )
    lines.append("")
    lines.append(f"Best nDCG@10: {best}")
    if by_topic:
        lines += ["", "nDCG@10 per topic:"]
        modes = [s.mode for s in report.scores]
        per_mode = {mode: report.by_topic(mode) for mode in modes}
        lines.append(f"{'topic':<6}" + "".join(f" {mode:>11}" for mode in modes))
        for topic in sorted(per_mode[modes[0]]):
            lines.append(
                f"{topic:<6}" + "".join(f" {per_mode[mode][topic]:>11.3f}" for mode in modes)
            )
    lines += ["", "Published nDCG@10 on BEIR, for scale only:"]
    lines += [f"  {name:<26} {a:<16} {b}" for name, a, b in REFERENCE_POINTS]
    lines.append(
        "  Caveat: other corpora, whole documents instead of chunk spans, and other "
        "questions; compare modes with each other here, not with these."
    )
    return "\n".join(lines)
