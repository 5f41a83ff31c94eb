"""``/collections`` (create, list, read, delete) and ``POST /search``.

The owner always comes from the credential. Search is a POST (a body with filters), so
an API key needs the ``chat`` scope for it, as for every non-GET route.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from agentic_rag.auth.dependencies import PrincipalDep
from agentic_rag.core.config import SettingsDep
from agentic_rag.rag import service
from agentic_rag.rag.dependencies import EmbedderDep, OwnedCollection, VectorStoreDep
from agentic_rag.rag.exceptions import CollectionNameTaken, CollectionNotFound
from agentic_rag.rag.models import Collection
from agentic_rag.rag.schemas import (
    CollectionCreate,
    CollectionPublic,
    SearchRequest,
    SearchResponse,
)
from genai_shared.db.pagination import InvalidCursor, Page, PageParamsDep
from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses

router = APIRouter(prefix="/collections", tags=["collections"])
search_router = APIRouter(tags=["search"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CollectionPublic,
    responses=error_responses(CollectionNameTaken),
)
async def create_collection(
    data: CollectionCreate, principal: PrincipalDep, session: SessionDep
) -> Collection:
    return await service.create_collection(session=session, owner_id=principal.user_id, data=data)


@router.get("", response_model=Page[CollectionPublic], responses=error_responses(InvalidCursor))
async def list_collections(
    principal: PrincipalDep, page: PageParamsDep, session: SessionDep
) -> Page[CollectionPublic]:
    """Your collections, newest first."""
    return await service.list_collections(
        session=session, owner_id=principal.user_id, limit=page.limit, cursor=page.cursor
    )


@router.get(
    "/{collection_id}",
    response_model=CollectionPublic,
    responses=error_responses(CollectionNotFound),
)
async def get_collection(collection: OwnedCollection) -> Collection:
    return collection


@router.delete(
    "/{collection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(CollectionNotFound),
)
async def delete_collection(
    collection: OwnedCollection, session: SessionDep, store: VectorStoreDep
) -> Response:
    """Delete the collection with its documents, their chunks and their vectors."""
    await service.delete_collection(session=session, store=store, collection=collection)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@search_router.post(
    "/search", response_model=SearchResponse, responses=error_responses(CollectionNotFound)
)
async def search(
    data: SearchRequest,
    principal: PrincipalDep,
    session: SessionDep,
    store: VectorStoreDep,
    embedder: EmbedderDep,
    settings: SettingsDep,
) -> SearchResponse:
    """Your chunks that best answer ``query``, each with its citation.

    Modes: ``semantic`` (embedding similarity), ``keyword`` (full-text rank), ``hybrid``
    (both, fused by reciprocal rank). ``collection_ids`` must all be yours (404 if not).
    """
    return await service.search(
        session=session,
        store=store,
        embedder=embedder,
        owner_id=principal.user_id,
        request=data,
        options=service.search_options(settings, data),
    )
