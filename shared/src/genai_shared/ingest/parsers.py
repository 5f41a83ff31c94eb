"""Parsers: bytes of a supported format in, the chunker's `ParsedDocument` out.

Four formats: plain text, Markdown, HTML and PDF. Each parser returns plain text with
what the format says about structure: Markdown keeps its `#` headings in the text (the
chunker finds them there), HTML becomes text whose `<h1>`..`<h6>` are explicit headings,
and a PDF keeps where every page starts, so a chunk can be cited by page.

Nothing here touches the network: a link or image URL inside a document is text. A
document that cannot be parsed raises `ParseError`, whose reason is shown to the user.
Parsing is CPU work: call `parse_document` from async code through a worker thread.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Final

from genai_shared.rag.documents import Heading, ParsedDocument


class DocumentFormat(StrEnum):
    """A supported format, named by its canonical media type."""

    TEXT = "text/plain"
    MARKDOWN = "text/markdown"
    HTML = "text/html"
    PDF = "application/pdf"


class ParseError(Exception):
    """The document could not be turned into text; ``reason`` is shown to the user as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_MEDIA_TYPES: Final[dict[str, DocumentFormat]] = {
    "text/plain": DocumentFormat.TEXT,
    "text/markdown": DocumentFormat.MARKDOWN,
    "text/x-markdown": DocumentFormat.MARKDOWN,
    "text/html": DocumentFormat.HTML,
    "application/xhtml+xml": DocumentFormat.HTML,
    "application/pdf": DocumentFormat.PDF,
}
_EXTENSIONS: Final[dict[str, DocumentFormat]] = {
    ".txt": DocumentFormat.TEXT,
    ".text": DocumentFormat.TEXT,
    ".md": DocumentFormat.MARKDOWN,
    ".markdown": DocumentFormat.MARKDOWN,
    ".html": DocumentFormat.HTML,
    ".htm": DocumentFormat.HTML,
    ".pdf": DocumentFormat.PDF,
}
# What clients send when they do not know: the file name decides then.
_UNKNOWN_MEDIA_TYPES: Final = frozenset({"", "application/octet-stream", "binary/octet-stream"})
SUPPORTED_MEDIA_TYPES: Final = tuple(sorted(_MEDIA_TYPES))


