"""Parsers: each format to text with its structure (Markdown and HTML headings, PDF pages),
and every unreadable input refused with a reason instead of an exception of its own."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import pytest

from genai_shared.ingest.parsers import (
    DocumentFormat,
    ParseError,
    detect_format,
    parse_document,
    parse_html,
    parse_markdown,
    parse_pdf,
    parse_text,
)
from genai_shared.rag.chunking import Chunker
from genai_shared.rag.documents import split_sections

MakePdf = Callable[[Sequence[Sequence[str]]], bytes]


class TestDetectFormat:
    @pytest.mark.parametrize(
        ("media_type", "filename", "expected"),
        [
            ("text/plain", "notes.txt", DocumentFormat.TEXT),
            ("text/markdown; charset=utf-8", "x.bin", DocumentFormat.MARKDOWN),
            ("text/x-markdown", None, DocumentFormat.MARKDOWN),
            ("TEXT/HTML", "page", DocumentFormat.HTML),
            ("application/xhtml+xml", None, DocumentFormat.HTML),
            ("application/pdf", "scan.txt", DocumentFormat.PDF),  # the declared type wins
            ("application/octet-stream", "Report.PDF", DocumentFormat.PDF),
            ("", "readme.markdown", DocumentFormat.MARKDOWN),
            (None, "page.htm", DocumentFormat.HTML),
        ],
    )
    def test_supported(
        self, media_type: str | None, filename: str | None, expected: DocumentFormat
    ) -> None:
        assert detect_format(media_type, filename) is expected

    @pytest.mark.parametrize(
        ("media_type", "filename"),
        [
            ("image/png", "photo.md"),  # a real type that is not ours is not overridden
            ("application/zip", "a.pdf"),
            ("application/octet-stream", "archive.tar.gz"),
            (None, "no-extension"),
            ("application/json", "data.json"),
        ],
    )
    def test_unsupported(self, media_type: str | None, filename: str) -> None:
        assert detect_format(media_type, filename) is None


class TestText:
    def test_text_has_no_headings(self) -> None:
        parsed = parse_text(b"# not a heading\r\nplain line\r\n", document_id="d")
        assert parsed.text == "# not a heading\nplain line\n"
        assert parsed.resolved_headings() == ()
        assert parsed.page_starts == ()

    def test_declared_charset_and_bom(self) -> None:
        assert parse_text("café".encode("latin-1"), document_id="d", charset="iso-8859-1").text == (
            "café"
        )
        assert parse_text(b"\xef\xbb\xbfhello", document_id="d").text == "hello"

    @pytest.mark.parametrize(
        ("content", "charset", "reason"),
        [
            (b"caf\xe9", None, "not valid UTF-8"),
            (b"\x7fELF\x00\x00\x01", None, "binary"),
            (b"hello", "no-such-codec", "unknown text encoding"),
        ],
    )
    def test_unreadable_text(self, content: bytes, charset: str | None, reason: str) -> None:
        with pytest.raises(ParseError, match=reason):
            parse_text(content, document_id="d", charset=charset)


class TestMarkdown:
    def test_headings_found_and_links_kept_as_text(self) -> None:
        source = (
            "# Guide\n\nIntro ![logo](http://127.0.0.1:9/logo.png) and "
            "[docs](http://127.0.0.1:9/docs).\n\n## Install\n\nRun it.\n\n"
            "```\n# a comment, not a heading\n```\n"
        )
        parsed = parse_markdown(source.encode(), document_id="d")
        assert parsed.text == source
        titles = [(h.level, h.title) for h in parsed.resolved_headings()]
        assert titles == [(1, "Guide"), (2, "Install")]
        paths = [section.heading_path for section in split_sections(parsed)]
        assert ("Guide", "Install") in paths
        assert "http://127.0.0.1:9/logo.png" in parsed.text  # text to index, nothing else


class TestHtml:
    PAGE = b"""<!doctype html>
