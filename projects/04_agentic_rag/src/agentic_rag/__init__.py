"""Project 04: agentic RAG with tools, on top of project 03's secure chat API."""

__version__ = "0.1.0"
