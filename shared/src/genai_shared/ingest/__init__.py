"""Document ingestion, written once for the projects that ingest: parsing uploads, fetching
user-submitted URLs safely, the queue, the service (over each project's own models), the
worker loop and recovery."""
