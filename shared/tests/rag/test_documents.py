"""Headings found in text, sections with their heading paths, pages."""

from __future__ import annotations

import pytest

from genai_shared.rag.documents import (
    Heading,
    ParsedDocument,
    Section,
    find_headings,
    split_sections,
)


def titles(text: str) -> list[tuple[int, str]]:
    return [(h.level, h.title) for h in find_headings(text)]


class TestFindHeadings:
    def test_atx_headings(self) -> None:
        text = "# One\ntext\n## Two ##\n   ### Three\n###### Six\n"
        assert titles(text) == [(1, "One"), (2, "Two"), (3, "Three"), (6, "Six")]

    def test_spans_slice_the_heading_back(self) -> None:
        text = "intro\n## C# tips ##\nbody\n<h2 id='x'>Web</h2>\n"
        spans = [text[h.start : h.end] for h in find_headings(text)]
        assert spans == ["## C# tips ##", "<h2 id='x'>Web</h2>"]
        assert titles(text) == [(2, "C# tips"), (2, "Web")]

    @pytest.mark.parametrize(
        "text",
        [
            "#hashtag is not a heading",
            "####### seven hashes is not a heading",
            "    # indented four spaces is code",
            "a line # with a hash inside",
        ],
    )
    def test_not_headings(self, text: str) -> None:
        assert find_headings(text) == []

    def test_fenced_code_holds_no_headings(self) -> None:
        text = (
            "# Real\n```python\n# a comment\n## another\n```\n"
            "~~~~\n# tilde fence\n~~~~\n## After\n```\n# unclosed fence to the end\n"
        )
        assert titles(text) == [(1, "Real"), (2, "After")]

    def test_setext_headings(self) -> None:
        text = "Title\n=====\n\nSub title\n---\n\nbody\n## Atx\nRight after atx\n---\n"
        assert titles(text) == [(1, "Title"), (2, "Sub title"), (2, "Atx"), (2, "Right after atx")]
        first = find_headings(text)[0]
        assert text[first.start : first.end] == "Title\n====="

    @pytest.mark.parametrize(
        "text",
        [
            "para\n\n---\n\nthematic break",  # a rule after a blank line
            "---\ntitle: front matter\n---\n",  # YAML front matter
            "line one of a paragraph\nline two\n---\n",  # only one-line titles
            "- a list item\n---\n",
        ],
    )
    def test_not_setext_headings(self, text: str) -> None:
        assert find_headings(text) == []

    def test_html_headings(self) -> None:
        text = '<H1 class="t">Big &amp; <em>bold</em></H1><p>x</p><h3>\n  Deep\n</h3><h2></h2>'
        assert titles(text) == [(1, "Big & bold"), (3, "Deep")]

    def test_windows_line_endings(self) -> None:
        text = "# One\r\nTwo\r\n===\r\nbody\r\n"
        assert titles(text) == [(1, "One"), (1, "Two")]
        assert [text[h.start : h.end] for h in find_headings(text)] == ["# One", "Two\r\n==="]


class TestSplitSections:
    def test_paths_follow_the_levels(self) -> None:
        text = "preface\n# A\na\n## B\nb\n### C\nc\n## D\nd\n# E\ne\n"
        sections = split_sections(ParsedDocument(document_id="d", text=text))
        assert [s.heading_path for s in sections] == [
            (),
            ("A",),
            ("A", "B"),
            ("A", "B", "C"),
            ("A", "D"),
            ("E",),
        ]
        assert "".join(text[s.start : s.end] for s in sections) == text

    def test_a_heading_without_text_joins_its_first_subsection(self) -> None:
        text = "# Title\n\n## Intro\nhello\n## Empty sibling\n## Next\nbody\n"
        sections = split_sections(ParsedDocument(document_id="d", text=text))
        assert sections[0] == Section(("Title", "Intro"), 0, text.index("## Empty"))
        assert [s.heading_path for s in sections] == [
            ("Title", "Intro"),
            ("Title", "Empty sibling"),  # nothing deeper follows it: kept on its own
            ("Title", "Next"),
        ]

    def test_explicit_headings_replace_detection(self) -> None:
        text = "Chapter 1\n# not a heading in this format\nbody"
        document = ParsedDocument(
            document_id="d", text=text, headings=(Heading(1, "Chapter 1", 0, 9),)
        )
        sections = split_sections(document)
        assert sections == [Section(("Chapter 1",), 0, len(text))]

    def test_blank_document(self) -> None:
        assert split_sections(ParsedDocument(document_id="d", text=" \n\n ")) == []


class TestPages:
    def test_from_pages_remembers_where_pages_start(self) -> None:
        document = ParsedDocument.from_pages("d", ["page one", "page two", "three"])
        assert document.text == "page one\n\npage two\n\nthree"
        assert document.page_starts == (0, 10, 20)
        assert document.page_at(0) == 1
        assert document.page_at(9) == 1  # the separator belongs to the page before
        assert document.page_at(10) == 2
        assert document.page_at(len(document.text) - 1) == 3

    def test_no_pages(self) -> None:
        assert ParsedDocument(document_id="d", text="x").page_at(0) is None

    @pytest.mark.parametrize("starts", [(1,), (0, 5, 5), (0, 99)])
    def test_bad_page_starts(self, starts: tuple[int, ...]) -> None:
        with pytest.raises(ValueError, match="page_starts"):
            ParsedDocument(document_id="d", text="0123456789", page_starts=starts)

    def test_bad_headings(self) -> None:
        with pytest.raises(ValueError, match="headings"):
            ParsedDocument(
                document_id="d",
                text="0123456789",
                headings=(Heading(1, "b", 5, 6), Heading(1, "a", 0, 1)),
            )
        with pytest.raises(ValueError, match="level"):
            Heading(7, "x", 0, 1)
