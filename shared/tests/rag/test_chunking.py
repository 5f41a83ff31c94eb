"""The chunker: exact offsets, nothing cut by MiniLM, headings, pages, overlap.

Besides hand-written documents, seeded random documents (headings of every level, prose,
monster sentences, lists, code fences, unicode, pages) are checked against the same
invariants: hypothesis is not a dependency, so the generator is written here.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from tokenizers import Tokenizer

from genai_shared.rag.chunking import Chunk, Chunker, ChunkingPolicy
from genai_shared.rag.documents import ParsedDocument
from genai_shared.rag.minilm import MiniLM, load_tokenizer

PROSE = (
    "Retrieval quality depends on how documents are cut. A chunk that is too long dilutes "
    "its meaning, and the encoder may drop its end without a word. A chunk that is too "
    "short loses the context that made it useful. Overlap keeps a sentence that straddles "
    "a boundary findable from both sides. Every chunk remembers its document, its page and "
    "its headings, so that answers can cite their sources. "
)


@pytest.fixture(scope="module")
def untruncated() -> Tokenizer:
    return load_tokenizer()


def check_invariants(
    document: ParsedDocument,
    chunks: list[Chunk],
    *,
    chunker: Chunker,
    untruncated: Tokenizer,
    embedder_tokenizer: Tokenizer,
) -> None:
    """What must hold for any document."""
    text = document.text
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.document_id == document.document_id
        assert 0 <= chunk.char_start < chunk.char_end <= len(text)
        assert chunk.text == text[chunk.char_start : chunk.char_end]
        assert chunk.text == chunk.text.strip()
        full = len(untruncated.encode(chunk.text).ids)
        assert chunk.token_count == full <= chunker.policy.max_tokens
        # What the embedding model will see: nothing of the chunk is cut off.
        assert len(embedder_tokenizer.encode(chunk.text).ids) == full
    for before, after in itertools.pairwise(chunks):
        assert before.char_start < after.char_start
        assert before.char_end < after.char_end
    # Every token of the document is in some chunk: no text is lost.
    covered = [(chunk.char_start, chunk.char_end) for chunk in chunks]
    starts = [start for start, _ in covered]
    for token_start, token_end in untruncated.encode(text, add_special_tokens=False).offsets:
        index = bisect.bisect_right(starts, token_start) - 1
        assert index >= 0
        assert any(
            start <= token_start and token_end <= end for start, end in covered[: index + 1]
        ), (token_start, text[token_start:token_end])


def overlap_of(before: Chunk, after: Chunk) -> int:
    return max(0, before.char_end - after.char_start)


class TestSizes:
    def test_a_long_document_is_cut_into_whole_chunks(
        self, chunker: Chunker, untruncated: Tokenizer, minilm: MiniLM
    ) -> None:
        text = "# Guide\n\n" + "\n\n".join(PROSE * 3 for _ in range(6))
        assert len(untruncated.encode(text).ids) > 5 * 256  # MiniLM alone would cut most
        document = ParsedDocument(document_id="guide", text=text)
        chunks = chunker.chunk(document)
        assert len(chunks) > 5
        check_invariants(
            document,
            chunks,
            chunker=chunker,
            untruncated=untruncated,
            embedder_tokenizer=minilm.tokenizer,
        )
        assert all(chunk.token_count <= chunker.policy.target_tokens + 2 for chunk in chunks)

    def test_the_embedder_tokenizer_would_cut_a_long_text(
        self, minilm: MiniLM, untruncated: Tokenizer
    ) -> None:
        """The check above can fail: MiniLM's tokenizer does truncate silently."""
        text = PROSE * 3
        assert len(minilm.tokenizer.encode(text).ids) == 256 < len(untruncated.encode(text).ids)

    def test_a_short_document_is_one_chunk(self, chunker: Chunker) -> None:
        document = ParsedDocument(document_id="d", text="  Just one line.  \n")
        [chunk] = chunker.chunk(document)
        assert chunk.text == "Just one line."
        assert (chunk.char_start, chunk.char_end) == (2, 16)
        assert chunk.token_count == 6  # [CLS] just one line . [SEP]
        assert chunk.heading_path == ()
        assert chunk.page is None

    def test_blank_document_has_no_chunks(self, chunker: Chunker) -> None:
        assert chunker.chunk(ParsedDocument(document_id="d", text="\n \t\n")) == []


