"""The app's embedder and vector store, as dependencies (published by ``rag_resources``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from genai_shared.rag.embeddings import Embedder
from genai_shared.rag.stores.base import VectorStore


async def get_embedder(request: Request) -> Embedder:
    embedder: Embedder = request.app.state.embedder
    return embedder


async def get_vector_store(request: Request) -> VectorStore:
    store: VectorStore = request.app.state.vector_store
    return store


EmbedderDep = Annotated[Embedder, Depends(get_embedder)]
VectorStoreDep = Annotated[VectorStore, Depends(get_vector_store)]
