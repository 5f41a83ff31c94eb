"""Conversations and messages, as every project serves them.

Each project keeps its own SQLAlchemy models (its own metadata and Alembic history) and
its own routers; what they share is here: the API schemas (``schemas``), the cache of a
user's recent conversations (``cache``, built once per app by ``dependencies``), the
store over the project's models (``store.ConversationStore``), the database steps of a
chat turn (``turns``) and, for the projects that charge for turns, the whole metered
turn around the project's own budget and idempotency store (``service.ChatService``).
"""
