"""Document ingestion: upload and URL import, the queue, the worker and recovery."""