class TestBoundaries:
    def test_prefers_paragraph_ends(self, chunker: Chunker) -> None:
        paragraphs = [f"Paragraph {i}. " + PROSE[: 150 + 37 * (i % 4)] for i in range(12)]
        text = "\n\n".join(paragraphs)
        chunks = chunker.chunk(ParsedDocument(document_id="d", text=text))
        assert len(chunks) > 1
        for chunk in chunks[:-1]:
            assert text[chunk.char_end : chunk.char_end + 2] == "\n\n"

    def test_then_sentence_ends(self, chunker: Chunker) -> None:
        text = PROSE * 4  # one paragraph
        chunks = chunker.chunk(ParsedDocument(document_id="d", text=text))
        assert len(chunks) > 1
        for chunk in chunks[:-1]:
            assert chunk.text.endswith(".")
        for chunk in chunks[1:]:
            assert chunk.text[0].isupper()  # overlap begins at a sentence

    def test_a_monster_sentence_is_cut_between_words(
        self, chunker: Chunker, untruncated: Tokenizer, minilm: MiniLM
    ) -> None:
        words = [f"word{i % 50}" for i in range(600)]
        document = ParsedDocument(document_id="d", text=" ".join(words))
        chunks = chunker.chunk(document)
        assert len(chunks) > 2
        check_invariants(
            document,
            chunks,
            chunker=chunker,
            untruncated=untruncated,
            embedder_tokenizer=minilm.tokenizer,
        )
        for chunk in chunks:
            assert chunk.char_start == 0 or document.text[chunk.char_start - 1] == " "
            assert chunk.char_end == len(document.text) or document.text[chunk.char_end] == " "

    def test_cjk_without_spaces_is_cut_at_full_stops(self, chunker: Chunker) -> None:
        sentence = "東京は日本の首都であり、多くの人が住んでいる大きな都市です。"
        text = sentence * 30
        chunks = chunker.chunk(ParsedDocument(document_id="d", text=text))
        assert len(chunks) > 1
        for chunk in chunks[:-1]:
            assert chunk.text.endswith("。")

    def test_word_pieces_as_the_last_resort(self, untruncated: Tokenizer, minilm: MiniLM) -> None:
        """Words longer than the whole chunk budget are cut between their pieces."""
        rng = random.Random(7)
        words = ["".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(60)) for _ in range(4)]
        document = ParsedDocument(document_id="d", text=" ".join(words))
        tiny = Chunker(
            tokenizer=untruncated,
            policy=ChunkingPolicy(max_tokens=24, target_tokens=24, overlap_tokens=4),
        )
        chunks = tiny.chunk(document)
        assert any(
            chunk.char_end < len(document.text) and document.text[chunk.char_end] != " "
            for chunk in chunks
        )
        check_invariants(
            document,
            chunks,
            chunker=tiny,
            untruncated=untruncated,
            embedder_tokenizer=minilm.tokenizer,
        )


