"""Retrieval building blocks: parsed documents, chunking and embeddings."""

from agentic_rag.rag.chunking import Chunk, Chunker, ChunkingPolicy
from agentic_rag.rag.documents import Heading, ParsedDocument, Section
from agentic_rag.rag.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder, Vector

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
