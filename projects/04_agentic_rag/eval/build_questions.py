"""Compile ``labels/NN.toml`` into ``questions.jsonl`` and validate every label.

Each passage must occur exactly once in its corpus file (so its span is unambiguous).
A question whose words nearly all appear in its passage is reported as a warning: it
probably copies the sentence instead of asking the way a learner would.

    uv run --frozen python projects/04_agentic_rag/eval/build_questions.py
    uv run --frozen python projects/04_agentic_rag/eval/build_questions.py --check
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

from rag_eval.labels import (
    QUESTIONS_FILE,
    Question,
    compile_labels,
    load_questions,
    problems,
    read_corpus,
    write_questions,
)

_WORD = re.compile(r"[a-z0-9]+")
_COMMON = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "my",
        "of",
        "on",
        "or",
        "should",
        "so",
        "than",
        "that",
        "the",
        "this",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
    }
)
COPY_THRESHOLD = 0.85


def copied_words(question: Question) -> float:
    """The share of the question's content words that its passages contain."""
    words = [w for w in _WORD.findall(question.question.lower()) if w not in _COMMON]
    passage_words = set(_WORD.findall(" ".join(a.passage for a in question.answers).lower()))
    return sum(w in passage_words for w in words) / len(words) if words else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if questions.jsonl differs from the labels"
    )
    args = parser.parse_args()
    questions = compile_labels()
    errors = problems(questions, read_corpus())
    for question in questions:
        share = copied_words(question)
        if share >= COPY_THRESHOLD:
            print(f"warning {question.id}: {share:.0%} of its words are in the passage")
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    if args.check:
        if load_questions() != questions:
            print(f"{QUESTIONS_FILE.name} is out of date: run build_questions.py")
            sys.exit(1)
    else:
        write_questions(questions)
    topics = Counter(q.topic for q in questions)
    kinds = Counter(q.kind for q in questions)
    print(f"{len(questions)} questions, {sum(len(q.answers) for q in questions)} passages")
    print("per topic: " + ", ".join(f"{t}={n}" for t, n in sorted(topics.items())))
    print("per kind: " + ", ".join(f"{k}={n}" for k, n in sorted(kinds.items())))


if __name__ == "__main__":
    main()
