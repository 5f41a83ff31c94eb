"""Dependencies of collections and search: the app's embedder and store, owned collections."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from genai_shared.rag.dependencies import (
    EmbedderDep,
    VectorStoreDep,
    get_embedder,
    get_vector_store,
)
from genai_shared.web.dependencies import SessionDep
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.rag import service
from production_deployment.rag.exceptions import CollectionNotFound
from production_deployment.rag.models import Collection

__all__ = [
    "EmbedderDep",
    "OwnedCollection",
    "VectorStoreDep",
    "get_embedder",
    "get_vector_store",
    "owned_collection",
]


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
