"""Measure project 04's retrieval on the labelled set: recall@5, nDCG@10 and MRR@10 per mode.

    make eval-rag                                       # every question, every mode
    uv run --frozen python projects/04_agentic_rag/eval/evaluate.py --slice 12
    uv run --frozen python projects/04_agentic_rag/eval/evaluate.py --topics 04 --by-topic

The first run embeds the corpus with MiniLM (about a thousand chunks: minutes on two cores)
and caches the vectors in eval/.cache/; later runs read them back and only search. See README.md
for how the set was made and how to read the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from rag_eval.harness import DEFAULT_CACHE_DIR, MODES
from rag_eval.labels import CORPUS_DIR, load_questions, read_corpus
from rag_eval.run import format_report, restrict_to_corpus, run_evaluation, spread_slice

from agentic_rag.core.config import Settings
from genai_shared.rag.chunking import Chunker
from genai_shared.rag.embeddings import MiniLMEmbedder
from genai_shared.rag.minilm import process_minilm


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--slice", type=int, metavar="N", help="only N questions, spread over the topics"
    )
    parser.add_argument(
        "--topics", help="comma-separated topic numbers (01..12): index only their files"
    )
    parser.add_argument(
        "--modes",
        default=",".join(mode.name for mode in MODES),
        help="comma-separated, from: " + ", ".join(mode.name for mode in MODES),
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument(
        "--corpus-dir", type=Path, default=CORPUS_DIR, help="another copy of the corpus (tests)"
    )
    parser.add_argument("--by-topic", action="store_true", help="also nDCG@10 per topic")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write per-query results")
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    known = {mode.name: mode for mode in MODES}
    names = [name.strip() for name in args.modes.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        print(f"unknown modes: {unknown}; choose from {sorted(known)}", file=sys.stderr)
        return 2
    corpus = read_corpus(args.corpus_dir)
    questions = load_questions()
    if args.topics:
        topics = {topic.strip().zfill(2) for topic in args.topics.split(",")}
        corpus = {name: text for name, text in corpus.items() if name[:2] in topics}
        questions = [q for q in questions if q.topic in topics]
        if not corpus:
            print(f"no corpus file for topics {sorted(topics)}", file=sys.stderr)
            return 2
    questions = restrict_to_corpus(questions, corpus)
    if not questions:
        print("no question has its answers in the chosen corpus", file=sys.stderr)
        return 2
    if args.slice is not None:
        questions = spread_slice(questions, args.slice)
    report = await run_evaluation(
        questions=questions,
        corpus=corpus,
        embedder=MiniLMEmbedder(model=process_minilm()),
        chunker=Chunker.for_minilm(),
        cache_dir=args.cache_dir,
        settings=Settings(_env_file=None),
        modes=[known[name] for name in names],
    )
    print(format_report(report, by_topic=args.by_topic))
    if args.json:
        rows = [
            {
                "question_id": r.question_id,
                "mode": r.mode,
                "recall_at_5": r.recall_at_5,
                "ndcg_at_10": r.ndcg_at_10,
                "rr_at_10": r.rr_at_10,
                "ranking": [[s.file, s.start, s.end] for s in r.ranking],
            }
            for r in report.results
        ]
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