class TestOverlap:
    def test_consecutive_chunks_of_a_section_overlap(
        self, chunker: Chunker, untruncated: Tokenizer
    ) -> None:
        document = ParsedDocument(document_id="d", text="# Only\n\n" + PROSE * 6)
        chunks = chunker.chunk(document)
        assert len(chunks) > 2
        for before, after in itertools.pairwise(chunks):
            assert overlap_of(before, after) > 0
            shared = document.text[after.char_start : before.char_end]
            shared_tokens = len(untruncated.encode(shared, add_special_tokens=False).ids)
            assert 0 < shared_tokens <= chunker.policy.overlap_tokens

    def test_no_overlap_across_sections(self, chunker: Chunker) -> None:
        text = "# One\n\n" + PROSE * 2 + "\n\n# Two\n\n" + PROSE * 2
        chunks = chunker.chunk(ParsedDocument(document_id="d", text=text))
        boundary = next(i for i, c in enumerate(chunks) if c.heading_path == ("Two",))
        assert overlap_of(chunks[boundary - 1], chunks[boundary]) == 0
        assert chunks[boundary].text.startswith("# Two")

    def test_no_overlap_when_asked(self, untruncated: Tokenizer) -> None:
        chunker = Chunker(tokenizer=untruncated, policy=ChunkingPolicy(overlap_tokens=0))
        chunks = chunker.chunk(ParsedDocument(document_id="d", text=PROSE * 6))
        assert all(overlap_of(a, b) == 0 for a, b in itertools.pairwise(chunks))


class TestMetadata:
    def test_heading_paths(self, chunker: Chunker) -> None:
        text = (
            "Preface text.\n\n# Manual\n\n## Install\n\nRun the installer.\n\n"
            "### On Linux\n\nUse the package.\n\n## Use\n\nOpen the app.\n\n"
            "<h2>Web &amp; API</h2>\n<p>Call the endpoint.</p>\n"
        )
        chunks = chunker.chunk(ParsedDocument(document_id="manual", text=text))
        assert [(c.heading_path, c.text.splitlines()[-1]) for c in chunks] == [
            ((), "Preface text."),
            (("Manual", "Install"), "Run the installer."),
            (("Manual", "Install", "On Linux"), "Use the package."),
            (("Manual", "Use"), "Open the app."),
            (("Manual", "Web & API"), "<p>Call the endpoint.</p>"),
        ]
        assert chunks[1].text.startswith("# Manual\n\n## Install")

    def test_pages(self, chunker: Chunker) -> None:
        pages = ["Cover page.", PROSE * 2, "# Appendix\n\nShort appendix."]
        document = ParsedDocument.from_pages("book", pages)
        chunks = chunker.chunk(document)
        assert chunks[0].page == 1
        assert chunks[-1].page == chunks[-1].last_page == 3
        assert chunks[-1].heading_path == ("Appendix",)
        for chunk in chunks:
            assert chunk.page == document.page_at(chunk.char_start)
            assert chunk.last_page == document.page_at(chunk.char_end - 1)
        assert any(c.last_page != c.page for c in chunks)  # prose runs from page 1 into 2


