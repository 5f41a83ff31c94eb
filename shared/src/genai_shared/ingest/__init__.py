"""Document ingestion building blocks: parsing uploads and fetching user-submitted URLs safely."""
