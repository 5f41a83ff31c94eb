"""A parsed document, its headings and the sections they open: the chunker's input.

Parsing files (PDF, HTML, Markdown) happens elsewhere; a parser hands over the document's
text, where each page starts, and, when the format has them explicitly, its headings.
Without explicit headings, Markdown headings (`## Title` and underlined `Title` / `===`)
and HTML `<h1>`..`<h6>` elements are found in the text itself, outside fenced code.
"""

from __future__ import annotations

import bisect
import html
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading of `level` (1 = top) spanning `text[start:end]`."""

    level: int
    title: str
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 1 <= self.level <= 6:
            raise ValueError(f"heading level {self.level} is not between 1 and 6")
        if not 0 <= self.start <= self.end:
            raise ValueError(f"heading span {self.start}..{self.end} is not a span")


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A document's text, its page boundaries, and optionally its headings.

    `page_starts[i]` is the offset where page i + 1 begins (the first is 0); empty when
    the format has no pages. `headings=None` asks for them to be found in the text.
    """

    document_id: str
    text: str
    page_starts: tuple[int, ...] = ()
    headings: tuple[Heading, ...] | None = None

    def __post_init__(self) -> None:
        starts = self.page_starts
        if starts and (
            starts[0] != 0
            or any(b <= a for a, b in itertools.pairwise(starts))
            or starts[-1] > len(self.text)
        ):
            raise ValueError("page_starts must begin at 0 and increase within the text")
        if self.headings is not None:
            spans = [(h.start, h.end) for h in self.headings]
            if spans != sorted(spans) or any(end > len(self.text) for _, end in spans):
                raise ValueError("headings must be in text order and inside the text")

    @classmethod
    def from_pages(
        cls,
        document_id: str,
        pages: Sequence[str],
        *,
        separator: str = "\n\n",
        headings: tuple[Heading, ...] | None = None,
    ) -> ParsedDocument:
        """Join per-page texts (a PDF's) and remember where each page starts."""
        starts: list[int] = []
        offset = 0
        for page in pages:
            starts.append(offset)
            offset += len(page) + len(separator)
        return cls(
            document_id=document_id,
            text=separator.join(pages),
            page_starts=tuple(starts),
            headings=headings,
        )

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding the character at `offset`, or None without pages."""
        if not self.page_starts:
            return None
        return bisect.bisect_right(self.page_starts, offset)

    def resolved_headings(self) -> tuple[Heading, ...]:
        if self.headings is not None:
            return self.headings
        return tuple(find_headings(self.text))


@dataclass(frozen=True, slots=True)
class Section:
    """`text[start:end]`: a heading (if any) and the body up to the next heading."""

    heading_path: tuple[str, ...]
    start: int
    end: int


_LINE = re.compile(r"[^\n]*(?:\n|$)")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r" {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")
_SETEXT_UNDERLINE = re.compile(r" {0,3}(={3,}|-{3,})[ \t]*")
_HTML_HEADING = re.compile(r"<h([1-6])(?:\s[^>]*)?>(.*?)</h\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_LIST_ITEM = re.compile(r" {0,3}(?:[-+*]|\d+[.)])(?:\s|$)")


@dataclass(frozen=True, slots=True)
class _Line:
    start: int
    end: int  # without the line break
    text: str


def _lines(text: str) -> Iterator[_Line]:
    for match in _LINE.finditer(text):
        if match.start() == len(text) and match.start() > 0:
            return
        body = match.group().rstrip("\n")
        body = body.removesuffix("\r")
        yield _Line(match.start(), match.start() + len(body), body)


def find_headings(text: str) -> list[Heading]:
    """Markdown (ATX and single-line setext) and HTML headings, in text order.

    Lines inside fenced code blocks are code, so a `# comment` there is no heading.
    """
    headings: list[Heading] = []
    code_spans: list[tuple[int, int]] = []
    fence: str | None = None
    fence_start = 0
    previous: _Line | None = None
    after_break = True
    for line in _lines(text):
        opener = _FENCE.match(line.text)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                code_spans.append((fence_start, line.end))
                fence = None
            previous = None
            continue
        if opener:
            fence, fence_start = opener.group(1), line.start
            previous = None
            continue
        atx = _ATX.fullmatch(line.text)
        underline = _SETEXT_UNDERLINE.fullmatch(line.text)
        if atx:
            headings.append(Heading(len(atx.group(1)), atx.group(2).strip(), line.start, line.end))
        elif (
            underline
            and previous is not None
            and after_break
            and previous.text.strip()
            and not _ATX.fullmatch(previous.text)
            and not _LIST_ITEM.match(previous.text)
        ):
            level = 1 if underline.group(1)[0] == "=" else 2
            headings.append(Heading(level, previous.text.strip(), previous.start, line.end))
        # A setext title is a one-line paragraph: after a blank line, a heading or code.
        after_break = (
            previous is None or not previous.text.strip() or bool(_ATX.fullmatch(previous.text))
        )
        previous = line
    if fence is not None:
        code_spans.append((fence_start, len(text)))
    for match in _HTML_HEADING.finditer(text):
        title = " ".join(html.unescape(_TAG.sub(" ", match.group(2))).split())
        if title:
            headings.append(Heading(int(match.group(1)), title, match.start(), match.end()))
    return _without_overlaps(
        [h for h in headings if not any(a <= h.start < b for a, b in code_spans)]
    )


def _without_overlaps(headings: list[Heading]) -> list[Heading]:
    kept: list[Heading] = []
    for heading in sorted(headings, key=lambda h: (h.start, -h.end)):
        if not kept or heading.start >= kept[-1].end:
            kept.append(heading)
    return kept


def split_sections(document: ParsedDocument) -> list[Section]:
    """The document cut at every heading, each section with its path of headings.

    A heading directly followed by a deeper one (a title, then its first subsection) has
    no text of its own: it joins the section that follows, whose path names both.
    """
    text = document.text
    headings = document.resolved_headings()
    sections: list[Section] = []
    first = headings[0].start if headings else len(text)
    if text[:first].strip():
        sections.append(Section((), 0, first))
    stack: list[Heading] = []
    pending_start: int | None = None
    for index, heading in enumerate(headings):
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        following = headings[index + 1] if index + 1 < len(headings) else None
        end = following.start if following else len(text)
        start = heading.start if pending_start is None else pending_start
        if following and following.level > heading.level and not text[heading.end : end].strip():
            pending_start = start
            continue
        pending_start = None
        sections.append(Section(tuple(h.title for h in stack), start, end))
    return sections
