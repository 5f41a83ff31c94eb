"""The documents API: upload or import, ingestion off the request (in-process on embedded
defaults; on the real Redis stream in the PostgreSQL run), status and progress, limits
with clear errors, failures as ``failed`` with a reason, owners only, delete everywhere,
and equal content embedded once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from production_deployment.ingest.models import IngestJob
from production_deployment.rag.models import Chunk

MakePdf = Callable[[Sequence[Sequence[str]]], bytes]
ExpectError = Callable[..., dict[str, Any]]

GUIDE = (
    b"# Field guide\n\nHerons wade in shallow water and wait for fish.\n\n"
    b"## Nesting\n\nThey nest in colonies called heronries, high in the trees.\n\n"
    b"## Calls\n\nA harsh croak, mostly at dusk.\n"
)


def sections(count: int, words: int = 40) -> bytes:
    """A Markdown document of ``count`` sections: at least ``count`` chunks."""
    body = " ".join(f"word{index}" for index in range(words))
    return "\n\n".join(f"## Part {n}\n\n{body}." for n in range(count)).encode()


async def chunk_count(api: Any, document_id: str) -> int:
    async with api.app.state.db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Chunk)
            .where(Chunk.document_id == uuid.UUID(document_id))
        )
    return int(count or 0)


class TestUpload:
    async def test_markdown_becomes_ready_with_progress(self, ingest_api: Any) -> None:
        async with ingest_api() as api:
            collection = await api.collection()
            response = await api.upload(collection, GUIDE, filename="herons.md", title="Herons")
            assert response.status_code == 202, response.text
            queued = response.json()
            assert queued["status"] in {"queued", "processing", "ready"}
            assert queued["title"] == "Herons"
            assert queued["source"] == "herons.md"
            assert queued["content_type"] == "text/markdown"
            assert len(queued["content_hash"]) == 64

            ready = await api.settled(queued["id"])
            assert ready["status"] == "ready", ready
            assert ready["failure_reason"] is None
            total = ready["progress"]["total"]
            assert total >= 3  # one section per heading
            assert ready["progress"]["done"] == total
            assert await chunk_count(api, ready["id"]) == total

    @pytest.mark.parametrize(
        ("filename", "media_type", "content_type"),
        [
            ("notes.txt", "text/plain", "text/plain"),
            ("page.html", "text/html", "text/html"),
            ("guide.md", "application/octet-stream", "text/markdown"),
        ],
    )
    async def test_each_text_format(
        self, ingest_api: Any, filename: str, media_type: str, content_type: str
    ) -> None:
        async with ingest_api() as api:
            collection = await api.collection()
            content = b"<h1>Herons</h1><p>They wade.</p>" if "html" in media_type else GUIDE
            response = await api.upload(
                collection, content, filename=filename, media_type=media_type
            )
            assert response.status_code == 202, response.text
            assert response.json()["content_type"] == content_type
            assert (await api.settled(response.json()["id"]))["status"] == "ready"

    async def test_pdf_chunks_keep_their_pages(self, ingest_api: Any, make_pdf: MakePdf) -> None:
        pdf = make_pdf([["Herons wade in water."], ["Egrets are white."], ["Storks migrate far."]])
        async with ingest_api() as api:
            collection = await api.collection()
            response = await api.upload(
                collection, pdf, filename="birds.pdf", media_type="application/pdf"
            )
            assert response.status_code == 202, response.text
            ready = await api.settled(response.json()["id"])
            assert ready["status"] == "ready", ready
            async with api.app.state.db.sessionmaker() as session:
                chunks = list(
                    await session.scalars(
                        select(Chunk).where(Chunk.document_id == uuid.UUID(ready["id"]))
                    )
                )
            assert {chunk.page for chunk in chunks} == {1}
            assert max(chunk.last_page or 0 for chunk in chunks) == 3


@pytest.mark.sqlite_only
class TestRefused:
    async def test_too_large_is_413(self, ingest_api: Any, expect_error: ExpectError) -> None:
        async with ingest_api(ingest_max_upload_bytes=2048) as api:
            collection = await api.collection()
            response = await api.upload(collection, b"x" * 2049, filename="big.txt")
            body = expect_error(response, 413, "DocumentTooLarge")
            assert "2048 bytes" in body["message"]
            listed = await api.client.get(
                f"/api/v1/collections/{collection}/documents", headers=api.headers
            )
            assert listed.json()["items"] == []

    async def test_over_the_body_limit_is_413(
        self, ingest_api: Any, expect_error: ExpectError
    ) -> None:
        """Uploads have a body limit of their own (the upload cap plus multipart framing);
        every other route keeps MAX_REQUEST_BODY_BYTES."""
        async with ingest_api(max_request_body_bytes=4096, ingest_max_upload_bytes=8192) as api:
            collection = await api.collection()
            # Over the general limit, under the upload route's: the route's own check.
            response = await api.upload(collection, b"x" * 10_000, filename="big.txt")
            expect_error(response, 413, "DocumentTooLarge")
            # Over the upload route's body limit too: refused before it is read.
            response = await api.upload(collection, b"x" * 100_000, filename="big.txt")
            expect_error(response, 413, "ContentTooLarge")
            # Any other route: the general limit.
            response = await api.client.post(
                "/api/v1/collections",
                json={"name": "x", "description": "y" * 5000},
                headers=api.headers,
            )
            expect_error(response, 413, "ContentTooLarge")

    @pytest.mark.parametrize(
        ("filename", "media_type"),
        [("photo.png", "image/png"), ("data.bin", "application/octet-stream"), ("x.doc", "")],
    )
    async def test_unsupported_type_is_415(
        self, ingest_api: Any, expect_error: ExpectError, filename: str, media_type: str
    ) -> None:
        async with ingest_api() as api:
            collection = await api.collection()
            response = await api.upload(
                collection, b"\x89PNG....", filename=filename, media_type=media_type
            )
            body = expect_error(response, 415, "UnsupportedDocumentType")
            assert "application/pdf" in body["details"][0]["supported"]

    async def test_other_bodies_are_415_or_422(
        self, ingest_api: Any, expect_error: ExpectError
    ) -> None:
        async with ingest_api() as api:
            path = f"/api/v1/collections/{await api.collection()}/documents"
            response = await api.client.post(
                path, content=b"<x/>", headers={**api.headers, "Content-Type": "text/xml"}
            )
            expect_error(response, 415, "UnsupportedRequestBody")
            no_file = await api.client.post(
                path, data={"title": "t"}, files={"other": ("a", b"b")}, headers=api.headers
            )
            expect_error(no_file, 422, "ValidationError")
            bad_json = await api.client.post(path, json={"link": "http://x"}, headers=api.headers)
            expect_error(bad_json, 422, "ValidationError")
            empty = await api.upload(await api.collection("other"), b"  \n", filename="e.txt")
            expect_error(empty, 422, "EmptyDocument")


class TestFailures:
    async def test_corrupt_pdf_fails_with_a_reason(self, ingest_api: Any) -> None:
        async with ingest_api() as api:
            collection = await api.collection()
            response = await api.upload(
                collection, b"%PDF-1.7\nbroken", filename="bad.pdf", media_type="application/pdf"
            )
            assert response.status_code == 202, response.text
            failed = await api.settled(response.json()["id"])
            assert failed["status"] == "failed"
            assert "PDF could not be read" in failed["failure_reason"]
            assert await chunk_count(api, failed["id"]) == 0

    async def test_page_cap(self, ingest_api: Any, make_pdf: MakePdf) -> None:
        async with ingest_api(ingest_max_pages=2) as api:
            pdf = make_pdf([["one"], ["two"], ["three"]])
            collection = await api.collection()
            response = await api.upload(
                collection, pdf, filename="long.pdf", media_type="application/pdf"
            )
            failed = await api.settled(response.json()["id"])
            assert failed["status"] == "failed"
            assert failed["failure_reason"] == "the PDF has 3 pages, more than the 2 allowed"

    async def test_chunk_cap(self, ingest_api: Any, embedder: Any) -> None:
        async with ingest_api(ingest_max_chunks=3) as api:
            collection = await api.collection()
            response = await api.upload(collection, sections(5), filename="long.md")
            failed = await api.settled(response.json()["id"])
            assert failed["status"] == "failed"
            assert "more than the 3 allowed" in failed["failure_reason"]
            assert embedder.calls == 0  # refused before any embedding

    async def test_uploaded_bytes_are_dropped_once_settled(self, ingest_api: Any) -> None:
        async with ingest_api() as api:
            collection = await api.collection()
            response = await api.upload(collection, GUIDE)
            await api.settled(response.json()["id"])
            async with api.app.state.db.sessionmaker() as session:
                job = await session.get(IngestJob, uuid.UUID(response.json()["id"]))
            assert job is not None
            assert job.content is None
            assert job.attempts == 1


class TestOwnership:
    async def test_another_users_documents_are_404(
        self, ingest_api: Any, expect_error: ExpectError
    ) -> None:
        async with ingest_api() as api:
            collection = await api.collection()
            document = (await api.upload(collection, GUIDE)).json()
            await api.settled(document["id"])
            intruder = await api.sign_up("intruder@example.com")
            path = f"/api/v1/documents/{document['id']}"
            expect_error(await api.client.get(path, headers=intruder), 404, "DocumentNotFound")
            expect_error(await api.client.delete(path, headers=intruder), 404, "DocumentNotFound")
            listing = f"/api/v1/collections/{collection}/documents"
            expect_error(await api.client.get(listing, headers=intruder), 404, "CollectionNotFound")
            upload = await api.upload(collection, GUIDE, headers=intruder)
            expect_error(upload, 404, "CollectionNotFound")
            assert (await api.document(document["id"]))["status"] == "ready"

    async def test_list_is_the_collections_documents_newest_first(self, ingest_api: Any) -> None:
        async with ingest_api() as api:
            first, second = await api.collection("first"), await api.collection("second")
            a = (await api.upload(first, b"alpha text", filename="a.txt")).json()
            b = (await api.upload(first, b"beta text", filename="b.txt")).json()
            await api.upload(second, b"gamma text", filename="c.txt")
            response = await api.client.get(
                f"/api/v1/collections/{first}/documents", params={"limit": 1}, headers=api.headers
            )
            assert [item["id"] for item in response.json()["items"]] == [b["id"]]
            following = await api.client.get(
                f"/api/v1/collections/{first}/documents",
                params={"limit": 1, "cursor": response.json()["next_cursor"]},
                headers=api.headers,
            )
            assert [item["id"] for item in following.json()["items"]] == [a["id"]]


class TestDelete:
    async def test_chunks_and_vectors_go_everywhere(self, ingest_api: Any) -> None:
        async with ingest_api() as api:
            collection = await api.collection()
            document = (await api.upload(collection, GUIDE)).json()
            await api.settled(document["id"])
            async with api.app.state.db.sessionmaker() as session:
                ids = list(
                    await session.scalars(
                        select(Chunk.id).where(Chunk.document_id == uuid.UUID(document["id"]))
                    )
                )
            owner = uuid.UUID(
                (await api.client.get("/api/v1/users/me", headers=api.headers)).json()["id"]
            )
            store = api.app.state.vector_store
            assert len(await store.fetch_vectors(owner, ids)) == len(ids) > 0

            response = await api.client.delete(
                f"/api/v1/documents/{document['id']}", headers=api.headers
            )
            assert response.status_code == 204
            assert await chunk_count(api, document["id"]) == 0
            assert await store.fetch_vectors(owner, ids) == {}
            gone = await api.client.get(f"/api/v1/documents/{document['id']}", headers=api.headers)
            assert gone.status_code == 404


class TestSameContent:
    async def test_identical_uploads_are_embedded_once(
        self, ingest_api: Any, embedder: Any
    ) -> None:
        async with ingest_api() as api:
            first_collection, second_collection = (
                await api.collection("a"),
                await api.collection("b"),
            )
            first = (await api.upload(first_collection, GUIDE, filename="one.md")).json()
            second = (await api.upload(second_collection, GUIDE, filename="two.md")).json()
            assert first["content_hash"] == second["content_hash"]
            first, second = await api.settled(first["id"]), await api.settled(second["id"])
            assert first["status"] == second["status"] == "ready"
            chunks = first["progress"]["total"]
            assert second["progress"] == {"done": chunks, "total": chunks}
            assert len(embedder.texts) == chunks  # the second reused the first's vectors
            assert await chunk_count(api, second["id"]) == chunks

    async def test_another_owners_equal_content_is_embedded_again(
        self, ingest_api: Any, embedder: Any
    ) -> None:
        async with ingest_api() as api:
            mine = (await api.upload(await api.collection(), GUIDE)).json()
            await api.settled(mine["id"])
            other = await api.sign_up("other@example.com")
            theirs = (
                await api.upload(await api.collection(headers=other), GUIDE, headers=other)
            ).json()
            settled = await api.settled(theirs["id"], headers=other)
            assert settled["status"] == "ready"
            assert len(embedder.texts) == 2 * settled["progress"]["total"]


class TestUrlImport:
    async def test_a_url_is_fetched_once_and_its_links_never(
        self, ingest_api: Any, doc_site: Any
    ) -> None:
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
        async with ingest_api(loopback=True) as api:
            collection = await api.collection()
            markdown = await api.import_url(collection, doc_site.url("/guide.md"))
            html = await api.import_url(collection, doc_site.url("/page"))
            assert markdown.status_code == html.status_code == 202, (markdown.text, html.text)
            assert markdown.json()["source"] == doc_site.url("/guide.md")
            assert markdown.json()["content_type"] == "text/markdown"
            assert html.json()["content_type"] == "text/html"
            for document in (markdown.json(), html.json()):
                assert (await api.settled(document["id"]))["status"] == "ready"
        assert doc_site.requests == ["/guide.md", "/page"]

    @pytest.mark.sqlite_only
    @pytest.mark.parametrize(
        ("url", "error", "reason"),
        [
            ("http://169.254.169.254/latest/meta-data/", "URLNotAllowed", "link-local"),
            ("http://10.0.0.1/doc", "URLNotAllowed", "private"),
            ("file:///etc/passwd", "URLNotAllowed", "only http and https"),
            ("http://user:pw@example.com/", "URLNotAllowed", "user name or password"),
            ("http://0x7f000001/", "URLNotAllowed", "non-standard spelling"),
        ],
    )
    async def test_hostile_urls_are_refused(
        self, ingest_api: Any, expect_error: ExpectError, url: str, error: str, reason: str
    ) -> None:
        async with ingest_api() as api:
            response = await api.import_url(await api.collection(), url)
            body = expect_error(response, 422, error)
            assert reason in body["message"]

    @pytest.mark.sqlite_only
    async def test_loopback_is_refused_by_the_apps_own_policy(
        self, ingest_api: Any, expect_error: ExpectError, doc_site: Any
    ) -> None:
        doc_site.pages["/guide.md"] = ("text/markdown", GUIDE)
        async with ingest_api() as api:
            response = await api.import_url(await api.collection(), doc_site.url("/guide.md"))
            body = expect_error(response, 422, "URLNotAllowed")
            assert "loopback" in body["message"]
        assert doc_site.requests == []

    @pytest.mark.sqlite_only
    async def test_fetch_failures_and_limits(
        self, ingest_api: Any, expect_error: ExpectError, doc_site: Any
    ) -> None:
        doc_site.pages["/big.txt"] = ("text/plain", b"x" * 5000)
        doc_site.pages["/data.json"] = ("application/json", b"{}")
        doc_site.pages["/image"] = ("image/png", b"\x89PNG")
        async with ingest_api(loopback=True, ingest_max_upload_bytes=4096) as api:
            collection = await api.collection()
            expect_error(
                await api.import_url(collection, doc_site.url("/big.txt")), 413, "DocumentTooLarge"
            )
            expect_error(
                await api.import_url(collection, doc_site.url("/data.json")),
                415,
                "UnsupportedDocumentType",
            )
            expect_error(
                await api.import_url(collection, doc_site.url("/image")), 422, "URLFetchFailed"
            )
            missing = expect_error(
                await api.import_url(collection, doc_site.url("/missing")), 422, "URLFetchFailed"
            )
            assert "404" in missing["message"]