def detect_format(media_type: str | None, filename: str | None = None) -> DocumentFormat | None:
    """The format a declared media type (or, failing that, a file name) names, else None.

    A declared type wins over the extension: a `.txt` sent as `text/html` is HTML. A
    generic type (`application/octet-stream`, or none) leaves the choice to the extension.
    """
    media = (media_type or "").partition(";")[0].strip().lower()
    if media in _MEDIA_TYPES:
        return _MEDIA_TYPES[media]
    if media in _UNKNOWN_MEDIA_TYPES or (media == "text/x-plain"):
        suffix = PurePosixPath(filename or "").suffix.lower()
        return _EXTENSIONS.get(suffix)
    return None


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Caps applied while parsing; the chunk cap is applied after chunking."""

    max_pages: int = 500


def parse_document(
    content: bytes,
    *,
    document_format: DocumentFormat,
    document_id: str,
    charset: str | None = None,
    limits: ParseLimits | None = None,
) -> ParsedDocument:
    """Parse ``content`` of ``document_format``; ``charset`` is the declared text encoding."""
    limits = limits or ParseLimits()
    match document_format:
        case DocumentFormat.TEXT:
            return parse_text(content, document_id=document_id, charset=charset)
        case DocumentFormat.MARKDOWN:
            return parse_markdown(content, document_id=document_id, charset=charset)
        case DocumentFormat.HTML:
            return parse_html(content, document_id=document_id, charset=charset)
        case DocumentFormat.PDF:
            return parse_pdf(content, document_id=document_id, max_pages=limits.max_pages)


# --- text and Markdown -------------------------------------------------------------------


def decode_text(content: bytes, *, charset: str | None = None) -> str:
    """Decode with the declared charset, else UTF-8 (a BOM is dropped); refuse binary data."""
    encoding = charset or "utf-8-sig"
    if encoding.replace("-", "").lower() == "utf8":
        encoding = "utf-8-sig"
    try:
        text = content.decode(encoding)
    except LookupError as exc:
        raise ParseError(f"unknown text encoding {charset!r}") from exc
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"the file is not valid {charset or 'UTF-8'} text (byte {exc.start} cannot be read)"
        ) from exc
    if "\x00" in text:
        raise ParseError("the file holds binary data (NUL bytes), not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_text(content: bytes, *, document_id: str, charset: str | None = None) -> ParsedDocument:
    """Plain text has no headings: a line starting with `#` there is just a line."""
    text = decode_text(content, charset=charset)
    return ParsedDocument(document_id=document_id, text=text, headings=())


def parse_markdown(
    content: bytes, *, document_id: str, charset: str | None = None
) -> ParsedDocument:
    """Markdown stays as written; its headings are found in the text by the chunker."""
    text = decode_text(content, charset=charset)
    return ParsedDocument(document_id=document_id, text=text, headings=None)


# --- HTML ----------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# Elements whose content is never text to index.
_SKIPPED: Final = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object"}
)
# Elements that start a new paragraph.
_BLOCKS: Final = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
        "tfoot", "thead", "tr", "ul", "body", "html",
    }
)  # fmt: skip
_HEADINGS: Final = {f"h{level}": level for level in range(1, 7)}
# Blocks that only start a new line (a list item, a table row).
_LINE_BLOCKS: Final = {"li": 1, "tr": 1, "dt": 1, "dd": 1}
_CELLS: Final = frozenset({"td", "th"})
_VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_SPACE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    """Collects visible text, paragraph breaks and heading spans, in one pass.

    Offsets are taken while the text is built, so heading spans point into the final text.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.headings: list[Heading] = []
        self._skip: list[str] = []
        self._pre = 0
        self._heading: tuple[int, int] | None = None  # (level, start offset)

    def _tail(self) -> str:
        return self.parts[-1][-1] if self.parts else ""

    def _write(self, text: str) -> None:
        if text:
            self.parts.append(text)
            self.length += len(text)

    def _trim_space(self) -> None:
        if self.parts and self.parts[-1].endswith(" "):
            self.parts[-1] = self.parts[-1][:-1]
            self.length -= 1
            if not self.parts[-1]:
                self.parts.pop()

    def _trailing_newlines(self) -> int:
        count = 0
        for part in reversed(self.parts):
            stripped = part.rstrip("\n")
            count += len(part) - len(stripped)
            if stripped:
                break
        return count

    def _break(self, newlines: int = 2) -> None:
        """End the current paragraph (or line); the text never starts with breaks."""
        self._trim_space()
        if self.length:
            self._write("\n" * max(0, newlines - self._trailing_newlines()))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._skip.clear()  # a <head> left open ends where the body starts
        if self._skip:
            if tag == self._skip[-1] or (tag in _SKIPPED and tag not in _VOID):
                self._skip.append(tag)
            return
        if tag in _SKIPPED:
            self._skip.append(tag)
        elif tag in _HEADINGS:
            self._break()
            self._heading = (_HEADINGS[tag], self.length)
        elif tag in {"br", "hr"}:
            self._break(1 if tag == "br" else 2)
        elif tag in _CELLS:
            if self._tail() not in ("", "\n", " "):
                self._write(" ")
        elif tag in _BLOCKS:
            self._break(_LINE_BLOCKS.get(tag, 2))
            if tag == "pre":
                self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._skip and tag in {"br", "hr"}:
            self._break(1 if tag == "br" else 2)

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag in _HEADINGS and self._heading is not None:
            level, start = self._heading
            self._heading = None
            self._trim_space()
            title = " ".join("".join(self.parts)[start:].split())
            if title:
                self.headings.append(Heading(level, title, start, self.length))
            self._break()
        elif tag in _BLOCKS:
            if tag == "pre" and self._pre:
                self._pre -= 1
            self._break(_LINE_BLOCKS.get(tag, 2))

    def handle_data(self, data: str) -> None:
        if self._skip or not data:
            return
        if self._pre:
            self._write(data)
            return
        collapsed = _SPACE.sub(" ", data)
        if self._tail() in ("", "\n", " "):
            collapsed = collapsed.lstrip(" ")
        self._write(collapsed)

    def result(self) -> tuple[str, tuple[Heading, ...]]:
        return "".join(self.parts).rstrip(), tuple(self.headings)


def _html_charset(content: bytes) -> str | None:
    match = _META_CHARSET.search(content[:2048])
    return match.group(1).decode("ascii").lower() if match else None


def parse_html(content: bytes, *, document_id: str, charset: str | None = None) -> ParsedDocument:
    """Visible text of the page: scripts, styles and the `<head>` dropped, `<hN>` as headings.

    Link targets and image sources are attributes, so they never reach the text at all.
    """
    text = decode_text(content, charset=charset or _html_charset(content))
    extractor = _TextExtractor()
    extractor.feed(text)
    extractor.close()
    body, headings = extractor.result()
    return ParsedDocument(document_id=document_id, text=body, headings=headings)


# --- PDF -----------------------------------------------------------------------------------


def parse_pdf(content: bytes, *, document_id: str, max_pages: int) -> ParsedDocument:
    """Text of every page, joined, with each page's start kept for citations.

    A PDF has no reliable headings in its text, so none are looked for. A PDF with no
    text at all (a scan) is refused: there is nothing to search in it without OCR.
    """
    # Imported here: pypdf is only needed by whoever parses PDFs (the worker).
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    if b"%PDF-" not in content[:1024]:
        raise ParseError("the file is not a PDF (no %PDF- header)")
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("the PDF is encrypted with a password")
        count = len(reader.pages)
        if count > max_pages:
            raise ParseError(f"the PDF has {count} pages, more than the {max_pages} allowed")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except ParseError:
        raise
    except FileNotDecryptedError as exc:
        raise ParseError("the PDF is encrypted with a password") from exc
    except PyPdfError as exc:
        raise ParseError(f"the PDF could not be read: {exc}") from exc
    except Exception as exc:  # pypdf raises plain errors on some malformed files
        raise ParseError(f"the PDF could not be read ({type(exc).__name__})") from exc
    if count == 0:
        raise ParseError("the PDF has no pages")
    if not any(pages):
        raise ParseError("no text could be extracted from the PDF (a scan needs OCR first)")
    return ParsedDocument.from_pages(document_id, pages, headings=())
