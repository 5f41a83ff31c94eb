"""Retrieval building blocks: parsed documents, chunking and embeddings."""

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