<html><head><title>Ignored title</title>
<meta charset="utf-8"><style>h1 { color: red }</style>
<script>document.write("<h1>injected</h1>")</script></head>
<body>
<nav><a href="http://127.0.0.1:9/home">Home</a></nav>
<h1>Main   <em>title</em></h1>
<p>First   paragraph with a <a href="http://127.0.0.1:9/tracker">link</a>.</p>
<img src="http://127.0.0.1:9/pixel.gif" alt="pixel">
<h2>Details</h2>
<ul><li>one</li><li>two</li></ul>
<table><tr><th>k</th><td>v</td></tr></table>
<pre>x  =  1
y = 2</pre>
<noscript>enable javascript</noscript>
<p>caf&eacute; &amp; cr&egrave;me</p>
</body></html>"""

    def test_visible_text_with_headings(self) -> None:
        parsed = parse_html(self.PAGE, document_id="d")
        assert parsed.text == (
            "Home\n\nMain title\n\nFirst paragraph with a link.\n\nDetails\n\n"
            "one\ntwo\n\nk v\n\nx  =  1\ny = 2\n\ncafé & crème"
        )
        headings = parsed.resolved_headings()
        assert [(h.level, h.title) for h in headings] == [(1, "Main title"), (2, "Details")]
        for heading in headings:
            assert parsed.text[heading.start : heading.end] == heading.title

    def test_scripts_styles_head_and_urls_are_dropped(self) -> None:
        text = parse_html(self.PAGE, document_id="d").text
        for absent in ("injected", "color", "Ignored title", "javascript", "127.0.0.1"):
            assert absent not in text

    def test_sections_follow_the_headings(self) -> None:
        parsed = parse_html(self.PAGE, document_id="d")
        paths = [section.heading_path for section in split_sections(parsed)]
        assert paths == [(), ("Main title",), ("Main title", "Details")]

    def test_meta_charset_is_read(self) -> None:
        page = '<html><head><meta charset="windows-1252"></head><body><p>na\xefve</p>'
        assert parse_html(page.encode("cp1252"), document_id="d").text == "na\xefve"

    def test_head_left_open_ends_at_body(self) -> None:
        parsed = parse_html(b"<head><title>t</title><body><h3>Kept</h3>body", document_id="d")
        assert parsed.text == "Kept\n\nbody"
        assert [h.title for h in parsed.resolved_headings()] == ["Kept"]


class TestPdf:
    def test_pages_are_kept(self, make_pdf: MakePdf, chunker: Chunker) -> None:
        content = make_pdf([["Alpha page one", "more of one"], ["Beta page two"], ["Gamma three"]])
        parsed = parse_pdf(content, document_id="d", max_pages=10)
        assert len(parsed.page_starts) == 3
        for number, word in enumerate(("Alpha", "Beta", "Gamma"), start=1):
            assert parsed.page_at(parsed.text.index(word)) == number
        chunks = chunker.chunk(parsed)
        assert chunks
        assert chunks[0].page == 1
        assert chunks[-1].last_page == 3

    def test_page_cap(self, make_pdf: MakePdf) -> None:
        content = make_pdf([["one"], ["two"], ["three"]])
        with pytest.raises(ParseError, match="3 pages, more than the 2 allowed"):
            parse_pdf(content, document_id="d", max_pages=2)

    @pytest.mark.parametrize(
        "content",
        [b"not a pdf at all", b"%PDF-1.7\n1 0 obj << /Type /Catalog", b"%PDF-" + bytes(200)],
    )
    def test_corrupt(self, content: bytes) -> None:
        with pytest.raises(ParseError, match="PDF"):
            parse_pdf(content, document_id="d", max_pages=10)

    def test_truncated(self, make_pdf: MakePdf) -> None:
        content = make_pdf([["some text"]])
        with pytest.raises(ParseError, match="PDF could not be read"):
            parse_pdf(content[: len(content) // 2], document_id="d", max_pages=10)

    def test_encrypted(self, make_pdf: MakePdf) -> None:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["secret"]]))))
        writer.encrypt("password")
        buffer = io.BytesIO()
        writer.write(buffer)
        with pytest.raises(ParseError, match="encrypted"):
            parse_pdf(buffer.getvalue(), document_id="d", max_pages=10)

    def test_no_text(self, make_pdf: MakePdf) -> None:
        with pytest.raises(ParseError, match="no text"):
            parse_pdf(make_pdf([[], []]), document_id="d", max_pages=10)


def test_parse_document_dispatches_on_format(make_pdf: MakePdf) -> None:
    inputs = {
        DocumentFormat.TEXT: b"plain",
        DocumentFormat.MARKDOWN: b"# Title\n\nbody",
        DocumentFormat.HTML: b"<h1>Title</h1><p>body</p>",
        DocumentFormat.PDF: make_pdf([["body"]]),
    }
    for document_format, content in inputs.items():
        parsed = parse_document(content, document_format=document_format, document_id="x")
        assert parsed.document_id == "x"
        assert parsed.text.strip()
        assert bool(parsed.page_starts) is (document_format is DocumentFormat.PDF)
