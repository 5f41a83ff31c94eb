"""Dependencies of collections and search: the app's embedder and store, owned collections."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from agentic_rag.auth.dependencies import PrincipalDep
from agentic_rag.rag import service
from agentic_rag.rag.exceptions import CollectionNotFound
from agentic_rag.rag.models import Collection
from genai_shared.rag.dependencies import (
    EmbedderDep,
    VectorStoreDep,
    get_embedder,
    get_vector_store,
)
from genai_shared.web.dependencies import SessionDep

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
