"""Structure-aware chunking, sized in the embedding model's own tokens.

A document is cut at its headings first (no chunk spans two sections). Inside a section,
chunks are packed up to a target size and cut at the strongest boundary available in the
back part of the window: a blank line (paragraph), else a sentence end or line break, else
a space between words, else between word pieces (a monster word). Consecutive chunks of a
section overlap by up to `overlap_tokens`, starting at a sentence or word boundary.

Sizes are counted with the embedding model's tokenizer, special tokens ([CLS]/[SEP])
included, and every chunk is re-tokenised on its own to prove it fits `max_tokens`:
MiniLM silently drops everything past 256 word pieces, so a chunk over the limit would
be embedded without its end.

Every chunk is `document.text[char_start:char_end]` exactly, with its section's heading
path and the pages it lies on. Chunking is CPU work: call it from async code through a
worker thread (`anyio.to_thread.run_sync`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from tokenizers import Encoding, Tokenizer

from genai_shared.rag.documents import ParsedDocument, Section, split_sections
from genai_shared.rag.minilm import MiniLMConfig, load_tokenizer, model_directory


class Boundary(IntEnum):
    """How good a place is to cut before a token: the higher, the better."""

    WORD_PIECE = 0  # inside a word
    TOKEN = 1  # between a word and punctuation, or CJK characters, with no space
    WORD = 2  # whitespace between words
    SENTENCE = 3  # after . ! ? (and closing quotes), or at a line break
    PARAGRAPH = 4  # a blank line


# Full-width (CJK) stops end a sentence even with no space after them.
_CJK_SENTENCE_ENDS = frozenset("\u3002\uff01\uff1f")
_SENTENCE_ENDS = frozenset(".!?\u2026") | _CJK_SENTENCE_ENDS
_CLOSERS = frozenset("\"')]}\u201d\u2019\u00bb")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document, ready to embed and to cite.

    `token_count` is what the embedding model sees, [CLS] and [SEP] included. `page` and
    `last_page` are 1-based (None for a document without pages).
    """

    document_id: str
    ordinal: int
    heading_path: tuple[str, ...]
    page: int | None
    last_page: int | None
    char_start: int
    char_end: int
    text: str
    token_count: int


@dataclass(frozen=True, slots=True)
class ChunkingPolicy:
    """Sizes in model tokens, special tokens included.

    `max_tokens` is the hard limit (the model's max_seq_length); `target_tokens` the size
    chunks are packed to; a cut is looked for once a chunk holds `min_fill` of the target.
    """

    max_tokens: int = 256
    target_tokens: int = 192
    overlap_tokens: int = 32
    min_fill: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.overlap_tokens < self.target_tokens // 2:
            raise ValueError("overlap_tokens must be below half of target_tokens")
        if not 0 < self.target_tokens <= self.max_tokens:
            raise ValueError("target_tokens must be positive and at most max_tokens")
        if not 0.0 < self.min_fill <= 1.0:
            raise ValueError("min_fill must be in (0, 1]")


