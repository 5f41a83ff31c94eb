"""Project 03: a chat API with PostgreSQL persistence, Redis caching and tests."""

__version__ = "0.1.0"
