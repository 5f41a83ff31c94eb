"""The labelled set is well formed: enough questions, every topic, every passage findable."""

from __future__ import annotations

from collections import Counter

import build_corpus
import pytest
from rag_eval.labels import (
    KINDS,
    TOPICS,
    Answer,
    Question,
    Span,
    answer_spans,
    compile_labels,
    load_questions,
    occurrences,
    problems,
    read_corpus,
)


@pytest.fixture(scope="module")
def corpus() -> dict[str, str]:
    return read_corpus()


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return load_questions()


def test_the_snapshot_matches_its_manifest() -> None:
    assert build_corpus.check() == []


def test_the_corpus_is_the_twelve_concept_files(corpus: dict[str, str]) -> None:
    assert sorted(name[:2] for name in corpus) == list(TOPICS)
    assert not any("Practice" in name for name in corpus)


def test_at_least_150_questions_over_every_topic_and_kind(questions: list[Question]) -> None:
    assert len(questions) >= 150
    per_topic = Counter(q.topic for q in questions)
    assert set(per_topic) == set(TOPICS)
    assert min(per_topic.values()) >= 10
    assert set(Counter(q.kind for q in questions)) == KINDS


def test_every_passage_is_found_exactly_once_in_its_file(
    questions: list[Question], corpus: dict[str, str]
) -> None:
    assert problems(questions, corpus) == []
    for question in questions:
        for answer, span in zip(question.answers, answer_spans(question, corpus), strict=True):
            assert corpus[span.file][span.start : span.end] == answer.passage


def test_the_jsonl_is_what_the_labels_compile_to(questions: list[Question]) -> None:
    assert compile_labels() == questions


def test_ids_are_unique_and_name_their_topic(questions: list[Question]) -> None:
    assert len({q.id for q in questions}) == len(questions)
    assert all(q.id.startswith(q.topic + "-") for q in questions)


class TestValidation:
    """The validator itself must fail on bad labels, or the checks above prove nothing."""

    def question(self, *answers: Answer, kind: str = "fact") -> Question:
        return Question("01-99", "01", kind, "What is it?", answers)

    def test_a_passage_that_is_not_in_the_file(self, corpus: dict[str, str]) -> None:
        name = next(iter(corpus))
        bad = self.question(Answer(name, "this sentence is in no concept file"))
        assert ["passage found 0 times" in p for p in problems([bad], corpus)] == [True]

    def test_a_passage_found_twice(self, corpus: dict[str, str]) -> None:
        name = "01_HTTP_REST_API_Basics.md"
        assert len(occurrences(corpus[name], "```python")) > 1
        bad = self.question(Answer(name, "```python"))
        assert any("passage found" in p for p in problems([bad], corpus))

    def test_an_unknown_file_and_kind(self, corpus: dict[str, str]) -> None:
        bad = self.question(Answer("99_Nothing.md", "text"), kind="trivia")
        found = problems([bad], corpus)
        assert any("no corpus file" in p for p in found)
        assert any("unknown kind" in p for p in found)

    def test_a_duplicate_question(self, questions: list[Question], corpus: dict[str, str]) -> None:
        assert any("duplicate id" in p for p in problems([questions[0]] * 2, corpus))


def test_spans_overlap_and_contain_as_half_open_intervals() -> None:
    whole = Span("a.md", 10, 20)
    assert whole.contains(Span("a.md", 10, 20))
    assert whole.overlaps(Span("a.md", 19, 30))
    assert not whole.overlaps(Span("a.md", 20, 30))  # touching is not overlapping
    assert not whole.overlaps(Span("b.md", 10, 20))  # another file
    assert not whole.contains(Span("a.md", 5, 15))
