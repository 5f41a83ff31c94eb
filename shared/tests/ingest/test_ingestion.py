"""The ingestion service over a project's tables (the test project of ``conftest.py``):
what is refused before a document is stored, how a stored one is parsed, chunked,
embedded and marked ``ready`` (or ``failed`` with a reason), listing and deleting,
equal content embedded once per owner, and URL imports fetched safely.

The projects' documents API tests check that their routes reach this service; the
behaviour itself is tested here, once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from genai_shared.ingest.exceptions import (
    DocumentTooLarge,
    EmptyDocument,
    UnsupportedDocumentType,
    URLFetchFailed,
    URLNotAllowed,
)
from genai_shared.ingest.schemas import DocumentPublic
from genai_shared.ingest.service import build_fetch_policy, fetch_source
from genai_shared.rag.models import DocumentStatus
from genai_shared.testing.ingest_fixtures import allow_loopback

MakePdf = Callable[[Sequence[Sequence[str]]], bytes]
# Waits are bounded only so a broken ingestion fails the test instead of hanging it.
HANG_GUARD_SECONDS = 120

GUIDE = (
    b"# Field guide\n\nHerons wade in shallow water and wait for fish.\n\n"
    b"## Nesting\n\nThey nest in colonies called heronries, high in the trees.\n\n"
    b"## Calls\n\nA harsh croak, mostly at dusk.\n"
)


def sections(count: int, words: int = 40) -> bytes:
    """A Markdown document of ``count`` sections: at least ``count`` chunks."""
    body = " ".join(f"word{index}" for index in range(words))
    return "\n\n".join(f"## Part {n}\n\n{body}." for n in range(count)).encode()


class TestIngest:
    async def test_markdown_becomes_ready_with_progress(self, rig: Any) -> None:
        document_id = await rig.add(GUIDE, source="herons.md")
        queued, job = await rig.state(document_id)
        assert queued.status == "queued"
        assert queued.content_type == "text/markdown"
        assert len(queued.content_hash) == 64
        assert job.content == GUIDE
        assert rig.sent == [document_id]  # told to the queue once committed

        ready = await rig.ingest(document_id)
        assert ready.status == "ready"
        assert ready.failure_reason is None
        assert ready.progress_total >= 3  # one section per heading
        assert ready.progress_done == ready.progress_total
        assert await rig.chunks(document_id) == ready.progress_total

    @pytest.mark.parametrize(
        ("source", "media_type", "content_type"),
        [
            ("notes.txt", "text/plain", "text/plain"),
            ("page.html", "text/html", "text/html"),
            ("guide.md", "application/octet-stream", "text/markdown"),
            ("https://example.com/guide.md?x=1", None, "text/markdown"),
        ],
    )
    async def test_each_text_format(
        self, rig: Any, source: str, media_type: str | None, content_type: str
    ) -> None:
        content = b"<h1>Herons</h1><p>They wade.</p>" if "html" in content_type else GUIDE
        document_id = await rig.add(content, source=source, media_type=media_type)
        assert (await rig.state(document_id))[0].content_type == content_type
        assert (await rig.ingest(document_id)).status == "ready"

    async def test_pdf_chunks_keep_their_pages(self, rig: Any, make_pdf: MakePdf) -> None:
        pdf = make_pdf([["Herons wade in water."], ["Egrets are white."], ["Storks migrate far."]])
        document_id = await rig.add(pdf, source="birds.pdf", media_type="application/pdf")
        assert (await rig.ingest(document_id)).status == "ready"
        chunks = await rig.chunk_rows(document_id)
        assert {chunk.page for chunk in chunks} == {1}
        assert max(chunk.last_page or 0 for chunk in chunks) == 3

    async def test_the_public_document_shows_progress_as_one_object(self, rig: Any) -> None:
        document = await rig.ingest(await rig.add(GUIDE))
        public = DocumentPublic.model_validate(document)
        assert public.status is DocumentStatus.READY
        total = document.progress_total
        assert public.progress.model_dump() == {"done": total, "total": total}
        assert public.model_dump(mode="json")["progress"] == {"done": total, "total": total}

    async def test_the_running_queue_ingests_in_process(self, rig: Any) -> None:
        """Without Redis, the queue runs each task in this event loop (``make run``)."""
        async with rig.ingestion.running_queue(
            runtime=rig.runtime, redis_url=None, worker=False
        ) as queue:
            assert queue.in_process
            rig.queue = queue
            document_id = await rig.add(GUIDE)
            async with asyncio.timeout(HANG_GUARD_SECONDS):
                while True:
                    document, _ = await rig.state(document_id)
                    if document.status == "ready":
                        break
                    await asyncio.sleep(0.05)
        assert await rig.chunks(document_id) > 0


class TestRefused:
    """Checked before anything is stored or queued."""

    async def test_too_large(self, rig: Any) -> None:
        rig.configure(ingest_max_upload_bytes=2048)
        with pytest.raises(DocumentTooLarge, match="2048 bytes"):
            await rig.add(b"x" * 2049, source="big.txt", media_type="text/plain")
        await self.assert_nothing_stored(rig)

    @pytest.mark.parametrize(
        ("source", "media_type"),
        [("photo.png", "image/png"), ("data.bin", "application/octet-stream"), ("x.doc", "")],
    )
    async def test_unsupported_type(self, rig: Any, source: str, media_type: str) -> None:
        with pytest.raises(UnsupportedDocumentType) as refused:
            await rig.add(b"\x89PNG....", source=source, media_type=media_type)
        assert "application/pdf" in refused.value.details[0]["supported"]
        await self.assert_nothing_stored(rig)

    async def test_empty(self, rig: Any) -> None:
        with pytest.raises(EmptyDocument):
            await rig.add(b"  \n", source="e.txt", media_type="text/plain")
        await self.assert_nothing_stored(rig)

    @staticmethod
    async def assert_nothing_stored(rig: Any) -> None:
        async with rig.db.sessionmaker() as session:
            page = await rig.ingestion.list_documents(
                session=session, collection=rig.collection, limit=10, cursor=None
            )
        assert page.items == []
        assert rig.sent == []


class TestFailures:
    async def test_corrupt_pdf_fails_with_a_reason(self, rig: Any) -> None:
        document_id = await rig.add(
            b"%PDF-1.7\nbroken", source="bad.pdf", media_type="application/pdf"
        )
        failed = await rig.ingest(document_id)
        assert failed.status == "failed"
        assert "PDF could not be read" in failed.failure_reason
        assert await rig.chunks(document_id) == 0

    async def test_page_cap(self, rig: Any, make_pdf: MakePdf) -> None:
        rig.configure(ingest_max_pages=2)
        pdf = make_pdf([["one"], ["two"], ["three"]])
        failed = await rig.ingest(
            await rig.add(pdf, source="long.pdf", media_type="application/pdf")
        )
        assert failed.status == "failed"
        assert failed.failure_reason == "the PDF has 3 pages, more than the 2 allowed"

    async def test_chunk_cap(self, rig: Any) -> None:
        rig.configure(ingest_max_chunks=3)
        failed = await rig.ingest(await rig.add(sections(5), source="long.md"))
        assert failed.status == "failed"
        assert "more than the 3 allowed" in failed.failure_reason
        assert rig.embedder.calls == 0  # refused before any embedding

    async def test_uploaded_bytes_are_dropped_once_settled(self, rig: Any) -> None:
        ready_id = await rig.add(GUIDE)
        failed_id = await rig.add(b"%PDF-1.7\nbroken", source="b.pdf", media_type="application/pdf")
        for document_id in (ready_id, failed_id):
            await rig.ingest(document_id)
            document, job = await rig.state(document_id)
            assert document.status in {"ready", "failed"}
            assert job.content is None
            assert job.attempts == 1
            assert job.lease_expires_at is None

    async def test_embedding_moves_progress_batch_by_batch(self, rig: Any) -> None:
        rig.configure(ingest_embed_batch_size=2)
        document = await rig.ingest(await rig.add(sections(5), source="long.md"))
        assert document.status == "ready"
        assert rig.embedder.calls == -(-document.progress_total // 2)  # ceil: one per batch


class TestListAndDelete:
    async def test_list_is_the_collections_documents_newest_first(self, rig: Any) -> None:
        other = await rig.new_collection(rig.collection.owner_id)
        a = await rig.add(b"alpha text", source="a.txt", media_type="text/plain")
        b = await rig.add(b"beta text", source="b.txt", media_type="text/plain")
        await rig.add(b"gamma text", source="c.txt", media_type="text/plain", collection=other)
        async with rig.db.sessionmaker() as session:
            first = await rig.ingestion.list_documents(
                session=session, collection=rig.collection, limit=1, cursor=None
            )
            assert [item.id for item in first.items] == [b]
            following = await rig.ingestion.list_documents(
                session=session, collection=rig.collection, limit=1, cursor=first.next_cursor
            )
            assert [item.id for item in following.items] == [a]

    async def test_only_the_owner_gets_a_document(self, rig: Any) -> None:
        document_id = await rig.add(GUIDE)
        async with rig.db.sessionmaker() as session:
            mine = await rig.ingestion.get_owned_document(
                session=session, document_id=document_id, owner_id=rig.collection.owner_id
            )
            theirs = await rig.ingestion.get_owned_document(
                session=session, document_id=document_id, owner_id=uuid.uuid4()
            )
        assert mine is not None
        assert mine.id == document_id
        assert theirs is None

    async def test_chunks_and_vectors_go_everywhere(self, rig: Any) -> None:
        document_id = await rig.add(GUIDE)
        await rig.ingest(document_id)
        ids = [chunk.id for chunk in await rig.chunk_rows(document_id)]
        owner = rig.collection.owner_id
        assert len(await rig.store.fetch_vectors(owner, ids)) == len(ids) > 0

        async with rig.db.transaction() as session:
            document = await session.get(rig.models.Document, document_id)
            await rig.ingestion.delete_document(session=session, store=rig.store, document=document)
        assert await rig.chunks(document_id) == 0
        assert await rig.store.fetch_vectors(owner, ids) == {}
        async with rig.db.sessionmaker() as session:
            assert await session.get(rig.models.Document, document_id) is None
            assert await session.get(rig.models.IngestJob, document_id) is None


class TestSameContent:
    async def test_identical_uploads_are_embedded_once(self, rig: Any) -> None:
        other = await rig.new_collection(rig.collection.owner_id)
        first_id = await rig.add(GUIDE, source="one.md")
        second_id = await rig.add(GUIDE, source="two.md", collection=other)
        first, second = await rig.ingest(first_id), await rig.ingest(second_id)
        assert first.content_hash == second.content_hash
        assert first.status == second.status == "ready"
        chunks = first.progress_total
        assert (second.progress_done, second.progress_total) == (chunks, chunks)
        assert len(rig.embedder.texts) == chunks  # the second reused the first's vectors
        assert await rig.chunks(second_id) == chunks

    async def test_another_owners_equal_content_is_embedded_again(self, rig: Any) -> None:
        await rig.ingest(await rig.add(GUIDE))
        theirs = await rig.new_collection()
        settled = await rig.ingest(await rig.add(GUIDE, collection=theirs))
        assert settled.status == "ready"
        assert len(rig.embedder.texts) == 2 * settled.progress_total

    async def test_twin_uploads_in_flight_embed_once(self, rig: Any) -> None:
        """Two runs of one owner's equal content at once: the second waits for the first."""
        first_id, second_id = await rig.add(GUIDE), await rig.add(GUIDE, source="copy.md")
        first, second = await asyncio.gather(rig.ingest(first_id), rig.ingest(second_id))
        assert first.status == second.status == "ready"
        assert len(rig.embedder.texts) == first.progress_total


