"""Retrieval: parsed documents, chunking, embeddings and vector stores, and the search
domain every RAG project shares (``models`` column mixins, ``keyword``, ``retrieval``,
``service``, ``schemas``), bound to a project's own models by its ``rag`` package."""

from genai_shared.rag.chunking import Chunk, Chunker, ChunkingPolicy
from genai_shared.rag.documents import Heading, ParsedDocument, Section
from genai_shared.rag.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder, Vector

__all__ = [
    "Chunk",
    "Chunker",
    "ChunkingPolicy",
    "Embedder",
    "Heading",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "ParsedDocument",
    "Section",
    "Vector",
]