class Chunker:
    """Cuts parsed documents into chunks that the embedding model takes whole."""

    def __init__(self, *, tokenizer: Tokenizer, policy: ChunkingPolicy | None = None) -> None:
        if tokenizer.truncation is not None or tokenizer.padding is not None:
            raise ValueError("the chunker needs a tokenizer that neither truncates nor pads")
        self.tokenizer = tokenizer
        self.policy = policy or ChunkingPolicy()
        self.special_tokens = len(tokenizer.encode("").ids)
        if self.policy.target_tokens <= self.special_tokens + self.policy.overlap_tokens:
            raise ValueError("target_tokens leaves no room for text")

    @classmethod
    def for_minilm(cls, *, target_tokens: int = 192, overlap_tokens: int = 32) -> Chunker:
        """Sized for all-MiniLM-L6-v2: its tokenizer, capped at its max_seq_length."""
        directory = model_directory()
        limit = MiniLMConfig.read(directory).max_seq_length
        policy = ChunkingPolicy(
            max_tokens=limit,
            target_tokens=min(target_tokens, limit),
            overlap_tokens=overlap_tokens,
        )
        return cls(tokenizer=load_tokenizer(directory), policy=policy)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, special tokens included, nothing cut."""
        return len(self.tokenizer.encode(text).ids)

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in split_sections(document):
            for start, end in self._section_spans(document.text, section):
                text = document.text[start:end]
                chunks.append(
                    Chunk(
                        document_id=document.document_id,
                        ordinal=len(chunks),
                        heading_path=section.heading_path,
                        page=document.page_at(start),
                        last_page=document.page_at(end - 1),
                        char_start=start,
                        char_end=end,
                        text=text,
                        token_count=self.count_tokens(text),
                    )
                )
        return chunks

    def _section_spans(self, text: str, section: Section) -> list[tuple[int, int]]:
        """Character spans of the section's chunks, in order."""
        body = text[section.start : section.end]
        encoding = self.tokenizer.encode(body, add_special_tokens=False)
        count = len(encoding.ids)
        if count == 0:
            return []
        strengths = _boundaries(body, encoding)
        offsets = encoding.offsets
        budget = self.policy.target_tokens - self.special_tokens
        limit = self.policy.max_tokens
        min_length = max(1, int(budget * self.policy.min_fill))
        spans: list[tuple[int, int]] = []
        first, previous_cut = 0, 0
        while True:
            lowest = max(first + min_length, previous_cut + 1)
            highest = first + budget
            while True:
                cut = count if count <= highest else _best_cut(strengths, lowest, highest)
                start = section.start + offsets[first][0]
                end = section.start + offsets[cut - 1][1]
                # Cut between word pieces, a chunk can tokenise into more pieces alone.
                if cut - first <= 1 or self.count_tokens(text[start:end]) <= limit:
                    break
                if first < previous_cut and cut - 1 <= previous_cut:
                    first = previous_cut  # shrinking would leave only overlap: drop it instead
                else:
                    highest = cut - 1
                lowest = min(lowest, highest)
            spans.append((start, end))
            if cut == count:
                return spans
            first, previous_cut = self._overlap_start(strengths, first, cut), cut

    def _overlap_start(self, strengths: list[Boundary], first: int, cut: int) -> int:
        """Where the next chunk starts: the strongest boundary in the overlap, earliest first.

        Never inside a word; no overlap when the tail holds no boundary (one long word).
        """
        best = cut
        for index in range(max(first + 1, cut - self.policy.overlap_tokens), cut):
            if strengths[index] >= Boundary.TOKEN and (
                best == cut or strengths[index] > strengths[best]
            ):
                best = index
        return best


def _best_cut(strengths: list[Boundary], lowest: int, highest: int) -> int:
    """The strongest boundary in [lowest, highest], the latest of equals (fuller chunks)."""
    best = highest
    for index in range(highest, lowest - 1, -1):
        if strengths[index] > strengths[best]:
            best = index
    return best


def _boundaries(text: str, encoding: Encoding) -> list[Boundary]:
    """strengths[i]: how good a cut before token i is (index 0 is never a cut)."""
    offsets = encoding.offsets
    words = encoding.word_ids
    strengths = [Boundary.PARAGRAPH] * len(offsets)
    for index in range(1, len(offsets)):
        gap = text[offsets[index - 1][1] : offsets[index][0]]
        if words[index] is not None and words[index] == words[index - 1]:
            strengths[index] = Boundary.WORD_PIECE
        elif gap.count("\n") >= 2:
            strengths[index] = Boundary.PARAGRAPH
        elif "\n" in gap or _ends_sentence(text, offsets, index - 1, spaced=bool(gap)):
            strengths[index] = Boundary.SENTENCE
        elif gap:  # whitespace, or characters the tokenizer drops (controls, zero-widths)
            strengths[index] = Boundary.WORD
        else:
            strengths[index] = Boundary.TOKEN
    return strengths


def _ends_sentence(text: str, offsets: list[tuple[int, int]], index: int, *, spaced: bool) -> bool:
    """Whether token `index` closes a sentence: . ! ? then a space, or a CJK full stop."""
    token = text[offsets[index][0] : offsets[index][1]]
    if token in _CJK_SENTENCE_ENDS:
        return True
    if not spaced:
        return False
    while token in _CLOSERS and index > 0 and offsets[index - 1][1] == offsets[index][0]:
        index -= 1
        token = text[offsets[index][0] : offsets[index][1]]
    return token in _SENTENCE_ENDS
