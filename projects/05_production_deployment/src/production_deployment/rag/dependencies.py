"""Dependencies of collections and search: the app's embedder and store, owned collections."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from genai_shared.rag.embeddings import Embedder
from genai_shared.rag.stores.base import VectorStore
from genai_shared.web.dependencies import SessionDep
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.rag import service
from production_deployment.rag.exceptions import CollectionNotFound
from production_deployment.rag.models import Collection


async def get_embedder(request: Request) -> Embedder:
    embedder: Embedder = request.app.state.embedder
    return embedder


async def get_vector_store(request: Request) -> VectorStore:
    store: VectorStore = request.app.state.vector_store
    return store


EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
VectorStoreDep = Annotated[VectorStore, Depends(get_vector_store)]


async def owned_collection(
    collection_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Collection:
    """The caller's collection named in the path; anyone else's is a 404, like a missing
    one, so ids of other users' collections cannot be probed."""
    collection = await service.get_owned_collection(
        session=session, owner_id=principal.user_id, collection_id=collection_id
    )
    if collection is None:
        raise CollectionNotFound
    return collection


OwnedCollection = Annotated[Collection, Depends(owned_collection)]
