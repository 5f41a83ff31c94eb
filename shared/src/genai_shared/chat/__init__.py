"""Conversations and messages, as every project serves them.

Each project keeps its own SQLAlchemy models (its own metadata and Alembic history) and
its own routers; what they share is here: the API schemas (``schemas``), the cache of a
user's recent conversations (``cache``) and the service over the project's models
(``store.ConversationStore``).
"""
