"""Retrieval for the projects (models, routes and services stay in each project)."""
