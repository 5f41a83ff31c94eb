"""The documents API of a project with the shared ingestion (04, 05): its routes and wiring
over the shared ingestion (``genai_shared.ingest``, whose behaviour ``shared/tests/ingest``
tests once).

Upload or import, ingested off the request (in-process on embedded defaults; on the real
Redis stream in the PostgreSQL run), refusals as API errors, failures shown with their
reason, owners only, delete through this project's chunk index (rows, keyword index,
vectors), and equal content reusing its chunks there.

Fixtures a project's conftest provides: ``ingest_api`` (``async with ingest_api() as api``:
the app's ``api.app`` and helpers to upload, import and wait for documents), ``embedder``,
``expect_error``; ``doc_site`` comes from the genai_shared plugin.

Class attribute a subclass sets: ``chunk_model`` (the project's ``Chunk`` model).
``RefusedContract`` holds the refusals made before the database is reached: a project can
run it on SQLite only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select

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


class _Chunks:
    chunk_model: ClassVar[type[Any]]

    async def chunk_count(self, api: Any, document_id: str) -> int:
        chunk = self.chunk_model
        async with api.app.state.db.sessionmaker() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(chunk)
                .where(chunk.document_id == uuid.UUID(document_id))
            )
        return int(count or 0)


class UploadContract(_Chunks):
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
            assert await self.chunk_count(api, ready["id"]) == total


class RefusedContract:
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

    async def test_unsupported_type_is_415(
        self, ingest_api: Any, expect_error: ExpectError
    ) -> None:
        filename, media_type = "photo.png", "image/png"
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


class FailuresContract(_Chunks):
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
            assert await self.chunk_count(api, failed["id"]) == 0


class OwnershipContract(_Chunks):
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


class DeleteContract(_Chunks):
    async def test_chunks_and_vectors_go_everywhere(self, ingest_api: Any) -> None:
        async with ingest_api() as api:
            collection = await api.collection()
            document = (await api.upload(collection, GUIDE)).json()
            await api.settled(document["id"])
            async with api.app.state.db.sessionmaker() as session:
                ids = list(
                    await session.scalars(
                        select(self.chunk_model.id).where(
                            self.chunk_model.document_id == uuid.UUID(document["id"])
                        )
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
            assert await self.chunk_count(api, document["id"]) == 0
            assert await store.fetch_vectors(owner, ids) == {}
            gone = await api.client.get(f"/api/v1/documents/{document['id']}", headers=api.headers)
            assert gone.status_code == 404


class SameContentContract(_Chunks):
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
            assert await self.chunk_count(api, second["id"]) == chunks


class UrlImportContract(_Chunks):
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