class TestUrlImport:
    async def test_a_url_is_fetched_once_and_its_links_never(self, rig: Any, doc_site: Any) -> None:
        doc_site.pages["/guide.md"] = (
            "text/markdown",
            GUIDE + f"\n![map]({doc_site.url('/map.png')})\n".encode(),
        )
        doc_site.pages["/page"] = (
            "text/html; charset=utf-8",
            f"<h1>Birds</h1><p><a href='{doc_site.url('/tracker')}'>more</a>"
            f"<img src='{doc_site.url('/pixel.gif')}'></p>"
            f"<link rel=stylesheet href='{doc_site.url('/style.css')}'>".encode(),
        )
        policy = allow_loopback(build_fetch_policy(rig.settings))
        for path, content_type in (("/guide.md", "text/markdown"), ("/page", "text/html")):
            source = await fetch_source(url=doc_site.url(path), title=None, policy=policy)
            assert source.title == source.source == doc_site.url(path)
            document = await rig.create(source)
            assert document.content_type == content_type
            assert (await rig.ingest(document.id)).status == "ready"
        assert doc_site.requests == ["/guide.md", "/page"]

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://169.254.169.254/latest/meta-data/", "link-local"),
            ("http://10.0.0.1/doc", "private"),
            ("file:///etc/passwd", "only http and https"),
            ("http://user:pw@example.com/", "user name or password"),
            ("http://0x7f000001/", "non-standard spelling"),
        ],
    )
    async def test_hostile_urls_are_refused(self, rig: Any, url: str, reason: str) -> None:
        with pytest.raises(URLNotAllowed, match=reason):
            await fetch_source(url=url, title=None, policy=build_fetch_policy(rig.settings))

    async def test_loopback_is_refused_by_the_settings_policy(
        self, rig: Any, doc_site: Any
    ) -> None:
        doc_site.pages["/guide.md"] = ("text/markdown", GUIDE)
        with pytest.raises(URLNotAllowed, match="loopback"):
            await fetch_source(
                url=doc_site.url("/guide.md"), title=None, policy=build_fetch_policy(rig.settings)
            )
        assert doc_site.requests == []

    async def test_fetch_failures_and_limits(self, rig: Any, doc_site: Any) -> None:
        doc_site.pages["/big.txt"] = ("text/plain", b"x" * 5000)
        doc_site.pages["/data.json"] = ("application/json", b"{}")
        doc_site.pages["/image"] = ("image/png", b"\x89PNG")
        rig.configure(ingest_max_upload_bytes=4096)
        policy = allow_loopback(build_fetch_policy(rig.settings))

        async def fetch(path: str) -> Any:
            return await fetch_source(url=doc_site.url(path), title="t", policy=policy)

        with pytest.raises(DocumentTooLarge):
            await fetch("/big.txt")
        json_source = await fetch("/data.json")  # fetched, but not a document type
        with pytest.raises(UnsupportedDocumentType):
            await rig.create(json_source)
        with pytest.raises(URLFetchFailed):
            await fetch("/image")
        with pytest.raises(URLFetchFailed, match="404"):
            await fetch("/missing")
