"""Document ingestion: fetching user-submitted URLs safely."""
