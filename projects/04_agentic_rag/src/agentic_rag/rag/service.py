"""Collections, a document's chunks in every index, and search with citations, over this
project's models (``genai_shared.rag.service``, where the rules are explained).

The functions are the methods of one ``RagService``: ingestion passes this module as
its chunk index, the router, the agent's search tool and the evaluation call them.
"""

from __future__ import annotations

from agentic_rag.rag import keyword
from agentic_rag.rag.models import Chunk, Collection, Document
from genai_shared.rag.service import RagService, chunk_id, search_options

__all__ = [
    "chunk_id",
    "cite",
    "copy_document_chunks",
    "create_collection",
    "delete_collection",
    "delete_document_chunks",
    "get_owned_collection",
    "list_collections",
    "owned_collection_ids",
    "rag",
    "search",
    "search_options",
    "store_document_chunks",
]

rag = RagService(Collection, Document, Chunk, keyword.index)

create_collection = rag.create_collection
list_collections = rag.list_collections
get_owned_collection = rag.get_owned_collection
delete_collection = rag.delete_collection
store_document_chunks = rag.store_document_chunks
delete_document_chunks = rag.delete_document_chunks
copy_document_chunks = rag.copy_document_chunks
owned_collection_ids = rag.owned_collection_ids
search = rag.search
cite = rag.cite
