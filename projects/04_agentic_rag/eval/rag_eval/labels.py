"""The labelled set: questions whose answers are passages quoted from the frozen corpus.

A passage is an exact substring of one corpus file; its character span is found here,
not stored, so the labels name text rather than positions. Chunks are judged by whether
their span overlaps a passage's span, which keeps the labels independent of how the
corpus is chunked.

Questions are written in ``labels/NN.toml`` (one file per topic, TOML literal strings
hold the passages verbatim) and compiled into ``questions.jsonl`` by
``build_questions.py``; the evaluation and the tests read the JSONL.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parents[1]
CORPUS_DIR = EVAL_DIR / "corpus"
LABELS_DIR = EVAL_DIR / "labels"
QUESTIONS_FILE = EVAL_DIR / "questions.jsonl"
KINDS = frozenset({"definition", "how-to", "why", "comparison", "fact"})
TOPICS = tuple(f"{number:02d}" for number in range(1, 13))


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` of one corpus file."""

    file: str
    start: int
    end: int

    def overlaps(self, other: Span) -> bool:
        return self.file == other.file and self.start < other.end and other.start < self.end

    def contains(self, other: Span) -> bool:
        return self.file == other.file and self.start <= other.start and other.end <= self.end


@dataclass(frozen=True, slots=True)
class Answer:
    file: str
    passage: str


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    topic: str
    kind: str
    question: str
    answers: tuple[Answer, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "topic": self.topic,
                "kind": self.kind,
                "question": self.question,
                "answers": [{"file": a.file, "passage": a.passage} for a in self.answers],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> Question:
        data = json.loads(line)
        return cls(
            id=data["id"],
            topic=data["topic"],
            kind=data["kind"],
            question=data["question"],
            answers=tuple(Answer(a["file"], a["passage"]) for a in data["answers"]),
        )


def read_corpus(directory: Path = CORPUS_DIR) -> dict[str, str]:
    """File name -> text, read exactly as the ingestion's Markdown parser would see it."""
    return {path.name: path.read_bytes().decode("utf-8") for path in sorted(directory.glob("*.md"))}


def occurrences(text: str, passage: str) -> list[int]:
    """Every offset where ``passage`` starts in ``text`` (overlapping ones too)."""
    return [match.start() for match in re.finditer(f"(?={re.escape(passage)})", text)]


def answer_spans(question: Question, corpus: dict[str, str]) -> list[Span]:
    """One span per answer passage: its first (in a valid set, its only) occurrence."""
    spans = []
    for answer in question.answers:
        text = corpus.get(answer.file)
        if text is None:
            raise LookupError(f"{question.id}: no corpus file {answer.file!r}")
        start = text.find(answer.passage)
        if start < 0:
            raise LookupError(f"{question.id}: passage not found in {answer.file}")
        spans.append(Span(answer.file, start, start + len(answer.passage)))
    return spans


def compile_labels(directory: Path = LABELS_DIR) -> list[Question]:
    """Every ``NN.toml`` in topic order, with ids ``NN-MM`` numbered in file order."""
    questions = []
    for path in sorted(directory.glob("*.toml")):
        topic = path.stem
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        default_file = data["file"]
        for number, entry in enumerate(data["question"], start=1):
            answers = tuple(
                Answer(default_file, item)
                if isinstance(item, str)
                else Answer(item["file"], item["passage"])
                for item in entry["answers"]
            )
            questions.append(
                Question(
                    id=f"{topic}-{number:02d}",
                    topic=topic,
                    kind=entry["kind"],
                    question=entry["question"],
                    answers=answers,
                )
            )
    return questions


def load_questions(path: Path = QUESTIONS_FILE) -> list[Question]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Question.from_json(line) for line in lines if line.strip()]


def write_questions(questions: Iterable[Question], path: Path = QUESTIONS_FILE) -> None:
    path.write_text("".join(q.to_json() + "\n" for q in questions), encoding="utf-8")


def problems(questions: Sequence[Question], corpus: dict[str, str]) -> list[str]:
    """What makes the set invalid: each passage must occur exactly once in its file."""
    found: list[str] = []
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    for question in questions:
        if question.id in seen_ids:
            found.append(f"{question.id}: duplicate id")
        seen_ids.add(question.id)
        if question.question.strip().lower() in seen_texts:
            found.append(f"{question.id}: the same question twice")
        seen_texts.add(question.question.strip().lower())
        if question.kind not in KINDS:
            found.append(f"{question.id}: unknown kind {question.kind!r}")
        if question.topic not in TOPICS:
            found.append(f"{question.id}: unknown topic {question.topic!r}")
        if not question.question.strip() or not question.answers:
            found.append(f"{question.id}: a question needs text and at least one answer")
        for answer in question.answers:
            text = corpus.get(answer.file)
            if text is None:
                found.append(f"{question.id}: no corpus file {answer.file!r}")
                continue
            count = len(occurrences(text, answer.passage)) if answer.passage.strip() else 0
            if count != 1:
                found.append(
                    f"{question.id}: passage found {count} times in {answer.file}: "
                    f"{answer.passage[:60]!r}"
                )
    return found
