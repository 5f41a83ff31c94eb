"""Project 04: agentic RAG with tools."""

__version__ = "0.1.0"