class TestConfiguration:
    def test_for_minilm_uses_the_models_limit(self, chunker: Chunker) -> None:
        assert chunker.policy.max_tokens == 256
        assert chunker.special_tokens == 2

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"target_tokens": 300}, "target_tokens"),
            ({"target_tokens": 0}, "overlap_tokens"),
            ({"overlap_tokens": 100}, "overlap_tokens"),
            ({"overlap_tokens": -1}, "overlap_tokens"),
            ({"min_fill": 0.0}, "min_fill"),
        ],
    )
    def test_bad_policies(self, options: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            ChunkingPolicy(**options)

    def test_refuses_a_truncating_tokenizer(self) -> None:
        with pytest.raises(ValueError, match="truncates"):
            Chunker(tokenizer=load_tokenizer(max_length=256))


# --- generated documents ------------------------------------------------------------------

VOCABULARY = [
    *["the", "a", "retrieval", "index", "vector", "chunk", "model", "query", "answer"],
    *["source", "page", "heading", "section", "embedding", "token", "overlap", "sentence"],
    *["paragraph", "document", "search", "rank"],
    *["café", "naïve", "Ångström", "東京", "München", "São-Paulo", "🚀", "e.g.", "i.e."],
    *["3.14", "2025-01-31", "$100", "50%", "C++", "x86_64", "foo_bar()"],
    *["https://example.org/a?b=c", "pneumonoultramicroscopicsilicovolcanoconiosis"],
]


@dataclass
class GeneratedDocument:
    document: ParsedDocument
    headings: list[tuple[int, int, str]] = field(default_factory=list)  # offset, level, title
    page_starts: list[int] = field(default_factory=list)

    def path_at(self, offset: int) -> tuple[str, ...]:
        stack: list[tuple[int, str]] = []
        for start, level, title in self.headings:
            if start > offset:
                break
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
        return tuple(title for _, title in stack)

    def page_at(self, offset: int) -> int | None:
        if not self.page_starts:
            return None
        return sum(1 for start in self.page_starts if start <= offset)


def sentence(rng: random.Random, words: int) -> str:
    picked = [rng.choice(VOCABULARY) for _ in range(words)]
    picked[0] = picked[0].capitalize()
    return " ".join(picked) + rng.choice([".", ".", "!", "?", '."', ".)"])


def block(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        return " ".join(sentence(rng, rng.randint(3, 30)) for _ in range(rng.randint(1, 8)))
    if kind < 0.7:  # a monster sentence: no punctuation to cut at
        return " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(200, 500)))
    if kind < 0.8:
        return "\n".join(f"- {sentence(rng, rng.randint(2, 12))}" for _ in range(rng.randint(2, 9)))
    if kind < 0.9:
        lines = [f"# comment {i}\nvalue_{i} = compute({i})" for i in range(rng.randint(1, 12))]
        return "```python\n" + "\n".join(lines) + "\n```"
    return "".join(rng.choice("東京日本語の文章です") for _ in range(rng.randint(20, 400))) + "。"


def generate(seed: int) -> GeneratedDocument:
    rng = random.Random(seed)
    generated = GeneratedDocument(ParsedDocument(document_id=f"doc-{seed}", text=""))
    parts: list[str] = []
    length = 0
    with_pages = rng.random() < 0.5
    for page in range(rng.randint(1, 5)):
        if page:
            parts.append("\n\n")
            length += 2
        if with_pages:
            generated.page_starts.append(length)
        for _ in range(rng.randint(1, 7)):
            if rng.random() < 0.4:
                level = rng.randint(1, 4)
                title = sentence(rng, rng.randint(1, 4)).rstrip('.!?")')
                generated.headings.append((length, level, title))
                piece = f"{'#' * level} {title}\n\n"
            else:
                piece = block(rng) + "\n\n"
            parts.append(piece)
            length += len(piece)
    text = "".join(parts)
    generated.document = ParsedDocument(
        document_id=f"doc-{seed}", text=text, page_starts=tuple(generated.page_starts)
    )
    return generated


@pytest.mark.parametrize("seed", range(40))
def test_generated_documents(
    seed: int, chunker: Chunker, untruncated: Tokenizer, minilm: MiniLM
) -> None:
    generated = generate(seed)
    document = generated.document
    chunks = chunker.chunk(document)
    check_invariants(
        document,
        chunks,
        chunker=chunker,
        untruncated=untruncated,
        embedder_tokenizer=minilm.tokenizer,
    )
    for chunk in chunks:
        assert chunk.heading_path == generated.path_at(chunk.char_end - 1)
        assert chunk.page == generated.page_at(chunk.char_start)
        assert chunk.last_page == generated.page_at(chunk.char_end - 1)
    for before, after in itertools.pairwise(chunks):
        if before.heading_path != after.heading_path:
            assert overlap_of(before, after) == 0


def test_generated_documents_do_overlap(chunker: Chunker) -> None:
    """Across the generated corpus most in-section neighbours share some text."""
    pairs = overlapping = 0
    for seed in range(40):
        chunks = chunker.chunk(generate(seed).document)
        for before, after in itertools.pairwise(chunks):
            if before.heading_path == after.heading_path and after.char_start < before.char_end:
                overlapping += 1
            if before.heading_path == after.heading_path:
                pairs += 1
    assert pairs > 20
    assert overlapping > pairs // 2
